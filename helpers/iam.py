"""IAM: the two roles of the pipeline and their least-privilege policies, created idempotently.

* The Glue service role: trusted by glue.amazonaws.com; may read the job script and the sources
  uploaded to `incoming/`, write the landed file and the quarantine, and write its own CloudWatch
  logs. Nothing else.
* The Snowflake integration role: Snowflake's documented minimum for an external stage
  (s3:GetObject, s3:GetObjectVersion on the data prefix, s3:ListBucket limited by s3:prefix,
  s3:GetBucketLocation). Its trust policy starts as a placeholder (your own account, external id
  0000, as Snowflake's guide does) and is replaced by the ARN and external id that
  DESC INTEGRATION reports.

Policies are customer-managed and attached (not inline), so they can be listed, linted and detached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PLACEHOLDER_EXTERNAL_ID = "0000"
POLICY_VERSION = "2012-10-17"


@dataclass(frozen=True)
class Names:
    bucket: str
    data_prefix: str
    scripts_prefix: str
    quarantine_prefix: str
    region: str
    account_id: str
    incoming_prefix: str = "incoming/"  # local source files uploaded for the Glue job to read


def glue_trust_policy() -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }


def glue_role_policy(n: Names) -> dict[str, Any]:
    log_group = f"arn:aws:logs:{n.region}:{n.account_id}:log-group:/aws-glue/python-jobs/*"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ReadJobScriptAndIncomingSources",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [
                    f"arn:aws:s3:::{n.bucket}/{n.scripts_prefix}*",
                    f"arn:aws:s3:::{n.bucket}/{n.incoming_prefix}*",
                ],
            },
            {
                "Sid": "WriteLandedDataAndQuarantine",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": [
                    f"arn:aws:s3:::{n.bucket}/{n.data_prefix}*",
                    f"arn:aws:s3:::{n.bucket}/{n.quarantine_prefix}*",
                ],
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group, f"{log_group}:log-stream:*"],
            },
        ],
    }


def snowflake_trust_policy(principal_arn: str, external_id: str) -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def snowflake_placeholder_trust_policy(account_id: str) -> dict[str, Any]:
    """Snowflake's guide: trust your own account with external id 0000 until DESC INTEGRATION."""
    return snowflake_trust_policy(f"arn:aws:iam::{account_id}:root", PLACEHOLDER_EXTERNAL_ID)


def snowflake_role_policy(n: Names) -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ReadLandedData",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": [f"arn:aws:s3:::{n.bucket}/{n.data_prefix}*"],
            },
            {
                "Sid": "ListLandedDataOnly",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{n.bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{n.data_prefix}*"]}},
            },
            {
                "Sid": "LocateBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{n.bucket}"],
            },
        ],
    }


def _policy_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:policy/{name}"


def ensure_managed_policy(iam: Any, account_id: str, name: str, document: dict[str, Any], description: str) -> str:
    """Create the policy, or make `document` its default version (pruning old versions)."""
    arn = _policy_arn(account_id, name)
    body = json.dumps(document)
    try:
        iam.create_policy(PolicyName=name, PolicyDocument=body, Description=description)
        return arn
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    current = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=current)["PolicyVersion"]["Document"]
    if (json.loads(doc) if isinstance(doc, str) else doc) == document:
        return arn  # unchanged: nothing to do
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=body, SetAsDefault=True)
    return arn


def ensure_role(
    iam: Any, name: str, trust_policy: dict[str, Any], policy_arn: str, description: str
) -> tuple[str, bool]:
    """Create the role (with `trust_policy`) if missing and attach `policy_arn`. An existing role's
    trust policy is left alone: it may already hold the real principal. Returns (arn, created)."""
    created = False
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy),
            Description=description,
            Tags=[{"Key": "project", "Value": "countries-pipeline"}],
        )["Role"]["Arn"]
        created = True
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    if policy_arn not in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn, created


def get_trust_policy(iam: Any, role_name: str) -> dict[str, Any]:
    doc = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def set_trust_policy(iam: Any, role_name: str, policy: dict[str, Any]) -> bool:
    """Replace the role's trust policy if it differs. Returns True when it changed."""
    if get_trust_policy(iam, role_name) == policy:
        return False
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(policy))
    return True


