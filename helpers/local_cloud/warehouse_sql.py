"""Statement-parsing helpers shared by the local warehouse's handlers: Snowflake identifiers, SQL
literals, and the substitute SELECT through which a handler hands its answer back to fakesnow."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import snowflake.connector.errors
from sqlglot import exp

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


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_PROPERTY = re.compile(r"""\s*(?P<key>[A-Za-z_]+)\s*=\s*(?P<value>'(?:[^']|'')*'|\([^)]*\)|[^\s()]+)""", re.IGNORECASE)


def parse_properties(text: str) -> dict[str, Any]:
    """`KEY = 'v' KEY2 = (a, b) KEY3 = TRUE` -> {"KEY": "v", "KEY2": ["a", "b"], "KEY3": "TRUE"}."""
    props: dict[str, Any] = {}
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _PROPERTY.match(text, pos)
        if not m:
            rest = text[pos:].strip()
            if not rest:
                break
            raise ProgrammingError(
                msg=f"SQL compilation error:\nsyntax error near '{rest[:40]}'", errno=1003, sqlstate="42000"
            )
        value = m.group("value")
        if value.startswith("("):
            items = re.findall(r"'((?:[^']|'')*)'", value)
            props[m.group("key").upper()] = [i.replace("''", "'") for i in items]
        elif value.startswith("'"):
            props[m.group("key").upper()] = value[1:-1].replace("''", "'")
        else:
            props[m.group("key").upper()] = value.upper()
        pos = m.end()
    return props


def format_properties(props: list[exp.Expression]) -> dict[str, Any]:
    """FILE_FORMAT = (TYPE = JSON STRIP_OUTER_ARRAY = TRUE) or (FORMAT_NAME = x) or = x, as a dict."""
    out: dict[str, Any] = {}
    for prop in props:
        key = prop.this.name.upper()
        value = prop.args.get("value")
        if isinstance(value, exp.Table):
            out[key] = ".".join(p.sql(dialect="snowflake") for p in value.parts)
        elif isinstance(value, exp.Boolean):
            out[key] = bool(value.this)
        else:
            out[key] = value.name if value is not None else None
    for key in out:
        if key not in {"TYPE", "STRIP_OUTER_ARRAY", "FORMAT_NAME"} and str(out.get("TYPE", "")).upper() == "JSON":
            raise ProgrammingError(
                msg=f"SQL compilation error:\nfile format option {key} is not supported by the local warehouse",
                errno=2016,
                sqlstate="0A000",
            )
    return out


def truthy_value(value: Any) -> bool:
    return value is True or str(value).upper() in {"TRUE", "1", "YES"}


def truthy(value: exp.Expression | None) -> bool:
    if isinstance(value, exp.Boolean):
        return bool(value.this)
    return value is not None and value.name.upper() in {"TRUE", "1", "YES"}
