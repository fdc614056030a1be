"""The policies the pipeline creates, checked for what moto's enforcement cannot see."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from helpers import iam, iam_operator, iam_policies

NAMES = iam_policies.Names("my-bucket", "data/countries/", "scripts/", "quarantine/", "eu-west-1", "111122223333")
IDENTITY_POLICIES = {
    "glue": iam_policies.glue_role_policy(NAMES),
    "snowflake": iam_policies.snowflake_role_policy(NAMES),
}


def _statements(policy):
    return policy["Statement"]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("name", sorted(IDENTITY_POLICIES))
def test_parliament_finds_nothing(name):
    findings = analyze_policy_string(json.dumps(IDENTITY_POLICIES[name])).findings
    assert findings == [], [f.issue for f in findings]


@pytest.mark.parametrize("name", sorted(IDENTITY_POLICIES))
def test_no_wildcard_actions_and_every_resource_names_our_bucket_or_log_group(name):
    for statement in _statements(IDENTITY_POLICIES[name]):
        assert all("*" not in a for a in _actions(statement)), statement
        for resource in statement["Resource"]:
            assert resource != "*"
            assert resource.startswith(
                ("arn:aws:s3:::my-bucket", "arn:aws:logs:eu-west-1:111122223333:log-group:/aws-glue/")
            )


def test_snowflake_role_has_exactly_snowflakes_documented_minimum():
    granted = {(a, r) for s in _statements(IDENTITY_POLICIES["snowflake"]) for a in _actions(s) for r in s["Resource"]}
    assert granted == {
        ("s3:GetObject", "arn:aws:s3:::my-bucket/data/countries/*"),
        ("s3:GetObjectVersion", "arn:aws:s3:::my-bucket/data/countries/*"),
        ("s3:ListBucket", "arn:aws:s3:::my-bucket"),
        ("s3:GetBucketLocation", "arn:aws:s3:::my-bucket"),
    }
    listing = next(s for s in _statements(IDENTITY_POLICIES["snowflake"]) if "s3:ListBucket" in _actions(s))
    # moto ignores this condition, so only this test guards it
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["data/countries/*"]}}


def test_glue_role_cannot_write_its_own_script():
    writes = [s for s in _statements(IDENTITY_POLICIES["glue"]) if "s3:PutObject" in _actions(s)]
    resources = {r for s in writes for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::my-bucket/data/countries/*", "arn:aws:s3:::my-bucket/quarantine/*"}


def test_trust_policies_name_exactly_one_principal():
    glue = iam_policies.glue_trust_policy()["Statement"]
    assert glue == [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    trust = iam_policies.snowflake_trust_policy("arn:aws:iam::999:user/sf", "EXT_ID")["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999:user/sf"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "EXT_ID"}},
        }
    ]
    placeholder = iam_policies.snowflake_placeholder_trust_policy("111122223333")["Statement"][0]
    assert placeholder["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert placeholder["Condition"]["StringEquals"]["sts:ExternalId"] == "0000"


@pytest.mark.parametrize("name", sorted(IDENTITY_POLICIES))
def test_only_allow_statements_and_no_delete_or_privilege_escalation(name):
    """A Deny, NotAction or NotResource would make the policy hard to read and, in moto, behave
    differently from AWS; delete, IAM and STS actions are never needed by the pipeline's roles."""
    for statement in _statements(IDENTITY_POLICIES[name]):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
        for action in _actions(statement):
            service, verb = action.split(":")
            assert service in {"s3", "logs"}, action
            assert not verb.startswith(("Delete", "Put") if name == "snowflake" else ("Delete",)), action
            assert "Acl" not in verb and "Policy" not in verb, action  # may not loosen the bucket


def test_snowflake_role_is_read_only():
    verbs = {a.split(":")[1] for s in _statements(IDENTITY_POLICIES["snowflake"]) for a in _actions(s)}
    assert all(v.startswith(("Get", "List")) for v in verbs), verbs


# -- the operator policy (who runs the pipeline and its teardown) ---------------------------------

OPERATOR = iam_operator.operator_policy(
    iam_policies.Names(
        "my-bucket", "data/countries/", "scripts/", "quarantine/", "eu-west-1", "111122223333", "incoming/"
    ),
    "glue-role",
    "sf-role",
    "countries-ingest",
)
ACCT = "arn:aws:iam::111122223333"
GLUE_ROLE, SF_ROLE = f"{ACCT}:role/glue-role", f"{ACCT}:role/sf-role"
OUR_POLICIES = [f"{ACCT}:policy/glue-role-policy", f"{ACCT}:policy/sf-role-policy"]
LOG_GROUPS = [f"arn:aws:logs:eu-west-1:111122223333:log-group:{g}" for g in iam_operator.GLUE_LOG_GROUPS]


