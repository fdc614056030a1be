"""Teardown removes everything the pipeline created, in AWS's order, and proves it by listing the
services directly; it is idempotent. Runs after test_pipeline.py (alphabetical order)."""

from __future__ import annotations

import pytest

from helpers import teardown as td
from helpers.pipeline import Pipeline

pytestmark = pytest.mark.integration


def test_teardown_leaves_nothing_and_can_run_again(settings):
    report = Pipeline(settings).run(target="dev")
    run_ids = td.our_run_ids(settings)
    assert report.steps["glue"]["run_id"] in run_ids
    result = td.teardown(settings)
    assert result["remaining"] and not any(result["remaining"].values()), result["remaining"]
    assert any(d.startswith("bucket s3://") for d in result["deleted"])
    # listed from the services directly, not from teardown's own report
    assert settings.bucket not in [b["Name"] for b in settings.aws_client("s3").list_buckets()["Buckets"]]
    roles = [r["RoleName"] for r in settings.aws_client("iam").list_roles()["Roles"]]
    assert settings.glue_role_name not in roles and settings.snowflake_role_name not in roles
    assert settings.glue_job_name not in settings.aws_client("glue").list_jobs()["JobNames"]
    logs = settings.aws_client("logs")
    for group in ("/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error"):
        try:
            streams = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]}
        except logs.exceptions.ResourceNotFoundException:
            continue
        assert not streams & set(run_ids), f"our run's log stream is left in {group}"
    again = td.teardown(settings)
    assert not any(again["remaining"].values())
