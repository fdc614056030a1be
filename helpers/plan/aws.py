"""The AWS part of the plan: the two IAM roles and their policies, the bucket and its objects, the Glue
job and its log groups - each read with Get/List/Head calls and diffed against what a run deploys
(helpers/iam_policies.py documents, Pipeline.setup_glue_job's job definition)."""

from __future__ import annotations

import hashlib
from typing import Any

from helpers import glue_job, iam_policies, storage, teardown
from helpers.pipeline import GLUE_SCRIPT, glue_job_definition
from helpers.plan.model import CHANGE, CREATE, EXISTS, REPLACE, Plan, as_document, json_diff, read
from helpers.settings import Settings


def plan_iam(plan: Plan, s: Settings, names: iam_policies.Names, integration: dict[str, str] | None) -> dict[str, str]:
    client = s.aws_client("iam")
    account = names.account_id
    arns: dict[str, str] = {}
    if integration:  # what setup_integration writes once the integration exists
        sf_trust = iam_policies.snowflake_trust_policy(
            integration["STORAGE_AWS_IAM_USER_ARN"], integration["STORAGE_AWS_EXTERNAL_ID"]
        )
        sf_trust_note = "from DESC INTEGRATION"
    else:
        sf_trust = iam_policies.snowflake_placeholder_trust_policy(account)
        sf_trust_note = (
            "placeholder; replaced by Snowflake's principal and external id once the integration "
            "exists (known only after CREATE STORAGE INTEGRATION)"
        )
    roles = (
        (s.glue_role_name, iam_policies.glue_trust_policy(), iam_policies.glue_role_policy(names), "", True),
        (s.snowflake_role_name, sf_trust, iam_policies.snowflake_role_policy(names), sf_trust_note, bool(integration)),
    )
    for role, trust, policy_doc, note, trust_enforced in roles:
        policy_name = f"{role}-policy"
        policy_arn = f"arn:aws:iam::{account}:policy/{policy_name}"
        got = read(client.get_policy, PolicyArn=policy_arn)
        if got is None:
            plan.add(
                "iam",
                f"iam policy {policy_name}",
                CREATE,
                "managed policy, version v1",
                json_diff(None, policy_doc, policy_name),
            )
        else:
            version = got["Policy"]["DefaultVersionId"]
            deployed = as_document(
                client.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
            )
            diff = json_diff(deployed, policy_doc, policy_name)
            plan.add(
                "iam",
                f"iam policy {policy_name}",
                CHANGE if diff else EXISTS,
                f"default version {version}" + ("; a new default version would be created" if diff else ""),
                diff,
                deployed,
            )
        got_role = read(client.get_role, RoleName=role)
        arns[role] = got_role["Role"]["Arn"] if got_role else f"arn:aws:iam::{account}:role/{role}"
        if got_role is None:
            plan.add(
                "iam",
                f"iam role {role}",
                CREATE,
                f"trust policy: {note or 'glue.amazonaws.com'}; attached: {policy_name}",
                json_diff(None, trust, f"{role}.trust"),
            )
            continue
        deployed_trust = as_document(got_role["Role"]["AssumeRolePolicyDocument"])
        attached = [p["PolicyArn"] for p in client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
        # an existing role's trust policy is only rewritten where the pipeline rewrites it:
        # the Snowflake role's, from DESC INTEGRATION (helpers/iam.py ensure_role leaves it alone)
        diff = json_diff(deployed_trust, trust, f"{role}.trust") if trust_enforced else ""
        changes = []
        if diff:
            changes.append("trust policy")
        if policy_arn not in attached:
            changes.append(f"attach {policy_name}")
        plan.add(
            "iam",
            f"iam role {role}",
            CHANGE if changes else EXISTS,
            f"attached: {', '.join(a.rsplit('/', 1)[-1] for a in attached) or 'none'}"
            + (f"; would: {', '.join(changes)}" if changes else ""),
            diff,
            {"trust": deployed_trust, "attached": attached},
        )
    return arns


WANTED_BUCKET = {
    "versioning": "Enabled",
    "encryption": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}],
    "public_access_block": {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
    "tags": [{"Key": "project", "Value": "countries-pipeline"}],
}


