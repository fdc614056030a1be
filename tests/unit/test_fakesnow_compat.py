"""The fence around fakesnow's private names (helpers/local_cloud/fakesnow_compat.py): the installed
fakesnow has every hooked name with its expected shape, and a fakesnow without one - simulated here by
taking the name away or changing its shape - makes the local warehouse refuse to start, naming it."""

from __future__ import annotations

from string import Template

import pytest

from helpers.local_cloud import fakesnow_compat, snowflake_server
from helpers.local_cloud.stage_s3 import Principal


def test_the_installed_fakesnow_has_every_hooked_name():
    assert fakesnow_compat.problems() == []
    names = {h.name for h in fakesnow_compat.HOOKS}
    assert {
        "fakesnow.transforms.flatten",
        "fakesnow.server.shared_fs",
        "starlette.requests.Request.body",
        "fakesnow catalog table _fs_information_schema._fs_load_history",
    } <= names


def test_the_fence_checks_fakesnow_itself_once_the_patches_are_applied(monkeypatch):
    """patch() replaces some hooked names with wrappers; probing the wrapper would report fakesnow's
    own functions "changed" (or, worse, pass a fakesnow that changed beneath it). problems() probes
    what each wrapper wraps, so a process that has started a local warehouse checks the same thing."""
    from fakesnow.cursor import FakeSnowflakeCursor
    from sqlglot.expressions.core import Expression

    import fakesnow.macros
    import fakesnow.transforms
    from fakesnow import info_schema

    for owner, name in (
        (info_schema, "SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW"),
        (fakesnow.macros, "creation_sql"),
        (fakesnow.transforms, "flatten"),
        (fakesnow.transforms, "create_clone"),
        (FakeSnowflakeCursor, "_transform"),
        (FakeSnowflakeCursor, "_describe_last_sql"),
        (Expression, "transform"),
    ):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # undone after the test
    fakesnow_compat.patch()
    assert getattr(FakeSnowflakeCursor._transform, "original", None) is not None  # noqa: SLF001 - patched
    assert fakesnow_compat.problems() == []

    def _transform(self, expression, params):  # fakesnow changed beneath the patch
        return expression

    monkeypatch.setattr(FakeSnowflakeCursor._transform, "original", _transform)  # noqa: SLF001
    assert [p for p in fakesnow_compat.problems() if p.startswith("fakesnow.cursor.FakeSnowflakeCursor._transform")]


def test_a_sqlglot_whose_transform_copies_even_with_copy_false_is_named(monkeypatch):
    """one_copy_transforms relies on copy=False transforming in place. The probe tries it rather than
    reading the source, which sqlglot's compiled build (sqlglotc) does not have."""
    from sqlglot.expressions.core import Expression

    always_copies = Expression.transform

    def transform(self, fun, *args, copy=True, **kwargs):
        return always_copies(self, fun, *args, copy=True, **kwargs)

    monkeypatch.setattr(Expression, "transform", transform)
    assert [p for p in fakesnow_compat.problems() if p.startswith("sqlglot.expressions.core.Expression.transform")]


def test_the_compiled_sqlglot_is_the_one_imported():
    """requirements.lock installs sqlglotc, which puts compiled modules beside sqlglot's own: the local
    warehouse's parse and rewrites run compiled (its CPU per dbt build about a quarter lower)."""
    import sqlglot.expressions.core
    import sqlglot.parser

    assert not sqlglot.parser.__file__.endswith(".py"), sqlglot.parser.__file__
    assert not sqlglot.expressions.core.__file__.endswith(".py"), sqlglot.expressions.core.__file__


def test_a_missing_hooked_name_stops_the_local_warehouse_from_starting_and_is_named(monkeypatch, tmp_path):
    import fakesnow.transforms

    monkeypatch.delattr(fakesnow.transforms, "create_clone")
    with pytest.raises(fakesnow_compat.FakesnowIncompatible) as refused:
        snowflake_server.build_app(
            tmp_path, "http://127.0.0.1:1", "us-east-1", Principal("arn:aws:iam::1:user/s", "a", "b")
        )
    assert "fakesnow.transforms.create_clone: missing" in str(refused.value)
    assert not (tmp_path / "databases").exists()  # refused before it touched the state dir


