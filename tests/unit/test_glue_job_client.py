"""The Glue/CloudWatch client contract of helpers/glue_job.py, against small scripted fakes of the
boto3 Glue and CloudWatch Logs clients (the product code takes any client; it never knows these)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tenacity import wait_fixed

from helpers import glue_job
from helpers.glue_job import ERROR_LOG_GROUP, OUTPUT_LOG_GROUP, GlueJobFailed, is_role_propagation_error

ROLE = "arn:aws:iam::123456789012:role/countries-pipeline-glue-role"
SUMMARY = json.dumps({"event": "ingest_summary", "records": 250})


class _ResourceNotFound(ClientError):
    pass


class _ConcurrentRunsExceeded(ClientError):
    pass


class _EntityNotFound(ClientError):
    pass


def client_error(code: str, message: str, op: str = "StartJobRun", cls: type[ClientError] = ClientError) -> ClientError:
    return cls({"Error": {"Code": code, "Message": message}}, op)


class FakeLogs:
    """GetLogEvents as documented: pages may be empty; tokens are opaque; the end of a stream is
    the returned nextForwardToken equal to the nextToken passed. `streams[(group, stream)]` is a
    list of pages (lists of messages); `missing_calls` makes a stream not exist for its first calls;
    `on_call(fake, group, stream, n)` may add pages later (log events arriving after the run)."""

    class exceptions:
        ResourceNotFoundException = _ResourceNotFound

    def __init__(
        self,
        streams: dict[tuple[str, str], list[list[str]]] | None = None,
        missing_calls: int = 0,
        endless: bool = False,
        on_call: Any = None,
    ):
        self.streams = streams or {}
        self.missing_calls = missing_calls
        self.endless = endless  # a stream that always hands out a new token (still being written)
        self.on_call = on_call
        self.calls: list[dict[str, Any]] = []

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        key = (kwargs["logGroupName"], kwargs["logStreamName"])
        n = sum(1 for c in self.calls if (c["logGroupName"], c["logStreamName"]) == key)
        if self.on_call:
            self.on_call(self, key, n)
        if len(self.calls) <= self.missing_calls or key not in self.streams:
            raise client_error(
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
                "GetLogEvents",
                _ResourceNotFound,
            )
        assert kwargs["startFromHead"] is True
        pages = self.streams[key]
        token = kwargs.get("nextToken")
        index = int(token.split("/")[1]) if token else 0
        if self.endless:
            return {"events": [], "nextForwardToken": f"f/{index + 1}", "nextBackwardToken": "b/0"}
        if index >= len(pages):  # the end: the same token comes back
            return {"events": [], "nextForwardToken": token or "f/0", "nextBackwardToken": "b/0"}
        events = [{"timestamp": 0, "message": m, "ingestionTime": 0} for m in pages[index]]
        return {"events": events, "nextForwardToken": f"f/{index + 1}", "nextBackwardToken": "b/0"}


class FakeGlue:
    """StartJobRun/GetJobRun from a script: `starts` is a list of outcomes for successive
    StartJobRun calls (an exception to raise, or a list of (state, ErrorMessage) the run's
    GetJobRun calls go through, the last one repeating)."""

    class exceptions:
        ConcurrentRunsExceededException = _ConcurrentRunsExceeded
        EntityNotFoundException = _EntityNotFound

    def __init__(self, starts: list[Any]):
        self.starts = list(starts)
        self.started: list[dict[str, Any]] = []
        self.runs: dict[str, list[tuple[str, str | None]]] = {}

    def start_job_run(self, JobName: str, Arguments: dict[str, str]) -> dict[str, str]:  # noqa: N803 - boto3's names
        self.started.append({"JobName": JobName, "Arguments": Arguments})
        outcome = self.starts.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        run_id = f"jr_{len(self.started)}"
        self.runs[run_id] = list(outcome)
        return {"JobRunId": run_id}

    def get_job_run(self, JobName: str, RunId: str) -> dict[str, Any]:  # noqa: N803
        states = self.runs[RunId]
        state, error = states.pop(0) if len(states) > 1 else states[0]
        run = {"Id": RunId, "JobName": JobName, "JobRunState": state}
        if error:
            run["ErrorMessage"] = error
        return {"JobRun": run}


@pytest.fixture(autouse=True)
def instant_waits(monkeypatch):
    """The real waits are seconds; the contract under test is the same with none."""
    for name in ("POLL_WAIT", "LOG_STREAM_WAIT", "SUMMARY_WAIT", "ROLE_RETRY_WAIT"):
        monkeypatch.setattr(glue_job, name, wait_fixed(0.01))


def logs_for(run_id: str, output: list[list[str]], errors: list[list[str]] | None = None, **kw: Any) -> FakeLogs:
    return FakeLogs({(OUTPUT_LOG_GROUP, run_id): output, (ERROR_LOG_GROUP, run_id): errors or []}, **kw)


# --- reading a log: GetLogEvents' contract ----------------------------------------------------


def test_an_empty_page_is_not_the_end_of_the_stream():
    """https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html:
    "Partially full or empty pages don't necessarily mean that pagination is finished. As long as the
    nextBackwardToken or nextForwardToken returned is NOT equal to the nextToken that you passed into
    the API call, there might be more log events available." """
    logs = FakeLogs({("g", "s"): [[], ["a"], [], ["b", "c"]]})
    assert glue_job.read_log(logs, "g", "s") == ["a", "b", "c"]


