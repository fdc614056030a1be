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

Who does what: this module runs the steps in order; the report is helpers/run_report.py, the last
load helpers/load_state.py, the wording of a failure helpers/errors.py, and what the steps of one
run share (clients, one Snowflake session per target, the lock) helpers/run_context.py. Every step
method takes an optional `ctx`: inside `run()` the run's, called on its own (a notebook) one of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from helpers import account, dbt, errors, glue_job, iam, publish, run_lock, storage, validation, warehouse
from helpers import load as loading
from helpers import load_state as state_table
from helpers.errors import ServiceUnavailable  # noqa: F401 - raised by run(); importable from here
from helpers.iam_policies import Names, snowflake_trust_policy
from helpers.load_state import STATE_SCHEMA, STATE_TABLE  # noqa: F401 - where the last load lives
from helpers.run_context import Echo, RunContext
from helpers.run_report import UNCHANGED, Dbt, Load, RunReport, new_run_id  # noqa: F401 - new_run_id for notebooks
from helpers.settings import PROJECT_ROOT, Settings

GLUE_SCRIPT = PROJECT_ROOT / "glue" / "countries_ingest.py"
SQL_DIR = warehouse.SQL_DIR
STALE_HINT = (
    "\nhint: the published tables no longer match the last load (changed by hand?); re-run with --force to rebuild them"
)


def glue_job_definition(s: Settings, role_arn: str) -> dict[str, Any]:
    """The Glue job as the pipeline deploys it (helpers/plan/aws.py diffs the deployed one against it)."""
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