def test_a_function_whose_signature_changed_is_named(monkeypatch):
    import fakesnow.server

    monkeypatch.setattr(fakesnow.server, "to_conn", lambda session_token: None)
    with pytest.raises(fakesnow_compat.FakesnowIncompatible, match=r"fakesnow\.server\.to_conn: changed"):
        fakesnow_compat.check()


def test_a_request_body_no_longer_cached_in_underscore_body_is_named(monkeypatch):
    from starlette.requests import Request

    async def body(self):  # a Starlette that keeps the body elsewhere: replacing _body would do nothing
        return b""

    monkeypatch.setattr(Request, "body", body)
    assert [p for p in fakesnow_compat.problems() if p.startswith("starlette.requests.Request.body: changed")]


def test_a_catalog_table_with_other_columns_is_named(monkeypatch):
    """The load history is INSERTed positionally (copy_json.py): a reordered table would mix up columns."""
    from fakesnow import info_schema

    text = info_schema.SQL_CREATE_LOAD_HISTORY_TABLE.template.replace(
        "ROW_COUNT INTEGER,\n    ROW_PARSED INTEGER", "ROW_PARSED INTEGER,\n    ROW_COUNT INTEGER"
    )
    assert text != info_schema.SQL_CREATE_LOAD_HISTORY_TABLE.template
    monkeypatch.setattr(info_schema, "SQL_CREATE_LOAD_HISTORY_TABLE", Template(text))
    found = fakesnow_compat.problems()
    assert len(found) == 1 and found[0].startswith("fakesnow catalog table _fs_information_schema._fs_load_history")


def test_a_transform_no_longer_called_through_the_module_is_named(monkeypatch):
    """Reassigning fakesnow.transforms.flatten only works while the cursor calls it as transforms.flatten."""
    from fakesnow.cursor import FakeSnowflakeCursor

    def _transform(self, expression, params):  # a cursor that imported the functions directly
        return expression

    monkeypatch.setattr(FakeSnowflakeCursor, "_transform", _transform)
    assert [p for p in fakesnow_compat.problems() if p.startswith("fakesnow.cursor.FakeSnowflakeCursor._transform")]


