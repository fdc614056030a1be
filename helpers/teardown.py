"""Teardown: delete every AWS and Snowflake object the pipeline created, and nothing else, in the
order AWS requires; then audit what remains.

* Ours means named by `Settings`: the bucket, the Glue job (and the log streams of its runs), the
  two roles and their `<role>-policy` managed policies, and the schemas the pipeline makes in the dev
  and prod databases (with their stages and tables). Nothing is found by pattern, so nothing else can
  be hit. The databases, the storage integration, the warehouse, the roles and the users belong to the
  administrator's account setup: they stay (sql/99_account_teardown.sql removes them).
* AWS's order, followed here even where the local emulator is lenient (moto lets you delete an
  attached policy, or a user that still has access keys; AWS refuses with DeleteConflict):
  a role is emptied first (managed policies detached, inline policies deleted, instance profiles
  left) before it is deleted; a managed policy loses its non-default versions before it is deleted,
  and is kept, and reported, while anything that is not ours still has it attached; a bucket is
  emptied of every object version, every delete marker and every unfinished multipart upload first.
* Safe to run any number of times, after a partial or a crashed run too: what is already gone is
  skipped, and `deleted` lists only what this call really deleted (a second call returns []).
* One failing step does not stop the others; their errors are raised together at the end.
* Not while a pipeline run is in progress: teardown takes the run lock (helpers/run_lock.py) for its
  whole duration, so a run cannot recreate what was just deleted (the Glue job landing a file in an
  emptied bucket, dbt rebuilding a dropped database). It fails at once naming the run, or waits up
  to `Settings.run_lock_wait_seconds`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from helpers import glue_job, publish, run_lock, warehouse
from helpers.settings import TARGETS, Settings

Echo = Callable[[str], None]

_GONE_CODES = {
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "EntityNotFoundException",
    "ResourceNotFoundException",
    "NotFound",
    "404",
}


class TeardownFailed(RuntimeError):
    pass


def _code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


def _gone(e: Exception) -> bool:
    return _code(e) in _GONE_CODES


def _attempt(deleted: list[str], label: str, fn: Callable[[], Any]) -> bool:
    """Run one deletion; "already gone" is not an error. Returns True when something was deleted."""
    try:
        fn()
    except Exception as e:
        if not _gone(e):
            raise
        return False
    deleted.append(label)
    return True


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]


# -- names ------------------------------------------------------------------------------------


def our_roles(settings: Settings) -> tuple[str, str]:
    return settings.glue_role_name, settings.snowflake_role_name


def our_policy_names(settings: Settings) -> tuple[str, str]:
    """The managed policies `helpers.iam.ensure_pipeline_roles` creates: `<role>-policy`."""
    return tuple(f"{role}-policy" for role in our_roles(settings))  # type: ignore[return-value]


def our_databases(settings: Settings) -> tuple[str, str]:
    return settings.dev_database.upper(), settings.prod_database.upper()


# the schemas the pipeline makes in each target's database: LANDING (sql/01), the published layers and
# their builds (sql/04, sql/05), AUDIT (the last load's state). PUBLIC and INFORMATION_SCHEMA are not ours.
OUR_SCHEMAS = ("LANDING", *publish.LAYERS, *(f"{layer}{publish.BUILD_SUFFIX}" for layer in publish.LAYERS), "AUDIT")


def our_run_ids(settings: Settings) -> list[str]:
    glue = settings.aws_client("glue")
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        return [r["Id"] for r in _pages(glue, "get_job_runs", "JobRuns", JobName=settings.glue_job_name)]
    return []


def what_teardown_deletes(settings: Settings) -> list[str]:
    """Everything teardown may delete, by name (it deletes nothing else)."""
    return [
        f"S3 bucket s3://{settings.bucket} (every object version)",
        f"Glue job {settings.glue_job_name} and the log streams of its runs",
        *(f"IAM role {role} and its managed policy {role}-policy" for role in our_roles(settings)),
        *(
            f"Snowflake schemas {', '.join(OUR_SCHEMAS)} of database {db} (with their stages and tables)"
            for db in our_databases(settings)
        ),
    ]


def what_teardown_keeps(settings: Settings) -> list[str]:
    """The administrator's objects (sql/00_account_setup.sql): teardown leaves them for the next run."""
    return [
        *(f"Snowflake database {db} (empty of the pipeline's schemas)" for db in our_databases(settings)),
        f"Snowflake storage integration {settings.integration_name}, warehouse {settings.snowflake_warehouse}, "
        f"roles and users: an administrator removes them with sql/99_account_teardown.sql "
        "(python -m helpers account teardown prints it)",
    ]


