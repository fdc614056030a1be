"""In local mode the pipeline runs as the `operator` IAM user, which holds exactly
`helpers.iam_operator.operator_policy` for the settings' names (helpers/local_cloud/bootstrap.py); the local
admin's keys only bootstrap the local cloud (and serve tests, through `admin_client`).

A dev run, a prod run and a teardown succeed as the operator: tests/integration/test_pipeline.py and
test_teardown.py record the key that signed each of their AWS requests. Here: who the default
settings are, what the operator holds, what it is denied, and that the bootstrap is idempotent.

Every denial is checked twice: as the operator it must be refused, and the very same call signed by
the local admin (Action * on Resource *, i.e. the operator policy widened to "*") must succeed, so a
refusal here can only come from the operator policy, never from a missing resource or a bad request.
"""

from __future__ import annotations

import contextlib
import json
import stat
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from helpers import glue_job, iam_policies
from helpers.local_cloud.bootstrap import (
    OPERATOR_KEY_FILE,
    OPERATOR_POLICY,
    OPERATOR_USER,
    admin_client,
    operator_policy_for,
)
from helpers.local_cloud.iam_policy import Decision, evaluate
from helpers.local_cloud.launcher import ADMIN_POLICY, LocalCloud
from helpers.settings import Settings

pytestmark = pytest.mark.integration

DENIED = {"AccessDenied", "AccessDeniedException"}  # S3 and IAM / Glue


def _account(s: Settings) -> str:
    return admin_client(s, "sts").get_caller_identity()["Account"]


def _attached(s: Settings) -> list[str]:
    users = admin_client(s, "iam").list_attached_user_policies(UserName=OPERATOR_USER)["AttachedPolicies"]
    return [p["PolicyArn"] for p in users]


def _default_document(s: Settings, policy_arn: str) -> dict[str, Any]:
    admin = admin_client(s, "iam")
    version = admin.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = admin.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


# --- who the default settings are -----------------------------------------------------------------


