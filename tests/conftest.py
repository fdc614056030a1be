"""Shared fixtures. Integration tests run against a local cloud of their own: its state lives in a
temporary folder, so a developer's own `.local/` (and its running services) are never touched. No
test sees the developer's own AWS or Snowflake credentials, and the session leaves os.environ (and
boto3's default session) as it found them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURE = PROJECT_ROOT / "helpers" / "fixtures" / "countries_sample.json"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "countries_v3.1.json"
# where boto3's default chain finds credentials, besides the shared files and instance metadata
# (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html)
AWS_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No real credentials reach a test: local mode signs with the emulators' own keys, and the
    cloud-mode tests build their whole environment. Undone when the session ends."""
    import boto3

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key in AWS_CREDENTIAL_VARS or key.startswith("SNOWFLAKE_"):
                mp.delenv(key)
        nowhere = tmp_path_factory.mktemp("no-aws-files")  # files that do not exist: no profiles
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere / "credentials"))
        mp.setenv("AWS_CONFIG_FILE", str(nowhere / "config"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # boto3's default session keeps the credentials it resolved: start without one
        mp.setattr(boto3, "DEFAULT_SESSION", None)
        yield


@pytest.fixture(scope="session")
def fixture_countries() -> list[dict]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start moto + fakesnow + the fixture server once per test session, in a private state dir."""
    import boto3

    from helpers.local_cloud.launcher import LocalCloud
    from helpers.settings import Settings

    state = tmp_path_factory.mktemp("local-cloud")
    environment = {
        # every SQL text the local warehouse receives, for tests/integration/test_parity_ledger.py
        "PIPELINE_LOCAL_WAREHOUSE_STATEMENT_LOG": str(state / "statements.jsonl"),
        "PIPELINE_STATE_DIR": str(state),
        "PIPELINE_ARTIFACTS_DIR": str(tmp_path_factory.mktemp("artifacts")),
        "PIPELINE_MODE": "local",
        "PIPELINE_DBT_TARGET_DIR": str(tmp_path_factory.mktemp("dbt-target")),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment.items():  # the tests' Settings() and every subprocess they start
            mp.setenv(key, value)
        # a default session made before (a unit test's stand-in keys, moto's mock) must not sign here
        boto3.DEFAULT_SESSION = None
        cloud = LocalCloud(Settings())
        cloud.up()
        try:
            yield cloud
        finally:
            cloud.down()
            boto3.DEFAULT_SESSION = None  # its clients point at the emulators, gone now


@pytest.fixture(scope="session")
def statement_log(local_cloud: object) -> Path:
    """The local warehouse's statement log (one JSON line per SQL text it received)."""
    return Path(os.environ["PIPELINE_LOCAL_WAREHOUSE_STATEMENT_LOG"])


@pytest.fixture
def settings(local_cloud: object) -> object:
    from helpers.settings import Settings

    return Settings()