# -- Glue and its logs --------------------------------------------------------------------------


def _settle_runs(glue: Any, job: str, timeout_s: float, echo: Echo) -> None:
    """A run still going (a crashed orchestrator leaves it behind) could write to the bucket after it
    is emptied: ask Glue to stop it and wait until it has ended."""
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        active = [
            r["Id"]
            for r in _pages(glue, "get_job_runs", "JobRuns", JobName=job)
            if r["JobRunState"] not in glue_job.TERMINAL_STATES
        ]
        if not active:
            return
        echo(f"  waiting for {len(active)} unfinished run(s) of Glue job {job}")
        with contextlib.suppress(Exception):  # not every Glue (nor the local one) can stop a run
            glue.batch_stop_job_run(JobName=job, JobRunIds=active)
        for run_id in active:
            glue_job.wait_for_run(glue, job, run_id, timeout_s=timeout_s)


def delete_glue(
    settings: Settings, deleted: list[str], run_ids: list[str], echo: Echo | None = None, run_timeout_s: float = 300
) -> None:
    glue, logs = settings.aws_client("glue"), settings.aws_client("logs")
    _settle_runs(glue, settings.glue_job_name, run_timeout_s, echo or (lambda _m: None))
    # The /aws-glue/python-jobs/* groups are shared by every Glue job in the account: delete only
    # our runs' streams, and a group only once it is empty. Streams go before the job, so that a
    # teardown interrupted here still finds the run ids (from the job) next time.
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        for run_id in run_ids:
            _attempt(
                deleted,
                f"log stream {group}/{run_id}",
                lambda g=group, r=run_id: logs.delete_log_stream(logGroupName=g, logStreamName=r),
            )
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            if not logs.describe_log_streams(logGroupName=group, limit=1)["logStreams"]:
                _attempt(deleted, f"log group {group}", lambda g=group: logs.delete_log_group(logGroupName=g))
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        glue.get_job(JobName=settings.glue_job_name)  # delete_job answers 200 for a missing job
        job = settings.glue_job_name
        _attempt(deleted, f"glue job {job}", lambda: glue.delete_job(JobName=job))


# -- IAM ----------------------------------------------------------------------------------------


def _empty_role(iam: Any, role: str, deleted: list[str]) -> bool:
    """Detach, delete inline policies, leave instance profiles. False when the role does not exist."""
    try:
        attached = _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role)
    except iam.exceptions.NoSuchEntityException:
        return False
    for policy in attached:  # detach before deleting: AWS refuses to delete an attached policy
        arn = policy["PolicyArn"]
        _attempt(deleted, f"detach {arn} from {role}", lambda a=arn: iam.detach_role_policy(RoleName=role, PolicyArn=a))
    for name in _pages(iam, "list_role_policies", "PolicyNames", RoleName=role):
        _attempt(
            deleted,
            f"inline policy {name} of {role}",
            lambda n=name: iam.delete_role_policy(RoleName=role, PolicyName=n),
        )
    # an instance profile is not ours (the pipeline creates none), but AWS will not delete a role
    # that is still in one: take the role out, keep the profile
    for profile in _pages(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role):
        name = profile["InstanceProfileName"]
        _attempt(
            deleted,
            f"remove {role} from instance profile {name}",
            lambda n=name: iam.remove_role_from_instance_profile(InstanceProfileName=n, RoleName=role),
        )
    return True


