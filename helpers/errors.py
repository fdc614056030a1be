"""What a failed run says: the one classifier of "a service could not be reached", and the wording of
the messages that explain a failure (which step, what state it left, what to do).

`Pipeline.run()` turns an unreachable AWS or Snowflake into `ServiceUnavailable` and a failed Glue run
into a `GlueJobFailed` saying what was kept; helpers/plan/ uses the same classifier. Every other
error already says what it needs to itself and is raised as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers import glue_job
from helpers.publish import LAYERS
from helpers.settings import Settings


class ServiceUnavailable(RuntimeError):
    """AWS or Snowflake could not be reached during a run (the original error is the cause)."""


CONNECT_ERRORS = (
    "Could not connect to Snowflake backend",
    "Connection refused",
    "Failed to establish a new connection",
)


def unreachable(e: BaseException) -> str | None:
    """ "AWS" or "Snowflake" if `e` says that service could not be reached, else None."""
    import botocore.exceptions
    import snowflake.connector.errors

    if isinstance(e, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return "AWS"
    if isinstance(e, snowflake.connector.errors.OperationalError) or (
        isinstance(e, snowflake.connector.errors.Error) and any(m in str(e) for m in CONNECT_ERRORS)
    ):
        return "Snowflake"
    return None


def _endpoint(s: Settings, service: str) -> str:
    if service == "AWS":
        return s.resolved_aws_endpoint or "the AWS endpoint"
    try:
        conn = s.snowflake_connect_args(None)
        return f"{conn.get('host') or conn['account']}:{conn.get('port', 443)}"
    except Exception:  # noqa: BLE001 - only for the message
        return "the Snowflake endpoint"


def service_unavailable(
    e: BaseException, service: str, s: Settings, target: str, step: str, published: Sequence[str]
) -> ServiceUnavailable:
    """`e` (`unreachable(e)` is `service`) as the run reports it: which service, in which step, what
    state that left (`published`: the layers this run's publish swapped so far), and what to do."""
    db = s.database(target)
    if published and len(published) < len(LAYERS):
        new = ", ".join(published)
        old = ", ".join(layer for layer in LAYERS if layer not in published)
        left = (
            f"the publish was interrupted: {db}'s {new} hold the new build (tested and checked), "
            f"{old} the last good run's - each layer wholly one or the other; running again finishes it"
        )
    elif published:
        left = (
            f"the new build (tested and checked) was published to {db}, but the run could not finish "
            "(validation of the published tables or the LOAD_STATE record); running again rebuilds it"
        )
    else:
        left = f"nothing users query was changed: {db}'s RAW, TRANSFORM and MART are as the last good run left them"
    return ServiceUnavailable(
        f"{service} ({_endpoint(s, service)}) could not be reached during the {step} step: {type(e).__name__}: {e}\n"
        f"{left}.\nhint: check that {service} is up (locally: python -m helpers local status; "
        "python -m helpers local up restarts what is down), then run again: a re-run is safe and "
        "converges to the correct state."
    )


def ingest_failure_message(e: glue_job.GlueJobFailed, landed: dict[str, Any] | None, s: Settings, target: str) -> str:
    """The cause (the job's own ERROR line, which ends with a hint), what was kept, where the log is."""
    failure = (e.run.failure if e.run else None) or {}
    if not failure.get("error"):
        return str(e)  # no word from the job itself (it crashed, timed out, never started)
    kept = (
        f"s3://{s.bucket}/{s.data_key} is still version {landed['version_id']} (run {landed['run_id']})"
        if landed
        else "no file was landed"
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
