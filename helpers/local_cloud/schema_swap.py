"""`ALTER SCHEMA [IF EXISTS] <db>.<a> SWAP WITH <b>` for the local warehouse (fakesnow cannot parse it).

Snowflake (https://docs.snowflake.com/en/sql-reference/sql/alter-schema): SWAP WITH "swaps all objects
(tables, views, etc.) and metadata, including identifiers, between the two specified schemas ...
essentially performs a rename of both schemas as a single operation". The pipeline publishes with it.

DuckDB can neither rename a schema nor move a table to another schema, so the swap moves every table
through a scratch schema (CREATE TABLE AS + DROP) inside ONE DuckDB transaction: a failure anywhere
leaves both schemas exactly as they were, and other sessions see the old pair or the new pair, never a
mix. fakesnow's side catalogs (column lengths, comments, stages, file formats, load history) are moved
with their tables. A view is refused rather than moved half-right (its text names its schema).
"""

from __future__ import annotations

import secrets
from typing import Any

import snowflake.connector.errors

from helpers.local_cloud.fakesnow_compat import COLUMNS_EXT, FILE_FORMATS_TABLE, STAGES_TABLE, TABLES_EXT

ProgrammingError = snowflake.connector.errors.ProgrammingError

# (table, database column, schema column) of every fakesnow side catalog keyed by schema (their shapes
# are checked at start: fakesnow_compat.HOOKS)
SCHEMA_KEYED_CATALOGS = (
    (TABLES_EXT, "ext_table_catalog", "ext_table_schema"),
    (COLUMNS_EXT, "ext_table_catalog", "ext_table_schema"),
    (STAGES_TABLE, "database_name", "schema_name"),
    (FILE_FORMATS_TABLE, "database_name", "schema_name"),
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _missing(database: str, schema: str) -> ProgrammingError:
    return ProgrammingError(
        msg=f"SQL compilation error:\nSchema '{database}.{schema}' does not exist or not authorized.",
        errno=2003,
        sqlstate="02000",
    )


def swap_schemas(duck: Any, database: str, a: str, b: str, if_exists: bool, extra_catalogs: tuple = ()) -> str:
    """Swap schemas `a` and `b` of `database`; returns Snowflake's status text."""
    cur = duck.cursor()
    schemas = {
        r[0]
        for r in cur.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [database]).fetchall()
    }
    if a not in schemas:
        if if_exists:
            return "Statement executed successfully."
        raise _missing(database, a)
    if b not in schemas:
        raise _missing(database, b)
    views = cur.execute(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = ? AND schema_name IN (?, ?) "
        "AND NOT internal",
        [database, a, b],
    ).fetchall()
    if views:
        raise ProgrammingError(
            msg=f"SQL compilation error:\nALTER SCHEMA ... SWAP WITH is not supported by the local warehouse for "
            f"schemas holding views ({', '.join(f'{s}.{v}' for s, v in views)})",
            errno=2016,
            sqlstate="0A000",
        )
    scratch = f"_swap_{secrets.token_hex(4)}"
    db = _q(database)
    # A swap is symmetric, but the schema that goes through the scratch schema is copied twice: send the
    # one with fewer rows that way (on a first publish, the empty published schema: at 1M records the three
    # swaps took ~39 s the other way round, and the run's dbt step went from 129 s to 94 s). Either way
    # round gives the same result.
    rows = dict(
        cur.execute(
            "SELECT schema_name, sum(estimated_size) FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name IN (?, ?) GROUP BY schema_name",
            [database, a, b],
        ).fetchall()
    )
    twice, once = (a, b) if (rows.get(a) or 0) <= (rows.get(b) or 0) else (b, a)
    moves = ((twice, scratch), (once, twice), (scratch, once))
    # load history (fakesnow's) and load metadata (helpers/local_cloud/load_metadata.py) go with their tables
    per_database_catalogs = [
        r[0]
        for r in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = '_fs_information_schema' "
            "AND table_name IN ('_fs_load_history', '_local_load_metadata')",
            [database],
        ).fetchall()
    ]
    # DuckDB lets one transaction write to one attached database only: the tables (and the database's
    # load history) move in one transaction on the database; fakesnow's global side catalogs follow in
    # a second one. What a session can see - the tables and their rows - changes all at once.
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(f"CREATE SCHEMA {db}.{_q(scratch)}")
        for source, target in moves:
            tables = [
                r[0]
                for r in cur.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
                    [database, source],
                ).fetchall()
            ]
            for table in tables:
                cur.execute(f"CREATE TABLE {db}.{_q(target)}.{_q(table)} AS FROM {db}.{_q(source)}.{_q(table)}")
                cur.execute(f"DROP TABLE {db}.{_q(source)}.{_q(table)}")
            for per_database in per_database_catalogs:
                cur.execute(
                    f"UPDATE {db}._fs_information_schema.{per_database} SET schema_name = ? WHERE schema_name = ?",
                    [target, source],
                )
        cur.execute(f"DROP SCHEMA {db}.{_q(scratch)}")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("BEGIN TRANSACTION")
    try:
        for source, target in moves:
            for catalog, db_column, schema_column in SCHEMA_KEYED_CATALOGS + tuple(extra_catalogs):
                cur.execute(
                    f"UPDATE {catalog} SET {schema_column} = ? WHERE {schema_column} = ? AND {db_column} = ?",
                    [target, source, database],
                )
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return "Statement executed successfully."
