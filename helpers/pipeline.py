"""The whole pipeline, step by step: IAM -> S3 -> Glue -> Snowflake integration and stage -> load
(COPY) -> dbt -> publish -> validation, with a run report. Each step is a function a notebook can call on its own; `run()`
calls them in order. Every step is idempotent: re-running it converges to the same state.

What `run()` guarantees (docs/runbook.md is the operator's view of the same):
* One run at a time (helpers/run_lock.py): a second run fails at once, naming the one in progress.
* Nothing users query changes unless everything passed: the Glue job writes nothing when the file
  as a whole is bad; `load()` COPYs into a fresh RAW_BUILD (helpers/load.py), dbt builds and tests in
  the _BUILD schemas, and `transform()` publishes to RAW, TRANSFORM and MART only after every model,
  test and validation check passed, by swapping each build schema with its published twin
  (helpers/publish.py): each layer is wholly the old one or wholly the new one, even after a crash.
* An unchanged source is not reloaded: the Glue job is told the sha256 the landed file holds and
  writes nothing when the download has it; the target's last load (`<db>.AUDIT.LOAD_STATE`,
  written after each successful publish) says which source, ingest script and dbt project built
  its tables, and when all three match, COPY and dbt are skipped. `force=True` reloads anyway.
  dev and prod keep their own LOAD_STATE, so a source already loaded in dev still loads prod.
* Every run writes a report, also when it fails: `<artifacts>/run_report.json` (the latest run)
  and `<artifacts>/runs/<run_id>.json`, with the error, the counts known and the Glue log lines.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

from helpers import account, dbt, glue_job, iam, publish, run_lock, storage, validation, warehouse
from helpers import load as loading
from helpers.settings import PROJECT_ROOT, Settings

GLUE_SCRIPT = PROJECT_ROOT / "glue" / "countries_ingest.py"
SQL_DIR = warehouse.SQL_DIR
STATE_SCHEMA = "AUDIT"  # per target database: the last successful load, see load_state()
STATE_TABLE = "LOAD_STATE"
UNCHANGED = "unchanged source"

Echo = Callable[[str], None]


class ServiceUnavailable(RuntimeError):
    """AWS or Snowflake could not be reached during a run (the original error is the cause)."""


CONNECT_ERRORS = (
    "Could not connect to Snowflake backend", "Connection refused", "Failed to establish a new connection",
)


def _unreachable(e: BaseException) -> str | None:
    """"AWS" or "Snowflake" if `e` says that service could not be reached, else None."""
    import botocore.exceptions
    import snowflake.connector.errors

    if isinstance(e, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return "AWS"
    if isinstance(e, snowflake.connector.errors.OperationalError) or (
        isinstance(e, snowflake.connector.errors.Error) and any(m in str(e) for m in CONNECT_ERRORS)
    ):
        return "Snowflake"
    return None


def glue_job_definition(s: Settings, role_arn: str) -> dict[str, Any]:
    """The Glue job as the pipeline deploys it (helpers/plan.py diffs the deployed one against it)."""
    return glue_job.job_definition(
        role_arn=role_arn,
        script_location=f"s3://{s.bucket}/{s.scripts_prefix}{GLUE_SCRIPT.name}",
        default_arguments={
            "--bucket": s.bucket,
            "--key": s.data_key,
            "--quarantine_prefix": s.quarantine_prefix,
            # for a run started by hand (the Glue console); the pipeline passes its limits per run
            "--max_bytes": str(s.max_source_bytes),
        },
    )


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("run_%Y%m%dT%H%M%SZ_") + uuid.uuid4().hex[:8]


@dataclass
class RunReport:
    """What a run did. `steps["reconciliation"]` balances the records: received (in the source;
    null when the file could not be read as records) = loaded (landed, and so loaded into RAW) +
    quarantined; and for a succeeded run loaded = rows in RAW. A failed run has loaded 0 unless it
    failed after landing, and then RAW, TRANSFORM and MART were left as the last good run left them."""

    run_id: str
    target: str
    source_url: str
    started_at: str
    status: str = "running"
    seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "status": self.status,
            "source_url": self.source_url,
            "started_at": self.started_at,
            "force": self.force,
            "error": self.error,
            "seconds_per_step": self.seconds,
            **self.steps,
        }


class Pipeline:
    def __init__(self, settings: Settings | None = None, echo: Echo | None = None):
        self.settings = settings or Settings()
        self.echo = echo or (lambda _msg: None)
        self._lock_fd: int | None = None  # the run lock, while run() holds it (dbt inherits it)
        self.last_report: RunReport | None = None  # the report of the last run(), also when it raised
        self.published_statements: list[str] = []  # the last transform()'s publish statements
        self._step = ""  # the step in progress, for error messages
        self._published: list[str] = []  # the layers this run's publish has swapped so far

    # -- helpers -------------------------------------------------------------------------------
    @contextmanager
    def _timed(self, report: RunReport | None, step: str) -> Iterator[None]:
        started = time.monotonic()
        self._step = step
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
        return iam.Names(
            s.bucket, s.data_prefix, s.scripts_prefix, s.quarantine_prefix, s.aws_region, account_id,
            incoming_prefix=s.incoming_prefix,
        )

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
        return glue_job.ensure_job(s.aws_client("glue"), s.glue_job_name, glue_job_definition(s, roles.glue_role_arn))

    def landed_file(self) -> dict[str, Any] | None:
        """The landed file's current version and what its metadata says about it (None: not there)."""
        s = self.settings
        s3 = s.aws_client("s3")
        try:
            head = s3.head_object(Bucket=s.bucket, Key=s.data_key)
        except s3.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}:
                return None
            raise
        meta = head.get("Metadata", {})
        return {
            "version_id": head.get("VersionId"),
            "source_sha256": meta.get("source-sha256"),
            "ingest_script_sha256": meta.get("ingest-script-sha256"),
            "run_id": meta.get("run-id"),
            "records": int(meta["records"]) if meta.get("records", "").isdigit() else None,
        }

    def stage_source(self, source_url: str) -> str:
        """The URL the Glue job is given: a `file://` source is uploaded to s3://<bucket>/incoming/
        (keyed by its sha256, so an unchanged file is not uploaded twice), the way a local file
        reaches a real Glue job; other URLs are passed as they are."""
        if not source_url.startswith("file://"):
            return source_url
        from urllib.parse import unquote, urlparse

        s = self.settings
        path = Path(unquote(urlparse(source_url).path))
        if not path.is_file():
            raise FileNotFoundError(f"--source-url {source_url}: no such file {path}")
        uploaded = storage.upload_source_file(s.aws_client("s3"), path, s.bucket, s.incoming_prefix)
        return f"s3://{s.bucket}/{uploaded['key']}"

    def ingest(
        self,
        source_url: str,
        run_id: str,
        skip_if_sha256: str | None = None,
        extra_arguments: dict[str, str] | None = None,
        timeout_s: float = 900,
    ) -> glue_job.JobRun:
        """Run the Glue job once. With `skip_if_sha256` (the sha256 the landed file holds) the job
        writes nothing when the download has that sha256 (its summary says "unchanged").
        `extra_arguments` are more job parameters (e.g. the benchmark's --code_pattern)."""
        s = self.settings
        # the download's limits go with each run, so a run follows the current Settings
        arguments = {
            "--source_url": source_url,
            "--run_id": run_id,
            "--max_bytes": str(s.max_source_bytes),
            "--timeout_seconds": f"{s.source_timeout_seconds:g}",
            "--max_attempts": str(s.source_max_attempts),
        }
        if skip_if_sha256:
            arguments["--skip_if_sha256"] = skip_if_sha256
        arguments.update(extra_arguments or {})
        return glue_job.run_job(
            s.aws_client("glue"), s.aws_client("logs"), s.glue_job_name, arguments, timeout_s=timeout_s,
            echo=self.echo,
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
        """The LANDING schema in the target's database; the storage integration the administrator made
        (sql/00_account_setup.sql) checked to point at our role and data prefix; and the IAM role's
        trust policy updated to trust exactly Snowflake's principal with the integration's external id."""
        s = self.settings
        ctx = self.sql_context(target, roles)
        with warehouse.connect(s, target) as conn:
            db_results = warehouse.apply_sql_file(conn, SQL_DIR / "01_landing_schema.sql", ctx)
            results = warehouse.apply_sql_file(conn, SQL_DIR / "02_storage_integration.sql", ctx)
        self._show(db_results + results)
        desc = {row["property"]: row["property_value"] for row in results[-1].as_dicts()}
        account.check_integration(desc, s, roles.snowflake_role_arn)
        trust = iam.snowflake_trust_policy(desc["STORAGE_AWS_IAM_USER_ARN"], desc["STORAGE_AWS_EXTERNAL_ID"])
        changed = iam.set_trust_policy(s.aws_client("iam"), s.snowflake_role_name, trust)
        return {
            "statements": [r.sql for r in db_results + results],
            "storage_aws_iam_user_arn": desc["STORAGE_AWS_IAM_USER_ARN"],
            "storage_aws_external_id": desc["STORAGE_AWS_EXTERNAL_ID"],
            "trust_policy_updated": changed,
        }

    def setup_stage(self, target: str) -> dict[str, Any]:
        """File format and stage in LANDING, then LIST: the first read through the integration's role.
        IAM is eventually consistent: a trust policy updated a moment ago may not be honoured yet, so
        LIST is retried for about a minute on exactly Snowflake's "cannot use the role yet" errors."""
        s = self.settings
        ctx = self.sql_context(target)

        def attempt() -> list[warehouse.StatementResult]:
            with warehouse.connect(s, target) as conn:
                return warehouse.apply_sql_file(conn, SQL_DIR / "03_stage.sql", ctx)

        results = warehouse.while_stage_access_pending(attempt, echo=self.echo)
        self._show(results)
        return {"statements": [r.sql for r in results], "files": results[-1].as_dicts()}

    def load(self, target: str) -> loading.LoadResult:
        """COPY the landed file into a fresh RAW_BUILD.COUNTRIES_COPY (helpers/load.py): this run's
        rows, ready for dbt to build and test. Nothing users query is touched."""
        db = self.settings.database(target)

        def attempt() -> loading.LoadResult:
            with warehouse.connect(self.settings, target) as conn:
                return loading.load(conn, db)

        result = warehouse.while_stage_access_pending(attempt, echo=self.echo)
        for f in result.files:
            self.echo(f"    COPY {f.get('file')}: {f.get('status')} {f.get('rows_loaded')} rows")
        return result

    def transform(self, target: str, run_id: str, expected_records: int | None = None) -> dbt.DbtResult:
        """Build and test everything in the _BUILD schemas (after `load()`), check the build, then
        publish it to RAW, TRANSFORM and MART by swapping schemas, upstream first. Any failure before
        the publish leaves those exactly as they were; a failure during it leaves each layer wholly old
        or wholly new (`publish_state` says which)."""
        s = self.settings
        result = dbt.build(
            s, target, run_id, on_line=lambda line: self.echo(f"    {line}"),
            keep_fds=(self._lock_fd,) if self._lock_fd is not None else (),
        )
        checks = validation.validate(s, target, expected_records=expected_records, schema_suffix=dbt.BUILD_SUFFIX)
        if not checks.ok:
            raise validation.ValidationFailed(
                checks.describe_failures()
                + "\nNothing was published: RAW, TRANSFORM and MART still hold the last good run."
            )
        self._published = []
        with warehouse.connect(s, target) as conn:
            # While layers are being swapped the target's last load is unknown: a run stopped mid-publish
            # must be rebuilt by the next one, never skipped as "unchanged" over mixed layers.
            warehouse.execute(conn, f"DROP TABLE IF EXISTS {s.database(target)}.{STATE_SCHEMA}.{STATE_TABLE}")
            statements = publish.publish(
                conn, s.database(target), s.reader_role,
                on_statement=lambda sql: self._published.extend(publish.swapped_layers([sql])),
            )
        self.published_statements = statements
        self.echo(f"    published {', '.join(self._published)} (schema swaps: {len(self._published)})")
        return result

    # -- the target's last load ----------------------------------------------------------------
    def load_state(self, target: str) -> dict[str, Any] | None:
        """What built the target's published tables: the last successful load (None: never)."""
        db = self.settings.database(target)
        with warehouse.connect(self.settings, target) as conn:
            exists = warehouse.scalar(
                conn,
                f"select count(*) from {db}.information_schema.tables "
                f"where table_schema = '{STATE_SCHEMA}' and table_name = '{STATE_TABLE}'",
            )
            if not exists:
                return None
            rows = warehouse.execute(conn, f"select * from {db}.{STATE_SCHEMA}.{STATE_TABLE}").as_dicts()
        if not rows:
            return None
        state = {k.lower(): v for k, v in rows[0].items()}
        for key in ("received", "loaded", "quarantined"):
            state[key] = int(state[key]) if str(state.get(key) or "").isdigit() else state.get(key)
        return state

    def record_load_state(self, target: str, state: dict[str, Any]) -> None:
        """Replace the target's one-row LOAD_STATE (after a successful publish and validation)."""
        db = self.settings.database(target)
        columns = ", ".join(f"%({k})s::varchar as {k.upper()}" for k in state)
        with warehouse.connect(self.settings, target) as conn:
            warehouse.execute(conn, f"create schema if not exists {db}.{STATE_SCHEMA}")
            warehouse.execute(
                conn,
                f"create or replace table {db}.{STATE_SCHEMA}.{STATE_TABLE} as select {columns}",
                {k: None if v is None else str(v) for k, v in state.items()},
            )

    # -- the whole run -------------------------------------------------------------------------
    def run(self, source_url: str | None = None, target: str = "dev", force: bool = False) -> RunReport:
        """The whole pipeline under the run lock. `force=True` reloads even an unchanged source."""
        s = self.settings
        s.require_complete()  # every missing or refused setting named at once, before anything is created
        source_url = s.check_source_url(source_url or s.resolved_source_url)
        report = RunReport(
            run_id=new_run_id(),
            target=target,
            source_url=source_url,
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            force=force,
        )
        self.last_report = report
        self._published = []
        try:
            lock = run_lock.acquire(s.artifacts_dir, report.run_id, target, s.run_lock_wait_seconds)
            self._lock_fd = lock.__enter__()
        except run_lock.RunLocked as e:
            report.status, report.error = "failed", f"{type(e).__name__}: {e}"
            self.write_report(report, latest=False)  # run_report.json belongs to the run in progress
            raise
        try:
            self._run_steps(report, source_url, target, force)
            report.status = "succeeded"
        except BaseException as e:
            report.status = "failed"
            explained = self._explain(e, target)
            report.error = f"{type(explained).__name__}: {explained}"
            if explained is not e:
                raise explained from e
            raise
        finally:
            try:
                self._reconcile(report)
                self.write_report(report)
            finally:
                self._lock_fd = None
                lock.__exit__(None, None, None)
        return report

    def _run_steps(self, report: RunReport, source_url: str, target: str, force: bool) -> None:
        s = self.settings
        with self._timed(report, "iam"):
            roles = self.setup_iam()
            report.steps["iam"] = {
                "glue_role_arn": roles.glue_role_arn,
                "snowflake_role_arn": roles.snowflake_role_arn,
            }
        with self._timed(report, "s3"):
            report.steps["s3"] = self.setup_storage()
        script_sha256 = hashlib.sha256(GLUE_SCRIPT.read_bytes()).hexdigest()
        with self._timed(report, "glue"):
            job_state = self.setup_glue_job(roles)
            # a job run left behind by a killed pipeline may still be landing a file: let it finish
            # before looking at what is landed (Glue runs one at a time anyway)
            waited = glue_job.wait_for_running_runs(s.aws_client("glue"), s.glue_job_name, timeout_s=900)
            landed = self.landed_file()
            same_script = bool(landed and landed["ingest_script_sha256"] == script_sha256)
            skip_if = landed["source_sha256"] if landed and same_script and not force else None
            glue_source = self.stage_source(source_url)
            if glue_source != source_url:
                self.echo(f"    local file uploaded for the Glue job: {glue_source}")
            try:
                job_run = self.ingest(glue_source, report.run_id, skip_if_sha256=skip_if)
            except glue_job.GlueJobFailed as e:
                self._report_glue(report, e.run, job_state, landed)
                message = self._ingest_failure_message(e, landed, target)
                if glue_source != source_url:
                    message += f"\n(source {source_url}, uploaded for the Glue job as {glue_source})"
                raise glue_job.GlueJobFailed(message, run=e.run) from e
            summary = self._report_glue(report, job_run, job_state, landed)
            report.steps["glue"]["waited_for_runs"] = waited
            if glue_source != source_url:
                report.steps["source"]["staged_as"] = glue_source
        with self._timed(report, "snowflake"):
            integration = self.setup_integration(roles, target)
            stage = self.setup_stage(target)
            state = self.load_state(target)
            report.steps["snowflake"] = {
                "database": s.database(target),
                "integration": s.integration_name,
                "storage_aws_iam_user_arn": integration["storage_aws_iam_user_arn"],
                "trust_policy_updated": integration["trust_policy_updated"],
                "stage_files": stage["files"],
                "last_load": state,
            }
        current = {
            "source_sha256": summary["source_sha256"],
            "ingest_script_sha256": script_sha256,
            "dbt_project_sha256": dbt.project_fingerprint(),
        }
        unchanged = not force and state is not None and all(state.get(k) == v for k, v in current.items())
        with self._timed(report, "load"):
            if unchanged:
                report.steps["load"] = {"skipped": UNCHANGED}
            else:
                loaded = self.load(target)
                report.steps["load"] = {"files": loaded.files, "rows_loaded": loaded.rows_loaded}
        with self._timed(report, "dbt"):
            if unchanged:
                assert state is not None
                report.steps["dbt"] = {"skipped": UNCHANGED, "tables_built_by_run": state.get("run_id")}
                self.echo(f"    {UNCHANGED}: {s.database(target)} already holds it (run {state.get('run_id')}); "
                          "no COPY, no dbt build (force=True / --force reloads)")
            else:
                try:
                    result = self.transform(target, report.run_id, expected_records=summary["loaded"])
                except dbt.DbtFailed as e:
                    if e.result is not None:
                        report.steps["dbt"] = {"counts": e.result.counts(), "failures": e.result.failures()}
                    raise
                report.steps["dbt"] = {
                    "counts": result.counts(),
                    "failures": result.failures(),
                    "published": self.published_statements,
                }
        with self._timed(report, "validation"):
            checks = validation.validate(s, target, expected_records=summary.get("loaded"))
            report.steps["rows_per_layer"] = checks.rows_per_layer
            report.steps["rows_per_continent"] = checks.rows_per_continent
            report.steps["validation"] = checks.to_json()
            if not checks.ok:
                hint = (
                    "\nhint: the published tables no longer match the last load (changed by hand?); "
                    "re-run with --force to rebuild them" if unchanged else ""
                )
                raise validation.ValidationFailed(checks.describe_failures() + hint)
        if not unchanged:
            self.record_load_state(target, {
                "run_id": report.run_id,
                "source_url": source_url,
                **current,
                "landed_version_id": report.steps["landing"].get("version_id"),
                "received": summary["received"],
                "loaded": summary["loaded"],
                "quarantined": summary["quarantined"],
                "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            })

    def _explain(self, e: BaseException, target: str) -> BaseException:
        """A service that could not be reached becomes a ServiceUnavailable saying which, in which
        step, what state that left, and what to do; other errors already say so themselves."""
        service = _unreachable(e)
        if service is None:
            return e
        db = self.settings.database(target)
        if self._published and len(self._published) < len(publish.LAYERS):
            new = ", ".join(self._published)
            old = ", ".join(layer for layer in publish.LAYERS if layer not in self._published)
            left = (f"the publish was interrupted: {db}'s {new} hold the new build (tested and checked), "
                    f"{old} the last good run's - each layer wholly one or the other; running again finishes it")
        elif self._published:
            left = (f"the new build (tested and checked) was published to {db}, but the run could not finish "
                    "(validation of the published tables or the LOAD_STATE record); running again rebuilds it")
        else:
            left = (f"nothing users query was changed: {db}'s RAW, TRANSFORM and MART are as the last good "
                    "run left them")
        s = self.settings
        if service == "AWS":
            where = s.resolved_aws_endpoint or "the AWS endpoint"
        else:
            try:
                conn = s.snowflake_connect_args(None)
                where = f"{conn.get('host') or conn['account']}:{conn.get('port', 443)}"
            except Exception:  # noqa: BLE001 - only for the message
                where = "the Snowflake endpoint"
        return ServiceUnavailable(
            f"{service} ({where}) could not be reached during the {self._step} step: {type(e).__name__}: {e}\n"
            f"{left}.\nhint: check that {service} is up (locally: python -m helpers local status; "
            "python -m helpers local up restarts what is down), then run again: a re-run is safe and "
            "converges to the correct state."
        )

    def _report_glue(
        self, report: RunReport, job_run: glue_job.JobRun | None, job_state: str, landed: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The glue, source and landing sections of the report, from a succeeded or failed job run."""
        s = self.settings
        summary = (job_run.summary or job_run.failure or {}) if job_run else {}
        failed = not (job_run and job_run.summary)
        unchanged = bool(summary.get("unchanged"))
        previous_version = landed["version_id"] if landed else None
        report.steps["source"] = {
            "url": report.source_url,
            "bytes": summary.get("source_bytes"),
            "sha256": summary.get("source_sha256"),
            "records": summary.get("received"),
        }
        report.steps["glue"] = {
            "job": s.glue_job_name,
            "job_definition": job_state,
            "run_id": job_run.run_id if job_run else None,
            "state": job_run.state if job_run else None,
            "seconds": job_run.seconds if job_run else None,
            "error": job_run.error if job_run else None,
            "retries": job_run.retries if job_run else [],
            "log": job_run.errors[-50:] if job_run else [],  # the job's stderr: progress, retries, ERROR
        }
        landing: dict[str, Any] = {
            "bucket": s.bucket,
            "key": s.data_key,
            # a failed or unchanged ingest leaves the landed file as it was
            "version_id": summary.get("version_id") or previous_version,
            "previous_version_id": previous_version,
            "written": bool(summary.get("version_id")) and not failed,
            "received": summary.get("received"),
            "loaded": 0 if failed else summary.get("loaded"),
            "quarantined": summary.get("quarantined", 0),
            "quarantine_key": summary.get("quarantine_key"),
            "quarantine_reasons": summary.get("quarantine_reasons", {}),
        }
        if failed:
            landing["failed_stage"] = summary.get("stage")
        if unchanged:
            landing["skipped"] = UNCHANGED
            landing["landed_by_run"] = landed.get("run_id") if landed else None
        report.steps["landing"] = landing
        if not failed:
            what = "unchanged, nothing written" if unchanged else f"{summary.get('loaded')} records"
            self.echo(
                f"    landed s3://{s.bucket}/{s.data_key}: {what} ({summary.get('quarantined')} quarantined)"
                + "".join(f"\n    glue: {line}" for line in report.steps["glue"]["retries"])
            )
        return summary

    def _ingest_failure_message(
        self, e: glue_job.GlueJobFailed, landed: dict[str, Any] | None, target: str
    ) -> str:
        """The cause (the job's own ERROR line, which ends with a hint), what was kept, where the log is."""
        failure = (e.run.failure if e.run else None) or {}
        if not failure.get("error"):
            return str(e)  # no word from the job itself (it crashed, timed out, never started)
        s = self.settings
        kept = (
            f"s3://{s.bucket}/{s.data_key} is still version {landed['version_id']} (run {landed['run_id']})"
            if landed else "no file was landed"
        )
        assert e.run is not None
        settings_hint = "".join(
            f" ({setting} sets {arg} for the pipeline's runs)"
            for arg, setting in (
                ("--max_bytes", "PIPELINE_MAX_SOURCE_BYTES"),
                ("--timeout_seconds", "PIPELINE_SOURCE_TIMEOUT_SECONDS"),
                ("--max_attempts", "PIPELINE_SOURCE_MAX_ATTEMPTS"),
            )
            if arg in failure["error"]
        )
        return (
            f"ingest failed at the {failure.get('stage')} stage: {failure['error']}{settings_hint}\n"
            f"Nothing was replaced: {kept}; {s.database(target)}'s RAW, TRANSFORM and MART are as the last "
            f"good run left them.\nGlue job {s.glue_job_name} run {e.run.run_id} {e.run.state}; its log: "
            f"{glue_job.ERROR_LOG_GROUP}/{e.run.run_id} (also in the run report, glue.log)"
        )

    def _reconcile(self, report: RunReport) -> None:
        landing = report.steps.get("landing")
        if not landing:
            return
        received = landing.get("received")
        loaded, quarantined = landing.get("loaded") or 0, landing.get("quarantined") or 0
        raw_rows = report.steps.get("rows_per_layer", {}).get("raw") if report.status == "succeeded" else None
        report.steps["reconciliation"] = {
            "received": received,
            "loaded": loaded,
            "quarantined": quarantined,
            "raw_rows": raw_rows,
            "received = loaded + quarantined": (received or 0) == loaded + quarantined,
            "loaded = RAW rows": (loaded == raw_rows) if raw_rows is not None else None,
        }

    def write_report(self, report: RunReport, latest: bool = True) -> None:
        """`runs/<run_id>.json` always; `run_report.json` (the latest run) unless `latest=False`."""
        out = self.settings.artifacts_dir
        (out / "runs").mkdir(parents=True, exist_ok=True)
        text = json.dumps(report.to_json(), indent=2, default=str) + "\n"
        (out / "runs" / f"{report.run_id}.json").write_text(text)
        if latest:
            (out / "run_report.json").write_text(text)