def test_after_local_up_the_default_settings_sign_as_the_operator(settings):
    """GetCallerIdentity names the IAM user whose key signed the request
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""
    account = _account(settings)
    identity = settings.aws_client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{account}:user/{OPERATOR_USER}"
    admin = admin_client(settings, "sts").get_caller_identity()["Arn"]
    assert admin != identity["Arn"] and admin.endswith("user/local-admin")  # the admin is someone else


def test_the_connection_file_holds_the_operators_key_next_to_the_admins(settings):
    aws = json.loads((settings.state_dir / "cloud.json").read_text())["aws"]
    assert aws["operator"]["access_key_id"] != aws["admin"]["access_key_id"]
    assert aws["operator"] == json.loads((settings.state_dir / OPERATOR_KEY_FILE).read_text())
    assert oct(stat.S_IMODE((settings.state_dir / OPERATOR_KEY_FILE).stat().st_mode)) == "0o600"


def test_the_operator_holds_exactly_the_operator_policy_for_the_settings_names(settings):
    admin = admin_client(settings, "iam")
    policy_arn = f"arn:aws:iam::{_account(settings)}:policy/{OPERATOR_POLICY}"
    assert _attached(settings) == [policy_arn]
    assert admin.list_user_policies(UserName=OPERATOR_USER)["PolicyNames"] == []  # nothing inline
    assert admin.list_groups_for_user(UserName=OPERATOR_USER)["Groups"] == []
    assert _default_document(settings, policy_arn) == operator_policy_for(settings, _account(settings))
    keys = admin.list_access_keys(UserName=OPERATOR_USER)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [settings.local_cloud["aws"]["operator"]["access_key_id"]]


# --- what the operator is denied ------------------------------------------------------------------


@pytest.fixture(scope="module")
def foreign(local_cloud) -> Iterator[dict[str, str]]:
    """Someone else's bucket (with an object), role and Glue job, made by the admin, plus names of
    things that do not exist yet. Everything here is removed again at the end (the admin's probes
    below create some of them)."""
    s = Settings()
    tag = uuid.uuid4().hex[:6]
    names = {
        "bucket": f"op-foreign-{tag}",
        "new bucket": f"op-foreign-{tag}-new",
        "role": f"op-foreign-{tag}-role",
        "new role": f"op-foreign-{tag}-new-role",
        "job": f"op-foreign-{tag}-job",
        "new job": f"op-foreign-{tag}-new-job",
    }
    s3, admin_iam, glue = (admin_client(s, x) for x in ("s3", "iam", "glue"))
    s3.create_bucket(Bucket=names["bucket"])
    s3.put_object(Bucket=names["bucket"], Key="theirs.txt", Body=b"not the pipeline's")
    names["role arn"] = admin_iam.create_role(
        RoleName=names["role"], AssumeRolePolicyDocument=json.dumps(iam_policies.glue_trust_policy())
    )["Role"]["Arn"]
    glue.create_job(
        Name=names["job"],
        **glue_job.job_definition(
            role_arn=names["role arn"], script_location=f"s3://{names['bucket']}/x.py", default_arguments={}
        ),
    )
    try:
        yield names
    finally:
        for bucket in (names["bucket"], names["new bucket"]):
            try:
                for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
                    s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
                s3.delete_bucket(Bucket=bucket)
            except s3.exceptions.NoSuchBucket:
                pass
        for role in (names["role"], names["new role"]):
            try:
                for p in admin_iam.list_role_policies(RoleName=role)["PolicyNames"]:
                    admin_iam.delete_role_policy(RoleName=role, PolicyName=p)
                admin_iam.delete_role(RoleName=role)
            except admin_iam.exceptions.NoSuchEntityException:
                pass
        for job in (names["job"], names["new job"]):
            glue.delete_job(JobName=job)  # answers 200 for a missing job


ESCALATE = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _probes(clients: Callable[[str], Any], names: dict[str, str], s: Settings) -> dict[str, Callable[[], Any]]:
    """Calls on what is not the pipeline's, signed by whoever `clients(service)` signs as."""
    s3, iam_client, glue = clients("s3"), clients("iam"), clients("glue")
    glue_role = f"arn:aws:iam::{_account(s)}:role/{s.glue_role_name}"
    return {
        # another bucket
        "create another bucket": lambda: s3.create_bucket(Bucket=names["new bucket"]),
        "list another bucket": lambda: s3.list_objects_v2(Bucket=names["bucket"]),
        "read another bucket": lambda: s3.get_object(Bucket=names["bucket"], Key="theirs.txt"),
        "write another bucket": lambda: s3.put_object(Bucket=names["bucket"], Key="ours.txt", Body=b"x"),
        # another role
        "iam:CreateRole on another name": lambda: iam_client.create_role(
            RoleName=names["new role"], AssumeRolePolicyDocument=json.dumps(iam_policies.glue_trust_policy())
        ),
        "read another role": lambda: iam_client.get_role(RoleName=names["role"]),
        "widen another role": lambda: iam_client.put_role_policy(
            RoleName=names["role"], PolicyName="escalate", PolicyDocument=ESCALATE
        ),
        "widen its own user": lambda: iam_client.put_user_policy(
            UserName=OPERATOR_USER, PolicyName="escalate", PolicyDocument=ESCALATE
        ),
        # another Glue job (created with the pipeline's own Glue role, which it may pass to Glue)
        "create another Glue job": lambda: glue.create_job(
            Name=names["new job"],
            **glue_job.job_definition(
                role_arn=glue_role, script_location=f"s3://{names['bucket']}/x.py", default_arguments={}
            ),
        ),
        "read another Glue job": lambda: glue.get_job(JobName=names["job"]),
        "read another Glue job's runs": lambda: glue.get_job_runs(JobName=names["job"]),
    }


PROBES = [
    "create another bucket",
    "list another bucket",
    "read another bucket",
    "write another bucket",
    "iam:CreateRole on another name",
    "read another role",
    "widen another role",
    "widen its own user",
    "create another Glue job",
    "read another Glue job",
    "read another Glue job's runs",
]


@pytest.mark.parametrize("probe", PROBES)
def test_the_operator_is_denied(settings, foreign, probe):
    """Anything outside the pipeline's named resources is implicitly denied: no identity policy of
    the operator allows it (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html),
    evaluated on the resource ARNs of the Service Authorization Reference
    (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html)."""
    probes = _probes(settings.aws_client, foreign, settings)
    assert list(probes) == PROBES
    with pytest.raises(ClientError) as refused:
        probes[probe]()
    assert refused.value.response["Error"]["Code"] in DENIED, refused.value.response["Error"]


@pytest.mark.parametrize("probe", PROBES)
def test_the_same_call_succeeds_for_action_star(settings, foreign, probe):
    """The guard of the test above: signed by a principal allowed Action * on Resource * (the local
    admin), each call goes through, so the operator's refusal is its policy's doing."""
    try:
        _probes(lambda service: admin_client(settings, service), foreign, settings)[probe]()
    finally:
        if probe == "widen its own user":  # at once: the tests after this one need the operator as it was
            with contextlib.suppress(ClientError):
                admin_client(settings, "iam").delete_user_policy(UserName=OPERATOR_USER, PolicyName="escalate")


def _operator_documents(s: Settings) -> list[Any]:
    """The operator's policies as deployed: every attached managed policy's default version and
    every inline policy (the documents the local AWS evaluates its requests against)."""
    admin = admin_client(s, "iam")
    docs = [_default_document(s, arn) for arn in _attached(s)]
    for name in admin.list_user_policies(UserName=OPERATOR_USER)["PolicyNames"]:
        docs.append(admin.get_user_policy(UserName=OPERATOR_USER, PolicyName=name)["PolicyDocument"])
    return docs