@dataclass
class PipelineRoles:
    glue_role_arn: str
    glue_policy_arn: str
    snowflake_role_arn: str
    snowflake_policy_arn: str


def ensure_pipeline_roles(iam: Any, names: Names, glue_role: str, snowflake_role: str) -> PipelineRoles:
    glue_policy = ensure_managed_policy(
        iam, names.account_id, f"{glue_role}-policy", glue_role_policy(names), "Glue ingest job: least privilege"
    )
    glue_arn, _ = ensure_role(iam, glue_role, glue_trust_policy(), glue_policy, "Runs the countries Glue job")
    sf_policy = ensure_managed_policy(
        iam,
        names.account_id,
        f"{snowflake_role}-policy",
        snowflake_role_policy(names),
        "Snowflake storage integration: read the landed data",
    )
    sf_arn, _ = ensure_role(
        iam,
        snowflake_role,
        snowflake_placeholder_trust_policy(names.account_id),
        sf_policy,
        "Assumed by Snowflake's storage integration",
    )
    return PipelineRoles(glue_arn, glue_policy, sf_arn, sf_policy)


# -- the operator: who runs the pipeline and its teardown ---------------------------------------
#
# Every AWS call a run (helpers/pipeline.py, storage.py, glue_job.py) and a teardown
# (helpers/teardown.py) make, granted on exactly the pipeline's named resources. Resource "*" only
# for the actions whose "Resource types" column in the Service Authorization Reference is empty,
# which means AWS evaluates them against "*" only (and tests/unit/test_iam_policies.py checks each
# against parliament's copy of that reference):
#   sts:GetCallerIdentity  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
#                          (and needs no permission at all: https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)
#   s3:ListAllMyBuckets    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
#   iam:ListRoles, iam:ListPolicies
#                          https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
#   glue:GetJobs           https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsglue.html
# (the three list calls are teardown's audit, which lists from the services themselves).

GLUE_LOG_GROUPS = ("/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error")  # = helpers.glue_job's
STAR_ONLY_ACTIONS = frozenset(
    {
        "sts:GetCallerIdentity",
        "s3:ListAllMyBuckets",
        "iam:ListRoles",
        "iam:ListPolicies",
        "glue:GetJobs",
        "logs:DescribeLogGroups",  # `python -m helpers plan`: which of the shared Glue log groups exist
    }
)
# A managed policy document may hold at most 6,144 characters, whitespace not counted:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MANAGED_POLICY_MAX_CHARS = 6144


def policy_arn(account_id: str, name: str) -> str:
    return _policy_arn(account_id, name)


