"""Who runs the pipeline: the operator's identity policy (a person or a CI job running the pipeline and
its teardown) and the GitHub Actions deploy role that holds it. Pure documents, no clients; print
them with `python -m helpers.iam operator-policy|github-deploy-role`.
"""

from __future__ import annotations

import re
from typing import Any

from helpers.iam_policies import POLICY_VERSION, Names, policy_arn

# -- the operator ---------------------------------------------------------------------------------
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
    policies = [policy_arn(acct, f"{glue_role}-policy"), policy_arn(acct, f"{snowflake_role}-policy")]
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
    arn = policy_arn(n.account_id, policy_name)
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
