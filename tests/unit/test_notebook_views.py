"""What notebooks 00 and 02 show through helpers/settings_view.py and helpers/ingest_view.py."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import ingest_view, settings_view
from helpers.settings import Settings


def test_local_settings_table_shows_names_not_connection_details():
    rows = {r["setting"]: r for r in settings_view.settings_rows(Settings(mode="local"))}
    assert rows["bucket"]["value"] == "countries-pipeline-local" and rows["bucket"]["why"]
    assert "snowflake_account" not in rows and "state_dir" not in rows and "max_source_bytes" not in rows
    assert "127.0.0.1" not in json.dumps(rows)  # no loopback ports: they change every run
    assert "fixture" in rows["source"]["value"]


def test_cloud_settings_table_names_the_credential_kind_never_the_secret():
    s = Settings(
        mode="cloud", bucket="b", aws_region="eu-west-1", snowflake_account="acme", snowflake_password="s3cret"
    )
    rows = {r["setting"]: r["value"] for r in settings_view.settings_rows(s)}
    assert rows["snowflake_account"] == "acme" and rows["Snowflake credential"] == "password"
    assert "s3cret" not in json.dumps(rows)
    assert rows["source"].startswith("https://")


def test_cloud_rows_leave_the_ports_out():
    rows = settings_view.cloud_rows({"aws": {"running": True, "healthy": True, "url": "http://127.0.0.1:1234"}})
    assert rows == [
        {"service": "aws", "stands in for": settings_view.STANDS_IN_FOR["aws"], "running": True, "healthy": True}
    ]


def test_the_glue_scripts_functions_by_name():
    for name in ("parse_args", "record_problems", "ndjson_line"):
        assert ingest_view.function_source(name).startswith(f"def {name}(")


def test_the_bad_source_has_exactly_one_record_the_job_would_quarantine(tmp_path: Path):
    url, record = ingest_view.write_bad_source(tmp_path)
    records = json.loads(Path(url.removeprefix("file://")).read_bytes())
    problems = [ingest_view.script_module().record_problems(r) for r in records]
    assert [p for p in problems if p] == [[("missing:cca3", "missing cca3")]]
    assert "cca3" not in record and records[3] == record