def _resources(statement):
    res = statement["Resource"]
    return [res] if isinstance(res, str) else res


def _grants(policy):
    return {(a, r) for s in policy["Statement"] for a in _actions(s) for r in _resources(s)}


def test_operator_policy_parliament_finds_nothing():
    findings = analyze_policy_string(json.dumps(OPERATOR)).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


def test_operator_policy_fits_a_managed_policy():
    """IAM refuses a managed policy over 6,144 characters (whitespace not counted):
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"""
    assert len(json.dumps(OPERATOR, separators=(",", ":"))) <= iam_operator.MANAGED_POLICY_MAX_CHARS


def test_operator_policy_no_wildcard_actions_and_only_allow():
    for statement in OPERATOR["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
        for action in _actions(statement):
            assert "*" not in action and "?" not in action, action


def test_operator_policy_star_resource_only_for_actions_without_resource_types():
    """Resource "*" only where the Service Authorization Reference lists no resource type for the
    action (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html);
    checked against parliament's copy of that reference, so a wrongly starred action fails here."""
    import parliament

    definitions = {svc["prefix"]: {p["privilege"]: p for p in svc["privileges"]} for svc in parliament.iam_definition}
    starred = {a for s in OPERATOR["Statement"] if "*" in _resources(s) for a in _actions(s)}
    assert starred == set(iam_operator.STAR_ONLY_ACTIONS)
    for action in sorted(starred):
        service, name = action.split(":")
        types = [r["resource_type"] for r in definitions[service][name]["resource_types"] if r["resource_type"]]
        assert types == [], f"{action} supports resource types {types}: name the resource instead of *"
    # and every named resource is ours (no "*" or account-wide pattern hidden in an ARN)
    for action, resource in _grants(OPERATOR):
        if resource == "*":
            continue
        assert (
            resource
            in {
                GLUE_ROLE,
                SF_ROLE,
                *OUR_POLICIES,
                "arn:aws:s3:::my-bucket",
                "arn:aws:glue:eu-west-1:111122223333:job/countries-ingest",
            }
            or resource.startswith("arn:aws:s3:::my-bucket/")
            or any(resource.startswith(g) for g in LOG_GROUPS)
        ), (action, resource)


def test_operator_policy_names_exactly_the_two_roles_the_bucket_and_the_job():
    named = {r for _a, r in _grants(OPERATOR)}
    assert {r for r in named if r.startswith(f"{ACCT}:role/")} == {GLUE_ROLE, SF_ROLE}
    assert {r for r in named if r.startswith(f"{ACCT}:policy/")} == set(OUR_POLICIES)
    assert {r.split("/")[0] for r in named if r.startswith("arn:aws:s3:::")} == {"arn:aws:s3:::my-bucket"}
    assert {r for r in named if r.startswith("arn:aws:glue:")} == {
        "arn:aws:glue:eu-west-1:111122223333:job/countries-ingest"
    }
    assert {r for r in named if r.startswith("arn:aws:logs:")} == {
        *LOG_GROUPS,
        *(f"{g}:*" for g in LOG_GROUPS),
        *(f"{g}:log-stream:*" for g in LOG_GROUPS),
    }
    # object access is by prefix: only the four prefixes the pipeline uses
    prefixes = {r.removeprefix("arn:aws:s3:::my-bucket/") for r in named if r.startswith("arn:aws:s3:::my-bucket/")}
    assert prefixes == {"data/countries/*", "scripts/*", "quarantine/*", "incoming/*"}


def test_operator_can_write_only_the_script_and_local_sources():
    """The landed file and the quarantine are the Glue job's to write, not the operator's."""
    writes = {r for a, r in _grants(OPERATOR) if a == "s3:PutObject"}
    assert writes == {"arn:aws:s3:::my-bucket/scripts/*", "arn:aws:s3:::my-bucket/incoming/*"}


def test_operator_passrole_is_the_glue_role_to_glue_only():
    """iam:PassRole limited to the Glue role and, by iam:PassedToService, to Glue:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"""
    passes = [s for s in OPERATOR["Statement"] if "iam:PassRole" in _actions(s)]
    assert len(passes) == 1
    (statement,) = passes
    assert _actions(statement) == ["iam:PassRole"]
    assert _resources(statement) == [GLUE_ROLE]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}


