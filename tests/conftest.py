"""Shared fixtures. Integration tests run against a local cloud of their own: its state lives in a
temporary folder, so a developer's own `.local/` (and its running services) are never touched."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURE = PROJECT_ROOT / "helpers" / "fixtures" / "countries_sample.json"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "countries_v3.1.json"


@pytest.fixture(scope="session")
def fixture_countries() -> list[dict]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start moto + fakesnow + the fixture server once per test session, in a private state dir."""
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
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)  # the tests' Settings() and every subprocess they start see these
    cloud = LocalCloud(Settings())
    cloud.up()
    try:
        yield cloud
    finally:
        cloud.down()
        for key, value in saved.items():  # the session leaves the environment as it found it
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def statement_log(local_cloud: object) -> Path:
    """The local warehouse's statement log (one JSON line per SQL text it received)."""
    return Path(os.environ["PIPELINE_LOCAL_WAREHOUSE_STATEMENT_LOG"])


@pytest.fixture
def settings(local_cloud: object) -> object:
    from helpers.settings import Settings

    return Settings()
