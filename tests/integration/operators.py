"""The local operator, for tests that run the pipeline under names of their own.

In local mode every AWS call is signed as the one `operator` user, which holds exactly
`helpers.iam_operator.operator_policy` for the default settings' names (helpers/local_cloud/bootstrap.py). A
test module with its own bucket, roles and Glue job is a second deployment: in a real account its
operator would need the operator policy for those names too. `operating(settings)` gives the operator
exactly that, as a second managed policy (IAM's answer is the union of a user's policies,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html), for as long
as the test needs it, and takes it away again; nothing wider.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from helpers import iam
from helpers.local_cloud.bootstrap import OPERATOR_POLICY, OPERATOR_USER, admin_client, operator_policy_for
from helpers.settings import Settings


_ACCOUNT_SETUP_DONE: set[tuple[str, ...]] = set()


def account_setup(settings: Settings) -> Settings:
    """The administrator's Snowflake account setup (sql/00_account_setup.sql) for `settings`' names,
    once per set of names per test session: a deployment with databases of its own needs them made
    (and owned by its roles) before it runs, as on a real account. Returns `settings`."""
    from helpers.local_cloud.account_bootstrap import setup_snowflake_account

    s = settings
    key = (
        s.dev_database,
        s.prod_database,
        s.integration_name,
        s.bucket or "",
        s.data_prefix,
        s.snowflake_role_name,
        s.dev_role,
        s.prod_role,
        s.reader_role,
        str(s.state_dir),
    )
    if key not in _ACCOUNT_SETUP_DONE:
        setup_snowflake_account(s)
        _ACCOUNT_SETUP_DONE.add(key)
    return s


@contextlib.contextmanager
def operating(settings: Settings) -> Iterator[Settings]:
    """While inside: the local operator may run, plan and tear down `settings`' deployment (and its
    Snowflake account setup has been run)."""
    account_setup(settings)
    admin = admin_client(settings, "iam")
    account = admin_client(settings, "sts").get_caller_identity()["Account"]
    document = operator_policy_for(settings, account)
    if document == operator_policy_for(Settings(), account):  # only databases differ: already granted
        yield settings
        return
    name = f"{OPERATOR_POLICY}-{hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:10]}"
    arn = iam.ensure_managed_policy(admin, account, name, document, "A test deployment's operator policy")
    admin.attach_user_policy(UserName=OPERATOR_USER, PolicyArn=arn)
    try:
        yield settings
    finally:
        admin.detach_user_policy(UserName=OPERATOR_USER, PolicyArn=arn)
        admin.delete_policy(PolicyArn=arn)


@contextlib.contextmanager
def signing_keys() -> Iterator[set[str]]:
    """The access key ids that signed each AWS request this process sent through boto3's default
    session (every client `Settings.aws_client` makes) while inside."""
    import boto3

    keys: set[str] = set()

    def record(request: Any, **_: Any) -> None:
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        keys.add(auth.partition("Credential=")[2].partition("/")[0] or "(unsigned)")

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events
    events.register("before-send", record)
    try:
        yield keys
    finally:
        events.unregister("before-send", record)
