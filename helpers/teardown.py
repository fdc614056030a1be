"""Teardown: delete every AWS and Snowflake object the pipeline created, and nothing else, in the
order AWS requires; then audit what remains. Safe to run any number of times, after a partial or
crashed run too: every deletion tolerates "already gone"."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from helpers import glue_job, warehouse
from helpers.settings import Settings

Echo = Callable[[str], None]


def _gone(e: Exception) -> bool:
    code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
    return code in {"NoSuchEntity", "NoSuchBucket", "EntityNotFoundException", "ResourceNotFoundException", "404"}


def _attempt(deleted: list[str], label: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
        deleted.append(label)
    except Exception as e:
        if not _gone(e):
            raise


def our_run_ids(settings: Settings) -> list[str]:
    glue = settings.aws_client("glue")
    run_ids: list[str] = []
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        for page in glue.get_paginator("get_job_runs").paginate(JobName=settings.glue_job_name):
            run_ids += [r["Id"] for r in page["JobRuns"]]
    return run_ids


def delete_glue(settings: Settings, deleted: list[str], run_ids: list[str]) -> None:
    glue, logs = settings.aws_client("glue"), settings.aws_client("logs")
    # The /aws-glue/python-jobs/* groups are shared by every Glue job in the account: delete only
    # our runs' streams, and a group only once it is empty.
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        for run_id in run_ids:
            _attempt(deleted, f"log stream {group}/{run_id}", lambda g=group, r=run_id: logs.delete_log_stream(
                logGroupName=g, logStreamName=r))
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            if not logs.describe_log_streams(logGroupName=group, limit=1)["logStreams"]:
                _attempt(deleted, f"log group {group}", lambda g=group: logs.delete_log_group(logGroupName=g))
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        glue.get_job(JobName=settings.glue_job_name)
        glue.delete_job(JobName=settings.glue_job_name)
        deleted.append(f"glue job {settings.glue_job_name}")


def delete_iam(settings: Settings, deleted: list[str]) -> None:
    iam = settings.aws_client("iam")
    for role in (settings.glue_role_name, settings.snowflake_role_name):
        policy_arns: list[str] = []
        try:
            policy_arns = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
        except iam.exceptions.NoSuchEntityException:
            pass
        for arn in policy_arns:  # detach before deleting: AWS refuses to delete an attached policy
            _attempt(deleted, f"detach {arn} from {role}", lambda a=arn, r=role: iam.detach_role_policy(
                RoleName=r, PolicyArn=a))
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=name)
        _attempt(deleted, f"iam role {role}", lambda r=role: iam.delete_role(RoleName=r))
        account = settings.aws_client("sts").get_caller_identity()["Account"]
        arn = f"arn:aws:iam::{account}:policy/{role}-policy"
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not v["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
        _attempt(deleted, f"iam policy {arn}", lambda a=arn: iam.delete_policy(PolicyArn=a))


def delete_bucket(settings: Settings, deleted: list[str]) -> None:
    s3 = settings.aws_client("s3")
    try:
        s3.head_bucket(Bucket=settings.bucket)
    except s3.exceptions.ClientError:
        return
    # a versioned bucket: every version and delete marker must go before the bucket can
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=settings.bucket):
        objects = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if objects:
            s3.delete_objects(Bucket=settings.bucket, Delete={"Objects": objects, "Quiet": True})
            deleted.append(f"{len(objects)} object versions in s3://{settings.bucket}")
    s3.delete_bucket(Bucket=settings.bucket)
    deleted.append(f"bucket s3://{settings.bucket}")


def delete_snowflake(settings: Settings, deleted: list[str]) -> None:
    with warehouse.connect(settings, None) as conn:
        for db in (settings.dev_database, settings.prod_database):
            warehouse.execute(conn, f"DROP DATABASE IF EXISTS {db}")
            deleted.append(f"snowflake database {db}")
        warehouse.execute(conn, f"DROP STORAGE INTEGRATION IF EXISTS {settings.integration_name}")
        deleted.append(f"snowflake integration {settings.integration_name}")


def audit(settings: Settings, run_ids: list[str] | tuple[str, ...] = ()) -> dict[str, list[str]]:
    """What of ours is still there, listed from the services themselves. The Glue log groups are
    shared with every other Glue job of the account: ours are the streams named by our run ids."""
    remaining: dict[str, list[str]] = {}
    iam = settings.aws_client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    remaining["iam roles"] = [r for r in roles if r in (settings.glue_role_name, settings.snowflake_role_name)]
    policies = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    ours = {f"{settings.glue_role_name}-policy", f"{settings.snowflake_role_name}-policy"}
    remaining["iam policies"] = [p for p in policies if p in ours]
    buckets = [b["Name"] for b in settings.aws_client("s3").list_buckets().get("Buckets", [])]
    remaining["s3 buckets"] = [b for b in buckets if b == settings.bucket]
    jobs = settings.aws_client("glue").list_jobs().get("JobNames", [])
    remaining["glue jobs"] = [j for j in jobs if j == settings.glue_job_name]
    logs = settings.aws_client("logs")
    remaining["log streams"] = []
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            streams = {
                st["logStreamName"]
                for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group)
                for st in page["logStreams"]
            }
            remaining["log streams"] += [f"{group}/{r}" for r in run_ids if r in streams]
    with warehouse.connect(settings, None) as conn:
        dbs = [r[1] for r in warehouse.execute(conn, "SHOW DATABASES").rows]
        remaining["snowflake databases"] = [d for d in dbs if d in (settings.dev_database, settings.prod_database)]
        integrations = [r[0] for r in warehouse.execute(conn, "SHOW INTEGRATIONS").rows]
        remaining["snowflake integrations"] = [i for i in integrations if i == settings.integration_name]
    return remaining


def teardown(settings: Settings | None = None, echo: Echo | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    echo = echo or (lambda _m: None)
    deleted: list[str] = []
    run_ids = our_run_ids(settings)
    for label, step in (
        ("snowflake", delete_snowflake),
        ("glue", lambda s, d: delete_glue(s, d, run_ids)),
        ("iam", delete_iam),
        ("s3", delete_bucket),
    ):
        echo(f"[teardown] {label}")
        step(settings, deleted)
    remaining = audit(settings, run_ids)
    for line in deleted:
        echo(f"  deleted {line}")
    left = sum(len(v) for v in remaining.values())
    echo(f"[teardown] audit: {left} resource(s) remain" + ("" if left else " - nothing is left"))
    return {"deleted": deleted, "remaining": remaining}
