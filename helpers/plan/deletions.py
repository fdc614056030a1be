"""`plan --teardown`: what teardown would delete, found the way teardown finds it (helpers/teardown.py's
own discovery functions), so the list cannot drift from what a teardown really does."""

from __future__ import annotations

import contextlib
from typing import Any

from helpers import glue_job, teardown, warehouse
from helpers.plan.model import read
from helpers.settings import TARGETS, Settings


def teardown_plan(s: Settings) -> dict[str, Any]:
    """What teardown would delete, found the way teardown finds it (helpers/teardown.py)."""
    found: list[str] = []
    run_ids = teardown.our_run_ids(s)
    logs = s.aws_client("logs")
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            streams = {
                st["logStreamName"]
                for st in teardown._pages(logs, "describe_log_streams", "logStreams", logGroupName=group)
            }
            found += [f"log stream {group}/{r}" for r in run_ids if r in streams]
            if streams and streams <= set(run_ids):
                found.append(f"log group {group} (empty once our streams are gone)")
    glue = s.aws_client("glue")
    if read(glue.get_job, JobName=s.glue_job_name):
        found.append(f"glue job {s.glue_job_name}")
    iam_client = s.aws_client("iam")
    account = s.aws_client("sts").get_caller_identity()["Account"]
    for role in teardown.our_roles(s):
        if read(iam_client.get_role, RoleName=role) is None:
            continue
        for p in teardown._pages(iam_client, "list_attached_role_policies", "AttachedPolicies", RoleName=role):
            found.append(f"detach {p['PolicyArn']} from {role}")
        for n in teardown._pages(iam_client, "list_role_policies", "PolicyNames", RoleName=role):
            found.append(f"inline policy {n} of {role}")
        for prof in teardown._pages(iam_client, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role):
            found.append(f"remove {role} from instance profile {prof['InstanceProfileName']}")
        found.append(f"iam role {role}")
    for name in teardown.our_policy_names(s):
        arn = f"arn:aws:iam::{account}:policy/{name}"
        if read(iam_client.get_policy, PolicyArn=arn) is None:
            continue
        for v in teardown._pages(iam_client, "list_policy_versions", "Versions", PolicyArn=arn):
            if not v["IsDefaultVersion"]:
                found.append(f"policy version {arn}#{v['VersionId']}")
        found.append(f"iam policy {arn}")
    s3 = s.aws_client("s3")
    if read(s3.head_bucket, Bucket=s.bucket) is not None:
        for u in teardown._pages(s3, "list_multipart_uploads", "Uploads", Bucket=s.bucket):
            found.append(f"unfinished upload s3://{s.bucket}/{u['Key']}")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=s.bucket):
            for v in page.get("Versions", []):
                found.append(f"object version s3://{s.bucket}/{v['Key']}#{v['VersionId']}")
            for v in page.get("DeleteMarkers", []):
                found.append(f"delete marker s3://{s.bucket}/{v['Key']}#{v['VersionId']}")
        found.append(f"bucket s3://{s.bucket}")
    for target in TARGETS:
        db = s.database(target).upper()
        with warehouse.connect(s, target) as conn:
            databases = {str(r[1]).upper() for r in warehouse.execute(conn, "SHOW DATABASES").rows}
            if db in databases:  # SHOW ... IN DATABASE of a missing database is an error on Snowflake
                found += [f"snowflake schema {db}.{schema}" for schema in teardown._existing_schemas(conn, db)]
    return {
        "deletes": teardown.what_teardown_deletes(s),
        "keeps": teardown.what_teardown_keeps(s),
        "found": found,
        "run_ids": run_ids,
    }
