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
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
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