def operator_policy(n: Names, glue_role: str, snowflake_role: str, glue_job: str) -> dict[str, Any]:
    """The identity policy a person or CI job needs to run the pipeline (dev and prod) and its
    teardown, and nothing more: the two roles and their `<role>-policy` managed policies, PassRole
    of the Glue role to Glue only, the one bucket and its prefixes, the one Glue job, the Glue log
    streams, and STS GetCallerIdentity.

    What it deliberately does not grant: anything on another role or policy (so not on the role
    that holds this policy: no privilege escalation); attaching any policy but our two; iam:TagPolicy
    (the policies are created untagged); iam:RemoveRoleFromInstanceProfile (its resource is the
    instance profile, which is never ours: teardown then fails naming it, instead of changing it).
    """
    acct, region, bucket = n.account_id, n.region, n.bucket
    roles = [f"arn:aws:iam::{acct}:role/{glue_role}", f"arn:aws:iam::{acct}:role/{snowflake_role}"]
    policies = [_policy_arn(acct, f"{glue_role}-policy"), _policy_arn(acct, f"{snowflake_role}-policy")]
    prefixes = sorted({n.scripts_prefix, n.incoming_prefix, n.data_prefix, n.quarantine_prefix})
    objects = [f"arn:aws:s3:::{bucket}/{p}*" for p in prefixes]
    groups = [f"arn:aws:logs:{region}:{acct}:log-group:{g}" for g in GLUE_LOG_GROUPS]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "WhoAmI",
                "Effect": "Allow",
                "Action": ["sts:GetCallerIdentity"],
                "Resource": "*",  # no resource types (see the comment above operator_policy)
            },
            {
                "Sid": "TeardownAuditAndPlanLists",
                "Effect": "Allow",
                "Action": [
                    "glue:GetJobs",
                    "iam:ListPolicies",
                    "iam:ListRoles",
                    "logs:DescribeLogGroups",
                    "s3:ListAllMyBuckets",
                ],
                "Resource": "*",  # no resource types (see the comment above operator_policy)
            },
            {
                "Sid": "PipelineRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:GetRole",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:ListRolePolicies",
                    "iam:TagRole",  # create_role passes Tags
                ],
                "Resource": roles,
            },
            {
                "Sid": "AttachOnlyOurPoliciesToOurRoles",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy"],
                "Resource": roles,
                "Condition": {"ArnEquals": {"iam:PolicyARN": policies}},
            },
            {
                "Sid": "SnowflakeRoleTrustPolicy",  # DESC INTEGRATION's principal and external id
                "Effect": "Allow",
                "Action": ["iam:UpdateAssumeRolePolicy"],
                "Resource": [roles[1]],
            },
            {
                "Sid": "PassGlueRoleToGlueOnly",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [roles[0]],
                "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
            },
            {
                "Sid": "PipelineManagedPolicies",
                "Effect": "Allow",
                "Action": [
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListEntitiesForPolicy",
                    "iam:ListPolicyVersions",
                ],
                "Resource": policies,
            },
            {
                "Sid": "PipelineBucket",
                "Effect": "Allow",
                "Action": [
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    # head_bucket; and with it a missing object answers 404, not 403
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:ListBucketVersions",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutBucketTagging",
                    "s3:PutBucketVersioning",
                    "s3:PutEncryptionConfiguration",
                    # `python -m helpers plan` reads the settings it would re-apply
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketTagging",
                    "s3:GetBucketVersioning",
                    "s3:GetEncryptionConfiguration",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Sid": "UploadScriptAndLocalSources",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{p}*" for p in sorted({n.scripts_prefix, n.incoming_prefix})],
            },
            {
                "Sid": "ReadScriptSourcesAndLandedFile",  # head_object before uploads; landed_file()
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [
                    f"arn:aws:s3:::{bucket}/{p}*" for p in sorted({n.scripts_prefix, n.incoming_prefix, n.data_prefix})
                ],
            },
            {
                "Sid": "TeardownEmptiesThePrefixes",  # every version and delete marker, unfinished uploads
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": objects,
            },
            {
                "Sid": "GlueJob",
                "Effect": "Allow",
                "Action": [
                    "glue:BatchStopJobRun",
                    "glue:CreateJob",
                    "glue:DeleteJob",
                    "glue:GetJob",
                    "glue:GetJobRun",
                    "glue:GetJobRuns",
                    "glue:StartJobRun",
                    "glue:UpdateJob",
                ],
                "Resource": [f"arn:aws:glue:{region}:{acct}:job/{glue_job}"],
            },
            {
                # the groups are shared by every Glue Python-shell job of the account; teardown
                # deletes a group only once it is empty (helpers/teardown.py)
                "Sid": "GlueLogGroups",
                "Effect": "Allow",
                "Action": ["logs:DeleteLogGroup", "logs:DescribeLogStreams"],
                "Resource": groups + [f"{g}:*" for g in groups],  # the ":*" form is how Logs names a group too
            },
            {
                # stream names are run ids, unknown in advance: the streams of these two groups
                "Sid": "GlueRunLogStreams",
                "Effect": "Allow",
                "Action": ["logs:DeleteLogStream", "logs:GetLogEvents"],
                "Resource": [f"{g}:log-stream:*" for g in groups],
            },
        ],
    }


# -- the GitHub Actions deploy role ---------------------------------------------------------------
#
# GitHub's OIDC provider in IAM and a role that trusts it for one repository's one branch:
# https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html#idp_oidc_Create_GitHub
# The token's `sub` for a workflow run on a branch is `repo:<owner>/<repo>:ref:refs/heads/<branch>`
# (https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect#example-subject-claims);
# `aud` is sts.amazonaws.com with aws-actions/configure-aws-credentials.

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
DEFAULT_DEPLOY_ROLE = "countries-pipeline-github-deploy"
_REPOSITORY = r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"


