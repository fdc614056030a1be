"""The local AWS refuses what AWS refuses, where the pipeline depends on it (helpers/local_cloud/
aws_access.py, iam_policy.py, aws_server.py): iam:PassRole on Glue CreateJob/UpdateJob, Glue and
CloudWatch Logs authorised on their resources' ARNs, Glue logs written with the job role's own
credentials, and (optionally) IAM's propagation delay.

Every principal here is an IAM user or role of this module's own, made through the local admin
(`admin_client`: in local mode `Settings.aws_client` signs as the operator) and deleted at the end;
the calls under test are signed with that principal's keys, under moto's IAM enforcement, exactly as
the pipeline's calls are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from helpers import glue_job, iam_policies
from helpers.local_cloud.launcher import PROJECT_ROOT, _free_port, _healthy
from helpers.local_cloud.bootstrap import admin_client
from helpers.settings import Settings

pytestmark = pytest.mark.integration

GLUE_TRUST = iam_policies.glue_trust_policy()
PASS_ROLE_DENIED = "User: {user} is not authorized to perform: iam:PassRole on resource: {role} because no identity-based policy allows the iam:PassRole action"
PASS_ROLE_EXPLICIT = "User: {user} is not authorized to perform: iam:PassRole on resource: {role} with an explicit deny in an identity-based policy"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class Principals:
    """IAM users and roles made for one test module, removed again in AWS's order."""

    def __init__(self, s: Settings):
        self.s, self.admin = s, admin_client(s, "iam")
        self.account = admin_client(s, "sts").get_caller_identity()["Account"]
        self.tag = uuid.uuid4().hex[:6]
        self.users: list[str] = []
        self.roles: list[str] = []

    def user(self, name: str, *statements: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """(arn, client credentials) of a new user whose one inline policy is `statements`."""
        name = f"strict-{self.tag}-{name}"
        arn = self.admin.create_user(UserName=name)["User"]["Arn"]
        self.users.append(name)
        self.admin.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=_doc(*statements))
        key = self.admin.create_access_key(UserName=name)["AccessKey"]
        return arn, {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def role(self, name: str, *statements: dict[str, Any], trust: dict[str, Any] = GLUE_TRUST) -> str:
        name = f"strict-{self.tag}-{name}"
        arn = self.admin.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        self.roles.append(name)
        if statements:
            self.admin.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_doc(*statements))
        return arn

    def job_arn(self, job: str) -> str:
        return f"arn:aws:glue:{self.s.aws_region}:{self.account}:job/{job}"

    def cleanup(self) -> None:
        for name in self.users:
            for k in self.admin.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                self.admin.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
            for p in self.admin.list_user_policies(UserName=name)["PolicyNames"]:
                self.admin.delete_user_policy(UserName=name, PolicyName=p)
            self.admin.delete_user(UserName=name)
        for name in self.roles:
            for p in self.admin.list_role_policies(RoleName=name)["PolicyNames"]:
                self.admin.delete_role_policy(RoleName=name, PolicyName=p)
            self.admin.delete_role(RoleName=name)


@pytest.fixture(scope="module")
def p(local_cloud) -> Iterator[Principals]:
    principals = Principals(Settings())
    try:
        yield principals
    finally:
        principals.cleanup()


def _definition(role_arn: str, script: str = "s3://nowhere/script.py") -> dict[str, Any]:
    return glue_job.job_definition(role_arn=role_arn, script_location=script, default_arguments={})


def _create(glue: Any, name: str, role_arn: str) -> None:
    glue.create_job(Name=name, **_definition(role_arn))


