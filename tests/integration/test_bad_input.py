"""Bad input through the whole pipeline (IAM -> Glue -> S3 -> Snowflake -> dbt -> validation): each
case of the matrix below has one expected outcome, and every case's run report must reconcile.

* whole-file failures (the source as a whole is unusable): the run fails at the Glue step with a
  message naming the cause and a hint; nothing is replaced: no new version of the landed file, and
  RAW, TRANSFORM and MART byte-identical to before;
* record-level failures: the bad records land in `quarantine/<run_id>/rejected.ndjson` with
  machine-readable reason codes, the good ones load, and received = loaded + quarantined,
  loaded = RAW rows;
* a field the models need, missing from every record: the dbt test on it fails naming the field,
  and nothing is published.

Bad sources are served by a scripted http.server on 127.0.0.1 or written under tmp_path. All runs
share one local cloud, in databases of their own (tests/integration/support.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import dbt, glue_job, warehouse
from helpers.pipeline import Pipeline
from tests.conftest import FIXTURE
from tests.integration import support
from tests.integration.support import Reply

pytestmark = pytest.mark.integration

FIXTURE_BYTES = FIXTURE.read_bytes()


@pytest.fixture(scope="module")
def source(local_cloud):
    with support.SourceServer() as server:
        yield server


@pytest.fixture(scope="module")
def record_run(local_cloud, tmp_path_factory):
    """The last good run every case starts from: the fixture with one bad record of each kind and an
    unknown new field (support.problem_records). Its record-level outcome is the matrix's last part."""
    settings = support.isolated_settings()
    records = support.problem_records()
    url = support.write_source(tmp_path_factory.mktemp("records"), records)
    report = Pipeline(settings).run(source_url=url, target="dev")
    quarantine = support.quarantine_lines(settings, report.steps["landing"]["quarantine_key"])
    with warehouse.connect(settings, "dev") as conn:
        raw = warehouse.execute(
            conn,
            "select country_code, data:name.common::string, data:newField:addedIn::string, "
            "data:newField:values[1]::string from RAW.COUNTRY_DETAILS_RAW",
        ).rows
    return {"records": records, "report": report, "quarantine": quarantine, "raw": raw, "settings": settings}


def assert_reconciled(report: dict[str, Any]) -> None:
    """The accounting every run's report must satisfy, failed or not."""
    rec = report["reconciliation"]
    landing = report["landing"]
    assert (rec["received"], rec["loaded"], rec["quarantined"]) == (
        landing["received"],
        landing["loaded"],
        landing["quarantined"],
    )
    assert rec["received = loaded + quarantined"] is True
    assert (rec["received"] or 0) == rec["loaded"] + rec["quarantined"]
    if report["status"] == "succeeded":
        assert rec["loaded = RAW rows"] is True
        assert rec["loaded"] == rec["raw_rows"] == report["rows_per_layer"]["raw"]
    else:
        assert report["error"] and rec["loaded = RAW rows"] is None


# -- whole-file failures and the retried download --------------------------------------------------
@dataclass
class Case:
    name: str
    make_source: Callable[[support.ScriptedSource, Path], str]
    error: list[str] = field(default_factory=list)  # substrings of the run's error
    stage: str | None = None  # the Glue job's failed stage
    settings: dict[str, Any] = field(default_factory=dict)


def _file(tmp_path: Path, body: bytes | Any) -> str:
    return support.write_source(tmp_path, body)


# One case per path through the pipeline (source kind x the Glue job's failed stage x a setting the
# job definition follows); the job's other messages for the same path (a persistent 503, truncated
# JSON, an object instead of an array, invalid UTF-8, ...) are its unit tests, in
# tests/unit/test_glue_ingest_script.py.
WHOLE_FILE_CASES = [
    Case(
        "source 404",
        lambda src, _t: src.script("/gone.json", Reply(404, b"Not Found")),
        ["HTTP 404", "not retried", "hint: check --source_url"],
        "download",
    ),
    Case(
        "timeout",
        lambda src, _t: src.script("/slow.json", Reply(200, FIXTURE_BYTES, delay=3)),
        ["timed out after 0.5s", "gave up after 2 attempt(s)", "--timeout_seconds", "PIPELINE_SOURCE_TIMEOUT_SECONDS"],
        "download",
        {"source_timeout_seconds": 0.5},
    ),
    Case(
        "body not JSON (an HTML page)",
        lambda src, _t: src.script("/page", Reply(200, b"<!DOCTYPE html><html>rate limited</html>")),
        ["is not valid JSON", "line 1, column 1", "returns an HTML page"],
        "parse",
    ),
    Case(
        "empty array",
        lambda _s, tmp: _file(tmp, []),
        ["has 0 records", "refusing to replace the landed file with nothing"],
        "parse",
    ),
    Case(
        "larger than PIPELINE_MAX_SOURCE_BYTES",
        lambda _s, tmp: FIXTURE.resolve().as_uri(),
        ["larger than max_bytes=4096", "raise --max_bytes"],
        "download",
        {"max_source_bytes": 4096},
    ),
    Case(
        "no valid record at all",
        lambda _s, tmp: _file(tmp, [{"cca3": "AAA"}, "text", {"name": {"common": "B"}, "cca3": "BBB"}]),
        ["none of the 3 records", "landed file was not replaced", "rejected.ndjson"],
        "validate",
    ),
]