# -- one copy per statement ----------------------------------------------------------------------
# Statements of the kinds a run sends (dbt's DDL, tests, contract checks and metadata queries, the
# pipeline's SQL, the account setup), and rewrites that return fakesnow's shared SUCCESS_NOP.
ONE_COPY_CORPUS = [
    "USE ROLE USERADMIN",
    "USE WAREHOUSE COUNTRIES_WH",
    "USE SCHEMA COUNTRIES_DEV.RAW",
    "ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = FALSE",
    "ALTER SESSION SET AUTOCOMMIT = TRUE",
    "ALTER TABLE T1 SET TAG COST_CENTER = 'data'",
    "SET RUN_LIMIT = 5",
    "CREATE DATABASE IF NOT EXISTS COUNTRIES_DEV",
    "CREATE SCHEMA IF NOT EXISTS COUNTRIES_DEV.RAW_BUILD",
    "DROP SCHEMA IF EXISTS COUNTRIES_DEV.RAW_BUILD CASCADE",
    "CREATE OR REPLACE TRANSIENT TABLE COUNTRIES_DEV.RAW_BUILD.COUNTRIES_COPY (DATA VARIANT, SOURCE_FILE VARCHAR,"
    " SOURCE_FILE_ROW NUMBER(38, 0), LOADED_AT TIMESTAMP_LTZ)",
    "create or replace transient table COUNTRIES_DEV.MART_BUILD.country_details_europe (country_code varchar,"
    " population number(38,0)) as ( select country_code, population from COUNTRIES_DEV.MART_BUILD.country_details"
    " where country_continent_name = 'Europe' )",
    "CREATE OR REPLACE TABLE COUNTRIES_DEV.A.P3 CLONE COUNTRIES_DEV.A.P",
    "select data:cca3::varchar as country_code, data:name.common::varchar as country_name,"
    " data:population::number(38,0) as population, to_date(data:updated::varchar) as updated,"
    " dateadd(day, 1, loaded_at) as next_day, 'run_1' as load_id from COUNTRIES_DEV.RAW_BUILD.COUNTRIES_COPY",
    "select c.country_code, cont.value::varchar as continent, cur.key as currency_code"
    " from COUNTRIES_DEV.RAW_BUILD.country_details_raw c,"
    " lateral flatten(input => c.data:continents, outer => true) cont,"
    " lateral flatten(input => c.data:currencies, outer => true) cur",
    "SELECT COUNT(*) FROM F, LATERAL FLATTEN(INPUT => GET_PATH(F.V, 'c'), OUTER => FALSE) AS C(SEQ, KEY, PATH, INDEX,"
    " VALUE, THIS)",
    "select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error from ("
    " select country_code as unique_field, count(*) as n_records from COUNTRIES_DEV.RAW_BUILD.country_details_raw"
    " where country_code is not null group by country_code having count(*) > 1 ) dbt_internal_test",
    "select * from ( select cast(null as varchar) as country_code, cast(null as variant) as data,"
    " cast(null as number(38,0)) as source_file_row ) as __dbt_sbq where false limit 0",
    "SHOW TERSE SCHEMAS IN DATABASE COUNTRIES_DEV LIMIT 10000",
    "SHOW OBJECTS IN SCHEMA COUNTRIES_DEV.RAW_BUILD LIMIT 10000",
    "SHOW TABLES IN SCHEMA COUNTRIES_DEV.RAW",
    "SHOW STAGES IN ACCOUNT",
    "DESCRIBE TABLE COUNTRIES_DEV.RAW.COUNTRY_DETAILS_RAW",
    "SELECT table_schema, table_name FROM COUNTRIES_DEV.information_schema.tables WHERE table_schema IN ('RAW',"
    " 'MART') ORDER BY 1, 2",
    "select object_construct('a', 1, 'b', null), array_size(parse_json('[1,2]')), sha2('x', 256),"
    " regexp_replace('a-b', '-', '_'), array_agg(x) within group (order by x) from (select 1 as x)",
    "INSERT INTO COUNTRIES_DEV.AUDIT.LOAD_STATE (RUN_ID, ROWS_LOADED) VALUES (?, ?)",
    "merge into COUNTRIES_DEV.AUDIT.T as t using (select 1 as id, 'x' as v) as s on t.id = s.id"
    " when matched then update set v = s.v when not matched then insert (id, v) values (s.id, s.v)",
    "CREATE OR REPLACE TABLE COUNTRIES_DEV.AUDIT.LOAD_STATE AS SELECT CAST('run_1' AS VARCHAR) AS RUN_ID,"
    " CURRENT_TIMESTAMP() AS LOADED_AT",
]


@pytest.fixture
def fake_cursor(tmp_path):
    import sqlglot  # noqa: F401 - fakesnow's parser

    from helpers.local_cloud import table_kinds

    fakesnow_compat.one_copy_transforms()
    from fakesnow.instance import FakeSnow

    fs = FakeSnow(create_database_on_connect=True, create_schema_on_connect=True)
    table_kinds.ensure_catalog(fs.duck_conn)  # the information_schema views may read it (patch())
    conn = fs.connect(database="COUNTRIES_DEV", schema="RAW")
    return conn.cursor()


