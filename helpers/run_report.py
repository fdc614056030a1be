"""The run report: what a run did, typed section by section, written as JSON also when the run fails.

`<artifacts>/runs/<run_id>.json` always and `<artifacts>/run_report.json` (the latest run): the run's
own fields, `seconds_per_step`, then one key per section a run reached, in step order - iam, s3,
source, glue, landing, snowflake, load, dbt, rows_per_layer, rows_per_continent, validation,
reconciliation. Keys a section has only sometimes (a skipped load's "skipped", a failed ingest's
"failed_stage") appear only when set, as before the report was typed. `report.steps[...]` reads the
sections as that JSON.

`reconciliation` balances the records: received (in the source; null when the file could not be read
as records) = loaded (landed, and so loaded into RAW) + quarantined; and for a succeeded run loaded =
rows in RAW. A failed run has loaded 0 unless it failed after landing, and then RAW, TRANSFORM and
MART were left as the last good run left them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, UTC
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pydantic

from helpers import glue_job, iam
from helpers.load_state import LoadState
from helpers.settings import Settings

UNCHANGED = "unchanged source"


def new_run_id() -> str:
    return datetime.now(UTC).strftime("run_%Y%m%dT%H%M%SZ_") + uuid.uuid4().hex[:8]


class Section(pydantic.BaseModel):
    """A report section; its JSON has the fields set (a field a section has only sometimes defaults
    to unset, not to null)."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True)


class Iam(Section):
    glue_role_arn: str
    snowflake_role_arn: str


class S3(Section):
    bucket: str
    created: bool
    script: dict[str, Any]  # helpers/storage.py's answer: key, uploaded, ...


class Source(Section):
    url: str
    bytes: int | None
    sha256: str | None
    records: int | None
    staged_as: str | None = None  # a file:// source, uploaded for the Glue job


class Glue(Section):
    job: str
    job_definition: str
    run_id: str | None
    state: str | None
    seconds: float | None
    error: str | None
    retries: list[str]
    log: list[str]  # the job's stderr (last 50 lines): progress, retries, ERROR
    waited_for_runs: list[str] = []  # runs left behind by a killed process, waited for first


class Landing(Section):
    bucket: str
    key: str
    version_id: str | None
    previous_version_id: str | None
    written: bool
    received: int | None
    loaded: int | None
    quarantined: int | None
    quarantine_key: str | None
    quarantine_reasons: dict[str, int] | None
    failed_stage: str | None = None  # a failed ingest only
    skipped: str | None = None  # an unchanged source only ...
    landed_by_run: str | None = None  # ... and the run that landed it


class Snowflake(Section):
    database: str
    integration: str
    storage_aws_iam_user_arn: str
    trust_policy_updated: bool
    stage_files: list[dict[str, Any]]
    last_load: dict[str, Any] | None


class Load(Section):
    skipped: str | None = None  # either skipped ...
    files: list[dict[str, Any]] = []  # ... or COPY's answer, one row per file
    rows_loaded: int = 0


class Dbt(Section):
    skipped: str | None = None  # either skipped (and the run whose tables are published) ...
    tables_built_by_run: str | None = None
    counts: dict[str, dict[str, int]] = {}  # ... or what dbt built and tested
    failures: list[dict[str, Any]] = []
    published: list[str] = []  # the publish statements, when it got that far


class Reconciliation(Section):
    received: int | None
    loaded: int
    quarantined: int
    raw_rows: int | None
    balanced: bool = pydantic.Field(alias="received = loaded + quarantined")
    loaded_is_raw: bool | None = pydantic.Field(alias="loaded = RAW rows")


SECTIONS = (
    "iam",
    "s3",
    "source",
    "glue",
    "landing",
    "snowflake",
    "load",
    "dbt",
    "rows_per_layer",
    "rows_per_continent",
    "validation",
    "reconciliation",
)


