"""The IAM documents of the pipeline's two roles, built from names: pure functions, no clients
(helpers/iam.py applies them to AWS).

* The Glue service role: trusted by glue.amazonaws.com; may read the job script and the sources
  uploaded to `incoming/`, write the landed file and the quarantine, and write its own CloudWatch
  logs. Nothing else.
* The Snowflake integration role: Snowflake's documented minimum for an external stage
  (s3:GetObject, s3:GetObjectVersion on the data prefix, s3:ListBucket limited by s3:prefix,
  s3:GetBucketLocation). Its trust policy starts as a placeholder (your own account, external id
  0000, as Snowflake's guide does) and is replaced by the ARN and external id that
  DESC INTEGRATION reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helpers.settings import Settings

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

    @classmethod
    def of(cls, s: Settings, account_id: str) -> Names:
        """The names a run uses (Pipeline.names) and the plan diffs against."""
        return cls(
            s.bucket,
            s.data_prefix,
            s.scripts_prefix,
            s.quarantine_prefix,
            s.aws_region,
            account_id,
            incoming_prefix=s.incoming_prefix,
        )


def policy_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:policy/{name}"


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
