"""AWS Glue: create the Python-shell ingest job, start a run, wait for it, read its logs.

The same calls work against real Glue and the local one (which runs the script the way Glue does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

OUTPUT_LOG_GROUP = "/aws-glue/python-jobs/output"
ERROR_LOG_GROUP = "/aws-glue/python-jobs/error"
TERMINAL_STATES = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"}

# How long to wait between polls. Module-level so a test can make them instant; the defaults are
# fast locally and gentle on the real APIs.
# GetJobRun: 0.02 s growing by a fifth each time, to 5 s after ≈ 24 s (a real run of a minute: ≈ 37 calls).
# Each poll may find the run's end up to a fifth late: locally a run takes ≈ 0.2 s.
POLL_WAIT = wait_exponential(multiplier=0.02, exp_base=1.2, max=5)
LOG_STREAM_WAIT = wait_fixed(1)  # a run's log stream not created yet
SUMMARY_WAIT = wait_fixed(1)  # a SUCCEEDED run whose ingest_summary line has not arrived yet
ROLE_RETRY_WAIT = wait_exponential(multiplier=2, min=2, max=15)  # IAM propagation: 2, 4, 8, 15, 15 ... s

# Glue's messages when it cannot assume the job role (yet). A role just created or whose trust
# policy just changed may be refused for a while: IAM is eventually consistent
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
# Matched case-insensitively against a StartJobRun error's message and a run's ErrorMessage; add a
# wording here when Glue shows a new one.
ROLE_PROPAGATION_PATTERNS: tuple[str, ...] = (
    # Glue jobs/dev endpoints, InvalidInputException: "Role arn:aws:iam::...:role/R should be given
    # assume role permissions for Glue Service."
    "should be given assume role permissions for glue service",
    # Glue (crawlers, job runs): "Service is unable to assume role arn:... Please verify role's
    # TrustPolicy" (also "... assume provided role ..."), and "Unable to assume role for arn: ..."
    "unable to assume role",
    "unable to assume provided role",
    # STS's refusal as Glue relays it
    "is not authorized to perform: sts:assumerole",
)


def is_role_propagation_error(message: str | None) -> bool:
    """Whether `message` is Glue saying it cannot assume the job role (see ROLE_PROPAGATION_PATTERNS)."""
    text = (message or "").lower()
    return any(pattern in text for pattern in ROLE_PROPAGATION_PATTERNS)


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
    # Glue's refusals of the job role before this run (IAM propagation; each one retried)
    role_refusals: list[str] = field(default_factory=list)

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
    """Poll GetJobRun until the run is in a terminal state (at most `timeout_s`)."""
    poll = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=POLL_WAIT,
        retry=retry_if_result(lambda run: run["JobRunState"] not in TERMINAL_STATES),
    )
    try:
        return poll(lambda: glue.get_job_run(JobName=name, RunId=run_id)["JobRun"])
    except RetryError as e:
        state = e.last_attempt.result()["JobRunState"]
        raise GlueJobFailed(f"Glue job {name} run {run_id} still {state} after {timeout_s:.0f}s") from None


def read_log(
    logs: Any, group: str, run_id: str, wait_s: float = 30, max_pages: int = 1000, max_seconds: float = 120
) -> list[str]:
    """Lines of one log stream, from its head.

    GetLogEvents' contract (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html):
    a page may be partly full or empty while more events follow; the end of the stream is reached
    when the returned nextForwardToken equals the nextToken passed in. So an empty page is read on
    from, and paging stops on an unchanged token, bounded by `max_pages` / `max_seconds` (a stream
    still being written could otherwise be paged for ever; hitting a bound adds a note line).
    The stream itself can appear a few seconds after the run ends: wait up to `wait_s` for it
    (returns [] if it never does).
    """

    def read_all() -> list[str]:
        deadline = time.monotonic() + max_seconds
        lines: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": run_id, "startFromHead": True}
        for _ in range(max_pages):
            page = logs.get_log_events(**kwargs)
            lines.extend(e["message"] for e in page["events"])
            token = page["nextForwardToken"]
            if token == kwargs.get("nextToken"):
                return lines
            kwargs["nextToken"] = token
            if time.monotonic() > deadline:
                break
        lines.append(f"[read_log: stopped after {max_pages} pages or {max_seconds:.0f}s; {group}/{run_id} has more]")
        return lines

    wait_for_stream = Retrying(
        stop=stop_after_delay(wait_s),
        wait=LOG_STREAM_WAIT,
        retry=retry_if_exception_type(logs.exceptions.ResourceNotFoundException),
        reraise=True,
    )
    try:
        return wait_for_stream(read_all)
    except logs.exceptions.ResourceNotFoundException:
        return []


def read_summary(logs: Any, run_id: str, lines: list[str], wait_s: float = 15) -> list[str]:
    """The output log of a SUCCEEDED run, re-read for up to `wait_s` while its `ingest_summary`
    line has not arrived (CloudWatch can deliver log events after the run state changes)."""
    if _has_event(lines, "ingest_summary"):
        return lines
    reread = Retrying(
        stop=stop_after_delay(wait_s),
        wait=SUMMARY_WAIT,
        retry=retry_if_result(lambda got: not _has_event(got, "ingest_summary")),
    )
    try:
        return reread(lambda: read_log(logs, OUTPUT_LOG_GROUP, run_id, wait_s=0))
    except RetryError as e:
        return e.last_attempt.result()


def _has_event(lines: list[str], name: str) -> bool:
    return JobRun("", "", 0, None, output=lines)._event(name) is not None


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


class _RoleNotAssumableYet(Exception):
    """Glue could not assume the job role (a ROLE_PROPAGATION_PATTERNS message): at StartJobRun
    (`run` is None) or on the run's end state (`run` is the GetJobRun document)."""

    def __init__(self, message: str, run_id: str | None = None, run: dict[str, Any] | None = None):
        super().__init__(message)
        self.message, self.run_id, self.run = message, run_id, run


