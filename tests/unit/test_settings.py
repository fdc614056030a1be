from __future__ import annotations

import json

import pytest

from helpers.settings import GITHUB_SOURCE_URL, Settings


def _local_cloud(tmp_path):
    (tmp_path / "cloud.json").write_text(json.dumps({
        "aws": {"url": "http://127.0.0.1:1111", "region": "us-east-1",
                "admin": {"access_key_id": "AKIALOCAL", "secret_access_key": "s", "arn": "a"}},
        "snowflake": {"host": "127.0.0.1", "port": 2222, "protocol": "http", "account": "fakesnow",
                      "user": "pipeline", "password": "pw"},
        "source": {"url": "http://127.0.0.1:3333"},
    }))
    return tmp_path


def test_local_mode_takes_endpoints_and_credentials_from_the_running_local_cloud(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    s = Settings(mode="local", state_dir=_local_cloud(tmp_path))
    assert s.resolved_aws_endpoint == "http://127.0.0.1:1111"
    assert s.resolved_source_url == "http://127.0.0.1:3333/countries_sample.json"
    args = s.snowflake_connect_args("prod")
    assert (args["host"], args["port"], args["protocol"], args["database"]) == ("127.0.0.1", 2222, "http", "COUNTRIES_PROD")
    env = s.dbt_env("dev")
    assert env["DBT_TARGET"] == "dev" and env["SNOWFLAKE_PORT"] == "2222" and env["SNOWFLAKE_PASSWORD"] == "pw"


def test_local_mode_without_a_running_local_cloud_says_how_to_start_it(tmp_path):
    s = Settings(mode="local", state_dir=tmp_path)
    with pytest.raises(RuntimeError, match="python -m helpers local up"):
        _ = s.resolved_aws_endpoint


def test_cloud_mode_uses_standard_settings_and_the_github_source(tmp_path, monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "SNOWFLAKE_HOST", "SNOWFLAKE_PORT", "SNOWFLAKE_PROTOCOL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "xy12345.eu-west-1")
    monkeypatch.setenv("SNOWFLAKE_USER", "PIPELINE_USER")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "secret")
    s = Settings(mode="cloud", state_dir=tmp_path)
    assert s.resolved_aws_endpoint is None
    assert s.resolved_source_url == GITHUB_SOURCE_URL
    args = s.snowflake_connect_args("dev")
    assert args["account"] == "xy12345.eu-west-1" and "host" not in args and "port" not in args


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="dev or prod"):
        Settings(mode="cloud").database("staging")