def test_the_unchanged_token_ends_the_stream_and_is_passed_back():
    logs = FakeLogs({("g", "s"): [["a", "b"]]})
    assert glue_job.read_log(logs, "g", "s") == ["a", "b"]
    assert [c.get("nextToken") for c in logs.calls] == [None, "f/1"]  # the 2nd call got f/1 back: the end


def test_a_stream_that_never_ends_is_bounded_and_says_so():
    logs = FakeLogs({("g", "s"): [["a"]]}, endless=True)
    lines = glue_job.read_log(logs, "g", "s", max_pages=5)
    assert len(logs.calls) == 5
    assert lines[-1].startswith("[read_log: stopped after 5 pages")


def test_a_stream_that_appears_late_is_waited_for():
    logs = FakeLogs({("g", "s"): [["a"]]}, missing_calls=2)
    assert glue_job.read_log(logs, "g", "s", wait_s=5) == ["a"]


def test_a_stream_that_never_appears_reads_as_empty():
    assert glue_job.read_log(FakeLogs({}), "g", "s", wait_s=0.05) == []


# --- wait_for_run -------------------------------------------------------------------------------


def test_wait_for_run_polls_to_a_terminal_state():
    glue = FakeGlue([[("STARTING", None), ("RUNNING", None), ("RUNNING", None), ("SUCCEEDED", None)]])
    run_id = glue_job.start_run(glue, "job", {})
    assert glue_job.wait_for_run(glue, "job", run_id)["JobRunState"] == "SUCCEEDED"
    assert glue.runs[run_id] == [("SUCCEEDED", None)]  # every scripted state was seen


def test_wait_for_run_gives_up_after_its_timeout():
    glue = FakeGlue([[("RUNNING", None)]])
    run_id = glue_job.start_run(glue, "job", {})
    with pytest.raises(GlueJobFailed, match="still RUNNING after 0s"):
        glue_job.wait_for_run(glue, "job", run_id, timeout_s=0.1)


# --- a SUCCEEDED run whose summary line lags ------------------------------------------------------


def test_a_summary_that_arrives_late_is_waited_for():
    """Log events can reach CloudWatch after the run state says SUCCEEDED."""

    def deliver_late(fake: FakeLogs, key: tuple[str, str], n: int) -> None:
        if key == (OUTPUT_LOG_GROUP, "jr_1") and n == 5:
            fake.streams[key].append([SUMMARY])

    glue = FakeGlue([[("RUNNING", None), ("SUCCEEDED", None)]])
    logs = logs_for("jr_1", [["downloading"]], on_call=deliver_late)
    run = glue_job.run_job(glue, logs, "job", {}, summary_wait_s=5)
    assert run.summary == {"event": "ingest_summary", "records": 250}
    assert run.output == ["downloading", SUMMARY]


def test_a_summary_that_never_arrives_is_an_error_after_the_bounded_wait():
    glue = FakeGlue([[("SUCCEEDED", None)]])
    logs = logs_for("jr_1", [["downloading"]])
    with pytest.raises(GlueJobFailed, match="no ingest_summary line reached .* within 0s") as caught:
        glue_job.run_job(glue, logs, "job", {}, summary_wait_s=0.1)
    assert caught.value.run is not None and caught.value.run.state == "SUCCEEDED"
    assert sum(1 for c in logs.calls if c["logGroupName"] == OUTPUT_LOG_GROUP and "nextToken" not in c) > 1  # re-read


# --- IAM propagation at the first StartJobRun ---------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        f"Role {ROLE} should be given assume role permissions for Glue Service.",
        f"Service is unable to assume role {ROLE}. Please verify role's TrustPolicy",
        "Service is unable to assume provided role. Please verify role's TrustPolicy.",
        f"Unable to assume role for arn: {ROLE}",
        f"User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: sts:AssumeRole on resource: {ROLE}",
    ],
)
def test_role_propagation_messages_are_recognised(message):
    assert is_role_propagation_error(message)


@pytest.mark.parametrize(
    "message",
    [
        None,
        "",
        "ModuleNotFoundError: No module named 'requests'",
        "User: arn:aws:iam::1:user/me is not authorized to perform: glue:StartJobRun on resource: job",
        "Max concurrent runs exceeded",
        "Command failed with exit code 1",
    ],
)
def test_other_errors_are_not_role_propagation(message):
    assert not is_role_propagation_error(message)


