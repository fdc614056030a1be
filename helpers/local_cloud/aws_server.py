"""The local AWS: a moto server (IAM, STS, S3, Glue, CloudWatch Logs) that also *runs* Glue jobs.

    python -m helpers.local_cloud.aws_server --port P

moto records `StartJobRun` and reports SUCCEEDED without running anything, and has no `UpdateJob`. Here a Python-shell job
run does what AWS Glue does: it assumes the job's role (the role must trust glue.amazonaws.com and,
with PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS set, have propagated; otherwise the run FAILS with Glue's
"Service is unable to assume role <arn>. Please verify role's TrustPolicy"), downloads the script
from its ScriptLocation with the role's credentials, runs it in a fresh process (glue_worker.py) with
the run's arguments (`--JOB_NAME`, `--JOB_RUN_ID`, DefaultArguments merged with the run's
Arguments), and ships stdout and stderr to
CloudWatch Logs (/aws-glue/python-jobs/output and .../error, stream = run id) through the Logs API,
signed with the role's session credentials: a role that may not write them gets no logs (the run's
output and the denial then go to this server's own log, aws.log). The run is RUNNING until the
script exits, then SUCCEEDED or FAILED with an ErrorMessage, or TIMEOUT. So the pipeline code polls
and reads logs exactly as it does against real Glue. `UpdateJob` replaces a job's definition, as in Glue.

Access control moto lacks (iam:PassRole, Glue/Logs resource ARNs, IAM propagation delay) is added
by aws_access.py.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from typing import Any
from urllib.parse import urlparse

from helpers.local_cloud import aws_access, glue_worker, s3_streaming

GLUE_OUTPUT_LOG_GROUP = "/aws-glue/python-jobs/output"
GLUE_ERROR_LOG_GROUP = "/aws-glue/python-jobs/error"


class GlueCannotAssumeRole(Exception):
    pass


def _glue_trusts_service(role: Any) -> bool:
    import json

    doc = role.assume_role_policy_document
    doc = json.loads(doc) if isinstance(doc, str) else doc
    for statement in doc.get("Statement", []):
        services = statement.get("Principal", {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and "glue.amazonaws.com" in services:
            return True
    return False


def _role_unassumable(role_arn: str) -> str:
    """Glue's text for a role it cannot assume (the message Glue gives for a role whose trust
    policy does not let the service in, or that IAM has not propagated yet)."""
    return f"Service is unable to assume role {role_arn}. Please verify role's TrustPolicy"


def _log_batches(lines: list[str], now: int) -> list[list[dict[str, Any]]]:
    """PutLogEvents quotas: at most 10,000 events and 1,048,576 bytes (message + 26 each) a call."""
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for line in lines:
        line = line[:262_000]  # one event's maximum is 256 KB
        cost = len(line.encode()) + 26
        if batches[-1] and (len(batches[-1]) >= 10_000 or size + cost > 1_000_000):
            batches.append([])
            size = 0
        batches[-1].append({"timestamp": now, "message": line})
        size += cost
    return [b for b in batches if b]


def _role_client(service: str, endpoint: str, region: str, creds: dict[str, str]) -> Any:
    """A boto3 client signed with the job role's session credentials (what a Glue worker has)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )


def _ship_logs(endpoint: str, region: str, creds: dict[str, str], run_id: str, stdout: str, stderr: str) -> None:
    """Write the run's output like Glue does: through the CloudWatch Logs API, signed with the job
    role's session credentials, so the role's logs permissions decide whether the logs exist.
    What the role may not write is lost (as on Glue); the local server's own log (aws.log) keeps
    it, with the denial, so a developer can still read it."""
    from botocore.exceptions import ClientError

    logs = _role_client("logs", endpoint, region, creds)
    now = int(time.time() * 1000)
    for group, text in ((GLUE_OUTPUT_LOG_GROUP, stdout), (GLUE_ERROR_LOG_GROUP, stderr)):
        try:
            try:
                logs.create_log_group(logGroupName=group)
            except ClientError as e:  # exists already, or the role may not create it: try the stream
                if e.response["Error"]["Code"] not in {"ResourceAlreadyExistsException", "AccessDeniedException"}:
                    raise
            try:
                logs.create_log_stream(logGroupName=group, logStreamName=run_id)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            lines = [line for line in text.splitlines() if line.strip()]
            for batch in _log_batches(lines, now):
                logs.put_log_events(logGroupName=group, logStreamName=run_id, logEvents=batch)
        except ClientError as e:
            err = e.response["Error"]
            print(
                f"glue run {run_id}: its role could not write {group}/{run_id}: {err['Code']}: {err.get('Message')}",
                flush=True,
            )
            for line in text.splitlines():
                print(f"glue run {run_id} {group}: {line}", flush=True)