@pytest.mark.parametrize("case", WHOLE_FILE_CASES, ids=[c.name for c in WHOLE_FILE_CASES])
def test_a_bad_file_fails_with_its_cause_and_replaces_nothing(case: Case, record_run, source, tmp_path):
    settings = support.isolated_settings(**case.settings)
    url = case.make_source(source, tmp_path)
    versions, tables = support.data_versions(settings), support.published(settings, "dev")
    pipeline = Pipeline(settings)

    with pytest.raises(glue_job.GlueJobFailed) as failed:
        pipeline.run(source_url=url, target="dev")

    message = str(failed.value)
    for expected in case.error:
        assert expected in message
    assert url in message and "Nothing was replaced" in message and "hint" in message
    assert support.data_versions(settings) == versions, "a bad file must not add a version of the landed file"
    assert support.published(settings, "dev") == tables, "RAW, TRANSFORM and MART must stay as they were"

    report = support.report_file(settings, pipeline.last_report.run_id)
    assert report["status"] == "failed" and report["error"].startswith("GlueJobFailed: ingest failed")
    assert report["landing"]["failed_stage"] == case.stage
    assert report["landing"]["written"] is False and report["landing"]["version_id"] == versions[0]
    assert any(line.startswith("ERROR: ") for line in report["glue"]["log"]), "the job's log is in the report"
    assert set(report["seconds_per_step"]) == {"iam", "s3", "glue"}, "nothing after the ingest ran"
    if case.settings.get("max_source_bytes"):  # the job's definition follows the settings (UpdateJob)
        assert report["glue"]["job_definition"] == "updated"
    assert_reconciled(report)
    quarantined = support.quarantine_keys_of_run(settings, pipeline.last_report.run_id)
    if case.stage == "validate":  # nothing valid: every record is kept, with its reasons
        assert report["landing"]["received"] == report["landing"]["quarantined"] == 3
        assert [e["reason_codes"] for e in support.quarantine_lines(settings, quarantined[0])] == [
            ["missing:name.common", "missing:continents"],
            ["type:record"],
            ["missing:continents"],
        ]
    else:
        assert report["landing"]["received"] is None and quarantined == []


def test_a_500_then_success_is_retried_with_backoff_and_the_retry_is_in_the_report(record_run, source):
    settings = support.isolated_settings()
    url = source.script("/flaky.json", Reply(500, b"boom"), Reply(200, support.problem_source_bytes()))
    report = Pipeline(settings).run(source_url=url, target="dev")

    assert report.status == "succeeded" and source.hits["/flaky.json"] == 2
    retry = f"retry 1/1: HTTP 500 Internal Server Error from {url}; sleeping 0.5s"
    assert report.steps["glue"]["retries"] == [retry]  # read back from the Glue error log
    assert retry in report.steps["glue"]["log"]
    # the job definition, updated for a case above and back for the next one, now matches as it is
    assert report.steps["glue"]["job_definition"] == "unchanged"
    assert_reconciled(support.report_file(settings, report.run_id))


def test_an_unchanged_http_source_is_a_conditional_request_and_a_changed_one_is_downloaded(record_run, source):
    """Like raw.githubusercontent.com, the source sends an ETag and answers If-None-Match with 304
    (tests/scripted_http.py). The second run of an unchanged source asks with the ETag the landed file
    keeps and downloads 0 bytes, and the pipeline skips it as before; a changed source (new ETag) is
    downloaded and loaded."""
    settings = support.isolated_settings()
    url = source.script("/etag.json", Reply(200, FIXTURE_BYTES))  # not record_run's source: it lands
    first = Pipeline(settings).run(source_url=url, target="dev")
    assert first.status == "succeeded" and first.steps["landing"]["written"] is True
    versions, sent = support.data_versions(settings), source.body_bytes["/etag.json"]
    etag = source.requests["/etag.json"][-1].get("If-None-Match")
    assert etag is None and sent == len(FIXTURE_BYTES)

    again = Pipeline(settings).run(source_url=url, target="dev")
    assert again.status == "succeeded"
    assert source.requests["/etag.json"][-1]["If-None-Match"].startswith('"')
    assert source.body_bytes["/etag.json"] == sent, "the unchanged source was not downloaded again"
    assert again.steps["landing"]["skipped"] == again.steps["dbt"]["skipped"] == "unchanged source"
    assert again.steps["source"] == first.steps["source"] and support.data_versions(settings) == versions
    assert any("304 Not Modified" in line for line in again.steps["glue"]["log"])
    assert_reconciled(support.report_file(settings, again.run_id))

    changed = support.problem_source_bytes()  # record_run's source again: the next cases start from it
    source.script("/etag.json", Reply(200, changed))
    third = Pipeline(settings).run(source_url=url, target="dev")
    assert third.status == "succeeded" and third.steps["landing"]["written"] is True
    assert source.body_bytes["/etag.json"] == sent + len(changed)
    assert third.steps["landing"]["loaded"] == 15 and len(support.data_versions(settings)) == len(versions) + 1
    assert_reconciled(support.report_file(settings, third.run_id))