def _denied(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as denied:
        call(*args, **kwargs)
    return denied.value.response["Error"]


def _glue_user(p: Principals, name: str, job: str, *extra: dict[str, Any]) -> tuple[str, Any]:
    arn, creds = p.user(
        name,
        {
            "Effect": "Allow",
            "Action": ["glue:CreateJob", "glue:UpdateJob", "glue:GetJob", "glue:DeleteJob"],
            "Resource": p.job_arn(job),
        },
        *extra,
    )
    return arn, p.s.aws_client("glue", **creds)


def _pass_role(role_arn: str, condition: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": effect, "Action": "iam:PassRole", "Resource": role_arn}
    if condition:
        st["Condition"] = condition
    return st


def _job_exists(s: Settings, name: str) -> bool:
    try:
        admin_client(s, "glue").get_job(JobName=name)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "EntityNotFoundException", e.response["Error"]
        return False


# --- 1. iam:PassRole ----------------------------------------------------------------------------


def test_create_and_update_job_allowed_with_pass_role_to_glue(p):
    """A user may pass a role to Glue when its policy allows iam:PassRole on that role with
    iam:PassedToService glue.amazonaws.com.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    role = p.role("passable")
    job = f"strict-{p.tag}-pass-ok"
    _, glue = _glue_user(
        p, "passer", job, _pass_role(role, {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}})
    )
    _create(glue, job, role)
    glue.update_job(JobName=job, JobUpdate=_definition(role))
    assert glue.get_job(JobName=job)["Job"]["Role"] == role
    glue.delete_job(JobName=job)


def test_pass_role_with_string_like_on_the_service_is_honoured(p):
    """StringLike on iam:PassedToService (the form AWS's Glue troubleshooting examples use).
    https://docs.aws.amazon.com/glue/latest/dg/security_iam_troubleshoot.html"""
    role = p.role("passable-like")
    job = f"strict-{p.tag}-pass-like"
    _, glue = _glue_user(p, "passer-like", job, _pass_role(role, {"StringLike": {"iam:PassedToService": ["glue.*"]}}))
    _create(glue, job, role)
    glue.delete_job(JobName=job)


def test_create_job_without_pass_role_is_denied_as_glue_denies_it(p):
    """Glue refuses CreateJob with AccessDeniedException when the caller may not pass the role.
    https://docs.aws.amazon.com/glue/latest/dg/security_iam_troubleshoot.html
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html"""
    role = p.role("not-passable")
    job = f"strict-{p.tag}-no-pass"
    user, glue = _glue_user(p, "no-passer", job)
    error = _denied(_create, glue, job, role)
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == PASS_ROLE_DENIED.format(user=user, role=role)
    assert not _job_exists(p.s, job)


def test_update_job_without_pass_role_is_denied(p):
    """UpdateJob passes the role again: the same check.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    role = p.role("update-target")
    job = f"strict-{p.tag}-update"
    admin_client(p.s, "glue").create_job(Name=job, **_definition(role))  # the admin may
    user, glue = _glue_user(p, "updater", job)
    error = _denied(glue.update_job, JobName=job, JobUpdate=_definition(role))
    assert (error["Code"], error["Message"]) == ("AccessDeniedException", PASS_ROLE_DENIED.format(user=user, role=role))
    admin_client(p.s, "glue").delete_job(JobName=job)


def test_pass_role_to_another_service_does_not_let_glue_have_it(p):
    """iam:PassedToService names the service the role may go to; Glue is glue.amazonaws.com.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService"""
    role = p.role("ec2-only")
    job = f"strict-{p.tag}-ec2-only"
    user, glue = _glue_user(
        p, "ec2-passer", job, _pass_role(role, {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
    )
    error = _denied(_create, glue, job, role)
    assert (error["Code"], error["Message"]) == ("AccessDeniedException", PASS_ROLE_DENIED.format(user=user, role=role))


def test_pass_role_on_another_role_does_not_cover_this_one(p):
    """PassRole is authorised on the role's ARN.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    role, other = p.role("wanted"), p.role("other")
    job = f"strict-{p.tag}-other-role"
    user, glue = _glue_user(p, "other-passer", job, _pass_role(other))
    assert _denied(_create, glue, job, role)["Message"] == PASS_ROLE_DENIED.format(user=user, role=role)


def test_explicit_deny_of_pass_role_wins(p):
    """An explicit Deny overrides any Allow.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    role = p.role("denied")
    job = f"strict-{p.tag}-deny"
    user, glue = _glue_user(
        p,
        "denied-passer",
        job,
        _pass_role("*", {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}),
        _pass_role(role, effect="Deny"),
    )
    error = _denied(_create, glue, job, role)
    assert (error["Code"], error["Message"]) == (
        "AccessDeniedException",
        PASS_ROLE_EXPLICIT.format(user=user, role=role),
    )
    assert not _job_exists(p.s, job)


def test_an_assumed_role_session_is_checked_like_a_user(p):
    """The caller is the request's principal; for role credentials, the assumed-role session.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    role = p.role("passed-by-session")
    job = f"strict-{p.tag}-session"
    admin = admin_client(p.s, "sts").get_caller_identity()["Arn"]
    deployer = p.role(
        "deployer",
        {"Effect": "Allow", "Action": "glue:CreateJob", "Resource": p.job_arn(job)},
        trust={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "sts:AssumeRole"}],
        },
    )
    creds = admin_client(p.s, "sts").assume_role(RoleArn=deployer, RoleSessionName="ci")["Credentials"]
    glue = p.s.aws_client(
        "glue",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    session = f"arn:aws:sts::{p.account}:assumed-role/{deployer.split('/')[-1]}/ci"
    assert _denied(_create, glue, job, role)["Message"] == PASS_ROLE_DENIED.format(user=session, role=role)


def test_the_local_admin_may_pass_any_role(p):
    """Action * on * includes iam:PassRole."""
    role = p.role("admin-passes")
    job = f"strict-{p.tag}-admin"
    glue = admin_client(p.s, "glue")
    _create(glue, job, role)
    glue.delete_job(JobName=job)


# --- 2. Glue and Logs resource ARNs ----------------------------------------------------------------


def test_a_glue_policy_scoped_to_one_job_is_denied_on_another(p):
    """Glue job actions are authorised on arn:aws:glue:<region>:<account>:job/<name>.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsglue.html"""
    role = p.role("scoped-jobs")
    job_a, job_b = f"strict-{p.tag}-job-a", f"strict-{p.tag}-job-b"
    admin_glue = admin_client(p.s, "glue")
    for job in (job_a, job_b):
        admin_glue.create_job(Name=job, **_definition(role))
    user, creds = p.user(
        "job-a-reader", {"Effect": "Allow", "Action": ["glue:GetJob", "glue:GetJobRuns"], "Resource": p.job_arn(job_a)}
    )
    glue = p.s.aws_client("glue", **creds)
    assert glue.get_job(JobName=job_a)["Job"]["Name"] == job_a
    glue.get_job_runs(JobName=job_a)
    error = _denied(glue.get_job, JobName=job_b)
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: {user} is not authorized to perform: glue:GetJob on resource: {p.job_arn(job_b)} "
        "because no identity-based policy allows the glue:GetJob action"
    )
    assert _denied(glue.get_job_runs, JobName=job_b)["Code"] == "AccessDeniedException"
    for job in (job_a, job_b):
        admin_glue.delete_job(JobName=job)


def test_a_logs_policy_scoped_to_one_group_is_denied_on_another(p):
    """CloudWatch Logs actions are authorised on the log group's / log stream's ARN.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html"""
    region = p.s.aws_region
    mine, theirs = f"/strict/{p.tag}/mine", f"/strict/{p.tag}/theirs"
    group_arn = f"arn:aws:logs:{region}:{p.account}:log-group:{mine}"
    user, creds = p.user(
        "log-writer",
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:GetLogEvents"],
            "Resource": [f"{group_arn}:*", f"{group_arn}:log-stream:*"],
        },
    )
    logs = p.s.aws_client("logs", **creds)
    admin_logs = admin_client(p.s, "logs")
    logs.create_log_group(logGroupName=mine)
    logs.create_log_stream(logGroupName=mine, logStreamName="s")
    logs.put_log_events(
        logGroupName=mine, logStreamName="s", logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}]
    )
    assert [e["message"] for e in logs.get_log_events(logGroupName=mine, logStreamName="s")["events"]] == ["x"]

    error = _denied(logs.create_log_group, logGroupName=theirs)
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].startswith(
        f"User: {user} is not authorized to perform: logs:CreateLogGroup on resource: "
        f"arn:aws:logs:{region}:{p.account}:log-group:{theirs}"
    )
    admin_logs.create_log_group(logGroupName=theirs)
    admin_logs.create_log_stream(logGroupName=theirs, logStreamName="s")
    assert _denied(logs.create_log_stream, logGroupName=theirs, logStreamName="t")["Code"] == "AccessDeniedException"
    error = _denied(
        logs.put_log_events,
        logGroupName=theirs,
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}],
    )
    assert error["Message"].startswith(
        f"User: {user} is not authorized to perform: logs:PutLogEvents on resource: "
        f"arn:aws:logs:{region}:{p.account}:log-group:{theirs}:log-stream:s "
    )
    assert _denied(logs.get_log_events, logGroupName=theirs, logStreamName="s")["Code"] == "AccessDeniedException"
    for group in (mine, theirs):
        admin_logs.delete_log_group(logGroupName=group)


