"""The statements a run sends itself, rendered as the run renders them, and the dbt command it runs.

Each comes from the code that sends it (the sql/ files with Pipeline.sql_context, helpers/load.py,
helpers/publish.py, helpers/load_state.py), so what the plan shows cannot drift from what is sent."""

from __future__ import annotations

from typing import Any

from helpers import load_state, publish, warehouse
from helpers import load as loading
from helpers.plan.snowflake import dbt_models
from helpers.settings import Settings


def rendered_statements(s: Settings, target: str, sf_role_arn: str) -> dict[str, list[str]]:
    """Every statement a run sends itself, rendered as the run renders it (Pipeline.sql_context)."""
    db = s.database(target)
    ctx = {
        "database": db,
        "integration": s.integration_name,
        "role_arn": sf_role_arn,
        "bucket": s.bucket,
        "data_prefix": s.data_prefix,
    }
    sql = warehouse.SQL_DIR
    return {
        "01_landing_schema.sql": warehouse.render_sql(sql / "01_landing_schema.sql", ctx),
        "02_storage_integration.sql": warehouse.render_sql(sql / "02_storage_integration.sql", ctx),
        "03_stage.sql": warehouse.render_sql(sql / "03_stage.sql", ctx),
        "last load (Pipeline.load_state)": load_state.read_statements(db),
        "04_load.sql (helpers/load.py)": loading.load_statements(db),
        "05_publish.sql (helpers/publish.py)": publish.publish_statements(db, s.reader_role),
        "record the load (Pipeline.record_load_state)": load_state.write_statements(db),
    }


def dbt_plan(s: Settings, target: str) -> dict[str, Any]:
    from helpers.dbt import dbt_command, project_args

    cmd = [*dbt_command(), "build", *project_args(s, target, {"schema_suffix": publish.BUILD_SUFFIX})]
    return {
        "command": cmd,
        "note": "dbt sends the models' DDL itself (CREATE OR REPLACE TRANSIENT TABLE ... AS SELECT, in the _BUILD "
        "schemas) and runs the tests; see `dbt compile` for the SQL",
        "models": {layer: [m.lower() for m in models] for layer, models in dbt_models().items()},
    }