def _start_run_waiting_for_others(glue: Any, name: str, arguments: dict[str, str], timeout_s: float) -> str:
    """StartJobRun. If another run holds the job (MaxConcurrentRuns=1), e.g. one left behind by a
    pipeline process that was killed, it is waited for (bounded) and then ours starts."""
    try:
        try:
            return start_run(glue, name, arguments)
        except glue.exceptions.ConcurrentRunsExceededException:
            waited = wait_for_running_runs(glue, name, timeout_s)
            try:
                return start_run(glue, name, arguments)
            except glue.exceptions.ConcurrentRunsExceededException as e:
                raise GlueJobFailed(
                    f"Glue job {name} is still running another run (waited for {', '.join(waited) or 'none'}): {e}. "
                    "hint: another pipeline run is using the job; wait for it (aws glue get-job-runs) and re-run"
                ) from e
    except ClientError as e:
        message = e.response.get("Error", {}).get("Message", str(e))
        if is_role_propagation_error(message):
            raise _RoleNotAssumableYet(f"StartJobRun: {e.response['Error'].get('Code')}: {message}") from e
        raise


def run_job(
    glue: Any,
    logs: Any,
    name: str,
    arguments: dict[str, str],
    timeout_s: float = 900,
    role_propagation_s: float = 60,
    summary_wait_s: float = 15,
    echo: Callable[[str], None] | None = None,
) -> JobRun:
    """Start a run, wait for it (at most `timeout_s`) and collect its logs. Raises GlueJobFailed
    naming the cause.

    - Glue refusing the job role with one of ROLE_PROPAGATION_PATTERNS (at StartJobRun, or as the
      run's FAILED/ERROR message) is IAM propagation after the role was created or changed: a new run
      is started for up to `role_propagation_s` (0: no retry), each wait reported through `echo`.
      Any other error is not retried.
    - A SUCCEEDED run whose `ingest_summary` line has not reached CloudWatch yet is re-read for up to
      `summary_wait_s` before it is called an error.
    - The job allows one run at a time; a run still in progress is waited for first.
    """
    started = time.monotonic()
    refusals: list[str] = []

    def attempt() -> tuple[str, dict[str, Any]]:
        run_id = _start_run_waiting_for_others(glue, name, arguments, timeout_s)
        run = wait_for_run(glue, name, run_id, timeout_s)
        if run["JobRunState"] in {"FAILED", "ERROR"} and is_role_propagation_error(run.get("ErrorMessage")):
            raise _RoleNotAssumableYet(f"run {run_id} {run['JobRunState']}: {run.get('ErrorMessage')}", run_id, run)
        return run_id, run

    def report(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        message = exc.message if isinstance(exc, _RoleNotAssumableYet) else str(exc)
        refusals.append(message)
        if echo:
            echo(
                f"Glue cannot assume the job role yet (IAM changes take a while to propagate): {message}; "
                f"retrying in {state.upcoming_sleep:.0f}s ({state.seconds_since_start:.0f}s of {role_propagation_s:.0f}s)"
            )

    retrying = Retrying(
        stop=stop_after_delay(role_propagation_s),
        wait=ROLE_RETRY_WAIT,
        retry=retry_if_exception_type(_RoleNotAssumableYet),
        before_sleep=report,
        reraise=True,
    )
    try:
        run_id, run = retrying(attempt)
    except _RoleNotAssumableYet as e:
        refusals.append(e.message)
        hint = (
            f"Glue job {name} could not assume its role for {time.monotonic() - started:.0f}s "
            f"({len(refusals)} attempt(s)): {e.message}\nhint: if the role was just created, IAM may still be "
            "propagating it: re-run in a minute; otherwise check that the role's trust policy lets "
            "glue.amazonaws.com assume it (aws iam get-role --role-name <role>)"
        )
        failed = None
        if e.run is not None:
            failed = JobRun(
                e.run_id or "",
                e.run["JobRunState"],
                round(time.monotonic() - started, 2),
                e.run.get("ErrorMessage"),
                role_refusals=refusals,
            )
        raise GlueJobFailed(hint, run=failed) from e

    result = JobRun(
        run_id=run_id,
        state=run["JobRunState"],
        seconds=round(time.monotonic() - started, 2),
        error=run.get("ErrorMessage"),
        output=read_log(logs, OUTPUT_LOG_GROUP, run_id),
        errors=read_log(logs, ERROR_LOG_GROUP, run_id),
        role_refusals=refusals,
    )
    if result.state != "SUCCEEDED":
        detail = "\n".join(result.errors[-15:])
        raise GlueJobFailed(
            f"Glue job {name} run {run_id} {result.state}: {result.error}\n"
            f"--- last lines of {ERROR_LOG_GROUP}/{run_id} ---\n{detail}",
            run=result,
        )
    result.output = read_summary(logs, run_id, result.output, wait_s=summary_wait_s)
    if result.summary is None:
        raise GlueJobFailed(
            f"Glue job {name} run {run_id} succeeded but no ingest_summary line reached "
            f"{OUTPUT_LOG_GROUP}/{run_id} within {summary_wait_s:.0f}s of reading its log"
            + (
                ""
                if result.output or result.errors
                else ". Neither of its log streams exists: Glue writes a run's logs with the job role's "
                "credentials, so check that the role allows logs:CreateLogStream and logs:PutLogEvents on "
                "/aws-glue/python-jobs/* (helpers/iam_policies.py glue_role_policy)"
            ),
            run=result,
        )
    return result
