"""Teardown removes everything the pipeline created, in AWS's order, and nothing else; it proves it
by listing the services directly; it is idempotent; it works after a full, a partial and a crashed
run.

moto is more lenient than AWS where order matters (it deletes an attached policy, a policy with
several versions, a user with access keys), so every teardown here runs under `AwsRules`: a wrapper
of the boto3 clients that refuses those calls exactly as AWS does (DeleteConflict), checking the
emulator's real state first. A wrong order therefore fails these tests even though moto would
accept it. The full-run test runs after test_pipeline.py (alphabetical order); the others use names
of their own, which the local operator is granted for the test (tests/integration/operators.py).
Every teardown runs as the operator; someone else's things, and what is left, are made and read
with the local admin (`admin_client`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from helpers import glue_job, iam, iam_policies, warehouse
from helpers import teardown as td
from helpers.pipeline import Pipeline
from helpers.local_cloud.bootstrap import admin_client
from helpers.settings import Settings
from tests.integration.operators import operating, signing_keys

pytestmark = pytest.mark.integration


# --- AWS's rules, enforced around the emulator ----------------------------------------------------


def _conflict(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "DeleteConflict", "Message": message}}, operation)


class _Guarded:
    """A boto3 client whose deletions are first checked against AWS's preconditions."""

    def __init__(self, client: Any, admin: Any, service: str, rules: AwsRules):
        self._client, self._admin, self._service, self._rules = client, admin, service, rules

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name in {"exceptions", "meta", "get_paginator", "can_paginate"} or not callable(attr):
            return attr

        def call(**kwargs: Any) -> Any:
            self._rules.check(self._service, name, kwargs, self._admin)
            self._rules.calls.append((self._service, name, kwargs))
            return attr(**kwargs)

        return call


class AwsRules:
    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        original = Settings.aws_client
        rules = self

        def aws_client(settings: Settings, service: str, **credentials: Any) -> Any:
            return _Guarded(original(settings, service, **credentials), admin_client(settings, service), service, rules)

        monkeypatch.setattr(Settings, "aws_client", aws_client)

    @staticmethod
    def check(service: str, operation: str, kw: dict[str, Any], admin: Any) -> None:
        if service == "iam" and operation == "delete_policy":
            try:
                entities = admin.list_entities_for_policy(PolicyArn=kw["PolicyArn"])
                versions = admin.list_policy_versions(PolicyArn=kw["PolicyArn"])["Versions"]
                admin.get_policy(PolicyArn=kw["PolicyArn"])
            except admin.exceptions.NoSuchEntityException:
                return
            if entities["PolicyRoles"] or entities["PolicyUsers"] or entities["PolicyGroups"]:
                raise _conflict("DeletePolicy", "Cannot delete a policy attached to entities.")
            if len(versions) > 1:
                raise _conflict(
                    "DeletePolicy",
                    "This policy has more than one version. Before you delete a "
                    "policy, you must delete the policy's versions.",
                )
        if service == "iam" and operation == "delete_role":
            role = kw["RoleName"]
            try:
                attached = admin.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
                inline = admin.list_role_policies(RoleName=role)["PolicyNames"]
                profiles = admin.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
            except admin.exceptions.NoSuchEntityException:
                return
            if attached or inline or profiles:
                raise _conflict("DeleteRole", "Cannot delete entity, must detach all policies first.")
        if service == "iam" and operation == "delete_user":
            user = kw["UserName"]
            try:
                keys = admin.list_access_keys(UserName=user)["AccessKeyMetadata"]
                attached = admin.list_attached_user_policies(UserName=user)["AttachedPolicies"]
                inline = admin.list_user_policies(UserName=user)["PolicyNames"]
            except admin.exceptions.NoSuchEntityException:
                return
            if keys or attached or inline:
                raise _conflict("DeleteUser", "Cannot delete entity, must delete access keys and policies first.")
        if service == "s3" and operation == "delete_bucket":
            try:
                listing = admin.list_object_versions(Bucket=kw["Bucket"], MaxKeys=1)
                uploads = admin.list_multipart_uploads(Bucket=kw["Bucket"]).get("Uploads", [])
            except ClientError:
                return
            if listing.get("Versions") or listing.get("DeleteMarkers") or uploads:
                raise ClientError(
                    {
                        "Error": {
                            "Code": "BucketNotEmpty",
                            "Message": "The bucket you tried to delete "
                            "is not empty. You must delete all versions in the bucket.",
                        }
                    },
                    "DeleteBucket",
                )


