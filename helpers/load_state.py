"""The target's last load: `<db>.AUDIT.LOAD_STATE`, one row saying which source, ingest script and dbt
project built the published tables (and the run, the landed S3 version and the record counts).

Written after each successful publish and validation, dropped just before a publish starts (a run
stopped mid-publish is then rebuilt by the next one, never skipped as "unchanged" over mixed layers).
A run whose source, ingest script and dbt project all match it skips COPY and dbt.

Typed columns: NUMBER for the counts, TIMESTAMP_TZ for published_at, VARCHAR for ids and hashes. A
LOAD_STATE written before the columns were typed (every column VARCHAR) still reads the same: the
values are parsed into the same types, and the next successful load replaces it with the typed table.
A row that cannot be read at all counts as no state (with a note): the next run reloads and rewrites it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, UTC
from typing import Any

import pydantic

from helpers import warehouse

STATE_SCHEMA = "AUDIT"
STATE_TABLE = "LOAD_STATE"
FINGERPRINTS = ("source_sha256", "ingest_script_sha256", "dbt_project_sha256")  # equal: unchanged


class LoadState(pydantic.BaseModel):
    """One row of LOAD_STATE, in column order."""

    model_config = pydantic.ConfigDict(extra="ignore")

    run_id: str
    source_url: str | None = None
    source_sha256: str | None = None
    ingest_script_sha256: str | None = None
    dbt_project_sha256: str | None = None
    landed_version_id: str | None = None
    received: int | None = None
    loaded: int | None = None
    quarantined: int | None = None
    published_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the run report shows it (published_at as ISO 8601 in UTC)."""
        out = self.model_dump()
        if self.published_at is not None:
            at = self.published_at if self.published_at.tzinfo else self.published_at.replace(tzinfo=UTC)
            out["published_at"] = at.astimezone(UTC).isoformat(timespec="seconds")
        return out


COLUMN_TYPES = {
    name: (
        "NUMBER"
        if name in ("received", "loaded", "quarantined")
        else "TIMESTAMP_TZ"
        if name == "published_at"
        else "VARCHAR"
    )
    for name in LoadState.model_fields
}


def table(database: str) -> str:
    return f"{database}.{STATE_SCHEMA}.{STATE_TABLE}"


def read_statements(database: str) -> list[str]:
    return [
        f"select count(*) from {database}.information_schema.tables "
        f"where table_schema = '{STATE_SCHEMA}' and table_name = '{STATE_TABLE}'",
        f"select * from {table(database)}",
    ]


def write_statements(database: str) -> list[str]:
    """Schema, then the one-row table as one CREATE OR REPLACE ... AS SELECT (atomic: the old row or
    the new one, never an empty table); values are bound (%(name)s), each cast to its column type."""
    columns = ", ".join(f"%({name})s::{kind} as {name.upper()}" for name, kind in COLUMN_TYPES.items())
    return [
        f"create schema if not exists {database}.{STATE_SCHEMA}",
        f"create or replace table {table(database)} as select {columns}",
    ]


def read(conn: Any, database: str, note: Callable[[str], None] | None = None) -> LoadState | None:
    """The target's last load, or None: never loaded, being published, or unreadable (`note` says)."""
    exists_sql, select_sql = read_statements(database)
    if not warehouse.scalar(conn, exists_sql):
        return None
    rows = warehouse.execute(conn, select_sql).as_dicts()
    if not rows:
        return None
    row = {k.lower(): v for k, v in rows[0].items()}
    try:
        return LoadState.model_validate(row)
    except pydantic.ValidationError as e:
        if note:
            note(
                f"    {table(database)} could not be read ({e.error_count()} problem(s): "
                f"{e.errors()[0]['loc']} {e.errors()[0]['msg']}); treated as no last load, so this run reloads"
            )
        return None


def write(conn: Any, database: str, state: LoadState) -> None:
    """Replace the one row (after a successful publish and validation)."""
    values = state.model_dump()
    if state.published_at is not None:
        values["published_at"] = state.to_dict()["published_at"]  # ISO 8601 text: bound as a string
    schema_sql, table_sql = write_statements(database)
    warehouse.execute(conn, schema_sql)
    warehouse.execute(conn, table_sql, values)


def forget(conn: Any, database: str) -> None:
    """Drop it: from here until it is written again, the target's last load is unknown."""
    warehouse.execute(conn, f"DROP TABLE IF EXISTS {table(database)}")


def unchanged(state: Mapping[str, Any] | None, current: Mapping[str, str]) -> bool:
    """Whether the last load (`LoadState.to_dict()`) was built from the same source, ingest script
    and dbt project as `current`."""
    return state is not None and all(state.get(k) == current[k] for k in FINGERPRINTS)