def test_the_pipeline_glue_log_statement_allows_its_groups_only(p):
    """helpers/iam_policies.py's WriteOwnLogs statement (log-group:/aws-glue/python-jobs/*) is evaluated on
    the real ARNs: the Glue groups pass, any other group is denied.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html"""
    names = iam_policies.Names("b", "data/", "scripts/", "quarantine/", p.s.aws_region, p.account)
    statement = next(st for st in iam_policies.glue_role_policy(names)["Statement"] if st["Sid"] == "WriteOwnLogs")
    _, creds = p.user("pipeline-logs", statement)
    logs, admin_logs = p.s.aws_client("logs", **creds), admin_client(p.s, "logs")
    stream, other = f"strict-{p.tag}", f"/strict/{p.tag}/other"
    try:
        logs.create_log_group(logGroupName=glue_job.OUTPUT_LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass  # authorised, and there already
    logs.create_log_stream(logGroupName=glue_job.OUTPUT_LOG_GROUP, logStreamName=stream)
    logs.put_log_events(
        logGroupName=glue_job.OUTPUT_LOG_GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}],
    )
    admin_logs.delete_log_stream(logGroupName=glue_job.OUTPUT_LOG_GROUP, logStreamName=stream)
    assert _denied(logs.create_log_group, logGroupName=other)["Code"] == "AccessDeniedException"
    admin_logs.create_log_group(logGroupName=other)
    assert _denied(logs.create_log_stream, logGroupName=other, logStreamName=stream)["Code"] == "AccessDeniedException"
    admin_logs.delete_log_group(logGroupName=other)


