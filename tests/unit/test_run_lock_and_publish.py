"""The run lock (helpers/run_lock.py) and the build-then-publish bookkeeping of helpers/dbt.py, without
any service: one run at a time, a clear refusal, released by the kernel when its holder dies; built
layers published upstream first; a failing column test names the column and what it means."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from helpers import dbt, load, publish, run_lock


def test_a_second_acquire_fails_at_once_naming_the_holder(tmp_path):
    with run_lock.acquire(tmp_path, "run_A", "prod"):
        assert run_lock.holder(run_lock.lock_path(tmp_path))["run_id"] == "run_A"
        started = time.monotonic()
        with pytest.raises(run_lock.RunLocked) as refused:
            with run_lock.acquire(tmp_path, "run_B", "dev"):
                pass
        assert time.monotonic() - started < 0.5
    message = str(refused.value)
    assert "run run_A (target prod, pid" in message and "Nothing was changed" in message
    assert "PIPELINE_RUN_LOCK_WAIT_SECONDS" in message
    with run_lock.acquire(tmp_path, "run_C", "dev"):  # released at the end of the block
        pass
    assert run_lock.holder(run_lock.lock_path(tmp_path)) == {}


def test_a_second_acquire_can_wait_for_the_first(tmp_path):
    first = run_lock.acquire(tmp_path, "run_A", "dev")
    first.__enter__()
    threading.Timer(0.3, lambda: first.__exit__(None, None, None)).start()
    started = time.monotonic()
    with run_lock.acquire(tmp_path, "run_B", "dev", wait_seconds=5):
        assert time.monotonic() - started >= 0.25
    with pytest.raises(run_lock.RunLocked, match="after waiting 0.2s"):
        with run_lock.acquire(tmp_path, "run_C", "dev"), run_lock.acquire(tmp_path, "run_D", "dev", 0.2):
            pass


def test_the_kernel_releases_the_lock_of_a_killed_holder(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
            from pathlib import Path
            from helpers import run_lock
            with run_lock.acquire(Path({str(tmp_path)!r}), "run_killed", "dev"):
                print("locked", flush=True)
                time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(run_lock.RunLocked, match="run_killed"):
            with run_lock.acquire(tmp_path, "run_B", "dev"):
                pass
        holder.kill()
        holder.wait(timeout=10)
        with run_lock.acquire(tmp_path, "run_B", "dev"):  # no stale lock to clean up
            pass
    finally:
        holder.kill()


def _result(tmp_path: Path, results: list[dict], manifest: dict | None = None) -> dbt.DbtResult:
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return dbt.DbtResult(command=["dbt", "build"], returncode=1, target_path=tmp_path, results=results)


def test_the_publish_swaps_each_layer_upstream_first_after_making_sure_it_exists():
    assert publish.publish_statements("DB", "READER") == [
        "CREATE SCHEMA IF NOT EXISTS DB.RAW",
        "ALTER SCHEMA DB.RAW_BUILD SWAP WITH DB.RAW",
        "CREATE SCHEMA IF NOT EXISTS DB.TRANSFORM",
        "ALTER SCHEMA DB.TRANSFORM_BUILD SWAP WITH DB.TRANSFORM",
        "GRANT USAGE ON SCHEMA DB.MART_BUILD TO ROLE READER",
        "GRANT SELECT ON ALL TABLES IN SCHEMA DB.MART_BUILD TO ROLE READER",
        "CREATE SCHEMA IF NOT EXISTS DB.MART",
        "ALTER SCHEMA DB.MART_BUILD SWAP WITH DB.MART",
        "REVOKE SELECT ON ALL TABLES IN SCHEMA DB.MART_BUILD FROM ROLE READER",
        "REVOKE USAGE ON SCHEMA DB.MART_BUILD FROM ROLE READER",
    ]
    done = publish.publish_statements("DB", "READER")[:4]
    assert publish.swapped_layers(done) == ["RAW", "TRANSFORM"]
    assert publish.swapped_layers(done[:3]) == ["RAW"]


def test_the_reader_is_granted_mart_only_and_before_its_swap():
    """Snowflake, ALTER SCHEMA ... SWAP WITH "also swaps all access control privileges granted on the
    schemas and objects they contain" (https://docs.snowflake.com/en/sql-reference/sql/alter-schema):
    a grant made after the swap would leave readers without access for a moment, and one made on the
    published MART would move to MART_BUILD at the next publish."""
    statements = publish.publish_statements("DB", "READER")
    grants = [s for s in statements if s.startswith(("GRANT", "REVOKE"))]
    assert grants and all(".MART_BUILD " in s for s in grants)
    swap = statements.index("ALTER SCHEMA DB.MART_BUILD SWAP WITH DB.MART")
    assert all(statements.index(s) < swap for s in grants if s.startswith("GRANT"))
    assert all(statements.index(s) > swap for s in grants if s.startswith("REVOKE"))


def test_the_load_empties_every_build_schema_before_the_copy_table_and_the_copy():
    statements = load.load_statements("DB")
    assert statements[:6] == [
        "DROP SCHEMA IF EXISTS DB.RAW_BUILD",
        "CREATE SCHEMA DB.RAW_BUILD",
        "DROP SCHEMA IF EXISTS DB.TRANSFORM_BUILD",
        "CREATE SCHEMA DB.TRANSFORM_BUILD",
        "DROP SCHEMA IF EXISTS DB.MART_BUILD",
        "CREATE SCHEMA DB.MART_BUILD",
    ]
    assert statements[6].startswith("CREATE OR REPLACE TRANSIENT TABLE DB.RAW_BUILD.COUNTRIES_COPY (")
    assert statements[7].startswith("COPY INTO DB.RAW_BUILD.COUNTRIES_COPY ") and "FORCE" not in statements[7].upper()
    assert "FROM @DB.LANDING.COUNTRIES_STAGE" in statements[7]


def test_a_failing_column_test_names_the_column_and_its_description(tmp_path):
    test_id = "test.countries.not_null_country_details_transform_country_official_name.abc"
    manifest = {
        "nodes": {
            test_id: {
                "column_name": "country_official_name",
                "attached_node": "model.countries.country_details_transform",
            },
            "model.countries.country_details_transform": {
                "columns": {"country_official_name": {"description": "name.official,\n  required"}}
            },
        }
    }
    result = _result(
        tmp_path,
        [
            {"unique_id": test_id, "status": "fail", "message": "Got 20 results, configured to fail if != 0"},
            {"unique_id": "model.countries.continent_summary", "status": "skipped", "message": None},
        ],
        manifest,
    )
    [failure] = result.failures()
    assert failure["tests"] == "column country_official_name of country_details_transform (name.official, required)"
    assert "tests column country_official_name" in result.describe_failures()


def test_the_project_fingerprint_covers_the_models(tmp_path, monkeypatch):
    before = dbt.project_fingerprint()
    project = tmp_path / "dbt_project"
    for part in ("dbt_project.yml", "models", "macros", "tests"):
        src = dbt.DBT_PROJECT_DIR / part
        dst = project / part
        if src.is_dir():
            for f in src.rglob("*"):
                if f.is_file():
                    (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                    (dst / f.relative_to(src)).write_bytes(f.read_bytes())
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    monkeypatch.setattr(dbt, "DBT_PROJECT_DIR", project)
    assert dbt.project_fingerprint() == before
    (project / "models" / "mart" / "continent_summary.sql").write_text("select 1 as x\n")
    assert dbt.project_fingerprint() != before