def _delete_policy(iam: Any, arn: str, ours: set[str], deleted: list[str], kept: list[str]) -> None:
    try:
        # first: for a missing policy moto lists no entities, rather than answering NoSuchEntity
        iam.get_policy(PolicyArn=arn)
    except iam.exceptions.NoSuchEntityException:
        return
    pages = list(iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn))
    roles = [r["RoleName"] for page in pages for r in page.get("PolicyRoles", [])]
    users = [u["UserName"] for page in pages for u in page.get("PolicyUsers", [])]
    groups = [g["GroupName"] for page in pages for g in page.get("PolicyGroups", [])]
    foreign_roles = [f"role {r}" for r in roles if r not in ours]
    ours_still = [r for r in roles if r in ours]
    for role in ours_still:  # normally none (delete_iam empties our roles first); belt and braces
        _attempt(deleted, f"detach {arn} from {role}", lambda r=role: iam.detach_role_policy(RoleName=r, PolicyArn=arn))
    others = foreign_roles + [f"user {u}" for u in users] + [f"group {g}" for g in groups]
    if others:
        # Not ours to change: AWS would refuse to delete the policy (DeleteConflict) and detaching
        # it would change someone else's permissions. Keep it and say why.
        kept.append(f"iam policy {arn}: still attached to {', '.join(others)}")
        return
    for version in _pages(iam, "list_policy_versions", "Versions", PolicyArn=arn):
        if not version["IsDefaultVersion"]:  # AWS deletes a policy only once it has one version left
            _attempt(
                deleted,
                f"policy version {arn}#{version['VersionId']}",
                lambda v=version["VersionId"]: iam.delete_policy_version(PolicyArn=arn, VersionId=v),
            )
    _attempt(deleted, f"iam policy {arn}", lambda: iam.delete_policy(PolicyArn=arn))


def delete_iam(settings: Settings, deleted: list[str], kept: list[str] | None = None) -> None:
    iam = settings.aws_client("iam")
    kept = kept if kept is not None else []
    account = settings.aws_client("sts").get_caller_identity()["Account"]
    roles = our_roles(settings)
    for role in roles:
        if _empty_role(iam, role, deleted):
            _attempt(deleted, f"iam role {role}", lambda r=role: iam.delete_role(RoleName=r))
    for name in our_policy_names(settings):
        _delete_policy(iam, f"arn:aws:iam::{account}:policy/{name}", set(roles), deleted, kept)


# -- S3 -----------------------------------------------------------------------------------------


def delete_bucket(settings: Settings, deleted: list[str]) -> None:
    s3, bucket = settings.aws_client("s3"), settings.bucket
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as e:
        if _gone(e):
            return
        raise  # 403: a bucket of that name we may not touch - say so, do not pretend it is gone
    for upload in _pages(s3, "list_multipart_uploads", "Uploads", Bucket=bucket):
        _attempt(
            deleted,
            f"unfinished upload s3://{bucket}/{upload['Key']}",
            lambda u=upload: s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]),
        )
    # a versioned bucket: every version and delete marker must go before the bucket can. List them
    # all first (deleting while paginating can skip keys), then delete in batches of 1000.
    objects = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
    ]
    for start in range(0, len(objects), 1000):
        batch = objects[start : start + 1000]
        errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors", [])
        if errors:
            first = errors[0]
            raise TeardownFailed(
                f"s3://{bucket}: {len(errors)} object version(s) could not be deleted, e.g. "
                f"{first.get('Key')}#{first.get('VersionId')}: {first.get('Code')} {first.get('Message')}"
            )
        deleted.append(f"{len(batch)} object versions in s3://{bucket}")
    _attempt(deleted, f"bucket s3://{bucket}", lambda: s3.delete_bucket(Bucket=bucket))


# -- Snowflake ----------------------------------------------------------------------------------


def _existing_schemas(conn: Any, database: str) -> list[str]:
    rows = warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {database}").as_dicts()
    names = {str(r["name"]).upper() for r in rows}
    return [schema for schema in OUR_SCHEMAS if schema in names]


def delete_snowflake(settings: Settings, deleted: list[str]) -> None:
    """Each target's schemas, as that target's role (it owns them); with them go their stages, file
    formats and tables. The databases and the integration are the administrator's and stay."""
    for target in TARGETS:
        db = settings.database(target)
        with warehouse.connect(settings, target) as conn:
            for schema in _existing_schemas(conn, db):
                warehouse.execute(conn, f"DROP SCHEMA IF EXISTS {db}.{schema}")
                deleted.append(f"snowflake schema {db}.{schema}")