class RunReport(pydantic.BaseModel):
    """What a run did (see the module's docstring)."""

    model_config = pydantic.ConfigDict(validate_assignment=True)

    run_id: str
    target: str
    source_url: str
    started_at: str
    status: str = "running"
    seconds: dict[str, float] = {}  # "seconds_per_step" in the JSON
    error: str | None = None
    force: bool = False
    iam: Iam | None = None
    s3: S3 | None = None
    source: Source | None = None
    glue: Glue | None = None
    landing: Landing | None = None
    snowflake: Snowflake | None = None
    load: Load | None = None
    dbt: Dbt | None = None
    rows_per_layer: dict[str, int] | None = None
    rows_per_continent: dict[str, int] | None = None
    validation: dict[str, Any] | None = None  # helpers/validation.py's ValidationReport.to_json()
    reconciliation: Reconciliation | None = None

    @classmethod
    def start(cls, target: str, source_url: str, force: bool = False) -> RunReport:
        return cls(
            run_id=new_run_id(),
            target=target,
            source_url=source_url,
            force=force,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @property
    def steps(self) -> Mapping[str, Any]:
        """The sections reached so far, as they are written (read-only)."""
        out: dict[str, Any] = {}
        for name in SECTIONS:
            section = getattr(self, name)
            if section is not None:
                out[name] = section.to_json() if isinstance(section, Section) else dict(section)
        return MappingProxyType(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "status": self.status,
            "source_url": self.source_url,
            "started_at": self.started_at,
            "force": self.force,
            "error": self.error,
            "seconds_per_step": dict(self.seconds),
            **self.steps,
        }

    def fail(self, error: BaseException) -> None:
        self.status, self.error = "failed", f"{type(error).__name__}: {error}"

    # -- sections from what the steps returned ----------------------------------------------------
    def record_iam(self, roles: iam.PipelineRoles) -> None:
        self.iam = Iam(glue_role_arn=roles.glue_role_arn, snowflake_role_arn=roles.snowflake_role_arn)

    def record_glue(
        self, s: Settings, job_run: glue_job.JobRun | None, job_state: str, landed: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The source, glue and landing sections from a succeeded or failed job run; returns the job's
        summary (its failure line for a failed run)."""
        summary = (job_run.summary or job_run.failure or {}) if job_run else {}
        failed = not (job_run and job_run.summary)
        previous_version = landed["version_id"] if landed else None
        self.source = Source(
            url=self.source_url,
            bytes=summary.get("source_bytes"),
            sha256=summary.get("source_sha256"),
            records=summary.get("received"),
        )
        self.glue = Glue(
            job=s.glue_job_name,
            job_definition=job_state,
            run_id=job_run.run_id if job_run else None,
            state=job_run.state if job_run else None,
            seconds=job_run.seconds if job_run else None,
            error=job_run.error if job_run else None,
            retries=job_run.retries if job_run else [],
            log=job_run.errors[-50:] if job_run else [],
        )
        landing = Landing(
            bucket=s.bucket,
            key=s.data_key,
            # a failed or unchanged ingest leaves the landed file as it was
            version_id=summary.get("version_id") or previous_version,
            previous_version_id=previous_version,
            written=bool(summary.get("version_id")) and not failed,
            received=summary.get("received"),
            loaded=0 if failed else summary.get("loaded"),
            quarantined=summary.get("quarantined", 0),
            quarantine_key=summary.get("quarantine_key"),
            quarantine_reasons=summary.get("quarantine_reasons", {}),
        )
        if failed:
            landing.failed_stage = summary.get("stage")
        if summary.get("unchanged"):
            landing.skipped = UNCHANGED
            landing.landed_by_run = landed.get("run_id") if landed else None
        self.landing = landing
        return summary

    def record_snowflake(
        self,
        s: Settings,
        target: str,
        integration: dict[str, Any],
        stage: dict[str, Any],
        last_load: dict[str, Any] | None,
    ) -> None:
        self.snowflake = Snowflake(
            database=s.database(target),
            integration=s.integration_name,
            storage_aws_iam_user_arn=integration["storage_aws_iam_user_arn"],
            trust_policy_updated=integration["trust_policy_updated"],
            stage_files=stage["files"],
            last_load=last_load,
        )

    def record_dbt(self, result: Any, published: list[str] | None = None) -> None:
        """dbt's counts and failures (a helpers.dbt.DbtResult; None: dbt did not run), and the publish."""
        if result is None:
            return
        self.dbt = Dbt(counts=result.counts(), failures=result.failures())
        if published is not None:
            self.dbt.published = published

    def record_validation(self, checks: Any) -> None:
        """A helpers.validation.ValidationReport of the published tables."""
        self.rows_per_layer = checks.rows_per_layer
        self.rows_per_continent = checks.rows_per_continent
        self.validation = checks.to_json()

    def load_record(self, current: dict[str, str]) -> LoadState:
        """The target's new LOAD_STATE row: this run, the fingerprints `current`, what it landed."""
        assert self.landing is not None
        return LoadState(
            run_id=self.run_id,
            source_url=self.source_url,
            **current,
            landed_version_id=self.landing.version_id,
            received=self.landing.received,
            loaded=self.landing.loaded,
            quarantined=self.landing.quarantined,
            published_at=datetime.now(UTC).replace(microsecond=0),
        )

    # -- the end of a run ------------------------------------------------------------------------
    def reconcile(self) -> None:
        landing = self.landing
        if landing is None:
            return
        loaded, quarantined = landing.loaded or 0, landing.quarantined or 0
        raw_rows = (self.rows_per_layer or {}).get("raw") if self.status == "succeeded" else None
        self.reconciliation = Reconciliation(
            received=landing.received,
            loaded=loaded,
            quarantined=quarantined,
            raw_rows=raw_rows,
            balanced=(landing.received or 0) == loaded + quarantined,
            loaded_is_raw=(loaded == raw_rows) if raw_rows is not None else None,
        )

    def write(self, artifacts_dir: Path, latest: bool = True) -> None:
        """`runs/<run_id>.json` always; `run_report.json` (the latest run) unless `latest=False`."""
        (artifacts_dir / "runs").mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, default=str) + "\n"
        (artifacts_dir / "runs" / f"{self.run_id}.json").write_text(text)
        if latest:
            (artifacts_dir / "run_report.json").write_text(text)