# --- 3. Glue writes its logs with the job role's credentials ----------------------------------------

HELLO = "print('hello from the job')\nimport sys\nprint('a warning', file=sys.stderr)\n"


def _run_hello_job(p: Principals, role_name: str, *statements: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket = f"strict-{p.tag}-scripts"
    s3 = admin_client(p.s, "s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=bucket, Key="hello.py", Body=HELLO.encode())
    read_script = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/hello.py"}
    role = p.role(role_name, read_script, *statements)
    glue = admin_client(p.s, "glue")
    job = f"strict-{p.tag}-{role_name}"
    glue.create_job(Name=job, **_definition(role, f"s3://{bucket}/hello.py"))
    run_id = glue_job.start_run(glue, job, {})
    run = glue_job.wait_for_run(glue, job, run_id, timeout_s=60)
    glue.delete_job(JobName=job)
    return run_id, run


def _stream_exists(p: Principals, group: str, stream: str) -> bool:
    try:
        admin_client(p.s, "logs").get_log_events(logGroupName=group, logStreamName=stream)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response["Error"]
        return False


def test_a_job_whose_role_may_not_write_logs_has_no_logs(p):
    """Glue writes a run's logs with the job role's credentials: a role without logs permissions
    gets no log streams; the run's own outcome stands (the script ran).
    https://docs.aws.amazon.com/glue/latest/dg/create-service-policy.html (the role needs logs:* on
    /aws-glue/*). The run's output and the denial are in the local server's log (aws.log)."""
    run_id, run = _run_hello_job(p, "no-logs")
    assert run["JobRunState"] == "SUCCEEDED", run
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        assert not _stream_exists(p, group, run_id)
    server_log = Path(json.loads((p.s.state_dir / "aws.pid").read_text())["log"]).read_text()
    assert (
        f"glue run {run_id}: its role could not write {glue_job.OUTPUT_LOG_GROUP}/{run_id}: AccessDeniedException"
        in server_log
    )
    assert f"glue run {run_id} {glue_job.OUTPUT_LOG_GROUP}: hello from the job" in server_log


def test_a_job_with_the_pipelines_log_statement_writes_its_logs(p):
    """The pipeline's own role policy (helpers/iam_policies.py glue_role_policy, WriteOwnLogs) is enough.
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html"""
    names = iam_policies.Names("b", "data/", "scripts/", "quarantine/", p.s.aws_region, p.account)
    statement = next(st for st in iam_policies.glue_role_policy(names)["Statement"] if st["Sid"] == "WriteOwnLogs")
    run_id, run = _run_hello_job(p, "with-logs", statement)
    assert run["JobRunState"] == "SUCCEEDED", run
    logs = admin_client(p.s, "logs")
    assert glue_job.read_log(logs, glue_job.OUTPUT_LOG_GROUP, run_id) == ["hello from the job"]
    assert glue_job.read_log(logs, glue_job.ERROR_LOG_GROUP, run_id) == ["a warning"]


# --- 4. IAM eventual consistency (a moto server of its own, delay on) ------------------------------

DELAY = 3


@pytest.fixture(scope="module")
def delayed_aws(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A second local AWS with PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS=3, an admin, enforcement on."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("delayed-aws") / "aws.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "helpers.local_cloud.aws_server", "--port", str(port)],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS": str(DELAY)},
    )
    try:
        deadline = time.time() + 30
        while not _healthy("aws", url):
            assert proc.poll() is None and time.time() < deadline, "the delayed local AWS did not start"
            time.sleep(0.1)
        boot = boto3.client(
            "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        admin_arn = boot.create_user(UserName="admin")["User"]["Arn"]
        boot.put_user_policy(
            UserName="admin", PolicyName="a", PolicyDocument=_doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
        )
        key = boot.create_access_key(UserName="admin")["AccessKey"]
        urllib.request.urlopen(
            urllib.request.Request(
                url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
            ),
            timeout=5,
        ).read()  # noqa: S310

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            )

        yield {"client": client, "admin_arn": admin_arn}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.time()) + 0.2)


