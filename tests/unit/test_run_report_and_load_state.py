"""The run report's JSON keeps its keys and shapes (tests, notebooks, the CLI and the deploy workflow
read them); the last load reads the same from a typed LOAD_STATE and from the all-VARCHAR one older
versions wrote; the failure messages keep their wording."""

from __future__ import annotations

import json
from datetime import datetime, UTC
from typing import Any

import pytest
import snowflake.connector.errors

from helpers import errors, glue_job, load_state
from helpers.run_report import UNCHANGED, Dbt, Load, RunReport
from helpers.settings import Settings


def _settings() -> Settings:
    return Settings(bucket="b", dev_database="D_DEV", prod_database="D_PROD")


def _job_run(event: dict[str, Any], errors_log: list[str] | None = None) -> glue_job.JobRun:
    return glue_job.JobRun(
        run_id="jr_1",
        state="SUCCEEDED" if event["event"] == "ingest_summary" else "FAILED",
        seconds=3,
        error=None,
        output=[json.dumps(event)],
        errors=errors_log or [],
    )


SUMMARY = {
    "event": "ingest_summary",
    "source_bytes": 10,
    "source_sha256": "abc",
    "received": 21,
    "loaded": 15,
    "quarantined": 6,
    "version_id": "v2",
    "quarantine_key": "quarantine/r/rejected.ndjson",
    "quarantine_reasons": {"bad_code": 6},
}
LANDED = {"version_id": "v1", "source_sha256": "old", "ingest_script_sha256": "s", "run_id": "run_old", "records": 20}


def test_a_succeeded_run_writes_todays_keys_in_step_order(tmp_path):
    s = _settings()
    report = RunReport.start("dev", "http://x/countries.json")
    report.seconds["iam"] = 0.5
    report.s3 = {"bucket": "b", "created": False, "script": {"key": "scripts/x.py", "uploaded": False}}
    summary = report.record_glue(s, _job_run(SUMMARY, ["retry 1/2: timed out"]), "unchanged", LANDED)
    report.glue.waited_for_runs = []
    report.load = Load(files=[{"file": "f", "rows_loaded": 15}], rows_loaded=15)
    report.record_dbt(
        type("R", (), {"counts": lambda self: {"model": {"success": 11}}, "failures": lambda self: []})(),
        published=["ALTER SCHEMA ..."],
    )
    report.rows_per_layer = {"raw": 15}
    report.status = "succeeded"
    report.reconcile()
    report.write(tmp_path)

    written = json.loads((tmp_path / "run_report.json").read_text())
    assert written == json.loads((tmp_path / "runs" / f"{report.run_id}.json").read_text())
    assert list(written) == [
        "run_id",
        "target",
        "status",
        "source_url",
        "started_at",
        "force",
        "error",
        "seconds_per_step",
        "s3",
        "source",
        "glue",
        "landing",
        "load",
        "dbt",
        "rows_per_layer",
        "reconciliation",
    ]
    assert summary["loaded"] == 15 and written["seconds_per_step"] == {"iam": 0.5}
    assert list(written["glue"]) == [
        "job",
        "job_definition",
        "run_id",
        "state",
        "seconds",
        "error",
        "retries",
        "log",
        "waited_for_runs",
    ]
    assert written["glue"]["retries"] == ["retry 1/2: timed out"]
    assert written["landing"] == {
        "bucket": "b",
        "key": s.data_key,
        "version_id": "v2",
        "previous_version_id": "v1",
        "written": True,
        "received": 21,
        "loaded": 15,
        "quarantined": 6,
        "quarantine_key": "quarantine/r/rejected.ndjson",
        "quarantine_reasons": {"bad_code": 6},
    }
    assert written["source"] == {"url": "http://x/countries.json", "bytes": 10, "sha256": "abc", "records": 21}
    assert written["load"] == {"files": [{"file": "f", "rows_loaded": 15}], "rows_loaded": 15}
    assert written["dbt"] == {"counts": {"model": {"success": 11}}, "failures": [], "published": ["ALTER SCHEMA ..."]}
    assert written["reconciliation"] == {
        "received": 21,
        "loaded": 15,
        "quarantined": 6,
        "raw_rows": 15,
        "received = loaded + quarantined": True,
        "loaded = RAW rows": True,
    }
    # report.steps reads the sections as written, and is not a way to change them
    assert report.steps["landing"]["quarantine_key"] == "quarantine/r/rejected.ndjson"
    with pytest.raises(TypeError):
        report.steps["load"] = {}  # type: ignore[index]


def test_a_failed_ingest_and_an_unchanged_source_have_their_own_keys():
    s = _settings()
    failed = RunReport.start("dev", "http://x")
    failed.record_glue(
        s, _job_run({"event": "ingest_failed", "stage": "download", "error": "boom", "received": None}), "created", None
    )
    failed.fail(RuntimeError("boom"))
    failed.reconcile()
    landing = failed.steps["landing"]
    assert landing["failed_stage"] == "download" and landing["loaded"] == 0 and landing["written"] is False
    assert "skipped" not in landing and "waited_for_runs" not in failed.steps["glue"]
    assert failed.to_json()["error"] == "RuntimeError: boom" and failed.status == "failed"
    assert (
        failed.steps["reconciliation"]["raw_rows"] is None
        and failed.steps["reconciliation"]["loaded = RAW rows"] is None
    )

    same = RunReport.start("dev", "http://x")
    same.record_glue(s, _job_run({**SUMMARY, "unchanged": True, "version_id": None}), "unchanged", LANDED)
    same.load = Load(skipped=UNCHANGED)
    same.dbt = Dbt(skipped=UNCHANGED, tables_built_by_run="run_old")
    steps = same.steps
    assert (steps["landing"]["skipped"], steps["landing"]["landed_by_run"], steps["landing"]["version_id"]) == (
        UNCHANGED,
        "run_old",
        "v1",
    )
    assert "failed_stage" not in steps["landing"]
    assert steps["load"] == {"skipped": UNCHANGED}
    assert steps["dbt"] == {"skipped": UNCHANGED, "tables_built_by_run": "run_old"}


