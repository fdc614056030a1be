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
    os.environ["PIPELINE_STATE_DIR"] = str(state)
    os.environ["PIPELINE_ARTIFACTS_DIR"] = str(tmp_path_factory.mktemp("artifacts"))
    os.environ["PIPELINE_MODE"] = "local"
    os.environ["PIPELINE_DBT_TARGET_DIR"] = str(tmp_path_factory.mktemp("dbt-target"))
    cloud = LocalCloud(Settings())
    cloud.up()
    try:
        yield cloud
    finally:
        cloud.down()


@pytest.fixture
def settings(local_cloud: object) -> object:
    from helpers.settings import Settings

    return Settings()