def _execute(job: Any, run: Any, endpoint: str) -> None:
    """Run one Glue Python-shell job run to completion and record its outcome on `run`."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    account_id, region = job.backend.account_id, job.backend.region_name
    started = time.time()
    stdout, stderr = "", ""
    creds: dict[str, str] | None = None
    state, error = "FAILED", None
    try:
        iam = iam_backends[account_id]["aws"]
        role_arn = job.role if job.role.startswith("arn:") else iam.get_role(job.role).arn
        role = iam.get_role_by_arn(role_arn)
        if not _glue_trusts_service(role) or aws_access.role_not_yet_propagated(role):
            raise GlueCannotAssumeRole(_role_unassumable(role_arn))
        session = sts_backends[account_id]["aws"].assume_role(
            region_name=region,
            role_session_name="GlueJobRunnerSession",
            role_arn=role_arn,
            policy=None,
            duration=3600,
            external_id=None,
        )
        creds = {
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
        }
        script_url = urlparse(job.command["ScriptLocation"])
        s3 = _role_client("s3", endpoint, region, creds)
        script = s3.get_object(Bucket=script_url.netloc, Key=script_url.path.lstrip("/"))["Body"].read()
        args = {**(run.arguments or {}), "--JOB_NAME": job.name, "--JOB_RUN_ID": run.job_run_id}
        argv = [a for k, v in args.items() for a in (k if k.startswith("--") else f"--{k}", str(v))]
        with tempfile.TemporaryDirectory(prefix="glue-run-") as tmp:
            path = os.path.join(tmp, os.path.basename(script_url.path) or "script.py")
            with open(path, "wb") as f:
                f.write(script)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": tmp,
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": region,
                "AWS_REGION": region,
                "PYTHONUNBUFFERED": "1",
                **creds,
            }
            timeout_s = 60 * (job.timeout or 2880)
            finished = glue_worker.run_script(path, argv, env, cwd=tmp, timeout_s=timeout_s)
        stdout, stderr = finished.stdout, finished.stderr
        if finished.timed_out:
            state, error = "TIMEOUT", f"Job run timed out after {timeout_s} seconds"
        elif finished.returncode == 0:
            state, error = "SUCCEEDED", None
        else:
            last = [ln for ln in stderr.splitlines() if ln.strip()]
            state = "FAILED"
            error = (last[-1] if last else f"script exited with status {finished.returncode}")[:2000]
    except GlueCannotAssumeRole as e:  # Glue reports it on the run; with no session, no logs either
        state, error = "FAILED", str(e)
        print(f"glue run {run.job_run_id} ({job.name}): FAILED: {e}", flush=True)
    except Exception as e:  # noqa: BLE001 - recorded on the run, as Glue does
        state, error = "FAILED", f"{type(e).__name__}: {e}"
        stderr += f"\n{error}"
    finally:
        run.execution_seconds = int(time.time() - started)
        try:
            if creds is not None:
                _ship_logs(endpoint, region, creds, run.job_run_id, stdout, stderr)
        except Exception as e:  # noqa: BLE001 - the run's outcome stands; say why its logs are missing
            print(f"glue run {run.job_run_id}: shipping its logs failed: {type(e).__name__}: {e}", flush=True)
        finally:
            # the terminal state shows once the logs are written, so a poller that sees it can
            # read them at once (real CloudWatch may lag behind the state; see local-cloud-facts)
            run.local_error = error
            run.local_state = state
            run.done.set()


def _patch_glue(endpoint: str) -> None:
    from moto.core.utils import utcnow
    from moto.glue import models

    class ExecutedJobRun(models.FakeJobRun):
        """A job run whose state is that of a real execution, not moto's state machine."""

        @property
        def status(self) -> str:  # type: ignore[override]
            return getattr(self, "local_state", "RUNNING")

        @status.setter
        def status(self, value: str) -> None:
            self.local_state = value

        def as_dict(self) -> dict[str, Any]:
            d = super().as_dict()
            d["JobRunState"] = self.status
            d["LogGroupName"] = "/aws-glue/python-jobs"
            d["ExecutionTime"] = getattr(self, "execution_seconds", 0)
            if self.done.is_set():
                d["CompletedOn"] = self.completed_on
            else:
                d.pop("CompletedOn", None)
            if getattr(self, "local_error", None):
                d["ErrorMessage"] = self.local_error
            return d

    original_start = models.FakeJob.start_job_run

    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> str:
        run_id = original_start(self, *args, **kwargs)
        run = next(r for r in self.job_runs if r.job_run_id == run_id)
        run.__class__ = ExecutedJobRun
        run.local_state = "RUNNING"
        run.done = threading.Event()
        run.started_on = utcnow()

        def work() -> None:
            _execute(self, run, endpoint)
            run.completed_on = utcnow()

        threading.Thread(target=work, name=f"glue-{run_id[:12]}", daemon=True).start()
        return run_id

    models.FakeJob.start_job_run = start_job_run

    # UpdateJob (moto: "not implemented", HTTP 500): replace the job's definition with JobUpdate, as
    # Glue does (what JobUpdate leaves out is reset). helpers.glue_job.ensure_job relies on it.
    from moto.core.responses import ActionResult
    from moto.glue import responses

    fields = {
        "Description": "description",
        "LogUri": "log_uri",
        "Role": "role",
        "ExecutionProperty": "execution_property",
        "Command": "command",
        "DefaultArguments": "default_arguments",
        "NonOverridableArguments": "non_overridable_arguments",
        "Connections": "connections",
        "MaxRetries": "max_retries",
        "AllocatedCapacity": "allocated_capacity",
        "Timeout": "timeout",
        "MaxCapacity": "max_capacity",
        "WorkerType": "worker_type",
        "NumberOfWorkers": "number_of_workers",
        "GlueVersion": "glue_version",
        "SecurityConfiguration": "security_configuration",
        "NotificationProperty": "notification_property",
    }

    def update_job(self: Any) -> ActionResult:
        name = self._get_param("JobName")
        update = self._get_param("JobUpdate") or {}
        job = self.glue_backend.get_job(name)
        for key, attr in fields.items():
            empty = {} if attr in {"default_arguments", "execution_property"} else None
            setattr(job, attr, update.get(key, empty))
        job.last_modified_on = utcnow()
        return ActionResult({"JobName": name})

    responses.GlueResponse.update_job = update_job


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    endpoint = f"http://{args.host}:{args.port}"
    os.environ["MOTO_PORT"] = str(args.port)
    _patch_glue(endpoint)
    aws_access.install()
    s3_streaming.install()

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