@pytest.fixture
def aws_rules(monkeypatch) -> AwsRules:
    return AwsRules(monkeypatch)


def teardown_under_aws_rules(settings: Settings) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        rules = AwsRules(mp)
        result = td.teardown(settings)
    assert_in_aws_order(result["deleted"])
    result["calls"] = rules.calls
    return result


def assert_in_aws_order(deleted: list[str]) -> None:
    """What teardown reports it deleted came in an order AWS accepts."""
    position = {label: i for i, label in enumerate(deleted)}
    assert len(position) == len(deleted), "something was deleted twice"
    for label, i in position.items():
        if label.startswith("iam policy "):
            arn = label.removeprefix("iam policy ")
            before = [
                p
                for other, p in position.items()
                if other.startswith((f"detach {arn} from ", f"policy version {arn}#"))
            ]
            assert all(p < i for p in before), f"{label} before its detach / version deletions: {deleted}"
        if label.startswith("iam role "):
            role = label.removeprefix("iam role ")
            before = [
                p for other, p in position.items() if other.startswith("detach ") and other.endswith(f" from {role}")
            ]
            before += [p for other, p in position.items() if other.endswith(f" of {role}")]
            assert all(p < i for p in before), f"{label} before its policies were detached: {deleted}"
        if label.startswith("bucket s3://"):
            bucket = label.removeprefix("bucket ")
            before = [p for other, p in position.items() if other.endswith(f" in {bucket}") or f" {bucket}/" in other]
            assert all(p < i for p in before), f"{label} before its objects: {deleted}"


# --- what is left, listed from the emulators themselves ----------------------------------------


def leftovers(settings: Settings, run_ids: list[str]) -> dict[str, list[str]]:
    """Everything of ours still in the emulators, read directly (not through teardown's audit)."""
    iam_client, s3, glue, logs = (admin_client(settings, s) for s in ("iam", "s3", "glue", "logs"))
    account = admin_client(settings, "sts").get_caller_identity()["Account"]
    roles = {r["RoleName"] for page in iam_client.get_paginator("list_roles").paginate() for r in page["Roles"]}
    policies = {
        p["Arn"] for page in iam_client.get_paginator("list_policies").paginate(Scope="Local") for p in page["Policies"]
    }
    our_policies = {
        f"arn:aws:iam::{account}:policy/{r}-policy" for r in (settings.glue_role_name, settings.snowflake_role_name)
    }
    out = {
        "roles": sorted(roles & {settings.glue_role_name, settings.snowflake_role_name}),
        "policies": sorted(policies & our_policies),
        "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] == settings.bucket],
        "glue jobs": [j for j in glue.list_jobs()["JobNames"] if j == settings.glue_job_name],
        "log streams": [],
    }
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        try:
            streams = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]}
        except logs.exceptions.ResourceNotFoundException:
            continue
        out["log streams"] += [f"{group}/{r}" for r in sorted(streams & set(run_ids))]
    ours = {settings.dev_database.upper(), settings.prod_database.upper()}
    with warehouse.connect(settings, None) as conn:
        # the pipeline's schemas (the databases are the account setup's and stay)
        out["schemas"] = [
            f"{db}.{r['name']}"
            for db in sorted(ours)
            for r in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {db}").as_dicts()
            if r["name"] in td.OUR_SCHEMAS
        ]
        out["stages"] = [
            f"{r['database_name']}.{r['schema_name']}.{r['name']}"
            for r in warehouse.execute(conn, "SHOW STAGES IN ACCOUNT").as_dicts()
            # in our databases: a stage someone made in a database of theirs is theirs, even on our
            # integration (tests/integration/support.py's BADINPUT_* databases share it)
            if r["database_name"] in ours
        ]
    return {k: v for k, v in out.items() if v}


