"""The Snowflake part of the plan: the storage integration and the database the account setup made,
and the schemas, file format, stage and tables a run creates or replaces in it - read with SHOW and
DESC only (SHOW ... IN DATABASE only for a database SHOW DATABASES lists)."""

from __future__ import annotations

from typing import Any

from helpers import publish, warehouse
from helpers import load as loading
from helpers.load_state import STATE_SCHEMA, STATE_TABLE
from helpers.plan.model import ACCOUNT_SETUP_HINT, CREATE, DIFFERS, EXISTS, MISSING, REPLACE, Plan, json_diff
from helpers.settings import PROJECT_ROOT, Settings

DBT_MODELS_DIR = PROJECT_ROOT / "dbt_project" / "models"
SCHEMAS = ("LANDING", *publish.LAYERS, *(f"{layer}{publish.BUILD_SUFFIX}" for layer in publish.LAYERS), STATE_SCHEMA)
STAGE, FILE_FORMAT = "COUNTRIES_STAGE", "COUNTRIES_JSON_FORMAT"


def describe_integration(conn: Any, name: str) -> dict[str, str] | None:
    names = {str(r[0]).upper() for r in warehouse.execute(conn, "SHOW INTEGRATIONS").rows}
    if name.upper() not in names:
        return None
    return {r["property"]: r["property_value"] for r in warehouse.execute(conn, f"DESC INTEGRATION {name}").as_dicts()}


def dbt_models() -> dict[str, list[str]]:
    """The dbt models per layer, as the tables dbt builds (models/<layer>/<name>.sql)."""
    out: dict[str, list[str]] = {}
    for path in sorted(DBT_MODELS_DIR.rglob("*.sql")):
        layer = path.relative_to(DBT_MODELS_DIR).parts[0].upper()
        out.setdefault(layer, []).append(path.stem.upper())
    return out


def plan_snowflake(
    plan: Plan, s: Settings, conn: Any, target: str, integration: dict[str, str] | None, sf_role_arn: str
) -> None:
    name = s.integration_name
    locations = f"s3://{s.bucket}/{s.data_prefix}"
    wanted = {"STORAGE_AWS_ROLE_ARN": sf_role_arn, "STORAGE_ALLOWED_LOCATIONS": locations, "ENABLED": "true"}
    if integration is None:
        plan.add(
            "snowflake",
            f"snowflake integration {name.upper()}",
            MISSING,
            f"the run fails without it: {ACCOUNT_SETUP_HINT}",
            json_diff(None, wanted, name),
        )
    else:
        current = {k: str(integration.get(k, "")) for k in wanted}
        diff = json_diff(current, wanted, name)
        plan.add(
            "snowflake",
            f"snowflake integration {name.upper()}",
            DIFFERS if diff else EXISTS,
            f"the run fails until {ACCOUNT_SETUP_HINT}" if diff else "role and locations as wanted",
            diff,
            current,
        )
    db = s.database(target).upper()
    databases = {str(r[1]).upper() for r in warehouse.execute(conn, "SHOW DATABASES").rows}
    have_db = db in databases
    plan.add(
        "snowflake",
        f"snowflake database {db}",
        EXISTS if have_db else MISSING,
        f"target {target}, owned by role {s.role(target)}" + ("" if have_db else f": {ACCOUNT_SETUP_HINT}"),
    )
    schemas: set[str] = set()
    tables: set[str] = set()
    stages: set[str] = set()
    formats: set[str] = set()
    if have_db:  # SHOW ... IN DATABASE of a missing database is an error on Snowflake
        schemas = {str(r["name"]).upper() for r in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {db}").as_dicts()}
        tables = {
            f"{str(r['schema_name']).upper()}.{str(r['name']).upper()}"
            for r in warehouse.execute(conn, f"SHOW TABLES IN DATABASE {db}").as_dicts()
        }
        stages = {
            f"{str(r['schema_name']).upper()}.{str(r['name']).upper()}"
            for r in warehouse.execute(conn, f"SHOW STAGES IN DATABASE {db}").as_dicts()
        }
        formats = {
            f"{str(r['schema_name']).upper()}.{str(r['name']).upper()}"
            for r in warehouse.execute(conn, f"SHOW FILE FORMATS IN DATABASE {db}").as_dicts()
        }
    why = {"LANDING": "the stage and file format (never swapped)", STATE_SCHEMA: "the last load (LOAD_STATE)"}
    for schema in SCHEMAS:
        if schema.endswith(publish.BUILD_SUFFIX):
            status, note = (REPLACE if schema in schemas else CREATE), "dropped and re-created by every load"
        else:
            status = EXISTS if schema in schemas else CREATE
            note = why.get(schema, "published by ALTER SCHEMA ... SWAP WITH its _BUILD twin")
        plan.add("snowflake", f"snowflake schema {db}.{schema}", status, note)
    plan.add(
        "snowflake",
        f"snowflake file format {db}.LANDING.{FILE_FORMAT}",
        EXISTS if f"LANDING.{FILE_FORMAT}" in formats else CREATE,
        "JSON, CREATE ... IF NOT EXISTS",
    )
    plan.add(
        "snowflake",
        f"snowflake stage {db}.LANDING.{STAGE}",
        REPLACE if f"LANDING.{STAGE}" in stages else CREATE,
        f"CREATE OR REPLACE: URL {locations}, integration {name.upper()}",
    )
    wanted_tables = {f"RAW.{loading.COPY_TABLE}": "the load's COPY target"}
    for layer, models in dbt_models().items():
        for model in models:
            wanted_tables[f"{layer}.{model}"] = "dbt model"
    for table, note in wanted_tables.items():
        layer, tname = table.split(".")
        build = f"{layer}{publish.BUILD_SUFFIX}.{tname}"
        plan.add(
            "snowflake",
            f"snowflake table {db}.{build}",
            REPLACE if build in tables else CREATE,
            f"{note}, built by this run",
        )
        plan.add(
            "snowflake",
            f"snowflake table {db}.{table}",
            REPLACE if table in tables else CREATE,
            f"{note}, published by the swap",
        )
    plan.add(
        "snowflake",
        f"snowflake table {db}.{STATE_SCHEMA}.{STATE_TABLE}",
        REPLACE if f"{STATE_SCHEMA}.{STATE_TABLE}" in tables else CREATE,
        "one row: what built the tables",
    )
    for extra in sorted(
        tables
        - {t for t in wanted_tables}
        - {f"{t.split('.')[0]}{publish.BUILD_SUFFIX}.{t.split('.')[1]}" for t in wanted_tables}
        - {f"{STATE_SCHEMA}.{STATE_TABLE}"}
    ):
        plan.add("snowflake", f"snowflake table {db}.{extra}", EXISTS, "not the pipeline's; left alone")
