"""A cloud-mode rehearsal: `PIPELINE_MODE=cloud` against the local cloud through explicit endpoint
overrides, so the path a real user takes (standard AWS credential chain, key-pair auth, a bucket they
name, an s3:// source, no local-only defaults) runs end to end: dev, prod, teardown - as an operator
holding exactly `helpers.iam_operator.operator_policy` (the least-privilege identity policy the README tells a
user to attach), so the run, the prod run and the teardown prove that policy sufficient under the local
AWS's enforcement (IAM, S3 object ARNs, Glue job and Logs ARNs, iam:PassRole to Glue only).

What differs from a real account is only where the endpoints are: `AWS_ENDPOINT_URL` (boto3's standard
override, https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html) and
`SNOWFLAKE_HOST` / `SNOWFLAKE_PORT` / `SNOWFLAKE_PROTOCOL`. The operator's keys come from a shared
credentials file and its region from a config file (the standard chain,
https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html), never from the local cloud's
bootstrap file: the state dir the subprocesses see is empty.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import iam_operator, iam_policies
from helpers.local_cloud.account_bootstrap import setup_snowflake_account
from helpers.local_cloud.bootstrap import admin_client
from helpers.settings import PROJECT_ROOT, Settings
from tests.conftest import FIXTURE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud_env(local_cloud, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("rehearsal")
    local = Settings()  # the test's own view of the local cloud: only to make the operator's keys
    endpoints = local.local_cloud
    iam = admin_client(local, "iam")  # making an IAM user is the administrator's, not the operator's
    suffix = secrets.token_hex(3)
    names = {
        "bucket": f"countries-rehearsal-{suffix}",
        "glue_job": f"rehearsal-ingest-{suffix}",
        "glue_role": f"rehearsal-glue-{suffix}",
        "snowflake_role": f"rehearsal-snowflake-{suffix}",
    }
    account = local.aws_client("sts").get_caller_identity()["Account"]
    policy = iam_operator.operator_policy(
        iam_policies.Names(names["bucket"], "data/countries/", "scripts/", "quarantine/", "us-east-1", account),
        names["glue_role"],
        names["snowflake_role"],
        names["glue_job"],
    )
    user = f"rehearsal-operator-{suffix}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="operator", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    (home / "credentials").write_text(
        f"[rehearsal]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n"
    )
    (home / "config").write_text("[profile rehearsal]\nregion = us-east-1\n")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (home / "rsa_key.p8").write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (home / "state").mkdir()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNOWFLAKE_", "PIPELINE_"))}
    env = {
        **keep,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PIPELINE_MODE": "cloud",
        "PIPELINE_STATE_DIR": str(home / "state"),  # empty: no local bootstrap file to fall back on
        "PIPELINE_ARTIFACTS_DIR": str(home / "artifacts"),
        "PIPELINE_DBT_TARGET_DIR": str(home / "dbt-target"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_PROFILE": "rehearsal",
        "AWS_ENDPOINT_URL": endpoints["aws"]["url"],
        "PIPELINE_BUCKET": names["bucket"],
        "PIPELINE_GLUE_JOB": names["glue_job"],
        "PIPELINE_GLUE_ROLE": names["glue_role"],
        "PIPELINE_SNOWFLAKE_AWS_ROLE": names["snowflake_role"],
        "PIPELINE_DEV_DATABASE": "REHEARSAL_DEV",
        "PIPELINE_PROD_DATABASE": "REHEARSAL_PROD",
        "PIPELINE_INTEGRATION": "REHEARSAL_S3_INTEGRATION",
        "SNOWFLAKE_ACCOUNT": "rehearsal-account",
        "SNOWFLAKE_USER": "PIPELINE_SERVICE_USER",
        "SNOWFLAKE_PRIVATE_KEY_PATH": str(home / "rsa_key.p8"),
        "PIPELINE_DEV_ROLE": "REHEARSAL_DEV_ROLE",
        "PIPELINE_PROD_ROLE": "REHEARSAL_PROD_ROLE",
        "SNOWFLAKE_WAREHOUSE": "COUNTRIES_WH",
        "SNOWFLAKE_HOST": endpoints["snowflake"]["host"],
        "SNOWFLAKE_PORT": str(endpoints["snowflake"]["port"]),
        "SNOWFLAKE_PROTOCOL": endpoints["snowflake"]["protocol"],
    }
    # the administrator's one-time account setup (sql/00_account_setup.sql), as the local administrator
    setup_snowflake_account(
        Settings(
            bucket=names["bucket"],
            snowflake_role_name=names["snowflake_role"],
            dev_database="REHEARSAL_DEV",
            prod_database="REHEARSAL_PROD",
            integration_name="REHEARSAL_S3_INTEGRATION",
            dev_role="REHEARSAL_DEV_ROLE",
            prod_role="REHEARSAL_PROD_ROLE",
        )
    )
    # the operator puts the source where the Glue job may read it, as `aws s3 cp` would
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    s3.create_bucket(Bucket=env["PIPELINE_BUCKET"])
    s3.upload_file(str(FIXTURE), env["PIPELINE_BUCKET"], "incoming/countries.json")
    env["REHEARSAL_SOURCE"] = f"s3://{env['PIPELINE_BUCKET']}/incoming/countries.json"
    return env


def helpers_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "helpers", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def test_a_cloud_mode_run_dev_then_prod_then_teardown_succeeds_through_the_cloud_code_path(cloud_env):
    expected = {}
    for country in json.loads(Path(FIXTURE).read_text()):
        for continent in country["continents"]:
            expected[continent] = expected.get(continent, 0) + 1
    for target in ("dev", "prod"):
        run = helpers_cli(cloud_env, "run", "--target", target, "--source-url", cloud_env["REHEARSAL_SOURCE"])
        assert run.returncode == 0, run.stderr[-3000:]
        report = json.loads((Path(cloud_env["PIPELINE_ARTIFACTS_DIR"]) / "run_report.json").read_text())
        assert report["status"] == "succeeded" and report["target"] == target
        assert report["rows_per_continent"] == {c: expected.get(c, 0) for c in report["rows_per_continent"]}
        assert report["snowflake"]["database"] == cloud_env[f"PIPELINE_{target.upper()}_DATABASE"]
    # nothing fell back on the local cloud's bootstrap file
    assert list(Path(cloud_env["PIPELINE_STATE_DIR"]).iterdir()) == []
    # a cloud-mode teardown with no terminal to confirm on and no --yes refuses and deletes nothing
    refused = helpers_cli(cloud_env, "teardown")
    assert refused.returncode == 2 and "REFUSED" in refused.stderr, refused.stderr[-2000:]
    assert f"S3 bucket s3://{cloud_env['PIPELINE_BUCKET']}" in refused.stderr
    rerun = helpers_cli(cloud_env, "run", "--target", "dev", "--source-url", cloud_env["REHEARSAL_SOURCE"])
    assert rerun.returncode == 0 and "unchanged source" in rerun.stdout + rerun.stderr  # all still there


def test_the_smoke_test_runs_every_step_then_leaves_nothing_and_writes_a_masked_report(cloud_env):
    """`python -m helpers smoke`: plan -> dev run -> prod run -> validation -> teardown -> audit, as the
    operator, with one evidence report (what a user with accounts attaches to a bug report)."""
    refused = helpers_cli(cloud_env, "smoke", "--source-url", cloud_env["REHEARSAL_SOURCE"])
    assert refused.returncode == 2 and "REFUSED" in refused.stderr  # it ends with a teardown: asks first
    smoke = helpers_cli(cloud_env, "smoke", "--yes", "--source-url", cloud_env["REHEARSAL_SOURCE"])
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    out = Path(cloud_env["PIPELINE_ARTIFACTS_DIR"]) / "smoke"
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and report["mode"] == "cloud"
    assert [s["name"] for s in report["steps"]] == ["plan", "dev run", "prod run", "validation", "teardown", "audit"]
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in report["steps"])
    assert {"python", "boto3", "dbt-core", "dbt-snowflake", "snowflake-connector-python"} <= set(report["versions"])
    prod = next(s for s in report["steps"] if s["name"] == "prod run")["detail"]
    assert prod["rows_per_layer"]["raw"] == len(json.loads(FIXTURE.read_text()))
    assert sum(prod["rows_per_continent"].values()) == prod["rows_per_layer"]["mart_continent_rows"]
    text = (out / "report.json").read_text() + (out / "report.md").read_text()
    account = Settings(mode="local").aws_client("sts").get_caller_identity()["Account"]
    for identifier in (account, cloud_env["SNOWFLAKE_ACCOUNT"], cloud_env["PIPELINE_BUCKET"]):
        assert identifier not in text, f"{identifier} is not masked"
    assert "| prod run | ok |" in (out / "report.md").read_text()
    # the CLI teardown afterwards finds nothing left to delete
    down = helpers_cli(cloud_env, "teardown", "--json", "--yes")
    assert down.returncode == 0, down.stderr[-3000:]
    result = json.loads(down.stdout[down.stdout.index("{") :])
    assert result["deleted"] == [] and not any(result["remaining"].values()), result


def test_cloud_mode_refuses_a_local_file_source_naming_the_fix(cloud_env, tmp_path):
    source = tmp_path / "countries.json"
    source.write_text(FIXTURE.read_text())
    run = helpers_cli(cloud_env, "run", "--source-url", source.as_uri())
    assert run.returncode != 0
    assert "s3://" in run.stderr and "incoming/" in run.stderr


def test_the_operator_policy_denies_other_roles_buckets_and_glue_jobs(cloud_env):
    """What the operator must not do is denied by the local AWS's evaluation of the very policy the run
    above succeeded with (IAM, S3 and Glue resource ARNs,
    https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html)."""
    import boto3
    import botocore.exceptions

    kwargs = {"endpoint_url": cloud_env["AWS_ENDPOINT_URL"], "region_name": "us-east-1"}
    creds = {}
    for line in Path(cloud_env["AWS_SHARED_CREDENTIALS_FILE"]).read_text().splitlines():
        if "=" in line:
            k, v = (p.strip() for p in line.split("=", 1))
            creds[k] = v
    session = boto3.session.Session(**creds)
    iam, s3, glue = (session.client(s, **kwargs) for s in ("iam", "s3", "glue"))
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    account = session.client("sts", **kwargs).get_caller_identity()["Account"]
    glue_role = f"arn:aws:iam::{account}:role/{cloud_env['PIPELINE_GLUE_ROLE']}"
    denied = {
        "another role": lambda: iam.create_role(RoleName="not-ours", AssumeRolePolicyDocument=trust),
        "another managed policy": lambda: iam.create_policy(PolicyName="not-ours", PolicyDocument=trust),
        "another bucket": lambda: s3.create_bucket(Bucket=f"{cloud_env['PIPELINE_BUCKET']}-other"),
        "another Glue job": lambda: glue.create_job(
            Name="not-ours", Role=glue_role, Command={"Name": "pythonshell", "ScriptLocation": "s3://x/y.py"}
        ),
    }
    for what, call in denied.items():
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] in {"AccessDenied", "AccessDeniedException"}, what