def test_operator_attaches_only_our_policies_and_edits_only_the_snowflake_trust():
    (attach,) = [s for s in OPERATOR["Statement"] if "iam:AttachRolePolicy" in _actions(s)]
    assert _actions(attach) == ["iam:AttachRolePolicy"]
    assert attach["Condition"] == {"ArnEquals": {"iam:PolicyARN": OUR_POLICIES}}
    assert {r for a, r in _grants(OPERATOR) if a == "iam:UpdateAssumeRolePolicy"} == {SF_ROLE}


# Each boto3 operation that helpers/ (not helpers/local_cloud/) calls, and the IAM actions it needs
# (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
OPERATION_ACTIONS = {
    "get_caller_identity": ["sts:GetCallerIdentity"],
    # iam.ensure_pipeline_roles, set_trust_policy; teardown.delete_iam, audit
    "create_policy": ["iam:CreatePolicy"],
    "get_policy": ["iam:GetPolicy"],
    "get_policy_version": ["iam:GetPolicyVersion"],
    "list_policy_versions": ["iam:ListPolicyVersions"],
    "delete_policy_version": ["iam:DeletePolicyVersion"],
    "create_policy_version": ["iam:CreatePolicyVersion"],
    "list_entities_for_policy": ["iam:ListEntitiesForPolicy"],
    "delete_policy": ["iam:DeletePolicy"],
    "get_role": ["iam:GetRole"],
    "create_role": ["iam:CreateRole", "iam:TagRole"],  # with Tags
    "list_attached_role_policies": ["iam:ListAttachedRolePolicies"],
    "attach_role_policy": ["iam:AttachRolePolicy"],
    "update_assume_role_policy": ["iam:UpdateAssumeRolePolicy"],
    "detach_role_policy": ["iam:DetachRolePolicy"],
    "list_role_policies": ["iam:ListRolePolicies"],
    "delete_role_policy": ["iam:DeleteRolePolicy"],
    "list_instance_profiles_for_role": ["iam:ListInstanceProfilesForRole"],
    "remove_role_from_instance_profile": [],  # deliberately not granted: the profile is not ours
    "delete_role": ["iam:DeleteRole"],
    "list_roles": ["iam:ListRoles"],
    "list_policies": ["iam:ListPolicies"],
    # storage, pipeline.landed_file / stage_source; teardown.delete_bucket, audit
    "head_bucket": ["s3:ListBucket"],
    "create_bucket": ["s3:CreateBucket"],
    "put_bucket_versioning": ["s3:PutBucketVersioning"],
    # helpers/plan/ reads what a run would re-apply, and which shared log groups exist
    "get_bucket_versioning": ["s3:GetBucketVersioning"],
    "get_bucket_encryption": ["s3:GetEncryptionConfiguration"],
    "get_bucket_tagging": ["s3:GetBucketTagging"],
    "get_public_access_block": ["s3:GetBucketPublicAccessBlock"],
    "describe_log_groups": ["logs:DescribeLogGroups"],
    "put_bucket_encryption": ["s3:PutEncryptionConfiguration"],
    "put_public_access_block": ["s3:PutBucketPublicAccessBlock"],
    "put_bucket_tagging": ["s3:PutBucketTagging"],
    "head_object": ["s3:GetObject"],
    "put_object": ["s3:PutObject"],
    "upload_file": ["s3:PutObject", "s3:AbortMultipartUpload"],  # large files go multipart
    "list_multipart_uploads": ["s3:ListBucketMultipartUploads"],
    "abort_multipart_upload": ["s3:AbortMultipartUpload"],
    "list_object_versions": ["s3:ListBucketVersions"],
    "delete_objects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],  # each version, each delete marker
    "delete_bucket": ["s3:DeleteBucket"],
    "list_buckets": ["s3:ListAllMyBuckets"],
    # glue_job; teardown
    "get_job": ["glue:GetJob"],
    "create_job": ["glue:CreateJob", "iam:PassRole"],
    "update_job": ["glue:UpdateJob", "iam:PassRole"],
    "start_job_run": ["glue:StartJobRun"],
    "get_job_run": ["glue:GetJobRun"],
    "get_job_runs": ["glue:GetJobRuns"],
    "batch_stop_job_run": ["glue:BatchStopJobRun"],
    "delete_job": ["glue:DeleteJob"],
    "get_jobs": ["glue:GetJobs"],
    "get_log_events": ["logs:GetLogEvents"],
    "describe_log_streams": ["logs:DescribeLogStreams"],
    "delete_log_stream": ["logs:DeleteLogStream"],
    "delete_log_group": ["logs:DeleteLogGroup"],
}


