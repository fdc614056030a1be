"""The local warehouse refuses what Snowflake refuses where the pipeline relies on it: table kinds in
CLONE, and ALTER SCHEMA ... SWAP WITH (what the publish step sends) with Snowflake's semantics.
Each test cites the Snowflake page that states the rule."""

from __future__ import annotations

import pytest
import snowflake.connector.errors

from helpers import warehouse
from helpers.settings import Settings

pytestmark = pytest.mark.integration

DB = "STRICT_CHECKS"


@pytest.fixture
def conn(local_cloud):
    settings = Settings()
    with warehouse.connect(settings, None) as c:
        warehouse.execute(c, f"CREATE DATABASE IF NOT EXISTS {DB}")
        for schema in ("A", "B"):
            warehouse.execute(c, f"DROP SCHEMA IF EXISTS {DB}.{schema}")
            warehouse.execute(c, f"CREATE SCHEMA {DB}.{schema}")
        yield c


def _tables(conn, schema: str) -> dict[str, str]:
    rows = warehouse.execute(
        conn, f"SELECT table_name, is_transient FROM {DB}.information_schema.tables WHERE table_schema = '{schema}'"
    ).rows
    return dict(rows)


def test_a_transient_table_cannot_be_cloned_into_a_permanent_one(conn):
    """https://docs.snowflake.com/en/user-guide/tables-temp-transient ("Comparison of table types",
    cloning): transient and temporary tables can be cloned only to transient or temporary tables;
    Snowflake answers 002120 "Transient object cannot be cloned to a permanent object". This is what
    dbt-snowflake's default tables (transient) and a `CREATE OR REPLACE TABLE ... CLONE` publish hit."""
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.T AS SELECT 1 AS X")
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as refused:
        warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.B.P CLONE {DB}.A.T")
    assert refused.value.errno == 2120
    assert "Transient object cannot be cloned to a permanent object" in refused.value.msg
    assert "P" not in _tables(conn, "B")


def test_transient_to_transient_and_permanent_to_any_kind_are_allowed_and_reported(conn):
    """Same page: a permanent table may be cloned to a transient one (and to a permanent one); the
    clone is of the kind its CREATE names, as information_schema.tables.IS_TRANSIENT reports
    (https://docs.snowflake.com/en/sql-reference/info-schema/tables)."""
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.T AS SELECT 1 AS X")
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.P (X NUMBER(38, 0))")
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.T2 CLONE {DB}.A.T")
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.P2 CLONE {DB}.A.P")
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.P3 CLONE {DB}.A.P")
    assert _tables(conn, "A") == {"T": "YES", "P": "NO", "T2": "YES", "P2": "YES", "P3": "NO"}


def test_swap_with_exchanges_every_table_with_its_kind_and_rows(conn):
    """https://docs.snowflake.com/en/sql-reference/sql/alter-schema: SWAP WITH "swaps all objects
    (tables, views, etc.) and metadata, including identifiers, between the two specified schemas"."""
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.NEW_BUILD AS SELECT 2 AS X")
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.B.OLD (Y VARCHAR(10))")
    warehouse.execute(conn, f"INSERT INTO {DB}.B.OLD VALUES ('old')")
    result = warehouse.execute(conn, f"ALTER SCHEMA {DB}.A SWAP WITH {DB}.B")
    assert result.rows == [("Statement executed successfully.",)]
    assert _tables(conn, "A") == {"OLD": "NO"} and _tables(conn, "B") == {"NEW_BUILD": "YES"}
    assert warehouse.execute(conn, f"SELECT Y FROM {DB}.A.OLD").rows == [("old",)]
    assert warehouse.execute(conn, f"SELECT X FROM {DB}.B.NEW_BUILD").rows == [(2,)]
    types = [r[1] for r in warehouse.execute(conn, f"DESCRIBE TABLE {DB}.A.OLD").rows]
    assert types == ["VARCHAR(10)"]  # column metadata moves with the table


