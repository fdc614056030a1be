"""Table kinds (permanent, transient, temporary) for the local warehouse, and Snowflake's CLONE rules.

fakesnow accepts `CREATE TRANSIENT TABLE` and forgets the kind: every table reads back as permanent and
CLONE is a CREATE TABLE AS that ignores kinds - so a transient -> permanent clone, which Snowflake
refuses, passed locally while every real run failed on it (the publish bug this project once had).
Here each CREATE records the kind it asked for, CLONE follows Snowflake's rules, and
information_schema.tables reports IS_TRANSIENT / IS_TEMPORARY from the record.

Snowflake, "Working with Temporary and Transient Tables"
(https://docs.snowflake.com/en/user-guide/tables-temp-transient), "Comparison of table types" /
cloning: a temporary or transient table can be cloned to a transient or temporary table, not to a
permanent one; a permanent table can be cloned to any kind.
"""

from __future__ import annotations

import re
from typing import Any

import snowflake.connector.errors

ProgrammingError = snowflake.connector.errors.ProgrammingError

KINDS_TABLE = "_fs_global._fs_information_schema._local_table_kinds"
PERMANENT, TRANSIENT, TEMPORARY = "PERMANENT", "TRANSIENT", "TEMPORARY"

_NAME = r'(?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+)){0,2}'
_CREATE_TABLE = re.compile(
    rf"^CREATE\s+(?P<replace>OR\s+REPLACE\s+)?"
    rf"(?P<kind>(?:LOCAL\s+|GLOBAL\s+)?(?:TEMPORARY|TEMP|VOLATILE)\s+|TRANSIENT\s+)?"
    rf"TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_CLONE = re.compile(rf"^\s*CLONE\s+(?P<source>{_NAME})", re.IGNORECASE)

# information_schema.tables: fakesnow hard-codes both columns (fakesnow.info_schema)
IS_TRANSIENT_SQL = (
    "COALESCE((SELECT CASE WHEN k.kind = 'TRANSIENT' THEN 'YES' ELSE 'NO' END FROM "
    f"{KINDS_TABLE} k WHERE k.database_name = tables.database_name AND k.schema_name = tables.schema_name "
    "AND k.table_name = tables.table_name), 'NO')"
)
IS_TEMPORARY_SQL = IS_TRANSIENT_SQL.replace("'TRANSIENT'", "'TEMPORARY'")
# (fakesnow's text, ours) in its information_schema.tables view: applied by fakesnow_compat.patch()
INFORMATION_SCHEMA_PATCHES = (
    ("'NO' AS \"IS_TRANSIENT\"", f'{IS_TRANSIENT_SQL} AS "IS_TRANSIENT"'),
    ("'NO' AS \"IS_TEMPORARY\"", f'{IS_TEMPORARY_SQL} AS "IS_TEMPORARY"'),
)


def ensure_catalog(duck: Any) -> None:
    duck.execute(
        f"""CREATE TABLE IF NOT EXISTS {KINDS_TABLE} (
            database_name TEXT, schema_name TEXT, table_name TEXT, kind TEXT,
            PRIMARY KEY (database_name, schema_name, table_name))"""
    )


def _ident(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith('"') and name.endswith('"') else name.upper()


def _qualify(name: str, database: str | None, schema: str | None) -> tuple[str, str, str]:
    parts = [_ident(p) for p in re.findall(r'"[^"]+"|[^.]+', name)]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return (database or "").upper(), parts[0], parts[1]
    return (database or "").upper(), (schema or "").upper(), parts[0]


def kind_of(duck: Any, database: str, schema: str, table: str) -> str:
    row = (
        duck.cursor()
        .execute(
            f"SELECT kind FROM {KINDS_TABLE} WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [database, schema, table],
        )
        .fetchone()
    )
    return row[0] if row else PERMANENT


def _exists(duck: Any, database: str, schema: str, table: str) -> bool:
    return bool(
        duck.cursor()
        .execute(
            "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [database, schema, table],
        )
        .fetchone()
    )


def on_create_table(duck: Any, conn: Any, text: str) -> None:
    """Before fakesnow runs a CREATE TABLE: refuse what Snowflake refuses, record the table's kind."""
    m = _CREATE_TABLE.match(text)
    if not m:
        return
    word = (m.group("kind") or "").strip().upper()
    kind = TRANSIENT if word == "TRANSIENT" else TEMPORARY if word else PERMANENT
    database, schema, table = _qualify(m.group("name"), conn.database, conn.schema)
    if m.group("ine") and _exists(duck, database, schema, table):
        return  # IF NOT EXISTS on an existing table: nothing changes, its kind included
    if clone := _CLONE.match(m.group("rest")):
        source = _qualify(clone.group("source"), conn.database, conn.schema)
        source_kind = kind_of(duck, *source)
        if kind == PERMANENT and source_kind == TRANSIENT:
            raise ProgrammingError(
                msg="SQL compilation error:\nTransient object cannot be cloned to a permanent object.",
                errno=2120,
                sqlstate="0A000",
            )
        if kind == PERMANENT and source_kind == TEMPORARY:
            raise ProgrammingError(
                msg="SQL compilation error:\nTemp table can not be cloned to a permanent table; clone to a "
                "transient table instead.",
                errno=2120,
                sqlstate="0A000",
            )
    duck.cursor().execute(f"INSERT OR REPLACE INTO {KINDS_TABLE} VALUES (?, ?, ?, ?)", [database, schema, table, kind])