@pytest.mark.parametrize("service", ["lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com"])
def test_the_operator_may_pass_the_glue_role_to_glue_only(settings, service):
    """iam:PassRole is evaluated with the iam:PassedToService context key of the service the role
    is handed to (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService).
    The local AWS checks PassRole only where the pipeline passes a role (Glue CreateJob/UpdateJob),
    so the handing to another service is decided here by the local AWS's own evaluator
    (helpers/local_cloud/iam_policy.py) over the operator's policies as IAM holds them - and by the
    same evaluator over Action * (the guard), which allows it."""
    glue_role = f"arn:aws:iam::{_account(settings)}:role/{settings.glue_role_name}"
    docs = _operator_documents(settings)
    assert evaluate(docs, "iam:PassRole", glue_role, {"iam:PassedToService": ["glue.amazonaws.com"]}) == Decision.ALLOW
    assert evaluate(docs, "iam:PassRole", glue_role, {"iam:PassedToService": [service]}) == Decision.IMPLICIT_DENY
    assert evaluate([ADMIN_POLICY], "iam:PassRole", glue_role, {"iam:PassedToService": [service]}) == Decision.ALLOW


def test_the_operator_may_not_pass_another_role_to_its_own_glue_job(settings, foreign):
    """CreateJob on the pipeline's own job is allowed; passing it a role other than the Glue role is
    not (iam:PassRole on that role's ARN). Checked by the local AWS on the real request."""
    glue = settings.aws_client("glue")
    definition = glue_job.job_definition(
        role_arn=foreign["role arn"], script_location=f"s3://{settings.bucket}/scripts/x.py", default_arguments={}
    )
    try:
        with pytest.raises(ClientError) as refused:
            glue.create_job(Name=settings.glue_job_name, **definition)
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDeniedException"
        assert f"iam:PassRole on resource: {foreign['role arn']}" in error["Message"]
    finally:  # had it been allowed: never leave the pipeline's job with someone else's role
        admin_glue = admin_client(settings, "glue")
        with contextlib.suppress(ClientError):
            if admin_glue.get_job(JobName=settings.glue_job_name)["Job"]["Role"] == foreign["role arn"]:
                admin_glue.delete_job(JobName=settings.glue_job_name)


# --- the bootstrap is idempotent ------------------------------------------------------------------


def _operator_state(s: Settings) -> dict[str, Any]:
    admin = admin_client(s, "iam")
    policy_arn = f"arn:aws:iam::{_account(s)}:policy/{OPERATOR_POLICY}"
    users = [u["UserName"] for page in admin.get_paginator("list_users").paginate() for u in page["Users"]]
    return {
        "operator users": users.count(OPERATOR_USER),
        "keys": [k["AccessKeyId"] for k in admin.list_access_keys(UserName=OPERATOR_USER)["AccessKeyMetadata"]],
        "attached": _attached(s),
        "inline": admin.list_user_policies(UserName=OPERATOR_USER)["PolicyNames"],
        "document": _default_document(s, policy_arn),
        "recorded key": json.loads((s.state_dir / "cloud.json").read_text())["aws"]["operator"]["access_key_id"],
    }


def test_a_second_up_leaves_one_operator_with_one_key_and_the_current_policy(local_cloud):
    s = Settings()
    before = _operator_state(s)
    LocalCloud(Settings()).up()  # against the running cloud
    after = _operator_state(Settings())
    assert after == before
    assert after["operator users"] == 1 and after["keys"] == [after["recorded key"]]
    assert Settings().aws_client("sts").get_caller_identity()["Arn"].endswith(f"user/{OPERATOR_USER}")


def test_up_with_other_names_reapplies_the_policy_and_keeps_the_key(local_cloud):
    """The settings name the bucket, roles and job: `up` under other names gives the operator the
    operator policy for those, and takes the old names away; the key stays the same."""
    default = Settings()
    before = _operator_state(default)
    other = Settings(bucket=f"op-renamed-{uuid.uuid4().hex[:6]}", glue_job_name="op-renamed-ingest")
    try:
        LocalCloud(other).up()
        renamed = _operator_state(other)
        assert renamed["document"] == operator_policy_for(other, _account(other)) != before["document"]
        assert renamed["keys"] == before["keys"] and renamed["attached"] == before["attached"]
        s3 = Settings().aws_client("s3")
        with pytest.raises(ClientError) as refused:  # the default bucket's name is not granted any more
            s3.list_objects_v2(Bucket=default.bucket)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        LocalCloud(default).up()
    assert _operator_state(default) == before