# notebook 02's access matrix: it calls, as each principal, what that principal may NOT do, to show the
# denial; it is not part of a run or a teardown, which is what the operator policy is sized for
ACCESS_PROBES = {"access_matrix.py", "access_probe.py"}


def _aws_operations_called_by_helpers() -> set[str]:
    """boto3 operations named in helpers/ (its packages too, e.g. helpers/plan/): method calls and the
    operation names given to get_paginator/_pages, matched against the service models of the services
    the pipeline uses."""
    import ast
    from pathlib import Path

    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    known = {"upload_file"} | {
        xform_name(op)
        for svc in ("iam", "s3", "glue", "logs", "sts")
        for op in session.get_service_model(svc).operation_names
    }
    found = set()
    helpers_dir = Path(iam.__file__).parent
    for path in helpers_dir.rglob("*.py"):
        if path.relative_to(helpers_dir).parts[0] == "local_cloud":  # emulator-only code
            continue
        if path.name in ACCESS_PROBES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in known:
                found.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
                found.add(node.value)
    return found


def test_operator_covers_every_aws_call_of_a_run_and_a_teardown():
    """Each boto3 operation the pipeline and its teardown call has its IAM actions granted, and
    nothing else is granted; a call added to helpers/ without an entry here fails this test."""
    called = _aws_operations_called_by_helpers()
    assert called == set(OPERATION_ACTIONS), {
        "called, not in OPERATION_ACTIONS": called - set(OPERATION_ACTIONS),
        "in OPERATION_ACTIONS, no longer called": set(OPERATION_ACTIONS) - called,
    }
    needed = {a for actions in OPERATION_ACTIONS.values() for a in actions}
    granted = {a for a, _r in _grants(OPERATOR)}
    assert granted == needed, {"missing": needed - granted, "extra": granted - needed}


# -- the GitHub OIDC deploy role ------------------------------------------------------------------

TRUST = iam_operator.github_oidc_trust_policy("111122223333", "acme/countries", "main")
PROVIDER = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"


def test_github_trust_pins_repository_and_branch_exactly():
    """GitHub's sub claim for a branch is repo:<owner>/<repo>:ref:refs/heads/<branch>; aud is
    sts.amazonaws.com (https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html#idp_oidc_Create_GitHub)."""
    (statement,) = TRUST["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # StringEquals only: no StringLike, so no pattern can widen it to other branches or repositories
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/countries:ref:refs/heads/main",
        }
    }
    assert "*" not in json.dumps(statement["Condition"])


@pytest.mark.parametrize(
    "repository, branch",
    [
        ("acme/*", "main"),
        ("acme", "main"),
        ("acme/countries", "*"),
        ("acme/countries", "release/*"),
        ("acme/countries", "refs/heads/main"),
        ("acme/countries", ""),
    ],
)
def test_github_trust_refuses_patterns_and_malformed_names(repository, branch):
    with pytest.raises(ValueError, match="repository|branch"):
        iam_operator.github_oidc_trust_policy("111122223333", repository, branch)


def test_github_trust_parliament_finds_only_its_known_false_positives():
    """parliament flags every trust policy for lacking a Resource (trust policies have none), and
    knows only SAML providers as federation sources, not IAM OIDC providers, which AWS documents
    as `arn:aws:iam::<account>:oidc-provider/<host>`. Exactly those two findings, nothing else."""
    findings = analyze_policy_string(json.dumps(TRUST)).findings
    issues = sorted((f.issue, str(f.detail)) for f in findings)
    assert issues == [
        ("MALFORMED", "Statement contains neither Resource nor NotResource"),
        ("UNKNOWN_FEDERATION_SOURCE", PROVIDER),
    ]


def test_deploy_role_cannot_widen_its_own_permissions():
    role = iam_operator.github_deploy_role(
        iam_policies.Names("my-bucket", "data/countries/", "scripts/", "quarantine/", "eu-west-1", "111122223333"),
        "glue-role",
        "sf-role",
        "countries-ingest",
        "acme/countries",
        "main",
    )
    assert role["permissions_policy"] == OPERATOR
    assert role["trust_policy"] == TRUST
    named = {r for _a, r in _grants(role["permissions_policy"])}
    assert role["role_arn"] not in named and role["policy_arn"] not in named


