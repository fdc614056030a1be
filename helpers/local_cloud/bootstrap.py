"""The local cloud's bootstrap: what an administrator does once in a real account before anyone runs
the pipeline, done here by `LocalCloud.up()` with the local admin keys once the services are ready.

Steps (`STEPS`, run in order; each is idempotent, so a second `up`, or `up` against a cloud that is
already running, changes only what differs):

* `aws_operator` - the IAM user `operator` (OPERATOR_USER) holding exactly
  `helpers.iam_operator.operator_policy` for the settings' names (bucket, prefixes, roles, Glue job), and one
  access key, recorded in the connection file (cloud.json) next to the admin keys. In local mode
  `Settings.aws_client` signs every call with that key, so a run, a prod run, `plan` and `teardown`
  locally prove the policy sufficient, and a call the policy does not allow fails here as it would
  in a real account. The admin keys stay in cloud.json only for this bootstrap and for tests
  (`admin_client`).

The policy is a customer-managed policy attached to the user, not an inline one: IAM caps a user's
inline policies at 2,048 characters in total (whitespace not counted), and the operator policy is
about twice that; a managed policy may hold 6,144
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). It is also the form
the README's real-account setup uses (helpers.iam_operator.github_deploy_role), and a changed policy becomes
a new default version instead of a replaced document.

* `snowflake_account` - the Snowflake account setup (sql/00_account_setup.sql) for the settings' names,
  run as the local administrator, so every local run goes through the roles, databases and integration
  an administrator makes once on a real account.

A further step is a function `step(ctx: Bootstrap) -> None` added to
STEPS: it may use `ctx.admin(service)`, `ctx.record(name, data)` and add entries to `ctx.connection`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import iam, iam_operator, iam_policies
from helpers.settings import Settings

OPERATOR_USER = "operator"
OPERATOR_POLICY = f"{OPERATOR_USER}-policy"
OPERATOR_KEY_FILE = "aws_operator.json"


_session: Any = None


def _client(aws: dict[str, Any], service: str, keys: dict[str, str]) -> Any:
    """An admin-signed client, from a boto3 session of its own: what is hooked on boto3's default
    session (the pipeline's clients, e.g. a test recording their calls) never sees the admin's."""
    global _session
    import boto3
    from botocore.config import Config

    _session = _session or boto3.session.Session()
    return _session.client(
        service,
        endpoint_url=aws["url"],
        region_name=aws["region"],
        aws_access_key_id=keys["access_key_id"],
        aws_secret_access_key=keys["secret_access_key"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


@dataclass
class Bootstrap:
    """What a step gets: the settings `up` runs with, the state dir, and the connection file's
    content so far (endpoints, admin keys), to which a step adds what it creates."""

    settings: Settings
    state_dir: Path
    connection: dict[str, Any]

    def admin(self, service: str) -> Any:
        return _client(self.connection["aws"], service, self.connection["aws"]["admin"])

    def recorded(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.state_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def record(self, name: str, data: dict[str, Any]) -> None:
        """A secret of the local cloud, readable by its owner only (like aws_admin.json)."""
        fd = os.open(self.state_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)


Step = Callable[[Bootstrap], None]


def operator_policy_for(settings: Settings, account_id: str) -> dict[str, Any]:
    """helpers.iam_operator.operator_policy for these settings' names."""
    s = settings
    names = iam_policies.Names(
        s.bucket or "",
        s.data_prefix,
        s.scripts_prefix,
        s.quarantine_prefix,
        s.aws_region or "",
        account_id,
        s.incoming_prefix,
    )
    return iam_operator.operator_policy(names, s.glue_role_name, s.snowflake_role_name, s.glue_job_name)


def aws_operator(ctx: Bootstrap) -> None:
    """The operator user, holding exactly the operator policy, with one access key."""
    client = ctx.admin("iam")
    account = ctx.admin("sts").get_caller_identity()["Account"]
    try:
        arn = client.get_user(UserName=OPERATOR_USER)["User"]["Arn"]
    except client.exceptions.NoSuchEntityException:
        arn = client.create_user(UserName=OPERATOR_USER, Tags=[{"Key": "project", "Value": "countries-pipeline"}])[
            "User"
        ]["Arn"]
    policy_arn = iam.ensure_managed_policy(
        client,
        account,
        OPERATOR_POLICY,
        operator_policy_for(ctx.settings, account),
        "Runs the countries pipeline (dev, prod) and its teardown: helpers.iam.operator_policy",
    )
    # exactly that policy: nothing else attached or inline that could widen it
    attached = [p["PolicyArn"] for p in client.list_attached_user_policies(UserName=OPERATOR_USER)["AttachedPolicies"]]
    for other in attached:
        if other != policy_arn:
            client.detach_user_policy(UserName=OPERATOR_USER, PolicyArn=other)
    if policy_arn not in attached:
        client.attach_user_policy(UserName=OPERATOR_USER, PolicyArn=policy_arn)
    for name in client.list_user_policies(UserName=OPERATOR_USER)["PolicyNames"]:
        client.delete_user_policy(UserName=OPERATOR_USER, PolicyName=name)

    # one current key: the recorded one if IAM still has it (the same server), else a new one
    recorded = ctx.recorded(OPERATOR_KEY_FILE) or {}
    keys = client.list_access_keys(UserName=OPERATOR_USER)["AccessKeyMetadata"]
    keep = next(
        (k for k in keys if k["AccessKeyId"] == recorded.get("access_key_id") and k["Status"] == "Active"), None
    )
    for key in keys:
        if key is not keep:
            client.delete_access_key(UserName=OPERATOR_USER, AccessKeyId=key["AccessKeyId"])
    if keep is None:
        new = client.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
        recorded = {"access_key_id": new["AccessKeyId"], "secret_access_key": new["SecretAccessKey"]}
    record = {
        "user": OPERATOR_USER,
        "arn": arn,
        "policy_arn": policy_arn,
        "access_key_id": recorded["access_key_id"],
        "secret_access_key": recorded["secret_access_key"],
    }
    ctx.record(OPERATOR_KEY_FILE, record)
    ctx.connection["aws"]["operator"] = record


def snowflake_account(ctx: Bootstrap) -> None:
    """sql/00_account_setup.sql for the settings' names, as the local Snowflake administrator
    (helpers/local_cloud/account_bootstrap.py): roles, warehouse, monitor, databases, integration, users."""
    from helpers.local_cloud.account_bootstrap import setup_snowflake_account

    settings = ctx.settings.model_copy()
    settings.__dict__["local_cloud"] = ctx.connection  # the endpoints and keys of this `up`, not a stale file
    setup_snowflake_account(settings)


STEPS: tuple[Step, ...] = (aws_operator, snowflake_account)


def bootstrap(
    settings: Settings, connection: dict[str, Any], state_dir: Path | None = None, steps: Sequence[Step] = STEPS
) -> dict[str, Any]:
    """Run the bootstrap steps with the admin keys in `connection` (cloud.json's content: endpoints
    and admin keys); returns it with what the steps added (the operator's key under aws.operator)."""
    ctx = Bootstrap(settings, state_dir or settings.state_dir, connection)
    for step in steps:
        step(ctx)
    return ctx.connection


def admin_client(settings: Settings, service: str) -> Any:
    """A boto3 client for the LOCAL cloud signed with its admin keys (Action * on Resource *).

    Why it exists: in local mode `Settings.aws_client` signs as the operator, so the pipeline can
    never lean on a permission the operator policy lacks. A few things are not the operator's to do
    and need the admin: the bootstrap itself, and in tests, setting up what belongs to someone else
    (a foreign bucket, role or Glue job, to prove the operator is denied it) and inspecting the
    whole account (moto's state, other principals). Only those may use it; the pipeline never does.
    """
    if settings.mode != "local":
        raise RuntimeError("admin_client is for the local cloud only (PIPELINE_MODE=local)")
    # boto3 directly, not Settings.aws_client: a test that wraps the pipeline's clients (e.g. to
    # enforce AWS's deletion order) still reads the real state through this one
    aws = {"url": settings.resolved_aws_endpoint, "region": settings.aws_region}
    return _client(aws, service, settings.local_cloud["aws"]["admin"])