class Pipeline:
    def __init__(self, settings: Settings | None = None, echo: Echo | None = None):
        self.settings = settings or Settings()
        self.echo = echo or (lambda _msg: None)
        self.last_report: RunReport | None = None  # the report of the last run(), also when it raised
        self.published_statements: list[str] = []  # the last transform()'s publish statements

    def _ctx(self, ctx: RunContext | None) -> contextlib.AbstractContextManager[RunContext]:
        return RunContext.of(ctx, self.settings, self.echo)

    def names(self, ctx: RunContext | None = None) -> Names:
        with self._ctx(ctx) as c:
            return Names.of(self.settings, c.aws("sts").get_caller_identity()["Account"])

    # -- steps ---------------------------------------------------------------------------------
    def setup_iam(self, ctx: RunContext | None = None) -> iam.PipelineRoles:
        s = self.settings
        with self._ctx(ctx) as c:
            return iam.ensure_pipeline_roles(c.aws("iam"), self.names(c), s.glue_role_name, s.snowflake_role_name)

    def setup_storage(self, ctx: RunContext | None = None) -> dict[str, Any]:
        s = self.settings
        with self._ctx(ctx) as c:
            s3 = c.aws("s3")
            bucket = storage.ensure_bucket(s3, s.bucket, s.aws_region)
            script = storage.upload_file_if_changed(s3, GLUE_SCRIPT, s.bucket, s.scripts_prefix + GLUE_SCRIPT.name)
        return {**bucket, "script": script}

    def setup_glue_job(self, roles: iam.PipelineRoles, ctx: RunContext | None = None) -> str:
        s = self.settings
        with self._ctx(ctx) as c:
            return glue_job.ensure_job(c.aws("glue"), s.glue_job_name, glue_job_definition(s, roles.glue_role_arn))

    def landed_file(self, ctx: RunContext | None = None) -> dict[str, Any] | None:
        """The landed file's current version and what its metadata says about it (None: not there)."""
        s = self.settings
        with self._ctx(ctx) as c:
            s3 = c.aws("s3")
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

    def stage_source(self, source_url: str, ctx: RunContext | None = None) -> str:
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
        with self._ctx(ctx) as c:
            uploaded = storage.upload_source_file(c.aws("s3"), path, s.bucket, s.incoming_prefix)
        return f"s3://{s.bucket}/{uploaded['key']}"

    def ingest(
        self,
        source_url: str,
        run_id: str,
        skip_if_sha256: str | None = None,
        extra_arguments: dict[str, str] | None = None,
        timeout_s: float = 900,
        ctx: RunContext | None = None,
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
        with self._ctx(ctx) as c:
            return glue_job.run_job(
                c.aws("glue"), c.aws("logs"), s.glue_job_name, arguments, timeout_s=timeout_s, echo=c.echo
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

    def setup_integration(self, roles: iam.PipelineRoles, target: str, ctx: RunContext | None = None) -> dict[str, Any]:
        """The LANDING schema in the target's database; the storage integration the administrator made
        (sql/00_account_setup.sql) checked to point at our role and data prefix; and the IAM role's
        trust policy updated to trust exactly Snowflake's principal with the integration's external id."""
        s = self.settings
        sql = self.sql_context(target, roles)
        with self._ctx(ctx) as c:
            conn = c.warehouse(target)
            db_results = warehouse.apply_sql_file(conn, SQL_DIR / "01_landing_schema.sql", sql)
            results = warehouse.apply_sql_file(conn, SQL_DIR / "02_storage_integration.sql", sql)
            c.show(db_results + results)
            desc = {row["property"]: row["property_value"] for row in results[-1].as_dicts()}
            account.check_integration(desc, s, roles.snowflake_role_arn)
            trust = snowflake_trust_policy(desc["STORAGE_AWS_IAM_USER_ARN"], desc["STORAGE_AWS_EXTERNAL_ID"])
            changed = iam.set_trust_policy(c.aws("iam"), s.snowflake_role_name, trust)
        return {
            "statements": [r.sql for r in db_results + results],
            "storage_aws_iam_user_arn": desc["STORAGE_AWS_IAM_USER_ARN"],
            "storage_aws_external_id": desc["STORAGE_AWS_EXTERNAL_ID"],
            "trust_policy_updated": changed,
        }

    def setup_stage(self, target: str, ctx: RunContext | None = None) -> dict[str, Any]:
        """File format and stage in LANDING, then LIST: the first read through the integration's role.
        IAM is eventually consistent: a trust policy updated a moment ago may not be honoured yet, so
        LIST is retried for about a minute on exactly Snowflake's "cannot use the role yet" errors
        (SQL errors: the session stays good, and each attempt runs on it again)."""
        sql = self.sql_context(target)
        with self._ctx(ctx) as c:
            results = warehouse.while_stage_access_pending(
                lambda: warehouse.apply_sql_file(c.warehouse(target), SQL_DIR / "03_stage.sql", sql), echo=c.echo
            )
            c.show(results)
        return {"statements": [r.sql for r in results], "files": results[-1].as_dicts()}

    def load(self, target: str, ctx: RunContext | None = None) -> loading.LoadResult:
        """COPY the landed file into a fresh RAW_BUILD.COUNTRIES_COPY (helpers/load.py): this run's
        rows, ready for dbt to build and test. Nothing users query is touched."""
        db = self.settings.database(target)
        with self._ctx(ctx) as c:
            result = warehouse.while_stage_access_pending(lambda: loading.load(c.warehouse(target), db), echo=c.echo)
            for f in result.files:
                c.echo(f"    COPY {f.get('file')}: {f.get('status')} {f.get('rows_loaded')} rows")
        return result

    def transform(
        self, target: str, run_id: str, expected_records: int | None = None, ctx: RunContext | None = None
    ) -> dbt.DbtResult:
        """Build and test everything in the _BUILD schemas (after `load()`), check the build, then
        publish it to RAW, TRANSFORM and MART by swapping schemas, upstream first. Any failure before
        the publish leaves those exactly as they were; a failure during it leaves each layer wholly old
        or wholly new (`publish_state` says which)."""
        s = self.settings
        db = s.database(target)
        with self._ctx(ctx) as c:
            result = dbt.build(
                s,
                target,
                run_id,
                on_line=lambda line: c.echo(f"    {line}"),
                keep_fds=(c.lock_fd,) if c.lock_fd is not None else (),
            )
            checks = validation.validate(
                s, target, expected_records=expected_records, schema_suffix=dbt.BUILD_SUFFIX, conn=c.warehouse(target)
            )
            if not checks.ok:
                raise validation.ValidationFailed(
                    checks.describe_failures()
                    + "\nNothing was published: RAW, TRANSFORM and MART still hold the last good run."
                )
            c.published.clear()
            conn = c.warehouse(target)
            state_table.forget(conn, db)  # until it is written again, this target's last load is unknown
            self.published_statements = publish.publish(
                conn, db, s.reader_role, on_statement=lambda sql: c.published.extend(publish.swapped_layers([sql]))
            )
            c.echo(f"    published {', '.join(c.published)} (schema swaps: {len(c.published)})")
        return result

    def load_state(self, target: str, ctx: RunContext | None = None) -> dict[str, Any] | None:
        """What built the target's published tables: the last successful load (None: never)."""
        with self._ctx(ctx) as c:
            state = state_table.read(c.warehouse(target), self.settings.database(target), note=c.echo)
        return state.to_dict() if state else None

    def record_load_state(
        self, target: str, state: dict[str, Any] | state_table.LoadState, ctx: RunContext | None = None
    ) -> None:
        """Replace the target's one-row LOAD_STATE (after a successful publish and validation)."""
        with self._ctx(ctx) as c:
            state_table.write(
                c.warehouse(target), self.settings.database(target), state_table.LoadState.model_validate(state)
            )

    def write_report(self, report: RunReport, latest: bool = True) -> None:
        """`runs/<run_id>.json` always; `run_report.json` (the latest run) unless `latest=False`."""
        report.write(self.settings.artifacts_dir, latest=latest)

    # -- the whole run -------------------------------------------------------------------------
    def run(self, source_url: str | None = None, target: str = "dev", force: bool = False) -> RunReport:
        """The whole pipeline under the run lock. `force=True` reloads even an unchanged source."""
        s = self.settings
        s.require_complete()  # every missing or refused setting named at once, before anything is created
        report = self.last_report = RunReport.start(
            target, s.check_source_url(source_url or s.resolved_source_url), force
        )
        with contextlib.ExitStack() as held:  # released in reverse: the sessions, then the lock
            try:
                fd = held.enter_context(
                    run_lock.acquire(s.artifacts_dir, report.run_id, target, s.run_lock_wait_seconds)
                )
            except run_lock.RunLocked as e:
                report.fail(e)
                self.write_report(report, latest=False)  # run_report.json belongs to the run in progress
                raise
            ctx = held.enter_context(RunContext(s, self.echo, lock_fd=fd))
            try:
                self._run_steps(ctx, report, target, force)
                report.status = "succeeded"
            except BaseException as e:
                explained = self._explain(ctx, e, target)
                report.fail(explained)
                if explained is not e:
                    raise explained from e
                raise
            finally:
                report.reconcile()
                self.write_report(report)
        return report

    def _run_steps(self, ctx: RunContext, report: RunReport, target: str, force: bool) -> None:
        s, timed = self.settings, lambda step: ctx.timed(report.seconds, step)
        dbt.import_in_background()  # hidden behind the steps before the build, which wait on the services
        with timed("iam"):
            roles = self.setup_iam(ctx)
            report.record_iam(roles)
        with timed("s3"):
            report.s3 = self.setup_storage(ctx)
        script_sha256 = hashlib.sha256(GLUE_SCRIPT.read_bytes()).hexdigest()
        with timed("glue"):
            summary = self._land(ctx, report, roles, target, script_sha256, force)
        with timed("snowflake"):
            integration = self.setup_integration(roles, target, ctx)
            stage = self.setup_stage(target, ctx)
            state = self.load_state(target, ctx)
            report.record_snowflake(s, target, integration, stage, state)
        current = {
            "source_sha256": summary["source_sha256"],
            "ingest_script_sha256": script_sha256,
            "dbt_project_sha256": dbt.project_fingerprint(),
        }
        unchanged = not force and state_table.unchanged(state, current)
        with timed("load"):
            if unchanged:
                report.load = Load(skipped=UNCHANGED)
            else:
                loaded = self.load(target, ctx)
                report.load = Load(files=loaded.files, rows_loaded=loaded.rows_loaded)
        with timed("dbt"):
            if unchanged:
                assert state is not None
                report.dbt = Dbt(skipped=UNCHANGED, tables_built_by_run=state["run_id"])
                ctx.echo(
                    f"    {UNCHANGED}: {s.database(target)} already holds it (run {state['run_id']}); "
                    "no COPY, no dbt build (force=True / --force reloads)"
                )
            else:
                try:
                    result = self.transform(target, report.run_id, expected_records=summary["loaded"], ctx=ctx)
                except dbt.DbtFailed as e:
                    report.record_dbt(e.result)
                    raise
                report.record_dbt(result, self.published_statements)
        with timed("validation"):
            checks = validation.validate(s, target, expected_records=summary.get("loaded"), conn=ctx.warehouse(target))
            report.record_validation(checks)
            if not checks.ok:
                raise validation.ValidationFailed(checks.describe_failures() + (STALE_HINT if unchanged else ""))
        if not unchanged:
            self.record_load_state(target, report.load_record(current), ctx)

    # -- parts of steps ------------------------------------------------------------------------
    def _land(
        self, ctx: RunContext, report: RunReport, roles: iam.PipelineRoles, target: str, script_sha256: str, force: bool
    ) -> dict[str, Any]:
        """The glue step: the job deployed, then this run's source landed by it (or found unchanged);
        returns the job's summary. A failed job run raises GlueJobFailed saying what was kept."""
        s, source_url = self.settings, report.source_url
        job_state = self.setup_glue_job(roles, ctx)
        # a job run left behind by a killed pipeline may still be landing a file: let it finish
        # before looking at what is landed (Glue runs one at a time anyway)
        waited = glue_job.wait_for_running_runs(ctx.aws("glue"), s.glue_job_name, timeout_s=900)
        landed = self.landed_file(ctx)
        same_script = bool(landed and landed["ingest_script_sha256"] == script_sha256)
        skip_if = landed["source_sha256"] if landed and same_script and not force else None
        glue_source = self.stage_source(source_url, ctx)
        if glue_source != source_url:
            ctx.echo(f"    local file uploaded for the Glue job: {glue_source}")
        try:
            job_run = self.ingest(glue_source, report.run_id, skip_if_sha256=skip_if, ctx=ctx)
        except glue_job.GlueJobFailed as e:
            report.record_glue(s, e.run, job_state, landed)
            message = errors.ingest_failure_message(e, landed, s, target)
            if glue_source != source_url:
                message += f"\n(source {source_url}, uploaded for the Glue job as {glue_source})"
            raise glue_job.GlueJobFailed(message, run=e.run) from e
        summary = report.record_glue(s, job_run, job_state, landed)
        assert report.glue is not None and report.source is not None and report.landing is not None
        report.glue.waited_for_runs = waited
        if glue_source != source_url:
            report.source.staged_as = glue_source
        what = "unchanged, nothing written" if summary.get("unchanged") else f"{summary.get('loaded')} records"
        ctx.echo(
            f"    landed s3://{s.bucket}/{s.data_key}: {what} ({summary.get('quarantined')} quarantined)"
            + "".join(f"\n    glue: {line}" for line in report.glue.retries)
        )
        return summary

    def _explain(self, ctx: RunContext, e: BaseException, target: str) -> BaseException:
        """A service that could not be reached becomes a ServiceUnavailable saying which, in which
        step, what state that left, and what to do; other errors already say so themselves."""
        service = errors.unreachable(e)
        if service is None:
            return e
        return errors.service_unavailable(e, service, self.settings, target, ctx.step, ctx.published)