# -- audit --------------------------------------------------------------------------------------


def audit(settings: Settings, run_ids: list[str] | tuple[str, ...] = ()) -> dict[str, list[str]]:
    """What of ours is still there, listed from the services themselves. The Glue log groups are
    shared with every other Glue job of the account: ours are the streams named by our run ids."""
    remaining: dict[str, list[str]] = {}
    iam = settings.aws_client("iam")
    roles = {r["RoleName"] for r in _pages(iam, "list_roles", "Roles")}
    remaining["iam roles"] = [r for r in our_roles(settings) if r in roles]
    policies = {p["PolicyName"] for p in _pages(iam, "list_policies", "Policies", Scope="Local")}
    remaining["iam policies"] = [p for p in our_policy_names(settings) if p in policies]
    buckets = [b["Name"] for b in settings.aws_client("s3").list_buckets().get("Buckets", [])]
    remaining["s3 buckets"] = [b for b in buckets if b == settings.bucket]
    glue = settings.aws_client("glue")
    jobs = _pages(glue, "get_jobs", "Jobs")
    remaining["glue jobs"] = [j["Name"] for j in jobs if j["Name"] == settings.glue_job_name]
    logs = settings.aws_client("logs")
    remaining["log streams"] = []
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            pages = _pages(logs, "describe_log_streams", "logStreams", logGroupName=group)
            streams = {st["logStreamName"] for st in pages}
            remaining["log streams"] += [f"{group}/{r}" for r in run_ids if r in streams]
    remaining["snowflake schemas"] = []
    remaining["snowflake stages"] = []
    for target in TARGETS:
        db = settings.database(target)
        with warehouse.connect(settings, target) as conn:
            remaining["snowflake schemas"] += [f"{db}.{schema}" for schema in _existing_schemas(conn, db)]
            stages = warehouse.execute(conn, f"SHOW STAGES IN DATABASE {db}").as_dicts()
            remaining["snowflake stages"] += [f"{s['database_name']}.{s['schema_name']}.{s['name']}" for s in stages]
    return remaining


# -- all of it ------------------------------------------------------------------------------------


def teardown(settings: Settings | None = None, echo: Echo | None = None) -> dict[str, Any]:
    """Delete everything of ours, Snowflake first (so nothing reads through the role any more),
    then Glue, IAM and S3. Returns {"deleted": [...], "kept": [...], "remaining": {...}}."""
    settings = settings or Settings()
    echo = echo or (lambda _m: None)
    with run_lock.acquire(settings.artifacts_dir, "teardown", "all", settings.run_lock_wait_seconds):
        return _teardown(settings, echo)


def _teardown(settings: Settings, echo: Echo) -> dict[str, Any]:
    deleted: list[str] = []
    kept: list[str] = []
    errors: list[str] = []
    run_ids = our_run_ids(settings)
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("snowflake", lambda: delete_snowflake(settings, deleted)),
        ("glue", lambda: delete_glue(settings, deleted, run_ids, echo)),
        ("iam", lambda: delete_iam(settings, deleted, kept)),
        ("s3", lambda: delete_bucket(settings, deleted)),
    )
    for label, step in steps:
        echo(f"[teardown] {label}")
        started = time.monotonic()
        try:
            step()
        except Exception as e:  # noqa: BLE001 - every step gets its chance; all errors raised below
            errors.append(f"{label}: {type(e).__name__}: {e}")
            echo(f"  FAILED: {errors[-1]}")
        echo(f"  ({time.monotonic() - started:.1f}s)")
    for line in deleted:
        echo(f"  deleted {line}")
    for line in kept:
        echo(f"  kept {line}")
    if errors:
        raise TeardownFailed("teardown did not finish:\n" + "\n".join(errors))
    remaining = audit(settings, run_ids)
    left = sum(len(v) for v in remaining.values())
    echo(f"[teardown] audit: {left} resource(s) remain" + ("" if left else " - nothing is left"))
    return {"deleted": deleted, "kept": kept, "remaining": remaining}