def bucket_settings(s3: Any, bucket: str) -> dict[str, Any]:
    """The bucket's settings as deployed (None for one that is not set)."""
    enc = read(s3.get_bucket_encryption, Bucket=bucket)
    pab = read(s3.get_public_access_block, Bucket=bucket)
    tags = read(s3.get_bucket_tagging, Bucket=bucket)
    return {
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "encryption": enc["ServerSideEncryptionConfiguration"]["Rules"] if enc else None,
        "public_access_block": pab["PublicAccessBlockConfiguration"] if pab else None,
        "tags": tags["TagSet"] if tags else None,
    }


def plan_s3(plan: Plan, s: Settings, source_url: str) -> dict[str, Any] | None:
    s3 = s.aws_client("s3")
    bucket = s.bucket
    exists = read(s3.head_bucket, Bucket=bucket) is not None
    if not exists:
        plan.add(
            "s3",
            f"s3 bucket {bucket}",
            CREATE,
            f"in {s.aws_region}; then versioning, encryption, public access block and tags",
            json_diff(None, WANTED_BUCKET, f"{bucket}.settings"),
        )
    else:
        current = bucket_settings(s3, bucket)
        diff = json_diff(current, WANTED_BUCKET, f"{bucket}.settings")
        plan.add(
            "s3", f"s3 bucket {bucket}", CHANGE if diff else EXISTS, "settings re-applied by every run", diff, current
        )
    script_key = s.scripts_prefix + GLUE_SCRIPT.name
    digest = hashlib.sha256(GLUE_SCRIPT.read_bytes()).hexdigest()
    head = read(s3.head_object, Bucket=bucket, Key=script_key) if exists else None
    if head is None:
        plan.add("s3", f"s3 object {bucket}/{script_key}", CREATE, f"the Glue job's script (sha256 {digest[:12]})")
    elif head.get("Metadata", {}).get("sha256") != digest:
        plan.add("s3", f"s3 object {bucket}/{script_key}", CHANGE, "a new version: the local script changed")
    else:
        plan.add("s3", f"s3 object {bucket}/{script_key}", EXISTS, "unchanged: not uploaded again")
    if source_url.startswith("file://"):
        from pathlib import Path
        from urllib.parse import unquote, urlparse

        path = Path(unquote(urlparse(source_url).path))
        if path.is_file():
            key, _sha256 = storage.incoming_key(path, s.incoming_prefix)
            head_in = read(s3.head_object, Bucket=bucket, Key=key) if exists else None
            plan.add(
                "s3",
                f"s3 object {bucket}/{key}",
                EXISTS if head_in else CREATE,
                f"the local source uploaded for the Glue job ({source_url})",
            )
    landed = read(s3.head_object, Bucket=bucket, Key=s.data_key) if exists else None
    plan.add(
        "s3",
        f"s3 object {bucket}/{s.data_key}",
        REPLACE if landed else CREATE,
        "the landed NDJSON; the Glue job writes a new version unless the source is unchanged"
        + (f" (now version {landed.get('VersionId')}, {landed.get('ContentLength')} bytes)" if landed else ""),
    )
    plan.add(
        "s3",
        f"s3 object {bucket}/{s.quarantine_prefix}*",
        CREATE,
        "the run's quarantined records, only if there are any (quarantine/<run id>/...)",
    )
    return landed


def plan_glue(plan: Plan, s: Settings, role_arn: str) -> None:
    definition = glue_job_definition(s, role_arn)  # exactly as Pipeline.setup_glue_job deploys it
    glue = s.aws_client("glue")
    got = read(glue.get_job, JobName=s.glue_job_name)
    if got is None:
        plan.add(
            "glue",
            f"glue job {s.glue_job_name}",
            CREATE,
            "Python shell, 1/16 DPU",
            json_diff(None, definition, s.glue_job_name),
        )
    else:
        current = {k: got["Job"].get(k) for k in definition}
        diff = json_diff(current, definition, s.glue_job_name)
        plan.add(
            "glue",
            f"glue job {s.glue_job_name}",
            CHANGE if diff else EXISTS,
            "UpdateJob with the wanted definition" if diff else "definition as wanted",
            diff,
            current,
        )
    logs = s.aws_client("logs")
    groups = {
        g["logGroupName"]
        for g in teardown._pages(logs, "describe_log_groups", "logGroups", logGroupNamePrefix="/aws-glue/python-jobs/")
    }
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        plan.add(
            "glue",
            f"log group {group}",
            EXISTS if group in groups else CREATE,
            "shared by every Glue Python-shell job of the account; Glue creates it",
        )
        plan.add("glue", f"log stream {group}/*", CREATE, "one stream per job run, named by the run id")