def namespaced(tag: str) -> Settings:
    low, up = f"td-{tag}", f"TD_{tag.upper()}"
    return Settings(
        bucket=f"{low}-bucket",
        glue_role_name=f"{low}-glue-role",
        snowflake_role_name=f"{low}-snowflake-role",
        glue_job_name=f"{low}-ingest",
        integration_name=f"{up}_INT",
        dev_database=f"{up}_DEV",
        prod_database=f"{up}_PROD",
    )


@pytest.fixture
def deployment(local_cloud) -> Iterator[Settings]:
    """Names of the test's own, which the local operator may operate for the test."""
    with operating(namespaced(uuid.uuid4().hex[:6])) as s:
        yield s


# --- tests ---------------------------------------------------------------------------------------


def test_teardown_leaves_nothing_and_can_run_again(settings):
    report = Pipeline(settings).run(target="dev")
    run_ids = td.our_run_ids(settings)
    assert report.steps["glue"]["run_id"] in run_ids
    assert leftovers(settings, run_ids), "the run should have left something to tear down"
    with signing_keys() as keys:
        result = teardown_under_aws_rules(settings)
    assert keys == {settings.local_cloud["aws"]["operator"]["access_key_id"]}  # as the local operator
    assert result["remaining"] and not any(result["remaining"].values()), result["remaining"]
    assert any(d.startswith("bucket s3://") for d in result["deleted"])
    assert leftovers(settings, run_ids) == {}
    again = teardown_under_aws_rules(settings)
    assert again["deleted"] == [] and not any(again["remaining"].values())


def test_teardown_after_a_partial_run_iam_and_s3_only(deployment):
    s = deployment
    pipeline = Pipeline(s)
    roles = pipeline.setup_iam()
    pipeline.setup_storage()
    assert leftovers(s, []).keys() == {"roles", "policies", "buckets"}

    result = teardown_under_aws_rules(s)
    assert leftovers(s, []) == {}
    assert not any(result["remaining"].values()), result["remaining"]
    for role, policy_arn in (
        (s.glue_role_name, roles.glue_policy_arn),
        (s.snowflake_role_name, roles.snowflake_policy_arn),
    ):
        d = result["deleted"]
        assert (
            d.index(f"detach {policy_arn} from {role}")
            < d.index(f"iam role {role}")
            < d.index(f"iam policy {policy_arn}")
        )
    assert not any(d.startswith(("snowflake", "glue job", "log stream")) for d in result["deleted"])
    assert teardown_under_aws_rules(s)["deleted"] == []


def test_teardown_after_a_run_that_crashed_between_glue_and_dbt(deployment):
    """Every step up to the stage ran (twice for the Glue job, and the Glue policy was changed once,
    so there are object versions, a delete marker and a non-default policy version), then the
    run died before dbt."""
    s = deployment
    pipeline = Pipeline(s)
    roles = pipeline.setup_iam()
    pipeline.setup_storage()
    pipeline.setup_glue_job(roles)
    for n in range(2):
        pipeline.ingest(s.resolved_source_url, f"crash_{n}")
    pipeline.setup_integration(roles, "dev")
    pipeline.setup_stage("dev")
    iam_client, names = s.aws_client("iam"), pipeline.names()
    changed = iam_policies.glue_role_policy(names)
    changed["Statement"][0]["Sid"] = "ReadJobScriptV2"
    iam.ensure_managed_policy(iam_client, names.account_id, f"{s.glue_role_name}-policy", changed, "changed")
    assert len(iam_client.list_policy_versions(PolicyArn=roles.glue_policy_arn)["Versions"]) == 2
    s3 = s.aws_client("s3")
    s3.delete_object(Bucket=s.bucket, Key=s.scripts_prefix + "stale.py")  # a delete marker
    run_ids = td.our_run_ids(s)
    assert len(run_ids) == 2
    assert leftovers(s, run_ids).keys() == {
        "roles",
        "policies",
        "buckets",
        "glue jobs",
        "log streams",
        "schemas",
        "stages",
    }

    result = teardown_under_aws_rules(s)
    assert leftovers(s, run_ids) == {}
    assert not any(result["remaining"].values()), result["remaining"]
    d = result["deleted"]
    assert any(x.startswith(f"policy version {roles.glue_policy_arn}#") for x in d)
    assert f"snowflake schema {s.dev_database}.LANDING" in d
    # the account setup's objects stay for the next run: the databases and the integration
    with warehouse.connect(s, None) as conn:
        assert {s.dev_database, s.prod_database} <= {
            r["name"] for r in warehouse.execute(conn, "SHOW DATABASES").as_dicts()
        }
        assert s.integration_name in {r["name"] for r in warehouse.execute(conn, "SHOW INTEGRATIONS").as_dicts()}
    assert sum(1 for x in d if x.startswith("log stream ")) == 4
    # the calls themselves, in order: every delete_policy after the detaches and version deletions
    calls = [(op, kw) for svc, op, kw in result["calls"] if svc == "iam"]
    for i, (op, kw) in enumerate(calls):
        if op == "delete_policy":
            later = [(o, k) for o, k in calls[i + 1 :] if k.get("PolicyArn") == kw["PolicyArn"]]
            assert not later, f"{later} after delete_policy {kw['PolicyArn']}"
    assert teardown_under_aws_rules(s)["deleted"] == []


