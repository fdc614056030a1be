"""Row counts per layer, two ways: the table's metadata (information_schema.tables.ROW_COUNT) and
COUNT(*) - side by side, so a reader sees where the metadata can be trusted.

Snowflake keeps ROW_COUNT in each table's metadata ("Number of rows in the table",
https://docs.snowflake.com/en/sql-reference/info-schema/tables): reading it scans nothing. The local
warehouse (fakesnow) does not keep it up to date after a DELETE (its ROW_COUNT is then stale), so the
exact count here is COUNT(*), and `agrees` says whether the metadata matched it.
"""

from __future__ import annotations

from typing import Any

from helpers import warehouse

LAYER_SCHEMAS = ("RAW", "TRANSFORM", "MART")


def layer_counts(conn: Any, database: str, schemas: tuple[str, ...] = LAYER_SCHEMAS) -> list[dict[str, Any]]:
    """One row per table of `schemas`: schema, table, ROW_COUNT (metadata), COUNT(*) and whether they agree."""
    listed = ", ".join(f"'{s}'" for s in schemas)
    tables = warehouse.execute(
        conn,
        f"SELECT table_schema, table_name, row_count FROM {database}.information_schema.tables "
        f"WHERE table_schema IN ({listed}) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
    ).rows
    order = {s: i for i, s in enumerate(schemas)}
    rows = []
    for schema, table, row_count in sorted(tables, key=lambda t: (order[t[0]], t[1])):
        counted = int(warehouse.scalar(conn, f"SELECT COUNT(*) FROM {database}.{schema}.{table}"))
        metadata = None if row_count is None else int(row_count)
        rows.append(
            {
                "schema": schema,
                "table": table,
                "ROW_COUNT": metadata,
                "COUNT(*)": counted,
                "agrees": metadata == counted,
            }
        )
    return rows
