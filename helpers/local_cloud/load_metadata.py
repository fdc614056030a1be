"""Snowflake's load metadata for the local warehouse: which files a table has loaded, by name and checksum.

Snowflake (COPY INTO <table>, "Load metadata" and FORCE; https://docs.snowflake.com/en/user-guide/data-load-considerations-load#loading-older-files):
a COPY without FORCE skips a file whose name and checksum (ETag) the table's load metadata already
holds, whatever its last-modified time; a file changed under the same name loads again. The metadata
belongs to the table: TRUNCATE TABLE deletes it ("TRUNCATE TABLE ... deletes the load metadata",
https://docs.snowflake.com/en/sql-reference/sql/truncate-table), and a table created anew (CREATE OR
REPLACE, or dropped and created) has none; DELETE keeps it. (Snowflake expires it after 64 days; the
local warehouse keeps it.) Kept per database, beside fakesnow's load history, so that a COPY records it
in its own transaction.
"""

from __future__ import annotations

from typing import Any

from helpers.local_cloud.table_kinds import _CREATE_TABLE, _qualify

TABLE = "_fs_information_schema._local_load_metadata"


def _table(database: str) -> str:
    return f'"{database}".{TABLE}'


def _ensure(cur: Any, database: str) -> None:
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {_table(database)} (schema_name TEXT, table_name TEXT, file_name TEXT, "
        "etag TEXT, loaded_at TIMESTAMPTZ DEFAULT now())"
    )


def already_loaded(cur: Any, database: str, schema: str, table: str, file_name: str, etag: str) -> bool:
    _ensure(cur, database)
    return bool(
        cur.execute(
            f"SELECT 1 FROM {_table(database)} WHERE schema_name = ? AND table_name = ? AND file_name = ? AND etag = ?",
            [schema, table, file_name, etag],
        ).fetchone()
    )


def record(cur: Any, database: str, schema: str, table: str, file_name: str, etag: str) -> None:
    _ensure(cur, database)
    cur.execute(
        f"INSERT INTO {_table(database)} (schema_name, table_name, file_name, etag) VALUES (?, ?, ?, ?)",
        [schema, table, file_name, etag],
    )


def _forget(duck: Any, database: str, schema: str, table: str) -> None:
    exists = (
        duck.cursor()
        .execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = '_fs_information_schema' "
            "AND table_name = '_local_load_metadata'",
            [database],
        )
        .fetchone()
    )
    if exists:
        duck.cursor().execute(
            f"DELETE FROM {_table(database)} WHERE schema_name = ? AND table_name = ?", [schema, table]
        )


def forget(duck: Any, conn: Any, name: str) -> None:
    """TRUNCATE / DROP TABLE `name`: its load metadata goes."""
    _forget(duck, *_qualify(name, conn.database, conn.schema))


def on_create_table(duck: Any, conn: Any, text: str) -> None:
    """A table created anew (not an IF NOT EXISTS on an existing one) starts with no load metadata."""
    m = _CREATE_TABLE.match(text)
    if not m:
        return
    database, schema, table = _qualify(m.group("name"), conn.database, conn.schema)
    if (
        m.group("ine")
        and duck.cursor()
        .execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [database, schema, table],
        )
        .fetchone()
    ):
        return
    _forget(duck, database, schema, table)
