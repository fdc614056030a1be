"""Statement-parsing helpers shared by the local warehouse's handlers: Snowflake identifiers, SQL
literals, and the substitute SELECT through which a handler hands its answer back to fakesnow."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import snowflake.connector.errors

ProgrammingError = snowflake.connector.errors.ProgrammingError


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dt.datetime):
        return "'" + value.isoformat() + "'::TIMESTAMPTZ"
    return "'" + str(value).replace("'", "''") + "'"


def values_sql(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A SELECT whose result is `rows`: how a handler hands its answer back to fakesnow."""
    # quoted: Snowflake reports these result columns in lower case
    cols = ", ".join(f'"{c}"' for c in columns)
    if not rows:
        typed_nulls = ", ".join(f'NULL AS "{c}"' for c in columns)
        return f"SELECT {typed_nulls} WHERE 1 = 0"
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in rows)
    return f"SELECT * FROM (VALUES {values}) AS t({cols})"


def status(text: str) -> str:
    """The one-row `status` answer of a DDL statement."""
    return values_sql(["status"], [(text,)])


def ident(name: str) -> str:
    """Snowflake identifier resolution: unquoted names are upper-cased."""
    name = name.strip()
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name.upper()


def split_name(name: str) -> list[str]:
    """`db."My Schema".t` -> ["DB", "My Schema", "T"]."""
    return [ident(p) for p in re.findall(r'"(?:[^"]|"")+"|[^.]+', name.strip())]


def strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return "\n".join(line for line in (re.sub(r"^\s*--.*$", "", ln) for ln in sql.splitlines()))


def like_pattern(like: str | None) -> re.Pattern[str] | None:
    """SHOW ... LIKE '<pattern>': case-insensitive, with SQL's % and _ wildcards."""
    if like is None:
        return None
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in like)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL)


def not_supported(what: str) -> ProgrammingError:
    """A statement (or clause) the local warehouse does not implement: refused, never ignored."""
    return ProgrammingError(
        msg=f"SQL compilation error:\n{what} is not supported by the local warehouse", errno=2016, sqlstate="0A000"
    )
