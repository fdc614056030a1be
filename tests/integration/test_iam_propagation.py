"""IAM is eventually consistent, and the pipeline waits where AWS and Snowflake say to.

AWS IAM User Guide, "Troubleshooting IAM" - "Changes that I make are not always immediately visible"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency):
a role just created, or a trust policy just changed, can be refused for a while. The first run on a new
account meets it twice: the first Glue StartJobRun after the job role was created, and the stage's first
LIST/COPY after the Snowflake role's trust policy was rewritten for the integration.

Here the local AWS runs with a propagation delay (`PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS`, off by
default): a role younger than that, or one whose trust policy changed less than that ago, cannot be
assumed. A first run on a fresh account must still succeed, saying that it waited.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from helpers.local_cloud.launcher import LocalCloud
from helpers.pipeline import Pipeline
from helpers.settings import Settings

pytestmark = pytest.mark.integration

DELAY_SECONDS = 6


@pytest.fixture(scope="module")
def slow_iam_cloud(tmp_path_factory, local_cloud) -> Iterator[Settings]:
    """A second local cloud, its own state dir, with the propagation delay on."""
    state = tmp_path_factory.mktemp("slow-iam")
    saved = {k: os.environ.get(k) for k in ("PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS",)}
    os.environ["PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS"] = str(DELAY_SECONDS)
    settings = Settings(
        state_dir=state,
        artifacts_dir=tmp_path_factory.mktemp("slow-iam-artifacts"),
        dbt_target_dir=tmp_path_factory.mktemp("slow-iam-dbt"),
    )
    cloud = LocalCloud(settings)
    try:
        cloud.up()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield Settings(state_dir=state, artifacts_dir=settings.artifacts_dir, dbt_target_dir=settings.dbt_target_dir)
    finally:
        cloud.down()


def test_the_propagation_delay_is_real_here(slow_iam_cloud):
    """Guard for the test below: with the delay on, a just-created role really cannot be assumed."""
    import json

    import botocore.exceptions

    from helpers.local_cloud.bootstrap import admin_client

    iam = admin_client(slow_iam_cloud, "iam")  # a role of its own name: not the operator's to create
    account = admin_client(slow_iam_cloud, "sts").get_caller_identity()["Account"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
        ],
    }
    arn = iam.create_role(RoleName="just-created", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        admin_client(slow_iam_cloud, "sts").assume_role(RoleArn=arn, RoleSessionName="too-early")


def test_a_first_run_on_a_fresh_account_waits_for_iam_and_succeeds(slow_iam_cloud):
    said: list[str] = []
    report = Pipeline(slow_iam_cloud, echo=said.append).run(target="dev")
    assert report.status == "succeeded"
    assert report.steps["validation"]["ok"]
    waits = [line for line in said if "cannot assume the job role yet" in line or "waiting for AWS" in line]
    assert waits, "the run met the propagation delay without saying it waited"