def test_teardown_deletes_nothing_that_is_not_ours(deployment):
    tag = uuid.uuid4().hex[:6]
    s = deployment
    pipeline = Pipeline(s)
    roles = pipeline.setup_iam()
    pipeline.setup_storage()
    pipeline.setup_integration(roles, "dev")

    # someone else's things, next to ours and with similar names (made, and checked, by the admin)
    foreign = f"foreign-{tag}"
    FOREIGN = f"FOREIGN_{tag.upper()}"
    iam_client, s3, glue, logs = (admin_client(s, x) for x in ("iam", "s3", "glue", "logs"))
    s3.create_bucket(Bucket=foreign)
    s3.put_object(Bucket=foreign, Key="data/countries/countries.ndjson", Body=b"{}\n")
    s3.create_bucket(Bucket=f"{s.bucket}-2")
    trust = iam_policies.glue_trust_policy()
    iam_client.create_role(RoleName=foreign, AssumeRolePolicyDocument=json.dumps(trust))
    iam_client.create_role(RoleName=f"{s.glue_role_name}-2", AssumeRolePolicyDocument=json.dumps(trust))
    foreign_policy = iam_client.create_policy(
        PolicyName=f"{foreign}-policy", PolicyDocument=json.dumps(iam_policies.glue_role_policy(pipeline.names()))
    )["Policy"]["Arn"]
    iam_client.attach_role_policy(RoleName=foreign, PolicyArn=foreign_policy)
    # ... who also reuses OUR Glue policy: AWS would refuse to delete it, and detaching it would
    # change their role, so teardown must keep it and say so
    iam_client.attach_role_policy(RoleName=foreign, PolicyArn=roles.glue_policy_arn)
    account = pipeline.names().account_id
    glue.create_job(
        Name=foreign,
        Role=f"arn:aws:iam::{account}:role/{foreign}",
        Command={"Name": "pythonshell", "ScriptLocation": f"s3://{foreign}/x.py"},
    )
    try:
        logs.create_log_group(logGroupName=glue_job.OUTPUT_LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=glue_job.OUTPUT_LOG_GROUP, logStreamName=f"jr_{foreign}")
    with warehouse.connect(s, None) as conn:
        warehouse.execute(conn, f"CREATE DATABASE {FOREIGN}")
        warehouse.execute(conn, f"CREATE DATABASE {s.dev_database}_2")
        # a schema of theirs inside our database: not one of the pipeline's names, so not ours
        warehouse.execute(conn, f"CREATE SCHEMA {s.dev_database}.{FOREIGN}")
        warehouse.execute(
            conn,
            f"CREATE STORAGE INTEGRATION {FOREIGN}_INT TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' "
            f"STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::{account}:role/{foreign}' "
            f"STORAGE_ALLOWED_LOCATIONS = ('s3://{foreign}/data/')",
        )

    result = teardown_under_aws_rules(s)

    # ours is gone - except our Glue policy, still attached to their role, which is reported
    assert result["remaining"]["iam policies"] == [f"{s.glue_role_name}-policy"]
    assert {k for k, v in result["remaining"].items() if v} == {"iam policies"}
    assert result["kept"] == [f"iam policy {roles.glue_policy_arn}: still attached to role {foreign}"]
    assert leftovers(s, []) == {"policies": [roles.glue_policy_arn]}
    # theirs is untouched
    attached = {p["PolicyArn"] for p in iam_client.list_attached_role_policies(RoleName=foreign)["AttachedPolicies"]}
    assert attached == {foreign_policy, roles.glue_policy_arn}
    iam_client.get_role(RoleName=f"{s.glue_role_name}-2")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {foreign, f"{s.bucket}-2"} <= buckets
    assert s3.get_object(Bucket=foreign, Key="data/countries/countries.ndjson")["Body"].read() == b"{}\n"
    assert foreign in glue.list_jobs()["JobNames"]
    streams = {
        x["logStreamName"] for x in logs.describe_log_streams(logGroupName=glue_job.OUTPUT_LOG_GROUP)["logStreams"]
    }
    assert f"jr_{foreign}" in streams
    with warehouse.connect(s, None) as conn:
        dbs = {r["name"] for r in warehouse.execute(conn, "SHOW DATABASES").as_dicts()}
        assert {FOREIGN, f"{s.dev_database}_2"} <= dbs
        assert FOREIGN in {
            r["name"] for r in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {s.dev_database}").as_dicts()
        }
        assert f"{FOREIGN}_INT" in {r["name"] for r in warehouse.execute(conn, "SHOW INTEGRATIONS").as_dicts()}

    # once they let go of our policy, teardown finishes the job
    iam_client.detach_role_policy(RoleName=foreign, PolicyArn=roles.glue_policy_arn)
    again = teardown_under_aws_rules(s)
    assert again["deleted"] == [f"iam policy {roles.glue_policy_arn}"] and not any(again["remaining"].values())

    # clean up theirs (this test's own leftovers)
    iam_client.detach_role_policy(RoleName=foreign, PolicyArn=foreign_policy)
    iam_client.delete_policy(PolicyArn=foreign_policy)
    for role in (foreign, f"{s.glue_role_name}-2"):
        iam_client.delete_role(RoleName=role)
    s3.delete_object(Bucket=foreign, Key="data/countries/countries.ndjson")
    for bucket in (foreign, f"{s.bucket}-2"):
        s3.delete_bucket(Bucket=bucket)
    glue.delete_job(JobName=foreign)
    logs.delete_log_stream(logGroupName=glue_job.OUTPUT_LOG_GROUP, logStreamName=f"jr_{foreign}")
    with warehouse.connect(s, None) as conn:
        for db in (FOREIGN, f"{s.dev_database}_2"):
            warehouse.execute(conn, f"DROP DATABASE {db}")
        warehouse.execute(conn, f"DROP SCHEMA {s.dev_database}.{FOREIGN}")
        warehouse.execute(conn, f"DROP INTEGRATION {FOREIGN}_INT")