@pytest.mark.parametrize("sql", ONE_COPY_CORPUS)
def test_one_copy_per_statement_gives_the_sql_fakesnow_gives_with_a_copy_per_rewrite(fake_cursor, sql):
    """fakesnow's _transform copies the syntax tree at every one of its ~80 rewrites; the local warehouse
    copies it once (fakesnow_compat.one_copy_transforms). The SQL DuckDB runs must be the same, the
    statement passed in must be left as it was, and fakesnow's shared SUCCESS_NOP never changed."""
    import sqlglot
    from fakesnow.cursor import FakeSnowflakeCursor
    from fakesnow.transforms.transforms import SUCCESS_NOP

    nop_before = SUCCESS_NOP.sql()
    chain = FakeSnowflakeCursor._transform
    params = ["run_1", 250] if "?" in sql else None
    statement = sqlglot.parse_one(sql, read="snowflake")
    as_given = statement.sql(dialect="snowflake")
    copying = chain.original(fake_cursor, statement, params)
    once = chain(fake_cursor, statement, params)
    assert once.sql(dialect="duckdb") == copying.sql(dialect="duckdb")
    assert once.args.get("set_autocommit") == copying.args.get("set_autocommit")
    assert statement.sql(dialect="snowflake") == as_given, "the statement passed in is unchanged"
    assert once is not SUCCESS_NOP and SUCCESS_NOP.sql() == nop_before


def test_a_chain_that_reaches_the_shared_nop_goes_on_with_a_copy_of_it(fake_cursor):
    """USE ROLE becomes SUCCESS_NOP itself at the first rewrite that sees it; what the later rewrites do
    must happen to a copy (the next statement would otherwise get whatever they did to it)."""
    import sqlglot
    from fakesnow.cursor import FakeSnowflakeCursor
    from fakesnow.transforms.transforms import SUCCESS_NOP

    before = SUCCESS_NOP.copy()
    out = FakeSnowflakeCursor._transform(fake_cursor, sqlglot.parse_one("USE ROLE SYSADMIN", read="snowflake"), None)
    assert out is not SUCCESS_NOP and out.sql() == before.sql()
    assert before == SUCCESS_NOP, "the shared SUCCESS_NOP is unchanged"


# -- describing a result without a sqlglot round trip --------------------------------------------
# Statements of the kinds a run sends whose results fakesnow describes, run in order on one session,
# so each finds the tables the ones before it created.
DESCRIBE_CORPUS = [
    (
        "CREATE OR REPLACE TRANSIENT TABLE COUNTRIES_COPY (DATA VARIANT, SOURCE_FILE VARCHAR,"
        " SOURCE_FILE_ROW NUMBER(38, 0), LOADED_AT TIMESTAMP_LTZ)",
        None,
    ),
    (
        'INSERT INTO COUNTRIES_COPY SELECT PARSE_JSON(\'{"cca3": "FRA", "name": {"common": "France"},'
        ' "population": 68000000, "continents": ["Europe"], "currencies": {"EUR": {}}}\'), \'f.json\', 1,'
        " CURRENT_TIMESTAMP()",
        None,
    ),
    ("CREATE OR REPLACE TABLE LOAD_STATE (RUN_ID VARCHAR, ROWS_LOADED NUMBER(38, 0))", None),
    ("INSERT INTO LOAD_STATE (RUN_ID, ROWS_LOADED) VALUES (?, ?)", ["run_1", 250]),
    ("SELECT RUN_ID, ROWS_LOADED FROM LOAD_STATE WHERE RUN_ID = ?", ["run_1"]),
    (
        "select data:cca3::varchar as country_code, data:name.common::varchar as country_name,"
        " data:population::number(38,0) as population, dateadd(day, 1, loaded_at) as next_day,"
        " 'run_1' as load_id from COUNTRIES_COPY",
        None,
    ),
    (
        "select c.data:cca3::varchar as country_code, cont.value::varchar as continent, cur.key as currency_code"
        " from COUNTRIES_COPY c, lateral flatten(input => c.data:continents, outer => true) cont,"
        " lateral flatten(input => c.data:currencies, outer => true) cur",
        None,
    ),
    (
        "select * from ( select cast(null as varchar) as country_code, cast(null as variant) as data,"
        " cast(null as number(38,0)) as source_file_row, cast(null as timestamp_ltz) as loaded_at ) as __dbt_sbq"
        " where false limit 0",
        None,
    ),
    (
        "create or replace transient table COUNTRIES_DEV.RAW.country_details (country_code varchar,"
        " population number(38,0)) as ( select data:cca3::varchar, data:population::number(38,0) from COUNTRIES_COPY )",
        None,
    ),
    (
        "select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error from ("
        " select country_code as unique_field, count(*) as n_records from COUNTRIES_DEV.RAW.country_details"
        " where country_code is not null group by country_code having count(*) > 1 ) dbt_internal_test",
        None,
    ),
    (
        "select object_construct('a', 1, 'b', null) as o, array_size(parse_json('[1,2]')) as n, sha2('x', 256) as h,"
        " array_agg(x) within group (order by x) as a from (select 1 as x)",
        None,
    ),
    (
        "merge into LOAD_STATE as t using (select 'run_1' as run_id, 20 as rows_loaded) as s on t.run_id = s.run_id"
        " when matched then update set rows_loaded = s.rows_loaded"
        " when not matched then insert (run_id, rows_loaded) values (s.run_id, s.rows_loaded)",
        None,
    ),
    ("SHOW TERSE SCHEMAS IN DATABASE COUNTRIES_DEV LIMIT 10000", None),
    ("SHOW OBJECTS IN SCHEMA COUNTRIES_DEV.RAW LIMIT 10000", None),
    ("DESCRIBE TABLE COUNTRIES_DEV.RAW.COUNTRIES_COPY", None),
    (
        "SELECT table_schema, table_name FROM COUNTRIES_DEV.information_schema.tables WHERE table_schema = 'RAW'"
        " ORDER BY 1, 2",
        None,
    ),
    ("ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = FALSE", None),
    ("USE SCHEMA COUNTRIES_DEV.RAW", None),
    ("SELECT 'a;b' AS has_a_semicolon", None),  # several statements? fakesnow's own path describes it
]