def test_a_new_role_cannot_be_assumed_until_it_has_propagated(delayed_aws):
    """IAM is eventually consistent: a new role may be refused for a while.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency"""
    iam_c, sts = delayed_aws["client"]("iam"), delayed_aws["client"]("sts")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": delayed_aws["admin_arn"]}, "Action": "sts:AssumeRole"}],
    }
    created = time.time()
    role = iam_c.create_role(RoleName="fresh", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    error = _denied(sts.assume_role, RoleArn=role, RoleSessionName="early")
    assert error["Code"] == "AccessDenied"
    assert (
        error["Message"]
        == f"User: {delayed_aws['admin_arn']} is not authorized to perform: sts:AssumeRole on resource: {role}"
    )
    _wait_until(created + DELAY)
    assert sts.assume_role(RoleArn=role, RoleSessionName="late")["Credentials"]["AccessKeyId"]

    updated = time.time()
    iam_c.update_assume_role_policy(RoleName="fresh", PolicyDocument=json.dumps(trust))
    assert _denied(sts.assume_role, RoleArn=role, RoleSessionName="after-update")["Code"] == "AccessDenied"
    _wait_until(updated + DELAY)
    sts.assume_role(RoleArn=role, RoleSessionName="after-update-late")


def test_a_glue_run_with_a_role_not_yet_propagated_fails_as_glue_reports_it(delayed_aws):
    """Glue cannot assume a role IAM has not propagated yet; the run fails with Glue's
    "Service is unable to assume role ... Please verify role's TrustPolicy".
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency"""
    client = delayed_aws["client"]
    s3, iam_c, glue = client("s3"), client("iam"), client("glue")
    s3.create_bucket(Bucket="delayed-scripts")
    s3.put_object(Bucket="delayed-scripts", Key="hello.py", Body=HELLO.encode())
    created = time.time()
    role = iam_c.create_role(RoleName="glue-fresh", AssumeRolePolicyDocument=json.dumps(GLUE_TRUST))["Role"]["Arn"]
    iam_c.put_role_policy(
        RoleName="glue-fresh",
        PolicyName="p",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::delayed-scripts/*"}
        ),
    )
    glue.create_job(Name="early", **_definition(role, "s3://delayed-scripts/hello.py"))
    run_id = glue.start_job_run(JobName="early")["JobRunId"]  # StartJobRun itself is accepted
    run = glue_job.wait_for_run(glue, "early", run_id, timeout_s=30)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == f"Service is unable to assume role {role}. Please verify role's TrustPolicy"
    _wait_until(created + DELAY)
    run_id = glue.start_job_run(JobName="early")["JobRunId"]
    assert glue_job.wait_for_run(glue, "early", run_id, timeout_s=30)["JobRunState"] == "SUCCEEDED"


# --- 5. big objects: ranged GETs and multipart uploads without whole-object copies -------------------


def _server_pid(s: Settings) -> int:
    return json.loads((s.state_dir / "aws.pid").read_text())["pid"]


def _peak_kb(pid: int) -> int:
    return next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM"))


@pytest.fixture(scope="module")
def big_object(p) -> Iterator[dict[str, Any]]:
    """A 3-part multipart object (5 MiB, 5 MiB, 2 MiB) of known bytes."""
    s3 = admin_client(p.s, "s3")
    bucket = f"strict-{p.tag}-big"
    s3.create_bucket(Bucket=bucket)
    parts = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(2 << 20)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload, PartNumber=i + 1, Body=b)["ETag"]
        for i, b in enumerate(parts)
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    try:
        yield {"s3": s3, "bucket": bucket, "data": b"".join(parts), "etags": etags, "etag": done["ETag"]}
    finally:
        for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=bucket)


def test_a_completed_multipart_upload_is_the_parts_in_order_with_s3s_etag(big_object):
    """The object is the parts concatenated; its ETag is the MD5 of the parts' MD5s, "-<count>".
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html"""
    import hashlib

    b = big_object
    body = b["s3"].get_object(Bucket=b["bucket"], Key="big.bin")["Body"].read()
    assert body == b["data"]
    md5s = b"".join(bytes.fromhex(e.strip('"')) for e in b["etags"])
    assert b["etag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'  # noqa: S324 - S3's ETag algorithm


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-0", 0, 0),
        ("bytes=5242870-5242890", 5242870, 5242890),
        ("bytes=-100", None, None),
        ("bytes=12582000-", 12582000, None),
    ],
)
def test_ranged_gets_return_exactly_the_range(big_object, header, start, end):
    """Range GETs (https://www.rfc-editor.org/rfc/rfc9110#name-range, as S3 serves them:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax)."""
    b, data = big_object, big_object["data"]
    expected = data[-100:] if start is None else data[start : (end + 1) if end is not None else None]
    got = b["s3"].get_object(Bucket=b["bucket"], Key="big.bin", Range=header)
    assert got["Body"].read() == expected
    assert got["ContentLength"] == len(expected)
    first = len(data) - 100 if start is None else start
    assert got["ContentRange"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"


def test_a_range_past_the_end_is_refused(big_object):
    """S3 answers an unsatisfiable range with 416 InvalidRange.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html"""
    b = big_object
    assert (
        _denied(b["s3"].get_object, Bucket=b["bucket"], Key="big.bin", Range=f"bytes={len(b['data'])}-")["Code"]
        == "InvalidRange"
    )


def test_ranged_gets_do_not_load_the_whole_object(p, big_object):
    """moto reads (and copies) the whole object for every ranged GET; the local AWS reads the range.
    Twenty 64 KiB ranges of a 12 MiB object must not raise the server's peak RSS by the object's size."""
    b, pid = big_object, _server_pid(p.s)
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS to the current RSS
    before = _peak_kb(pid)
    for i in range(20):
        off = i * 600_000
        assert (
            b["s3"].get_object(Bucket=b["bucket"], Key="big.bin", Range=f"bytes={off}-{off + 65535}")["Body"].read()
            == b["data"][off : off + 65536]
        )
    assert _peak_kb(pid) - before < 6 * 1024, "a ranged GET materialised the whole object"


def test_a_get_without_range_streams_the_whole_object(p, big_object):
    """A GET without Range returns the whole object, 200 with its Content-Length and ETag
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). moto builds the body as one bytes
    value; the local AWS sends the object's file in 1 MiB blocks, so the server's peak RSS must not rise
    by the object's 12 MiB while the client reads it slowly."""
    b, pid = big_object, _server_pid(p.s)
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    before = _peak_kb(pid)
    got = b["s3"].get_object(Bucket=b["bucket"], Key="big.bin")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["ContentLength"] == len(b["data"]) and got["ETag"] == b["etag"]
    assert "ContentRange" not in got
    body = b"".join(iter(lambda: got["Body"].read(256 * 1024), b""))
    assert body == b["data"]
    assert _peak_kb(pid) - before < 6 * 1024, "a GET materialised the whole object"


def test_a_download_in_progress_keeps_the_bytes_it_started_with(big_object):
    """Overwriting, then deleting, the object while a GET of it is being read does not cut or mix that
    download: the client gets exactly the bytes of the object it asked for (moto closes the old object's
    file on overwrite; the streamed body reads its own handle on it)."""
    b = big_object
    s3, bucket = b["s3"], b["bucket"]
    s3.put_object(Bucket=bucket, Key="moving.bin", Body=b["data"])
    got = s3.get_object(Bucket=bucket, Key="moving.bin")
    head = got["Body"].read(1 << 20)
    s3.put_object(Bucket=bucket, Key="moving.bin", Body=b"new bytes" * (1 << 20))
    s3.delete_object(Bucket=bucket, Key="moving.bin")
    assert head + got["Body"].read() == b["data"]


def test_a_ranged_get_of_an_older_version_reads_that_version(big_object):
    """GetObject with versionId returns that version; Range applies to it
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "versionId", "Range")."""
    b = big_object
    s3 = b["s3"]
    bucket = f"{b['bucket']}-v"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    try:
        old = s3.put_object(Bucket=bucket, Key="v.bin", Body=b["data"])["VersionId"]
        new_data = os.urandom(7 << 20)
        new = s3.put_object(Bucket=bucket, Key="v.bin", Body=new_data)["VersionId"]
        for version, data in ((old, b["data"]), (new, new_data)):
            got = s3.get_object(Bucket=bucket, Key="v.bin", VersionId=version, Range="bytes=6000000-6000099")
            assert got["Body"].read() == data[6_000_000:6_000_100] and got["VersionId"] == version
            assert got["ContentRange"] == f"bytes 6000000-6000099/{len(data)}"
            whole = s3.get_object(Bucket=bucket, Key="v.bin", VersionId=version)
            assert whole["Body"].read() == data and whole["ContentLength"] == len(data)
        assert s3.get_object(Bucket=bucket, Key="v.bin")["VersionId"] == new
    finally:
        for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=99999999-"])
def test_unsatisfiable_ranges_are_416_invalid_range(big_object, header):
    """A range that starts past the object's end, or an empty suffix, is unsatisfiable: S3 answers
    416 InvalidRange (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html;
    https://www.rfc-editor.org/rfc/rfc9110#name-416-range-not-satisfiable)."""
    b = big_object
    with pytest.raises(ClientError) as refused:
        b["s3"].get_object(Bucket=b["bucket"], Key="big.bin", Range=header)
    assert refused.value.response["Error"]["Code"] == "InvalidRange"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_a_parts_list_out_of_order_is_refused(big_object):
    """CompleteMultipartUpload: "InvalidPartOrder - The list of parts was not in ascending order"
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html); moto completes it."""
    s3, bucket = big_object["s3"], big_object["bucket"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="order.bin")["UploadId"]
    try:
        etags = [
            s3.upload_part(Bucket=bucket, Key="order.bin", UploadId=upload, PartNumber=n, Body=os.urandom(5 << 20))[
                "ETag"
            ]
            for n in (1, 2)
        ]
        parts = [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}]
        error = _denied(
            s3.complete_multipart_upload,
            Bucket=bucket,
            Key="order.bin",
            UploadId=upload,
            MultipartUpload={"Parts": parts},
        )
        assert error["Code"] == "InvalidPartOrder"
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="order.bin", UploadId=upload)


def test_a_multi_range_get_is_answered_with_the_whole_object(big_object):
    """ "Amazon S3 doesn't support retrieving multiple ranges of data per GET request"
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Range"): moto then answers 200
    with the whole object, and so does the local AWS (streamed)."""
    b = big_object
    got = b["s3"].get_object(Bucket=b["bucket"], Key="big.bin", Range="bytes=0-1,5-6")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == b["data"] and got["ContentLength"] == len(b["data"])
