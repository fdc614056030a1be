"""Validation: the objects exist, and counts reconcile from the landed file through RAW, TRANSFORM
and MART. Plain SQL against the warehouse, independent of dbt's own tests."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from helpers import warehouse
from helpers.settings import PROJECT_ROOT, Settings

DBT_PROJECT_FILE = PROJECT_ROOT / "dbt_project" / "dbt_project.yml"


def _dbt_continents() -> tuple[str, ...]:
    """The continents from the dbt var `continents` (dbt_project.yml), the project's one list: the
    MART tables, dbt's tests and these checks all follow it."""
    continents = (yaml.safe_load(DBT_PROJECT_FILE.read_text()).get("vars") or {}).get("continents")
    if not continents or not all(isinstance(c, str) for c in continents):
        raise ValueError(f"{DBT_PROJECT_FILE}: vars.continents must be a list of continent names, got {continents!r}")
    return tuple(continents)


CONTINENTS = _dbt_continents()
SCHEMAS = ("RAW", "TRANSFORM", "MART")


class ValidationFailed(RuntimeError):
    pass


def continent_table(continent: str) -> str:
    """The MART table of a continent, e.g. COUNTRY_DETAILS_NORTH_AMERICA (a contract)."""
    return "COUNTRY_DETAILS_" + continent.upper().replace(" ", "_")


COUNTRY_DETAILS = "COUNTRY_DETAILS"  # the one country x continent table the continent tables filter
MART_TABLES = (COUNTRY_DETAILS, *(continent_table(c) for c in CONTINENTS), "CONTINENT_SUMMARY")


@dataclass
class Check:
    name: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class ValidationReport:
    database: str
    checks: list[Check] = field(default_factory=list)
    rows_per_layer: dict[str, int] = field(default_factory=dict)
    rows_per_continent: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str, expected: Any, actual: Any) -> None:
        self.checks.append(Check(name, expected, actual))

    def describe_failures(self) -> str:
        bad = [c for c in self.checks if not c.ok]
        return f"{len(bad)} validation check(s) failed in {self.database}:\n" + "\n".join(
            f"  {c.name}: expected {c.expected!r}, got {c.actual!r}" for c in bad
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [{"name": c.name, "expected": c.expected, "actual": c.actual, "ok": c.ok} for c in self.checks],
        }


def validate(
    settings: Settings, target: str, expected_records: int | None = None, schema_suffix: str = "", conn: Any = None
) -> ValidationReport:
    """Check the published schemas (RAW, TRANSFORM, MART), or with `schema_suffix="_BUILD"` the
    build the pipeline is about to publish (helpers/dbt.py). Over `conn` (the target's session, e.g.
    the run's), or a session of its own."""
    db = settings.database(target)
    report = ValidationReport(database=db)
    raw, transform, mart = (f"{db}.{schema}{schema_suffix}" for schema in SCHEMAS)
    with contextlib.nullcontext(conn) if conn is not None else warehouse.connect(settings, target) as conn:  # noqa: PLR1704

        def scalar(sql: str) -> Any:
            return warehouse.scalar(conn, sql)

        schemas = {r["name"] for r in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {db}").as_dicts()}
        for schema in SCHEMAS:
            report.check(f"schema {schema}{schema_suffix} exists", True, schema + schema_suffix in schemas)
        tables = {
            r[0]
            for r in warehouse.execute(
                conn,
                f"select table_name from {db}.information_schema.tables where table_schema = 'MART{schema_suffix}'",
            ).rows
        }
        for table in MART_TABLES:
            report.check(f"table MART{schema_suffix}.{table} exists", True, table in tables)
        if not report.ok:
            return report

        raw_rows = scalar(f"select count(*) from {raw}.COUNTRY_DETAILS_RAW")
        raw_countries = scalar(f"select count(distinct country_code) from {raw}.COUNTRY_DETAILS_RAW")
        copy_rows = scalar(f"select count(*) from {raw}.COUNTRIES_COPY")
        transform_rows = scalar(f"select count(*) from {transform}.COUNTRY_DETAILS_TRANSFORM")
        transform_countries = scalar(f"select count(distinct country_code) from {transform}.COUNTRY_DETAILS_TRANSFORM")
        memberships = scalar(
            f"select count(*) from {raw}.COUNTRY_DETAILS_RAW r, lateral flatten(input => r.data:continents) c"
        )
        summary = {
            r[0]: int(r[1])
            for r in warehouse.execute(conn, f"select continent_name, country_count from {mart}.CONTINENT_SUMMARY").rows
        }
        country_details_rows = scalar(f"select count(*) from {mart}.{COUNTRY_DETAILS}")
        per_table = {c: int(scalar(f"select count(*) from {mart}.{continent_table(c)}")) for c in CONTINENTS}
        per_transform = {
            r[0]: int(r[1])
            for r in warehouse.execute(
                conn,
                f"select country_continent_name, count(distinct country_code) "
                f"from {transform}.COUNTRY_DETAILS_TRANSFORM group by 1",
            ).rows
        }

    if expected_records is not None:
        report.check("landed records = COPY rows", expected_records, copy_rows)
    report.check("COPY rows = RAW rows", copy_rows, raw_rows)
    report.check("RAW has one row per country", raw_rows, raw_countries)
    report.check("every RAW country reaches TRANSFORM", raw_countries, transform_countries)
    report.check("continent memberships in RAW = rows in the continent tables", memberships, sum(per_table.values()))
    report.check(
        f"rows in {COUNTRY_DETAILS} = rows in the continent tables", country_details_rows, sum(per_table.values())
    )
    for c in CONTINENTS:
        report.check(f"{c}: TRANSFORM countries = MART table rows", per_transform.get(c, 0), per_table[c])
        report.check(f"{c}: MART table rows = CONTINENT_SUMMARY.country_count", per_table[c], summary.get(c, 0))
    report.rows_per_layer = {
        "copy_table": int(copy_rows),
        "raw": int(raw_rows),
        "transform": int(transform_rows),
        "transform_countries": int(transform_countries),
        "mart_continent_rows": sum(per_table.values()),
    }
    report.rows_per_continent = per_table
    return report