@pytest.fixture
def describing_cursor(tmp_path):
    import sqlglot  # noqa: F401 - fakesnow's parser
    from fakesnow.instance import FakeSnow

    from helpers.local_cloud import table_kinds

    fakesnow_compat.describe_without_reparse()
    fs = FakeSnow(create_database_on_connect=True, create_schema_on_connect=True)
    table_kinds.ensure_catalog(fs.duck_conn)
    return fs.connect(database="COUNTRIES_DEV", schema="RAW").cursor()


def test_each_result_is_described_by_duckdb_as_fakesnow_describes_it_through_sqlglot(describing_cursor):
    """fakesnow describes each result by parsing 'DESCRIBE <its DuckDB SQL>' with sqlglot and running
    what it generates; the local warehouse hands that text to DuckDB's DESCRIBE directly
    (fakesnow_compat.describe_without_reparse). Every statement's description must be the same rows."""
    from fakesnow.cursor import FakeSnowflakeCursor

    direct = FakeSnowflakeCursor._describe_last_sql
    assert direct.direct, "the patch is in place"
    cur = describing_cursor
    for sql, params in DESCRIBE_CORPUS:
        cur.execute(sql, binding_params=params)  # as the server passes a request's bindings (qmark)
        through_sqlglot = direct.original(cur)
        assert through_sqlglot, sql
        assert direct(cur) == through_sqlglot, sql
        if ";" not in cur._last_sql:  # the direct path, not the fallback, gave that answer
            assert cur._duck_conn.execute(f"DESCRIBE {cur._last_sql}", cur._last_params).fetchall() == through_sqlglot


def test_sql_duckdb_cannot_describe_gets_fakesnows_own_error(describing_cursor):
    """The fallback: what DuckDB refuses goes through fakesnow's path, which raises its own error type."""
    import snowflake.connector

    cur = describing_cursor
    cur.execute("SELECT 1 AS one")
    cur._last_sql = "SELECT * FROM NO_SUCH_TABLE"
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="NO_SUCH_TABLE"):
        cur._describe_last_sql()
