"""The production deploy as the original project did it in dbt Cloud, and as this project does it:
a dbt Cloud concept, then this project's counterpart, read from the files that define it
(dbt_project/profiles.yml, the deploy workflow), so the table cannot drift from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from helpers.settings import PROJECT_ROOT, Settings

WORKFLOWS_DIR = PROJECT_ROOT / ".github" / "workflows"
PROFILES = PROJECT_ROOT / "dbt_project" / "profiles.yml"


def deploy_workflow() -> Path:
    """The production workflow: the one file .github/workflows/*deploy*.yml."""
    found = sorted(WORKFLOWS_DIR.glob("*deploy*.yml"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one .github/workflows/*deploy*.yml, found {[p.name for p in found]}")
    return found[0]


def _run_step(job: dict[str, Any]) -> dict[str, Any]:
    steps = [s for s in job.get("steps", []) if "helpers run" in str(s.get("run", ""))]
    if len(steps) != 1:
        raise ValueError("the deploy job has no single `python -m helpers run` step")
    return steps[0]


def dbt_cloud_mapping(settings: Settings, target: str = "prod") -> list[dict[str, str]]:
    """Rows: concept (dbt Cloud), what the original project had, this project's counterpart, where."""
    path = deploy_workflow()
    workflow = yaml.safe_load(path.read_text())
    triggers = workflow.get(True) or workflow.get("on")  # YAML 1.1 reads the key `on` as True
    (job_name, job), *_ = workflow["jobs"].items()
    run = _run_step(job)
    profiles = yaml.safe_load(PROFILES.read_text())
    outputs = profiles[next(iter(profiles))]["outputs"]
    where = str(path.relative_to(PROJECT_ROOT))
    cron = ", ".join(f'cron "{s["cron"]}"' for s in triggers.get("schedule", []))
    on_demand = " + on demand (workflow_dispatch)" if "workflow_dispatch" in triggers else ""
    return [
        {
            "dbt Cloud": "environment (Production)",
            "original project": "a production environment on its own database",
            "this project": f"dbt target `{target}`: database {settings.database(target)}, role {settings.role(target)}",
            "where": f"dbt_project/profiles.yml (outputs: {', '.join(outputs)})",
        },
        {
            "dbt Cloud": "job",
            "original project": "a dbt Cloud job, run to deploy",
            "this project": f"workflow `{workflow['name']}`, job `{job_name}`",
            "where": where,
        },
        {
            "dbt Cloud": "job command",
            "original project": "dbt build",
            "this project": f"{' '.join(run['run'].split())} (dbt build, validation, publish)",
            "where": f'{where}, step "{run["name"]}"',
        },
        {
            "dbt Cloud": "schedule (job trigger)",
            "original project": "—",
            "this project": f"{cron}{on_demand}",
            "where": f"{where}, on:",
        },
        {
            "dbt Cloud": "one run of a job at a time",
            "original project": "—",
            "this project": f"concurrency group {workflow['concurrency']['group']}, queued, never cancelled",
            "where": f"{where}, concurrency:",
        },
        {
            "dbt Cloud": "deployment credentials",
            "original project": "the environment's Snowflake connection",
            "this project": "service user key pair (secret SNOWFLAKE_PRIVATE_KEY); AWS through GitHub's OIDC token",
            "where": f"{where}, env: and steps",
        },
        {
            "dbt Cloud": "run history and artifacts",
            "original project": "screenshots of the runs",
            "this project": "the run report, kept as a workflow artifact",
            "where": f'{where}, step "Keep the run report"',
        },
    ]