TYPED_ROW = {
    "run_id": "run_1",
    "source_url": "http://x",
    "source_sha256": "a",
    "ingest_script_sha256": "b",
    "dbt_project_sha256": "c",
    "landed_version_id": "v1",
    "received": 21,
    "loaded": 15,
    "quarantined": 6,
    "published_at": datetime(2026, 12, 2, 17, 16, 12, tzinfo=UTC),
}


def test_an_all_varchar_load_state_reads_like_a_typed_one():
    old_row = {k: str(v) for k, v in TYPED_ROW.items()}
    old_row["published_at"] = "2026-12-02T17:16:12+00:00"  # what the old writer stored (isoformat)
    typed = load_state.LoadState.model_validate(TYPED_ROW).to_dict()
    assert load_state.LoadState.model_validate(old_row).to_dict() == typed
    assert typed["received"] == 21 and typed["published_at"] == "2026-12-02T17:16:12+00:00"
    assert list(typed) == list(TYPED_ROW)  # the report's last_load keeps its key order
    assert load_state.unchanged(typed, {"source_sha256": "a", "ingest_script_sha256": "b", "dbt_project_sha256": "c"})
    assert not load_state.unchanged(
        typed, {"source_sha256": "a", "ingest_script_sha256": "b", "dbt_project_sha256": "x"}
    )
    assert not load_state.unchanged(
        None, {"source_sha256": "a", "ingest_script_sha256": "b", "dbt_project_sha256": "c"}
    )


class _Conn:
    """Answers the two reads of load_state.read with `row`."""

    def __init__(self, row: dict[str, Any]):
        self.row = row

    def cursor(self) -> Any:
        conn = self

        class Cursor:
            description: list[tuple[str]] = []

            def execute(self, sql: str, params: Any = None) -> None:
                self.rows = [(1,)] if "count(*)" in sql else [tuple(conn.row.values())]
                self.description = [("C",)] if "count(*)" in sql else [(k.upper(),) for k in conn.row]

            def fetchall(self) -> list[tuple[Any, ...]]:
                return self.rows

            def close(self) -> None:
                pass

        return Cursor()


def test_an_unreadable_load_state_is_no_state_with_a_note():
    notes: list[str] = []
    assert load_state.read(_Conn({**TYPED_ROW, "received": "many"}), "D_DEV", note=notes.append) is None
    assert "D_DEV.AUDIT.LOAD_STATE could not be read" in notes[0] and "this run reloads" in notes[0]
    assert load_state.read(_Conn(TYPED_ROW), "D_DEV").run_id == "run_1"


def test_the_load_state_columns_are_typed():
    create = load_state.write_statements("D_DEV")[-1]
    assert create.startswith("create or replace table D_DEV.AUDIT.LOAD_STATE as select %(run_id)s::VARCHAR as RUN_ID")
    assert "%(received)s::NUMBER as RECEIVED" in create and "%(published_at)s::TIMESTAMP_TZ as PUBLISHED_AT" in create


def test_service_unavailable_says_which_service_which_step_and_what_was_left():
    s = Settings(
        _env_file=None,
        mode="cloud",
        aws_endpoint_url="http://aws.test:4566",
        dev_database="D_DEV",
        prod_database="D_PROD",
    )
    e = snowflake.connector.errors.OperationalError(msg="Could not connect to Snowflake backend")
    assert errors.unreachable(e) == "Snowflake" and errors.unreachable(ValueError("x")) is None
    partial = str(errors.service_unavailable(e, "Snowflake", s, "dev", "dbt", ["RAW"]))
    assert partial.startswith(
        "Snowflake (the Snowflake endpoint) could not be reached during the dbt step: OperationalError: "
    )  # no sign-in configured: the endpoint is not named
    assert partial.endswith(
        "hint: check that Snowflake is up (locally: python -m helpers local status; python -m "
        "helpers local up restarts what is down), then run again: a re-run is safe and converges "
        "to the correct state."
    )
    assert (
        "the publish was interrupted: D_DEV's RAW hold the new build (tested and checked), TRANSFORM, MART the "
        "last good run's - each layer wholly one or the other; running again finishes it."
    ) in partial
    whole = str(errors.service_unavailable(e, "Snowflake", s, "dev", "validation", ["RAW", "TRANSFORM", "MART"]))
    assert "the new build (tested and checked) was published to D_DEV, but the run could not finish" in whole
    none = str(errors.service_unavailable(e, "AWS", s, "prod", "snowflake", []))
    assert none.startswith("AWS (http://aws.test:4566) could not be reached during the snowflake step")
    assert (
        "nothing users query was changed: D_PROD's RAW, TRANSFORM and MART are as the last good run left them." in none
    )
