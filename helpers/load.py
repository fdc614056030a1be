"""The load step: COPY this run's landed file into a fresh RAW_BUILD.COUNTRIES_COPY, before dbt.

Loading before dbt (not in a dbt pre-hook) means dbt's source tests on COUNTRIES_COPY test *this*
load's rows. The copy table's one DDL is in sql/04_load.sql; the load never touches what users query
(the publish step swaps the tested build in, helpers/publish.py).

COPY's answer is one row per staged file: LOADED with its row count, or LOAD_SKIPPED when that file
(same name, same checksum) was already loaded into this table - Snowflake's load metadata. The table
is new at every load, so nothing is skipped here; running the same COPY again would skip everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers import warehouse
from helpers.publish import BUILD_SUFFIX, LAYERS


LOAD_SQL = warehouse.SQL_DIR / "04_load.sql"
COPY_TABLE = "COUNTRIES_COPY"


@dataclass
class LoadResult:
    statements: list[str]
    files: list[dict[str, Any]] = field(default_factory=list)  # COPY's answer, one row per file

    @property
    def rows_loaded(self) -> int:
        return sum(int(f.get("rows_loaded") or 0) for f in self.files)


def load_statements(database: str, suffix: str = BUILD_SUFFIX) -> list[str]:
    return warehouse.render_sql(LOAD_SQL, {"database": database, "layers": LAYERS, "suffix": suffix})


def load(conn: Any, database: str, suffix: str = BUILD_SUFFIX) -> LoadResult:
    """Fresh build schemas, the copy table, and the COPY (the file's last statement)."""
    results = [warehouse.execute(conn, statement) for statement in load_statements(database, suffix)]
    copy = results[-1]
    files = (
        [{k.lower(): v for k, v in row.items()} for row in copy.as_dicts()]
        if "file" in [c.lower() for c in copy.columns]
        else []
    )
    return LoadResult(statements=[r.sql for r in results], files=files)
