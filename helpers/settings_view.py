"""The settings a reader of notebook 00 needs, for the mode in use, each with why it matters.

`Settings.describe()` lists every setting (paths, tuning knobs, connection details the local cloud
fills in); this picks the ones that decide where things go and who may touch them, and in cloud mode
also how the pipeline signs in. Secrets are never shown: only which kind of Snowflake credential is set.
"""

from __future__ import annotations

from typing import Any

from helpers.settings import Settings

# (setting, why it matters); shown in both modes
NAMES = (
    ("mode", "local: the emulators on this machine; cloud: your AWS account and Snowflake account"),
    ("aws_region", "where the bucket, the roles' ARNs and the Glue job live"),
    ("bucket", "the one bucket: every IAM policy names it"),
    ("data_prefix", "where the landed NDJSON goes; the only prefix Snowflake may read"),
    ("quarantine_prefix", "rejected records, one folder per run"),
    ("scripts_prefix", "the Glue job's script"),
    ("incoming_prefix", "a local source file, uploaded for the job"),
    ("glue_job_name", "the Glue Python-shell job"),
    ("glue_role_name", "the IAM role the job runs as"),
    ("snowflake_role_name", "the IAM role Snowflake's storage integration assumes"),
    ("integration_name", "the storage integration (made by the administrator)"),
    ("dev_database", "the dev target"),
    ("prod_database", "the prod target"),
    ("snowflake_warehouse", "the X-Small warehouse everything runs on"),
)
# shown in cloud mode only: in local mode the local cloud fills them in
CLOUD_ONLY = (
    ("snowflake_account", "your Snowflake account identifier"),
    ("snowflake_user", "who the pipeline signs in as (else each target's service user)"),
    ("snowflake_role", "one role for both targets (else each target's own role)"),
)
SECRETS = (
    ("snowflake_private_key_path", "key pair"),
    ("snowflake_token", "programmatic access token"),
    ("snowflake_password", "password"),
)
STANDS_IN_FOR = {
    "aws": "IAM, STS, S3, Glue, CloudWatch Logs (moto)",
    "snowflake": "Snowflake (fakesnow on DuckDB)",
    "source": "raw.githubusercontent.com",
}


def source(settings: Settings) -> str:
    if settings.source_url:
        return settings.source_url
    if settings.mode == "local":
        return "the 20-country fixture (helpers/fixtures/), served by the local stand-in for GitHub"
    return settings.resolved_source_url


def settings_rows(settings: Settings) -> list[dict[str, str]]:
    """[{setting, value, why}] for the current mode; empty settings left out."""
    chosen = NAMES + (CLOUD_ONLY if settings.mode == "cloud" else ())
    rows = [
        {"setting": name, "value": str(getattr(settings, name)), "why": why}
        for name, why in chosen
        if getattr(settings, name) not in (None, "")
    ]
    rows.append({"setting": "source", "value": source(settings), "why": "what the Glue job downloads"})
    if settings.mode == "cloud":
        kinds = [kind for name, kind in SECRETS if getattr(settings, name)]
        rows.append(
            {"setting": "Snowflake credential", "value": ", ".join(kinds) or "none set", "why": "(set, hidden)"}
        )
    return rows


def cloud_rows(status: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The local cloud's services: what each stands in for and whether it answers (ports left out:
    they change every time and teach nothing)."""
    return [
        {
            "service": name,
            "stands in for": STANDS_IN_FOR.get(name, ""),
            "running": st.get("running"),
            "healthy": st.get("healthy"),
        }
        for name, st in status.items()
    ]