# -- record-level failures: one run (record_run), one record per case -----------------------------
# (index in the source, the cca3 that must not reach RAW or None, the expected reason code)
RECORD_CASES = {
    "missing name.common": (0, None, "missing:name.common"),
    "missing cca3": (1, None, "missing:cca3"),
    "missing continents": (2, None, "missing:continents"),
    "population as a string": (3, None, "type:population"),
    "continents not a list": (4, None, "type:continents"),
    "duplicate cca3": (20, None, "duplicate:cca3"),
}


def test_record_level_run_reconciles(record_run):
    report = record_run["report"]
    assert report.status == "succeeded"
    assert report.steps["landing"]["quarantine_key"] == f"quarantine/{report.run_id}/rejected.ndjson"
    assert (
        report.steps["landing"]["received"],
        report.steps["landing"]["loaded"],
        report.steps["landing"]["quarantined"],
    ) == (21, 15, 6)
    assert len(record_run["raw"]) == 15
    assert_reconciled(support.report_file(record_run["settings"], report.run_id))
    assert report.steps["landing"]["quarantine_reasons"] == {code: 1 for _i, _c, code in RECORD_CASES.values()}


@pytest.mark.parametrize("case", list(RECORD_CASES), ids=list(RECORD_CASES))
def test_a_bad_record_is_quarantined_with_its_reason_and_the_rest_load(case, record_run):
    index, _, code = RECORD_CASES[case]
    record = record_run["records"][index]
    [entry] = [e for e in record_run["quarantine"] if e["record_index"] == index]
    assert entry["reason_codes"] == [code] and entry["record"] == record and entry["reasons"]
    raw_codes = {c for c, *_ in record_run["raw"]}
    raw_names = {name for _c, name, *_ in record_run["raw"]}
    if case == "duplicate cca3":  # the first occurrence loads, the later one is quarantined
        assert [n for c, n, *_ in record_run["raw"] if c == record["cca3"]] == [
            record["name"]["common"].removesuffix(" (again)")
        ]
    elif "cca3" in record:
        assert record["cca3"] not in raw_codes
    else:
        assert record["name"]["common"] not in raw_names


def test_a_new_unknown_field_is_kept_in_the_variant_and_queryable_in_raw(record_run):
    cca3 = record_run["records"][6]["cca3"]
    assert [(f, v) for c, _n, f, v in record_run["raw"] if c == cca3] == [("v3.2", "ü")]
    assert not [e for e in record_run["quarantine"] if e["record_index"] == 6]


# -- a field the models need, missing everywhere ---------------------------------------------------
def test_a_field_the_models_need_missing_from_every_record_fails_its_dbt_test_and_publishes_nothing(
    record_run, tmp_path
):
    records = json.loads(FIXTURE_BYTES)
    for record in records:
        del record["name"]["official"]  # the Glue job does not check it; TRANSFORM's test does
    settings = support.isolated_settings()
    url = _file(tmp_path, records)
    tables, versions = support.published(settings, "dev"), support.data_versions(settings)
    pipeline = Pipeline(settings)

    with pytest.raises(dbt.DbtFailed) as failed:
        pipeline.run(source_url=url, target="dev")

    message = str(failed.value)
    assert "not_null_country_details_transform_country_official_name" in message
    assert "name.official" in message and "Nothing was published" in message
    assert support.published(settings, "dev") == tables, "MART must be byte-identical to the last good run"
    assert len(support.data_versions(settings)) == len(versions) + 1  # every record was valid for the job
    report = support.report_file(settings, pipeline.last_report.run_id)
    assert report["status"] == "failed" and report["landing"]["written"] is True
    assert [f["tests"] for f in report["dbt"]["failures"]] == [
        "column country_official_name of country_details_transform (name.official, required: the ingest job "
        "does not check it, so a source that stops sending it fails this test (and the run) instead of "
        "publishing NULL names.)"
    ]
    assert "validation" not in report["seconds_per_step"]
    assert_reconciled(report)
