"""AWS Glue: create the Python-shell ingest job, start a run, wait for it, read its logs.

The same calls work against real Glue and the local one (which runs the script the way Glue does).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

OUTPUT_LOG_GROUP = "/aws-glue/python-jobs/output"
ERROR_LOG_GROUP = "/aws-glue/python-jobs/error"
TERMINAL_STATES = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"}


class GlueJobFailed(RuntimeError):
    """The job run did not succeed. `run` (when the run got that far) holds its state and logs,
    including the job's machine-readable `ingest_failed` line (`run.failure`)."""

    def __init__(self, message: str, run: JobRun | None = None):
        super().__init__(message)
        self.run = run


def job_definition(role_arn: str, script_location: str, default_arguments: dict[str, str]) -> dict[str, Any]:
    return {
        "Role": role_arn,
        "Command": {"Name": "pythonshell", "ScriptLocation": script_location, "PythonVersion": "3.9"},
        "DefaultArguments": default_arguments,
        "MaxCapacity": 0.0625,  # 1/16 DPU: the smallest (cheapest) Python-shell size
        "MaxRetries": 0,  # the orchestrator decides about retries, not Glue
        "Timeout": 10,  # minutes
        "GlueVersion": "3.0",
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
    }


def ensure_job(glue: Any, name: str, definition: dict[str, Any]) -> str:
    """Create the job, or update it to `definition`. Returns "created", "updated" or "unchanged"."""
    try:
        current = glue.get_job(JobName=name)["Job"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_job(Name=name, Description="Land the REST Countries file in S3 as NDJSON", **definition)
        return "created"
    if all(current.get(k) == v for k, v in definition.items()):
        return "unchanged"
    glue.update_job(JobName=name, JobUpdate=definition)
    return "updated"


@dataclass
class JobRun:
    run_id: str
    state: str
    seconds: float
    error: str | None
    output: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _event(self, name: str) -> dict[str, Any] | None:
        for line in reversed(self.output):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("event") == name:
                return doc
        return None

    @property
    def summary(self) -> dict[str, Any] | None:
        """The job's one-line JSON summary (`"event": "ingest_summary"`) from its output log."""
        return self._event("ingest_summary")

    @property
    def failure(self) -> dict[str, Any] | None:
        """A failed run's JSON line (`"event": "ingest_failed"`): stage, error and the counts known."""
        return self._event("ingest_failed")

    @property
    def retries(self) -> list[str]:
        """The job's `retry n/m: ...` lines (download retries with backoff) from its error log."""
        return [line for line in self.errors if line.startswith("retry ")]


def start_run(glue: Any, name: str, arguments: dict[str, str]) -> str:
    return glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]


def wait_for_run(glue: Any, name: str, run_id: str, timeout_s: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] in TERMINAL_STATES:
            return run
        if time.monotonic() > deadline:
            raise GlueJobFailed(f"Glue job {name} run {run_id} still {run['JobRunState']} after {timeout_s:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)  # fast locally, gentle on the real API


def read_log(logs: Any, group: str, run_id: str, wait_s: float = 30) -> list[str]:
    """Lines of one log stream. CloudWatch can lag a few seconds behind the run's end, so wait a
    little for the stream to appear."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            lines: list[str] = []
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": run_id, "startFromHead": True}
            while True:
                page = logs.get_log_events(**kwargs)
                lines.extend(e["message"] for e in page["events"])
                if not page["events"] or page.get("nextForwardToken") == kwargs.get("nextToken"):
                    return lines
                kwargs["nextToken"] = page["nextForwardToken"]
        except logs.exceptions.ResourceNotFoundException:
            if time.monotonic() > deadline:
                return []
            time.sleep(1)


def wait_for_running_runs(glue: Any, name: str, timeout_s: float) -> list[str]:
    """Wait until no run of the job is STARTING/RUNNING/STOPPING (e.g. a run left behind by a
    pipeline process that was killed). Returns the ids waited for."""
    waited: list[str] = []
    for page in glue.get_paginator("get_job_runs").paginate(JobName=name):
        for run in page["JobRuns"]:
            if run["JobRunState"] in {"STARTING", "RUNNING", "STOPPING", "WAITING"}:
                wait_for_run(glue, name, run["Id"], timeout_s)
                waited.append(run["Id"])
    return waited


def run_job(
    glue: Any, logs: Any, name: str, arguments: dict[str, str], timeout_s: float = 900
) -> JobRun:
    """Start a run, wait for it (at most `timeout_s`) and collect its logs. Raises GlueJobFailed
    naming the cause.

    The job allows one run at a time (MaxConcurrentRuns=1). If one is still running, e.g. left
    behind by a pipeline process that was killed, it is waited for (bounded) and then ours starts.
    """
    started = time.monotonic()
    try:
        run_id = start_run(glue, name, arguments)
    except glue.exceptions.ConcurrentRunsExceededException:
        waited = wait_for_running_runs(glue, name, timeout_s)
        try:
            run_id = start_run(glue, name, arguments)
        except glue.exceptions.ConcurrentRunsExceededException as e:
            raise GlueJobFailed(
                f"Glue job {name} is still running another run (waited for {', '.join(waited) or 'none'}): {e}. "
                "hint: another pipeline run is using the job; wait for it (aws glue get-job-runs) and re-run"
            ) from e
    run = wait_for_run(glue, name, run_id, timeout_s)
    result = JobRun(
        run_id=run_id,
        state=run["JobRunState"],
        seconds=round(time.monotonic() - started, 2),
        error=run.get("ErrorMessage"),
        output=read_log(logs, OUTPUT_LOG_GROUP, run_id),
        errors=read_log(logs, ERROR_LOG_GROUP, run_id),
    )
    if result.state != "SUCCEEDED":
        detail = "\n".join(result.errors[-15:])
        raise GlueJobFailed(
            f"Glue job {name} run {run_id} {result.state}: {result.error}\n"
            f"--- last lines of {ERROR_LOG_GROUP}/{run_id} ---\n{detail}",
            run=result,
        )
    if result.summary is None:
        raise GlueJobFailed(f"Glue job {name} run {run_id} succeeded but printed no ingest_summary line", run=result)
    return result
