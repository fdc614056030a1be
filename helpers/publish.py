"""The publish step: the tested build becomes what users query, one layer at a time.

`ALTER SCHEMA <db>.<LAYER>_BUILD SWAP WITH <db>.<LAYER>` (sql/05_publish.sql), RAW, then TRANSFORM, then
MART. Why a schema swap rather than copying tables:
* one metadata statement per layer: a reader sees the whole old layer or the whole new one, never some
  tables of each - whatever happens between two statements (a crash, the warehouse going away);
* no table-kind rules to trip over: dbt-snowflake builds TRANSIENT tables, and Snowflake refuses to
  CLONE a transient table into a permanent one (error 002120) - a swap moves the tables as they are;
* nothing is copied, whatever the size of the layer.
Snowflake docs, ALTER SCHEMA, SWAP WITH: "Swaps all objects (tables, views, etc.) and metadata,
including identifiers, between the two specified schemas. Also swaps all access control privileges
granted on the schemas and objects they contain." So grants travel with the objects: the reader role is
granted SELECT on the MART build before its swap, and the swapped-out MART's grants are revoked after.

After a publish the `_BUILD` schemas hold the previous version until the next load empties them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers import warehouse


LAYERS = ("RAW", "TRANSFORM", "MART")  # upstream first: a reader of MART never sees a MART newer than its TRANSFORM
BUILD_SUFFIX = "_BUILD"
PUBLISH_SQL = warehouse.SQL_DIR / "05_publish.sql"


def publish_statements(database: str, reader_role: str) -> list[str]:
    """The publish, rendered: per layer, make sure the published schema exists, then swap (MART's
    reader grants travel with it: granted on the build before, revoked from the old MART after)."""
    return warehouse.render_sql(
        PUBLISH_SQL, {"database": database, "layers": LAYERS, "suffix": BUILD_SUFFIX, "reader_role": reader_role}
    )


def publish(conn: Any, database: str, reader_role: str, on_statement: Callable[[str], None] | None = None) -> list[str]:
    """Run the publish statements in order; `on_statement` hears each one after it succeeded (so a
    caller knows how far a publish got if the next one fails). Returns the statements run."""
    done = []
    for statement in publish_statements(database, reader_role):
        warehouse.execute(conn, statement)
        done.append(statement)
        if on_statement:
            on_statement(statement)
    return done


def swapped_layers(statements: list[str]) -> list[str]:
    """The layers whose swap is among `statements` (how far an interrupted publish got)."""
    return [
        layer
        for layer in LAYERS
        if any(s.upper().startswith("ALTER SCHEMA") and s.upper().rstrip().endswith(f".{layer}") for s in statements)
    ]