def github_oidc_trust_policy(account_id: str, repository: str, branch: str) -> dict[str, Any]:
    """Trust GitHub's OIDC tokens for workflow runs on `branch` of `repository` (owner/repo) only.
    StringEquals: the repository and branch are matched exactly, never as a pattern."""
    import re

    if not re.fullmatch(_REPOSITORY, repository):
        raise ValueError(f"repository {repository!r}: expected owner/repo (letters, digits, '-', '_', '.')")
    if not branch or any(c in branch for c in "*?") or branch.startswith("refs/"):
        raise ValueError(f"branch {branch!r}: give one branch name, e.g. main (no wildcards, no refs/heads/)")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": f"repo:{repository}:ref:refs/heads/{branch}",
                    }
                },
            }
        ],
    }


def github_deploy_role(
    n: Names,
    glue_role: str,
    snowflake_role: str,
    glue_job: str,
    repository: str,
    branch: str,
    role_name: str = DEFAULT_DEPLOY_ROLE,
) -> dict[str, Any]:
    """The deploy role's documents (trust + the operator policy) and the AWS CLI commands an
    administrator runs once to create them. The operator policy grants nothing on this role or its
    policy, so the workflow cannot widen its own permissions."""
    trust = github_oidc_trust_policy(n.account_id, repository, branch)
    policy_name = f"{role_name}-policy"
    permissions = operator_policy(n, glue_role, snowflake_role, glue_job)
    arn = _policy_arn(n.account_id, policy_name)
    return {
        "role_name": role_name,
        "role_arn": f"arn:aws:iam::{n.account_id}:role/{role_name}",
        "trust_policy": trust,
        "policy_name": policy_name,
        "policy_arn": arn,
        "permissions_policy": permissions,
        "aws_cli": [
            # once per account; IAM no longer needs a thumbprint for GitHub's provider
            f"aws iam create-open-id-connect-provider --url https://{GITHUB_OIDC_HOST} "
            f"--client-id-list {GITHUB_OIDC_AUDIENCE}",
            f"aws iam create-role --role-name {role_name} --assume-role-policy-document file://trust.json",
            f"aws iam create-policy --policy-name {policy_name} --policy-document file://policy.json",
            f"aws iam attach-role-policy --role-name {role_name} --policy-arn {arn}",
        ],
    }


def _main(argv: list[str] | None = None) -> int:
    """`python -m helpers.iam operator-policy|github-deploy-role ...`: print the documents as JSON.
    Names default to the Settings (PIPELINE_BUCKET, AWS_REGION, ...); the account id to --account-id,
    else STS GetCallerIdentity with the current credentials."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.iam", description=_main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    operator = sub.add_parser("operator-policy", help="the operator policy (run + teardown), as JSON")
    deploy = sub.add_parser("github-deploy-role", help="the GitHub OIDC deploy role's trust and permissions")
    deploy.add_argument("--repository", required=True, help="owner/repo")
    deploy.add_argument("--branch", default="main")
    deploy.add_argument("--role-name", default=DEFAULT_DEPLOY_ROLE)
    deploy.add_argument("--out-dir", help="also write trust.json and policy.json there (for the aws_cli lines)")
    for p in (operator, deploy):
        p.add_argument("--account-id", help="12-digit AWS account id (default: sts get-caller-identity)")
    args = parser.parse_args(argv)

    from helpers.settings import Settings

    s = Settings()
    account = args.account_id or s.aws_client("sts").get_caller_identity()["Account"]
    n = Names(s.bucket, s.data_prefix, s.scripts_prefix, s.quarantine_prefix, s.aws_region, account)
    if args.command == "operator-policy":
        print(json.dumps(operator_policy(n, s.glue_role_name, s.snowflake_role_name, s.glue_job_name), indent=2))
        return 0
    role = github_deploy_role(
        n, s.glue_role_name, s.snowflake_role_name, s.glue_job_name, args.repository, args.branch, args.role_name
    )
    if args.out_dir:
        from pathlib import Path

        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "trust.json").write_text(json.dumps(role["trust_policy"], indent=2) + "\n")
        (out / "policy.json").write_text(json.dumps(role["permissions_policy"], indent=2) + "\n")
    print(json.dumps(role, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