def test_a_start_refused_while_the_role_propagates_is_retried_then_succeeds():
    """IAM is eventually consistent: "Changes that I make are not always immediately visible"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
    Glue refuses a role it cannot assume yet with InvalidInputException "Role <arn> should be given
    assume role permissions for Glue Service." (the wording AWS tooling retries on for Glue)."""
    refused = client_error(
        "InvalidInputException", f"Role {ROLE} should be given assume role permissions for Glue Service."
    )
    glue = FakeGlue([refused, [("SUCCEEDED", None)]])
    echoed: list[str] = []
    run = glue_job.run_job(glue, logs_for("jr_2", [[SUMMARY]]), "job", {"--a": "1"}, echo=echoed.append)
    assert run.run_id == "jr_2" and run.summary == json.loads(SUMMARY)
    assert len(glue.started) == 2 and glue.started[1]["Arguments"] == {"--a": "1"}
    assert len(echoed) == 1 and "cannot assume the job role yet" in echoed[0] and "retrying in" in echoed[0]
    assert len(run.role_refusals) == 1 and "InvalidInputException" in run.role_refusals[0]


def test_a_run_that_failed_to_assume_the_role_is_retried_with_a_new_run():
    glue = FakeGlue(
        [
            [
                ("STARTING", None),
                ("FAILED", f"Service is unable to assume role {ROLE}. Please verify role's TrustPolicy"),
            ],
            [("ERROR", f"Role {ROLE} should be given assume role permissions for Glue Service.")],
            [("RUNNING", None), ("SUCCEEDED", None)],
        ]
    )
    logs = logs_for("jr_3", [[SUMMARY]])
    run = glue_job.run_job(glue, logs, "job", {})
    assert (run.run_id, run.state, len(glue.started), len(run.role_refusals)) == ("jr_3", "SUCCEEDED", 3, 2)
    assert {c["logStreamName"] for c in logs.calls} == {"jr_3"}  # refused runs have no logs to read


def test_a_role_that_never_becomes_assumable_fails_after_the_bound_naming_the_fix():
    glue = FakeGlue([[("FAILED", f"Service is unable to assume role {ROLE}. Please verify role's TrustPolicy")]] * 200)
    with pytest.raises(GlueJobFailed) as caught:
        glue_job.run_job(glue, FakeLogs({}), "job", {}, role_propagation_s=0.2)
    message = str(caught.value)
    assert "could not assume its role" in message and "trust policy" in message and ROLE in message
    assert 1 < len(glue.started) < 200
    assert caught.value.run is not None and caught.value.run.state == "FAILED"


def test_no_retry_when_role_propagation_is_off():
    glue = FakeGlue(
        [
            client_error(
                "InvalidInputException", f"Role {ROLE} should be given assume role permissions for Glue Service."
            )
        ]
    )
    with pytest.raises(GlueJobFailed, match="could not assume its role"):
        glue_job.run_job(glue, FakeLogs({}), "job", {}, role_propagation_s=0)
    assert len(glue.started) == 1


def test_a_failed_run_with_another_error_is_not_retried():
    glue = FakeGlue([[("FAILED", "ModuleNotFoundError: No module named 'requests'")], [("SUCCEEDED", None)]])
    logs = logs_for("jr_1", [[json.dumps({"event": "ingest_failed", "stage": "download"})]], [["Traceback ..."]])
    with pytest.raises(GlueJobFailed, match="jr_1 FAILED: ModuleNotFoundError") as caught:
        glue_job.run_job(glue, logs, "job", {})
    assert len(glue.started) == 1
    assert caught.value.run.failure == {"event": "ingest_failed", "stage": "download"}
    assert caught.value.run.errors == ["Traceback ..."]


def test_another_start_error_is_raised_at_once():
    denied = client_error(
        "AccessDeniedException", "User: arn:aws:iam::1:user/me is not authorized to perform: glue:StartJobRun"
    )
    glue = FakeGlue([denied, [("SUCCEEDED", None)]])
    with pytest.raises(ClientError, match="glue:StartJobRun"):
        glue_job.run_job(glue, FakeLogs({}), "job", {})
    assert len(glue.started) == 1


def test_a_run_still_in_progress_is_waited_for_then_ours_starts():
    busy = client_error("ConcurrentRunsExceededException", "Concurrent runs exceeded", cls=_ConcurrentRunsExceeded)

    class BusyGlue(FakeGlue):
        def get_paginator(self, name: str) -> Any:
            assert name == "get_job_runs"
            fake = self

            class Pages:
                def paginate(self, JobName: str) -> list[dict[str, Any]]:  # noqa: N803
                    fake.runs["jr_old"] = [("RUNNING", None), ("SUCCEEDED", None)]
                    return [{"JobRuns": [{"Id": "jr_old", "JobRunState": "RUNNING"}]}]

            return Pages()

    glue = BusyGlue([busy, [("SUCCEEDED", None)]])
    run = glue_job.run_job(glue, logs_for("jr_2", [[SUMMARY]]), "job", {})
    assert run.run_id == "jr_2" and glue.runs["jr_old"] == [("SUCCEEDED", None)]
