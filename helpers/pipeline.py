"""The whole pipeline, step by step: IAM -> S3 -> Glue -> Snowflake integration and stage -> dbt ->
validation, with a run report. Each step is a function a notebook can call on its own; `run()`
calls them in order. Every step is idempotent: re-running it converges to the same state.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from helpers import dbt, glue_job, iam, storage, validation, warehouse
from helpers.settings import PROJECT_ROOT, Settings

GLUE_SCRIPT = PROJECT_ROOT / "glue" / "countries_ingest.py"
SQL_DIR = PROJECT_ROOT / "sql"

Echo = Callable[[str], None]


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("run_%Y%m%dT%H%M%SZ_") + uuid.uuid4().hex[:8]


@dataclass
class RunReport:
    run_id: str
    target: str
    source_url: str
    started_at: str
    status: str = "running"
    seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "status": self.status,
            "source_url": self.source_url,
            "started_at": self.started_at,
            "error": self.error,
            "seconds_per_step": self.seconds,
            **self.steps,
        }


class Pipeline:
    def __init__(self, settings: Settings | None = None, echo: Echo | None = None):
        self.settings = settings or Settings()
        self.echo = echo or (lambda _msg: None)

    # -- helpers -------------------------------------------------------------------------------
    @contextmanager
    def _timed(self, report: RunReport | None, step: str) -> Iterator[None]:
        started = time.monotonic()
        self.echo(f"[{step}] ...")
        try:
            yield
        finally:
            elapsed = round(time.monotonic() - started, 2)
            if report is not None:
                report.seconds[step] = elapsed
            self.echo(f"[{step}] done in {elapsed:.1f}s")

    def _show(self, results: list[warehouse.StatementResult]) -> None:
        """Each statement sent and the gist of Snowflake's answer."""
        for r in results:
            first = " ".join(r.sql.split())[:90]
            answer = r.rows[0][0] if len(r.rows) == 1 and len(r.columns) == 1 else f"{len(r.rows)} row(s)"
            self.echo(f"    > {first}\n      {answer}")

    def names(self) -> iam.Names:
        s = self.settings
        account_id = s.aws_client("sts").get_caller_identity()["Account"]
        return iam.Names(s.bucket, s.data_prefix, s.scripts_prefix, s.quarantine_prefix, s.aws_region, account_id)

    # -- steps ---------------------------------------------------------------------------------
    def setup_iam(self) -> iam.PipelineRoles:
        s = self.settings
        return iam.ensure_pipeline_roles(s.aws_client("iam"), self.names(), s.glue_role_name, s.snowflake_role_name)

    def setup_storage(self) -> dict[str, Any]:
        s = self.settings
        s3 = s.aws_client("s3")
        bucket = storage.ensure_bucket(s3, s.bucket, s.aws_region)
        script = storage.upload_file_if_changed(s3, GLUE_SCRIPT, s.bucket, s.scripts_prefix + GLUE_SCRIPT.name)
        return {**bucket, "script": script}

    def setup_glue_job(self, roles: iam.PipelineRoles) -> str:
        s = self.settings
        definition = glue_job.job_definition(
            role_arn=roles.glue_role_arn,
            script_location=f"s3://{s.bucket}/{s.scripts_prefix}{GLUE_SCRIPT.name}",
            default_arguments={
                "--bucket": s.bucket,
                "--key": s.data_key,
                "--quarantine_prefix": s.quarantine_prefix,
                "--max_bytes": str(s.max_source_bytes),
            },
        )
        return glue_job.ensure_job(s.aws_client("glue"), s.glue_job_name, definition)

    def ingest(self, source_url: str, run_id: str) -> glue_job.JobRun:
        s = self.settings
        return glue_job.run_job(
            s.aws_client("glue"),
            s.aws_client("logs"),
            s.glue_job_name,
            {"--source_url": source_url, "--run_id": run_id},
        )

    def sql_context(self, target: str, roles: iam.PipelineRoles | None = None) -> dict[str, Any]:
        s = self.settings
        return {
            "database": s.database(target),
            "integration": s.integration_name,
            "role_arn": roles.snowflake_role_arn if roles else "",
            "bucket": s.bucket,
            "data_prefix": s.data_prefix,
        }

    def setup_integration(self, roles: iam.PipelineRoles, target: str) -> dict[str, Any]:
        """Database, storage integration, and the role's trust policy updated to trust exactly
        Snowflake's principal with the integration's external id."""
        s = self.settings
        ctx = self.sql_context(target, roles)
        with warehouse.connect(s, None) as conn:
            db_results = warehouse.apply_sql_file(conn, SQL_DIR / "01_databases.sql", ctx)
            results = warehouse.apply_sql_file(conn, SQL_DIR / "02_storage_integration.sql", ctx)
        self._show(db_results + results)
        desc = {row["property"]: row["property_value"] for row in results[-1].as_dicts()}
        trust = iam.snowflake_trust_policy(desc["STORAGE_AWS_IAM_USER_ARN"], desc["STORAGE_AWS_EXTERNAL_ID"])
        changed = iam.set_trust_policy(s.aws_client("iam"), s.snowflake_role_name, trust)
        return {
            "statements": [r.sql for r in db_results + results],
            "storage_aws_iam_user_arn": desc["STORAGE_AWS_IAM_USER_ARN"],
            "storage_aws_external_id": desc["STORAGE_AWS_EXTERNAL_ID"],
            "trust_policy_updated": changed,
        }

    def setup_stage(self, target: str) -> dict[str, Any]:
        s = self.settings
        ctx = self.sql_context(target)
        # IAM is eventually consistent in AWS: a trust policy updated a moment ago may not be
        # honoured yet, so the first LIST gets a few patient retries.
        last_error: Exception | None = None
        for attempt in range(6):
            try:
                with warehouse.connect(s, None) as conn:
                    results = warehouse.apply_sql_file(conn, SQL_DIR / "03_stage.sql", ctx)
                listing = results[-1].as_dicts()
                self._show(results)
                return {"statements": [r.sql for r in results], "files": listing}
            except Exception as e:  # noqa: BLE001 - re-raised below after the retries
                if "AWS_ROLE" not in str(e) or attempt == 5:
                    raise
                last_error = e
                time.sleep(min(2**attempt, 10))
        raise RuntimeError(f"stage setup failed: {last_error}")

    def transform(self, target: str, run_id: str) -> dbt.DbtResult:
        return dbt.build(self.settings, target, run_id, on_line=lambda line: self.echo(f"    {line}"))

    # -- the whole run -------------------------------------------------------------------------
    def run(self, source_url: str | None = None, target: str = "dev") -> RunReport:
        s = self.settings
        source_url = source_url or s.resolved_source_url
        report = RunReport(
            run_id=new_run_id(),
            target=target,
            source_url=source_url,
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        try:
            with self._timed(report, "iam"):
                roles = self.setup_iam()
                report.steps["iam"] = {
                    "glue_role_arn": roles.glue_role_arn,
                    "snowflake_role_arn": roles.snowflake_role_arn,
                }
            with self._timed(report, "s3"):
                report.steps["s3"] = self.setup_storage()
            with self._timed(report, "glue"):
                job_state = self.setup_glue_job(roles)
                job_run = self.ingest(source_url, report.run_id)
                summary = job_run.summary or {}
                report.steps["source"] = {
                    "url": source_url,
                    "bytes": summary.get("source_bytes"),
                    "sha256": summary.get("source_sha256"),
                    "records": summary.get("received"),
                }
                report.steps["glue"] = {
                    "job": s.glue_job_name,
                    "job_definition": job_state,
                    "run_id": job_run.run_id,
                    "state": job_run.state,
                    "seconds": job_run.seconds,
                }
                report.steps["landing"] = {
                    "bucket": summary.get("bucket"),
                    "key": summary.get("key"),
                    "version_id": summary.get("version_id"),
                    "received": summary.get("received"),
                    "loaded": summary.get("loaded"),
                    "quarantined": summary.get("quarantined"),
                    "quarantine_key": summary.get("quarantine_key"),
                }
                self.echo(
                    f"    landed s3://{summary.get('bucket')}/{summary.get('key')}: "
                    f"{summary.get('loaded')} records ({summary.get('quarantined')} quarantined)"
                )
            with self._timed(report, "snowflake"):
                integration = self.setup_integration(roles, target)
                stage = self.setup_stage(target)
                report.steps["snowflake"] = {
                    "database": s.database(target),
                    "integration": s.integration_name,
                    "storage_aws_iam_user_arn": integration["storage_aws_iam_user_arn"],
                    "trust_policy_updated": integration["trust_policy_updated"],
                    "stage_files": stage["files"],
                }
            with self._timed(report, "dbt"):
                result = self.transform(target, report.run_id)
                report.steps["dbt"] = {"counts": result.counts(), "failures": result.failures()}
            with self._timed(report, "validation"):
                checks = validation.validate(s, target, expected_records=summary.get("loaded"))
                report.steps["rows_per_layer"] = checks.rows_per_layer
                report.steps["rows_per_continent"] = checks.rows_per_continent
                report.steps["validation"] = checks.to_json()
                if not checks.ok:
                    raise validation.ValidationFailed(checks.describe_failures())
            report.status = "succeeded"
        except Exception as e:
            report.status = "failed"
            report.error = f"{type(e).__name__}: {e}"
            raise
        finally:
            self.write_report(report)
        return report

    def write_report(self, report: RunReport) -> None:
        out = self.settings.artifacts_dir
        out.mkdir(parents=True, exist_ok=True)
        (out / "run_report.json").write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