def test_cli_prints_the_deploy_role_documents(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.iam",
            "github-deploy-role",
            "--repository",
            "acme/countries",
            "--branch",
            "main",
            "--account-id",
            "111122223333",
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PIPELINE_BUCKET": "my-bucket", "AWS_REGION": "eu-west-1"},
    )
    role = json.loads(out.stdout)
    assert role["trust_policy"] == TRUST
    assert json.loads((tmp_path / "trust.json").read_text()) == TRUST
    policy = json.loads((tmp_path / "policy.json").read_text())
    assert policy == role["permissions_policy"]
    assert "arn:aws:s3:::my-bucket" in json.dumps(policy)


# -- the operator policy's S3 statements, enforced ------------------------------------------------


def test_operator_s3_grants_enforced_by_moto(monkeypatch, tmp_path):
    """The S3 half of a run and a teardown, as a user holding only the operator policy, with moto's
    IAM enforcement on (in-process). moto evaluates S3 actions against bucket/object ARNs, so this
    checks the S3 statements for real: bucket setup, script upload, a local source upload (whose
    head_object must answer 404, which S3 does only with s3:ListBucket), reading the landed file,
    listing every version for teardown; and it denies writing the landed file or another bucket.
    (moto evaluates IAM, Glue and Logs actions against Resource "*" only, so those statements,
    which name their resources, cannot be exercised this way: they are checked on the document.)"""
    import boto3
    from moto import mock_aws
    from moto.core import set_initial_no_auth_action_count

    from helpers import pipeline, storage

    import moto.s3.responses

    # moto authorizes HeadBucket as an action "s3:HeadBucket", which IAM does not have; AWS checks
    # s3:ListBucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html). Say what
    # AWS says, for this test only.
    monkeypatch.setitem(moto.s3.responses.ACTION_MAP["BUCKET"]["HEAD"], "DEFAULT", "ListBucket")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    source = tmp_path / "countries.json"
    source.write_text("[]")

    @set_initial_no_auth_action_count(4)  # the admin's set-up calls below
    @mock_aws
    def scenario():
        region = "eu-west-1"
        admin = boto3.client("iam", region_name=region)
        account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        names = iam_policies.Names(
            "op-bucket", "data/countries/", "scripts/", "quarantine/", region, account, "incoming/"
        )
        admin.create_user(UserName="operator")
        admin.put_user_policy(
            UserName="operator",
            PolicyName="operator",
            PolicyDocument=json.dumps(iam_operator.operator_policy(names, "g-role", "s-role", "countries-ingest")),
        )
        key = admin.create_access_key(UserName="operator")["AccessKey"]
        s3 = boto3.client(
            "s3", region_name=region, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        )
        assert storage.ensure_bucket(s3, "op-bucket", region)["created"]
        assert storage.upload_file_if_changed(s3, pipeline.GLUE_SCRIPT, "op-bucket", "scripts/ingest.py")["uploaded"]
        assert not storage.upload_file_if_changed(s3, pipeline.GLUE_SCRIPT, "op-bucket", "scripts/ingest.py")[
            "uploaded"
        ]
        assert storage.upload_source_file(s3, source, "op-bucket", "incoming/")["uploaded"]
        with pytest.raises(s3.exceptions.ClientError) as denied:
            s3.put_object(Bucket="op-bucket", Key="data/countries/countries.ndjson", Body=b"{}")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(s3.exceptions.ClientError) as missing:  # landed_file(): nothing landed yet
            s3.head_object(Bucket="op-bucket", Key="data/countries/countries.ndjson")
        assert missing.value.response["Error"]["Code"] == "404"

        # teardown's listing, as the operator (its DeleteObjects cannot be checked here: moto
        # authorizes it as s3:DeleteObject on the bucket ARN, AWS on each object's ARN,
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html)
        versions = s3.list_object_versions(Bucket="op-bucket")["Versions"]
        assert sorted(v["Key"].split("/")[0] for v in versions) == ["incoming", "scripts"]
        assert s3.list_multipart_uploads(Bucket="op-bucket").get("Uploads", []) == []
        # and nothing outside the bucket
        with pytest.raises(s3.exceptions.ClientError) as other:
            s3.create_bucket(Bucket="someone-elses-bucket", CreateBucketConfiguration={"LocationConstraint": region})
        assert other.value.response["Error"]["Code"] == "AccessDenied"

    scenario()