def test_the_aws_rules_refuse_what_moto_would_allow(deployment, aws_rules):
    """The guard is live: deleting an attached policy, or a role with a policy attached, is refused
    before moto (which would accept the first) ever sees it. (As the operator, so on the names its
    policy grants: the Glue role and its `<role>-policy`.)"""
    s = deployment
    iam_client = s.aws_client("iam")
    name = s.glue_role_name
    iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(iam_policies.glue_trust_policy()))
    arn = iam_client.create_policy(
        PolicyName=f"{name}-policy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x/*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam_client.attach_role_policy(RoleName=name, PolicyArn=arn)
    with pytest.raises(ClientError, match="DeleteConflict"):
        iam_client.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError, match="DeleteConflict"):
        iam_client.delete_role(RoleName=name)
    iam_client.detach_role_policy(RoleName=name, PolicyArn=arn)
    iam_client.delete_policy(PolicyArn=arn)
    iam_client.delete_role(RoleName=name)


def test_teardown_refuses_to_run_while_a_pipeline_run_holds_the_lock(deployment):
    from helpers import run_lock

    s = deployment
    Pipeline(s).setup_iam()
    before = leftovers(s, [])
    with run_lock.acquire(s.artifacts_dir, "run_in_progress", "dev"):
        with pytest.raises(run_lock.RunLocked, match="run_in_progress"):
            td.teardown(s)
        assert leftovers(s, []) == before  # nothing was deleted
    teardown_under_aws_rules(s)  # once the run is over
    assert leftovers(s, []) == {}