@pytest.mark.parametrize("rows_in_a, rows_in_b", [(3, 0), (0, 3), (5, 2), (2, 5)])
def test_swap_with_gives_the_same_exchange_whichever_schema_holds_more_rows(conn, rows_in_a, rows_in_b):
    """Same page: a swap is symmetric. The local warehouse routes the schema with fewer rows through its
    scratch schema (it is copied twice); which way round must not change the result: tables, kinds,
    rows and column metadata all end up exchanged."""
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.FROM_A (X NUMBER(38, 0))")
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.B.FROM_B (Y VARCHAR(10))")
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.B.ALSO_B (Z VARCHAR(3))")
    for i in range(rows_in_a):
        warehouse.execute(conn, f"INSERT INTO {DB}.A.FROM_A VALUES ({i})")
    for i in range(rows_in_b):
        warehouse.execute(conn, f"INSERT INTO {DB}.B.FROM_B VALUES ('b{i}')")
    warehouse.execute(conn, f"ALTER SCHEMA {DB}.A SWAP WITH {DB}.B")
    assert _tables(conn, "A") == {"FROM_B": "NO", "ALSO_B": "NO"} and _tables(conn, "B") == {"FROM_A": "YES"}
    assert warehouse.execute(conn, f"SELECT X FROM {DB}.B.FROM_A ORDER BY X").rows == [(i,) for i in range(rows_in_a)]
    assert warehouse.execute(conn, f"SELECT Y FROM {DB}.A.FROM_B ORDER BY Y").rows == [
        (f"b{i}",) for i in range(rows_in_b)
    ]
    assert [r[1] for r in warehouse.execute(conn, f"DESCRIBE TABLE {DB}.A.ALSO_B").rows] == ["VARCHAR(3)"]
    schemas = [row[1] for row in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {DB}").rows]
    assert "A" in schemas and not [name for name in schemas if name.upper().startswith("_SWAP_")]  # no scratch left


def test_swap_with_a_missing_schema_fails_and_changes_nothing(conn):
    """https://docs.snowflake.com/en/sql-reference/sql/alter-schema: both schemas must exist; a missing
    one is Snowflake's "does not exist or not authorized" (002003). IF EXISTS covers the first name."""
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.T (X NUMBER(38, 0))")
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as refused:
        warehouse.execute(conn, f"ALTER SCHEMA {DB}.A SWAP WITH {DB}.MISSING")
    assert refused.value.errno == 2003 and f"Schema '{DB}.MISSING' does not exist" in refused.value.msg
    assert _tables(conn, "A") == {"T": "NO"}
    assert warehouse.execute(conn, f"ALTER SCHEMA IF EXISTS {DB}.NOPE SWAP WITH {DB}.A").rows == [
        ("Statement executed successfully.",)
    ]
    assert _tables(conn, "A") == {"T": "NO"}


def test_if_not_exists_leaves_an_existing_object_as_it_is(conn):
    """https://docs.snowflake.com/en/sql-reference/sql/create-database (and create-schema,
    create-file-format): with IF NOT EXISTS, an existing object is left as it is - its contents and its
    options - and the statement succeeds. The pipeline relies on it at every run."""
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.KEEP (X NUMBER(38, 0))")
    warehouse.execute(conn, f"INSERT INTO {DB}.A.KEEP VALUES (7)")
    warehouse.execute(conn, f"CREATE DATABASE IF NOT EXISTS {DB}")
    warehouse.execute(conn, f"CREATE SCHEMA IF NOT EXISTS {DB}.A")
    assert warehouse.execute(conn, f"SELECT X FROM {DB}.A.KEEP").rows == [(7,)]
    warehouse.execute(conn, f"CREATE FILE FORMAT IF NOT EXISTS {DB}.A.FMT TYPE = JSON STRIP_OUTER_ARRAY = TRUE")
    warehouse.execute(conn, f"CREATE FILE FORMAT IF NOT EXISTS {DB}.A.FMT TYPE = JSON STRIP_OUTER_ARRAY = FALSE")
    formats = warehouse.execute(conn, f"SHOW FILE FORMATS IN SCHEMA {DB}.A").as_dicts()
    assert [f["name"] for f in formats] == ["FMT"]
    assert "TRUE" in str(formats[0].get("format_options", "")).upper()  # the first definition stands


def test_drop_schema_drops_what_it_holds_and_if_exists_tolerates_a_missing_one(conn):
    """https://docs.snowflake.com/en/sql-reference/sql/drop-schema: CASCADE is the default, so DROP
    SCHEMA drops the tables in it; with IF EXISTS a missing schema (or table, database) is no error
    (drop-table, drop-database pages). The load step empties the build schemas this way."""
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.GONE (X NUMBER(38, 0))")
    warehouse.execute(conn, f"DROP SCHEMA IF EXISTS {DB}.A")
    warehouse.execute(conn, f"CREATE SCHEMA {DB}.A")
    assert _tables(conn, "A") == {}
    for statement in (
        f"DROP SCHEMA IF EXISTS {DB}.NEVER",
        f"DROP TABLE IF EXISTS {DB}.A.NEVER",
        "DROP DATABASE IF EXISTS NEVER_THERE",
    ):
        warehouse.execute(conn, statement)
    with pytest.raises(snowflake.connector.errors.ProgrammingError):
        warehouse.execute(conn, f"CREATE SCHEMA {DB}.A")  # without IF NOT EXISTS: it exists


def test_create_or_replace_replaces_and_reports_the_kind(conn):
    """https://docs.snowflake.com/en/sql-reference/sql/create-table: OR REPLACE drops the table and
    creates it anew (columns, rows and kind as the new statement says); CTAS takes the query's rows."""
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.T (X NUMBER(38, 0))")
    warehouse.execute(conn, f"INSERT INTO {DB}.A.T VALUES (1)")
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.T (DATA VARIANT, SOURCE_FILE VARCHAR)")
    assert warehouse.execute(conn, f"SELECT COUNT(*) FROM {DB}.A.T").rows == [(0,)]
    assert _tables(conn, "A") == {"T": "YES"}
    warehouse.execute(conn, f"CREATE OR REPLACE TABLE {DB}.A.T AS SELECT 'run_1'::varchar AS RUN_ID")
    assert warehouse.execute(conn, f"SELECT RUN_ID FROM {DB}.A.T").rows == [("run_1",)]
    assert _tables(conn, "A") == {"T": "NO"}


def test_the_show_commands_answer_with_the_columns_their_callers_read(conn):
    """SHOW DATABASES / SCHEMAS / TERSE SCHEMAS / OBJECTS / STAGES / USER FUNCTIONS
    (https://docs.snowflake.com/en/sql-reference/sql/show-databases and the pages beside it) answer
    with a `name` column and the owner's location; the teardown's audit reads `name` and
    `database_name`, dbt's relation cache reads SHOW OBJECTS' `name`, `schema_name` and `kind`."""
    warehouse.execute(conn, f"CREATE OR REPLACE TRANSIENT TABLE {DB}.A.T AS SELECT 1 AS X")

    def columns(sql: str) -> set[str]:
        return {c.lower() for c in warehouse.execute(conn, sql).columns}

    assert {"name"} <= columns("SHOW DATABASES")
    assert {"name", "database_name"} <= columns(f"SHOW SCHEMAS IN DATABASE {DB}")
    assert {"name", "database_name"} <= columns(f"SHOW TERSE SCHEMAS IN DATABASE {DB}")
    objects = warehouse.execute(conn, f"SHOW OBJECTS IN {DB}.A").as_dicts()
    assert [(o["name"], o["schema_name"], o["kind"]) for o in objects] == [("T", "A", "TABLE")]
    assert {"name", "database_name", "schema_name"} <= columns("SHOW STAGES IN ACCOUNT")
    assert {"name", "database_name", "schema_name"} <= columns(f"SHOW STAGES IN DATABASE {DB}")
    assert {"name"} <= columns(f"SHOW USER FUNCTIONS IN {DB}.A")


def test_signing_in_to_a_missing_database_or_schema_creates_neither(local_cloud):
    """Snowflake: a session may name a database and schema that do not exist; it starts without them
    and creates nothing (https://docs.snowflake.com/en/sql-reference/sql/use-database). fakesnow's
    default creates both on connect, which would hide a missing account setup (sql/00)."""
    settings = Settings(dev_database="NEVER_CREATED_DB")
    with warehouse.connect(settings, "dev") as session:
        databases = {r["name"] for r in warehouse.execute(session, "SHOW DATABASES").as_dicts()}
        assert "NEVER_CREATED_DB" not in databases
        with pytest.raises(snowflake.connector.errors.ProgrammingError):
            warehouse.execute(session, "CREATE TABLE NEVER_CREATED_DB.RAW.T (x INT)")
