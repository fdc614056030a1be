"""Unit tests for the Glue Python shell job glue/countries_ingest.py.

No network beyond 127.0.0.1: HTTP sources come from a scripted http.server on a free loopback
port, S3 is moto's in-process mock (a versioned bucket), and the retry backoff is patched to 0.
Local source files are uploaded to s3://<bucket>/incoming/ and passed as s3:// URLs, as the pipeline
does: a Glue worker cannot read the caller's disk, so the job refuses file:// URLs.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import hashlib
import http.server
import importlib.util
import io
import json
import os
import re
import subprocess
import socket
import sys
import threading
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tests import scripted_http
from tests.scripted_http import Reply

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "glue" / "countries_ingest.py"
FIXTURE = ROOT / "helpers" / "fixtures" / "countries_sample.json"

BUCKET = "countries-landing"
KEY = "raw/countries/countries.ndjson"
QPREFIX = "quarantine/countries/"
RUN_ID = "jr_0123456789abcdef"
SOURCE_KEY = "incoming/countries.json"
SOURCE_URL = f"s3://{BUCKET}/{SOURCE_KEY}"

# What Glue itself adds to a job run's argv; the script must ignore all of it.
GLUE_EXTRA_ARGS = [
    "--JOB_ID",
    "j_0123456789",
    "--JOB_RUN_ID",
    RUN_ID,
    "--JOB_NAME",
    "countries-ingest",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--scriptLocation",
    "s3://aws-glue-assets/scripts/countries_ingest.py",
    "--TempDir",
    "s3://aws-glue-assets/temporary/",
    "--enable-metrics",
]

SUMMARY_KEYS = [
    "event",
    "run_id",
    "source_url",
    "source_bytes",
    "source_sha256",
    "received",
    "loaded",
    "quarantined",
    "bucket",
    "key",
    "version_id",
    "quarantine_key",
    "unchanged",
    "quarantine_reasons",
]
FAILURE_KEYS = [
    "event",
    "run_id",
    "source_url",
    "stage",
    "error",
    "source_bytes",
    "source_sha256",
    "received",
    "loaded",
    "quarantined",
    "quarantine_key",
    "quarantine_reasons",
]


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ingest():
    spec = importlib.util.spec_from_file_location("countries_ingest_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def no_backoff(ingest, monkeypatch):
    monkeypatch.setattr(ingest, "RETRY_BASE_DELAY_SECONDS", 0.0)


@pytest.fixture(scope="module")
def fixture_bytes() -> bytes:
    return FIXTURE.read_bytes()


@pytest.fixture(scope="module")
def fixture_records(fixture_bytes):
    return json.loads(fixture_bytes.decode("utf-8"))


@pytest.fixture
def server():
    with scripted_http.serve() as scripted:
        yield scripted


@pytest.fixture
def s3(monkeypatch):
    for var in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def job_argv(source_url: str, *extra: str) -> list[str]:
    return [
        "countries_ingest.py",
        *GLUE_EXTRA_ARGS,
        "--source_url",
        source_url,
        "--bucket",
        BUCKET,
        "--key",
        KEY,
        "--quarantine_prefix",
        QPREFIX,
        *extra,
    ]


def run_job(ingest, capsys, source_url: str, *extra: str):
    rc = ingest.main(job_argv(source_url, *extra))
    out, err = capsys.readouterr()
    return rc, out, err


def all_versions(s3) -> list[tuple[str, str]]:
    """Every version the job could have written (the sources the tests upload to incoming/ aside)."""
    listing = s3.list_object_versions(Bucket=BUCKET)
    return sorted(
        (v["Key"], v["VersionId"]) for v in listing.get("Versions", []) if not v["Key"].startswith("incoming/")
    )


def read_lines(s3, key: str) -> list[str]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")
    assert body.endswith("\n")
    return body[:-1].split("\n")


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_source(s3, content=None) -> str:
    """Upload a source (bytes, or a value as JSON; default: the fixture) to s3://BUCKET/incoming/."""
    body = FIXTURE.read_bytes() if content is None else content
    if not isinstance(body, bytes):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
    s3.put_object(Bucket=BUCKET, Key=SOURCE_KEY, Body=body)
    return SOURCE_URL


def failure_of(out: str) -> dict:
    """The one ingest_failed JSON line a failed run prints on stdout."""
    lines = out.splitlines()
    assert len(lines) == 1, out
    failure = json.loads(lines[0])
    assert list(failure) == FAILURE_KEYS
    assert failure["event"] == "ingest_failed" and failure["loaded"] == 0
    return failure


def assert_failed_cleanly(rc: int, out: str, err: str, s3, before=()):
    assert rc == 1
    failure = failure_of(out)
    assert err.rstrip("\n").split("\n")[-1].startswith("ERROR: ")
    assert "ERROR: " + failure["error"] == err.rstrip("\n").split("\n")[-1]
    assert "Traceback" not in err
    assert all_versions(s3) == sorted(before), "a failed run must not write to S3"
    return failure


def retry_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("retry ")]


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    assert len(lines) == 1, err
    return lines[0]


def assert_landed_equals(s3, records, summary):
    lines = read_lines(s3, KEY)
    assert len(lines) == summary["loaded"] == len(records)
    for line, record in zip(lines, records):
        assert json.loads(line) == record
        assert line == compact(record)  # compact, keys in original order, non-ASCII kept


# --------------------------------------------------------------------------------------------
# Success
# --------------------------------------------------------------------------------------------


def test_fixture_from_s3_lands_every_record(ingest, capsys, s3, fixture_bytes, fixture_records):
    url = write_source(s3)
    rc, out, err = run_job(ingest, capsys, url)

    assert rc == 0, err
    out_lines = out.splitlines()
    assert len(out_lines) == 1
    summary = json.loads(out_lines[0])
    assert list(summary) == SUMMARY_KEYS
    assert summary["event"] == "ingest_summary"
    assert summary["run_id"] == RUN_ID  # defaults to Glue's --JOB_RUN_ID
    assert summary["source_url"] == url
    assert summary["source_bytes"] == len(fixture_bytes)
    assert summary["source_sha256"] == hashlib.sha256(fixture_bytes).hexdigest()
    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (20, 20, 0)
    assert summary["quarantine_key"] is None
    assert (summary["bucket"], summary["key"]) == (BUCKET, KEY)

    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert summary["version_id"] == head["VersionId"] and summary["version_id"]
    assert head["ContentType"] == "application/x-ndjson"
    assert head["Metadata"] == {
        "source-sha256": summary["source_sha256"],
        "source-url": url,
        "run-id": RUN_ID,
        "records": "20",
        "ingest-script-sha256": hashlib.sha256(SCRIPT.read_bytes()).hexdigest(),
        # what a later 304 Not Modified reports, and the validator to ask with
        "counts": compact({k: summary[k] for k in ("source_bytes", "source_sha256", "received", "loaded")})[:-1]
        + ',"quarantined":0,"quarantine_reasons":{}}',
        "source-etag": s3.head_object(Bucket=BUCKET, Key=SOURCE_KEY)["ETag"],
    }
    assert summary["unchanged"] is False
    assert_landed_equals(s3, fixture_records, summary)
    assert [key for key, _ in all_versions(s3)] == [KEY]  # no quarantine file


def test_fixture_over_http_with_explicit_run_id(ingest, capsys, s3, server, fixture_bytes, fixture_records):
    url = server.script("/countries.json", Reply(200, fixture_bytes))
    rc, out, err = run_job(ingest, capsys, url, "--run_id", "backfill-7")

    assert rc == 0, err
    summary = json.loads(out)
    assert summary["run_id"] == "backfill-7"
    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (20, 20, 0)
    assert summary["source_sha256"] == hashlib.sha256(fixture_bytes).hexdigest()
    assert server.hits["/countries.json"] == 1
    assert retry_lines(err) == []
    assert_landed_equals(s3, fixture_records, summary)


def test_second_run_creates_a_new_version(ingest, capsys, s3):
    url = write_source(s3)
    first = json.loads(run_job(ingest, capsys, url)[1])
    second = json.loads(run_job(ingest, capsys, url)[1])
    assert first["version_id"] != second["version_id"]
    assert len(all_versions(s3)) == 2


# --------------------------------------------------------------------------------------------
# HTTP failures and retries
# --------------------------------------------------------------------------------------------


def test_404_fails_at_once_and_writes_nothing(ingest, capsys, s3, server):
    url = server.script("/gone.json", Reply(404, b"Not Found"))
    rc, out, err = run_job(ingest, capsys, url)

    assert_failed_cleanly(rc, out, err, s3)
    assert server.hits["/gone.json"] == 1
    assert retry_lines(err) == []
    message = error_line(err)
    assert "HTTP 404" in message and url in message and "hint" in message


def test_500_then_200_retries_and_succeeds(ingest, capsys, s3, server, fixture_bytes):
    url = server.script("/flaky.json", Reply(500, b"boom"), Reply(200, fixture_bytes))
    rc, out, err = run_job(ingest, capsys, url)

    assert rc == 0, err
    assert server.hits["/flaky.json"] == 2
    assert f"retry 1/3: HTTP 500 Internal Server Error from {url}; sleeping 0s" in err.splitlines()
    assert json.loads(out)["loaded"] == 20


def test_429_is_retried(ingest, capsys, s3, server, fixture_bytes):
    url = server.script("/limited.json", Reply(429, b"slow down"), Reply(200, fixture_bytes))
    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 0, err
    assert server.hits["/limited.json"] == 2
    assert "retry 1/3: HTTP 429" in err


def test_persistent_5xx_gives_up_after_max_attempts(ingest, capsys, s3, server):
    url = server.script("/down.json", Reply(503, b"unavailable"))
    rc, out, err = run_job(ingest, capsys, url, "--max_attempts", "3")

    assert_failed_cleanly(rc, out, err, s3)
    assert server.hits["/down.json"] == 3
    assert [line.split(":")[0] for line in retry_lines(err)] == ["retry 1/2", "retry 2/2"]
    message = error_line(err)
    assert "HTTP 503" in message and "gave up after 3 attempt(s)" in message and url in message
    assert "re-run the job later" in message


def _fetch(ingest, url, sleeps, max_attempts=4):
    options = {"bucket": BUCKET, "max_bytes": 1000, "timeout_seconds": 5, "max_attempts": max_attempts}
    with io.BytesIO() as sink:
        ingest.fetch_to(url, sink, options, None, sleep=sleeps.append)
        return sink.getvalue()


def test_backoff_is_exponential(ingest, monkeypatch, server):
    monkeypatch.setattr(ingest, "RETRY_BASE_DELAY_SECONDS", 0.5)
    url = server.script("/down.json", Reply(500, b""))
    sleeps = []
    with pytest.raises(ingest.IngestError, match=r"gave up after 4 attempt\(s\)"):
        _fetch(ingest, url, sleeps)
    assert sleeps == [0.5, 1.0, 2.0]
    assert server.hits["/down.json"] == 4


@contextlib.contextmanager
def serve_with_headers(*replies):
    """A loopback server answering (status, headers) in order, then 200 '[1]' (scripted_http
    sends no custom headers, and Retry-After is one)."""
    pending = list(replies)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, headers = pending.pop(0) if pending else (200, {})
            self.send_response(status)
            for name, value in {**headers, "Content-Length": "3" if status == 200 else "0"}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(b"[1]" if status == 200 else b"")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/busy.json"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_retry_after_is_honoured_and_capped(ingest, monkeypatch, capsys):
    monkeypatch.setattr(ingest, "RETRY_BASE_DELAY_SECONDS", 0.5)
    sleeps = []
    with serve_with_headers(
        (503, {"Retry-After": "7"}), (429, {"Retry-After": "86400"}), (503, {"Retry-After": "soon"})
    ) as url:
        assert _fetch(ingest, url, sleeps) == b"[1]"
    assert sleeps == [7.0, ingest.MAX_RETRY_AFTER_SECONDS, 2.0]  # a garbled header: the backoff
    assert retry_lines(capsys.readouterr().err)[0] == f"retry 1/3: HTTP 503 Service Unavailable from {url}; sleeping 7s"


def test_connection_refused_is_retried(ingest, capsys):
    with socket.socket() as probe:  # a loopback port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = []
    with pytest.raises(ingest.IngestError) as excinfo:
        _fetch(ingest, f"http://127.0.0.1:{port}/countries.json", sleeps, max_attempts=2)
    assert len(sleeps) == 1 and "network error" in str(excinfo.value)
    assert "gave up after 2 attempt(s)" in str(excinfo.value)
    assert retry_lines(capsys.readouterr().err)[0].startswith("retry 1/1: network error")


def test_timeout_fails_naming_the_timeout(ingest, capsys, s3, server, fixture_bytes):
    url = server.script("/slow.json", Reply(200, fixture_bytes, delay=1.0))
    # each attempt gets the whole body after 1 s, so only the 0.2 s timeout can make the job fail
    rc, out, err = run_job(ingest, capsys, url, "--timeout_seconds", "0.2", "--max_attempts", "2")

    assert_failed_cleanly(rc, out, err, s3)
    assert server.hits["/slow.json"] == 2
    assert "retry 1/1: timed out after 0.2s" in err
    message = error_line(err)
    assert "timed out after 0.2s" in message and url in message and "--timeout_seconds" in message


def test_file_url_is_refused_naming_the_s3_fix(ingest, capsys, s3, tmp_path):
    """A Glue job runs on an AWS-managed worker and sees only its own disk, so a file:// URL
    names a file it cannot have. The job says so and names the fix, and writes nothing.
    https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html (the job's only local storage
    is the worker's own /tmp)."""
    path = tmp_path / "countries.json"
    path.write_bytes(FIXTURE.read_bytes())  # the file exists on this machine; still refused
    url = path.as_uri()
    failure = assert_failed_cleanly(*run_job(ingest, capsys, url), s3)
    assert failure["stage"] == "download" and failure["source_bytes"] is None
    assert failure["error"] == (
        f"--source_url {url} is a local file, but a Glue worker cannot read the caller's disk. "
        f"hint: upload the file to s3://{BUCKET}/incoming/ and pass s3://{BUCKET}/incoming/countries.json "
        "as --source_url"
    )


def test_unsupported_scheme(ingest, capsys, s3):
    rc, out, err = run_job(ingest, capsys, "ftp://example.com/countries.json")
    failure = assert_failed_cleanly(rc, out, err, s3)
    assert failure["stage"] == "download"
    assert "the scheme must be http, https or s3" in error_line(err)
    assert f"upload the file to s3://{BUCKET}/incoming/" in error_line(err)


# --------------------------------------------------------------------------------------------
# Whole-file content failures
# --------------------------------------------------------------------------------------------


def test_not_json_names_the_position(ingest, capsys, s3, tmp_path):
    url = write_source(s3, b'[\n  {"cca3": "DEU"},\n  oops\n]\n')
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    message = error_line(err)
    assert "not valid JSON" in message and url in message
    assert "line 3, column 3 (char 23, byte 23)" in message


def test_html_page_instead_of_json(ingest, capsys, s3, server):
    url = server.script("/page", Reply(200, b"<!DOCTYPE html><html>rate limited</html>"))
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    assert "line 1, column 1 (char 0" in error_line(err)


def test_truncated_json(ingest, capsys, s3, server, fixture_bytes):
    body = fixture_bytes[:5000]
    try:
        json.loads(body.decode("utf-8"))
    except json.JSONDecodeError as exc:
        expected = f"line {exc.lineno}, column {exc.colno} (char {exc.pos}"
    url = server.script("/cut.json", Reply(200, body))
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    message = error_line(err)
    assert "not valid JSON" in message and expected in message and "truncated or interrupted download" in message


def test_empty_array_keeps_the_previous_landed_file(ingest, capsys, s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"cca3":"OLD"}\n')
    before = all_versions(s3)
    url = write_source(s3, [])
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3, before)
    message = error_line(err)
    assert "has 0 records; refusing to replace the landed file with nothing" in message and url in message
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b'{"cca3":"OLD"}\n'


def test_object_instead_of_array(ingest, capsys, s3, tmp_path, fixture_records):
    url = write_source(s3, {"countries": fixture_records[:2]})
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    message = error_line(err)
    assert "is a JSON object with 1 key(s) (countries)" in message
    assert "JSON array of country objects is expected" in message


def test_scalar_instead_of_array(ingest, capsys, s3, tmp_path):
    url = write_source(s3, b'"hello"')
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    assert "is a JSON string, but a JSON array of country objects is expected" in error_line(err)


def test_nan_is_not_json(ingest, capsys, s3, tmp_path):
    url = write_source(s3, b'[{"name":{"common":"X"},"cca3":"XXX","continents":["Asia"],"area":NaN}]')
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    assert "NaN" in error_line(err)


def test_invalid_utf8_names_the_byte_offset(ingest, capsys, s3, tmp_path):
    raw = '[{"name": {"common": "Curaçao"}}]'.encode().replace("ç".encode(), b"\xe7")
    url = write_source(s3, raw)
    rc, out, err = run_job(ingest, capsys, url)
    assert_failed_cleanly(rc, out, err, s3)
    message = error_line(err)
    offset = raw.index(b"\xe7")
    assert offset == 26
    assert f"byte 0xe7 at byte offset {offset}" in message
    assert "not valid UTF-8" in message and url in message


@pytest.mark.parametrize("over", ["s3", "http"])
def test_utf8_and_sha256_are_checked_chunk_by_chunk_while_downloading(
    ingest, capsys, s3, server, monkeypatch, fixture_bytes, fixture_records, over
):
    """The download hashes and checks UTF-8 in one pass over 7-byte chunks: a character split between
    chunks is fine, a bad byte is named by its offset in the whole file, a cut-off one at the end too."""
    monkeypatch.setattr(ingest, "READ_CHUNK_BYTES", 7)

    def source(body):
        return server.script(f"/c{len(body)}.json", Reply(200, body)) if over == "http" else write_source(s3, body)

    rc, out, err = run_job(ingest, capsys, source(fixture_bytes))  # 8111 non-ASCII bytes
    assert rc == 0, err
    summary = json.loads(out)
    assert (summary["source_bytes"], summary["source_sha256"]) == (
        len(fixture_bytes),
        hashlib.sha256(fixture_bytes).hexdigest(),
    )
    assert_landed_equals(s3, fixture_records, summary)
    before = all_versions(s3)
    chars = "ü€𝄞".encode() * 5  # 2-, 3- and 4-byte characters across every chunk boundary
    for raw, offset, reason in (
        (b'["' + chars + b'\xe7"]', 2 + len(chars), "invalid continuation byte"),
        (b'["' + chars + b"\xf0\x9d", 2 + len(chars), "unexpected end of data"),
    ):
        failure = assert_failed_cleanly(*run_job(ingest, capsys, source(raw)), s3, before)
        assert failure["error"].startswith(
            f"source {failure['source_url']} is not valid UTF-8: byte "
            f"0x{raw[offset]:02x} at byte offset {offset} ({reason})."
        )
        assert (failure["stage"], failure["source_bytes"]) == ("parse", len(raw))
        assert failure["source_sha256"] == hashlib.sha256(raw).hexdigest()


def test_larger_than_max_bytes_over_http(ingest, capsys, s3, server, fixture_bytes):
    url = server.script("/big.json", Reply(200, fixture_bytes))
    rc, out, err = run_job(ingest, capsys, url, "--max_bytes", "1000")
    assert_failed_cleanly(rc, out, err, s3)
    message = error_line(err)
    assert "larger than max_bytes=1000" in message and url in message and "--max_bytes" in message


def test_larger_than_max_bytes_without_content_length(ingest, capsys, s3, server, fixture_bytes):
    url = server.script("/big.json", Reply(200, fixture_bytes, content_length=False))
    rc, out, err = run_job(ingest, capsys, url, "--max_bytes", "1000")
    assert_failed_cleanly(rc, out, err, s3)
    assert "larger than max_bytes=1000 (more than 1000 bytes read)" in error_line(err)


def test_larger_than_max_bytes_from_file(ingest, capsys, s3):
    rc, out, err = run_job(ingest, capsys, write_source(s3), "--max_bytes", "4096")
    assert_failed_cleanly(rc, out, err, s3)
    assert "larger than max_bytes=4096" in error_line(err)


def test_exactly_max_bytes_is_accepted(ingest, capsys, s3, fixture_bytes):
    rc, out, err = run_job(ingest, capsys, write_source(s3), "--max_bytes", str(len(fixture_bytes)))
    assert rc == 0, err


def test_size_cap_stops_reading_early(ingest):
    """The cap holds while reading, whatever the source declared (http Content-Length, S3 ContentLength)."""

    class EndlessBody:
        def __init__(self):
            self.served = 0

        def read(self, n):
            self.served += n
            return b"x" * n

    body = EndlessBody()
    with pytest.raises(ingest.IngestError, match="larger than max_bytes=200000"):
        ingest.copy_capped(body.read, "s3://b/incoming/x", 200_000, io.BytesIO())
    assert body.served == 200_001


# --------------------------------------------------------------------------------------------
# Record-level validation and quarantine
# --------------------------------------------------------------------------------------------


def test_bad_records_are_quarantined_and_the_rest_load(ingest, capsys, s3, tmp_path, fixture_records):
    records = copy.deepcopy(fixture_records)
    del records[0]["cca3"]  # ARG
    del records[2]["name"]["common"]  # AUS
    del records[4]["continents"]  # BRA
    records[5]["population"] = str(records[5]["population"])  # BTN
    records[8]["continents"] = "Europe"  # DEU
    records[11]["population"] = True  # LSO
    records[12]["area"] = "30.5"  # MAC
    records[13]["cca3"] = "nam"  # NAM
    records.insert(15, 42)  # not an object
    records[16]["name"]["common"] = ""  # NZL (shifted by the insert)
    records.append(copy.deepcopy(fixture_records[8]))  # DEU again, valid this time
    url = write_source(s3, records)

    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["received"] == len(records) == 22
    assert summary["quarantined"] == 10
    assert summary["loaded"] == 12
    assert summary["received"] == summary["loaded"] + summary["quarantined"]
    assert summary["quarantine_key"] == f"{QPREFIX}{RUN_ID}/rejected.ndjson"

    bad_indexes = {0, 2, 4, 5, 8, 11, 12, 13, 15, 16}
    expected_loaded = [r for i, r in enumerate(records) if i not in bad_indexes]
    assert_landed_equals(s3, expected_loaded, summary)
    # The first DEU was invalid, so the later valid DEU is loaded, not a duplicate.
    assert [json.loads(line)["cca3"] for line in read_lines(s3, KEY)][-1] == "DEU"

    quarantined = [json.loads(line) for line in read_lines(s3, summary["quarantine_key"])]
    assert len(quarantined) == summary["quarantined"]
    for entry in quarantined:
        assert list(entry) == ["record_index", "cca3", "reason_codes", "reasons", "record"]
        assert entry["record"] == records[entry["record_index"]]
    reasons = {entry["record_index"]: (entry["cca3"], entry["reasons"]) for entry in quarantined}
    assert reasons == {
        0: (None, ["missing cca3"]),
        2: ("AUS", ["missing name.common"]),
        4: ("BRA", ["missing continents"]),
        5: ("BTN", ["population is a JSON string, not an integer"]),
        8: ("DEU", ["continents is a JSON string, not a list"]),
        11: ("LSO", ["population is a JSON boolean, not an integer"]),
        12: ("MAC", ["area is a JSON string, not a number"]),
        13: ("nam", ['cca3 is not a 3-letter uppercase code (got "nam")']),
        15: (None, ["record is a JSON number, not an object"]),
        16: ("NZL", ['name.common is not a non-empty string (got "")']),
    }
    codes = {entry["record_index"]: entry["reason_codes"] for entry in quarantined}
    assert codes == {
        0: ["missing:cca3"],
        2: ["missing:name.common"],
        4: ["missing:continents"],
        5: ["type:population"],
        8: ["type:continents"],
        11: ["type:population"],
        12: ["type:area"],
        13: ["invalid:cca3"],
        15: ["type:record"],
        16: ["invalid:name.common"],
    }
    assert summary["quarantine_reasons"] == {
        "invalid:cca3": 1,
        "invalid:name.common": 1,
        "missing:cca3": 1,
        "missing:continents": 1,
        "missing:name.common": 1,
        "type:area": 1,
        "type:continents": 1,
        "type:population": 2,
        "type:record": 1,
    }
    head = s3.head_object(Bucket=BUCKET, Key=summary["quarantine_key"])
    assert head["ContentType"] == "application/x-ndjson"
    assert head["Metadata"]["records"] == "10"
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]["records"] == "12"


def validate_record(ingest, record):
    return [message for _code, message in ingest.record_problems(record)]


def test_several_reasons_on_one_record(ingest):
    assert validate_record(ingest, {"name": "Nowhere", "population": "1", "area": None}) == [
        "name is a JSON string, not an object with name.common",
        "missing cca3",
        "missing continents",
        "population is a JSON string, not an integer",
        "area is a JSON null, not a number",
    ]
    assert validate_record(ingest, {"name": {"common": "X"}, "cca3": "XXX", "continents": []}) == [
        "continents is an empty list"
    ]
    assert validate_record(ingest, {"name": {"common": "X"}, "cca3": "XXX", "continents": ["Asia", 7]}) == [
        "continents has an element that is not a non-empty string"
    ]
    assert (
        validate_record(
            ingest, {"name": {"common": "X"}, "cca3": "XXX", "continents": ["Asia"], "population": 0, "area": 0.44}
        )
        == []
    )


@pytest.mark.parametrize(
    ("record", "codes"),
    [
        ({"cca3": "AAA"}, ["missing:name.common", "missing:continents"]),
        ("text", ["type:record"]),
        ({"name": {"common": "B"}, "cca3": "BBB"}, ["missing:continents"]),
        ({"name": {"common": "X"}, "continents": ["Asia"]}, ["missing:cca3"]),
        ({"name": {"common": "X"}, "cca3": "xx1", "continents": ["Asia"]}, ["invalid:cca3"]),
        ({"name": {"common": " "}, "cca3": "XXX", "continents": ["Asia"]}, ["invalid:name.common"]),
        ({"name": {"common": "X"}, "cca3": "XXX", "continents": "Asia"}, ["type:continents"]),
        ({"name": {"common": "X"}, "cca3": "XXX", "continents": ["Asia"], "population": "1"}, ["type:population"]),
        ({"name": {"common": "X"}, "cca3": "XXX", "continents": ["Asia"], "area": True}, ["type:area"]),
        ({"name": {"common": "X"}, "cca3": "XXX", "continents": ["Asia"], "newField": {"a": 1}}, []),
    ],
    ids=lambda v: json.dumps(v)[:40] if not isinstance(v, list) else None,
)
def test_record_problems_reason_codes(ingest, record, codes):
    """The machine-readable codes the quarantine file carries (tests/integration/test_bad_input.py
    checks that they reach it through the pipeline)."""
    assert [code for code, _message in ingest.record_problems(record)] == codes


def test_duplicate_cca3_second_is_quarantined(ingest, capsys, s3, tmp_path, fixture_records):
    records = copy.deepcopy(fixture_records[:5])
    duplicate = copy.deepcopy(records[1])
    duplicate["name"]["common"] = "Antarctica (again)"
    records.append(duplicate)
    url = write_source(s3, records)

    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 0, err
    summary = json.loads(out)
    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (6, 5, 1)
    assert_landed_equals(s3, records[:5], summary)
    [entry] = [json.loads(line) for line in read_lines(s3, summary["quarantine_key"])]
    assert entry["record_index"] == 5 and entry["cca3"] == "ATA"
    assert entry["reasons"] == ["duplicate cca3 ATA (already loaded from record_index 1)"]
    assert entry["reason_codes"] == ["duplicate:cca3"]
    assert entry["record"] == duplicate


def test_unknown_new_field_is_kept(ingest, capsys, s3, tmp_path, fixture_records):
    records = copy.deepcopy(fixture_records[:3])
    records[1]["newField"] = {"addedIn": "v3.2", "values": [1, 2.5, None, "ü"]}
    url = write_source(s3, records)
    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["quarantined"] == 0 and summary["quarantine_key"] is None
    lines = read_lines(s3, KEY)
    assert json.loads(lines[1])["newField"] == {"addedIn": "v3.2", "values": [1, 2.5, None, "ü"]}
    assert lines[1].endswith(',"newField":{"addedIn":"v3.2","values":[1,2.5,null,"ü"]}}')
    assert_landed_equals(s3, records, summary)


def test_zero_valid_records_keeps_the_landed_file_and_quarantines_all(ingest, capsys, s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"cca3":"OLD"}\n')
    landed_before = all_versions(s3)
    records = [{"cca3": "AAA"}, "text", {"name": {"common": "B"}}]
    url = write_source(s3, records)
    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 1 and "Traceback" not in err
    failure = failure_of(out)
    message = error_line(err)
    assert "none of the 3 records" in message and url in message and "landed file was not replaced" in message
    assert "record_index 0: missing name.common, missing continents" in message
    qkey = f"{QPREFIX}{RUN_ID}/rejected.ndjson"
    assert qkey in message
    assert (failure["stage"], failure["received"], failure["quarantined"], failure["quarantine_key"]) == (
        "validate",
        3,
        3,
        qkey,
    )
    assert failure["quarantine_reasons"] == {
        "missing:cca3": 1,
        "missing:continents": 2,
        "missing:name.common": 1,
        "type:record": 1,
    }
    # the landed file is untouched; only the quarantine was written
    assert [v for v in all_versions(s3) if v[0] == KEY] == landed_before
    assert [json.loads(line)["record"] for line in read_lines(s3, qkey)] == records


# --------------------------------------------------------------------------------------------
# S3 errors
# --------------------------------------------------------------------------------------------


def test_missing_bucket_names_bucket_key_and_error_code(ingest, capsys, s3):
    argv = job_argv(write_source(s3))  # the source is readable; the landing bucket does not exist
    argv[argv.index(BUCKET)] = "no-such-bucket"
    rc = ingest.main(argv)
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in err
    assert failure_of(out)["stage"] == "write"
    message = error_line(err)
    assert f"s3://no-such-bucket/{KEY}" in message and "NoSuchBucket" in message


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def test_argument_parsing_ignores_glue_args_and_applies_defaults(ingest):
    options = ingest.parse_args(job_argv("https://example.com/c.json"))
    assert options == {
        "source_url": "https://example.com/c.json",
        "bucket": BUCKET,
        "key": KEY,
        "quarantine_prefix": QPREFIX,
        "max_bytes": 104857600,
        "timeout_seconds": 30.0,
        "max_attempts": 4,
        "run_id": RUN_ID,
        "skip_if_sha256": "",
        "code_pattern": "",
    }


def test_argument_parsing_optional_values_and_equals_form(ingest):
    argv = [
        "x.py",
        "--bucket=b",
        "--key",
        "k",
        "--quarantine_prefix",
        "q/",
        "--source_url",
        "s3://b/incoming/a",
        "--max_bytes",
        "2048",
        "--timeout_seconds",
        "2.5",
        "--max_attempts=1",
        "--run_id",
        "r1",
        "--bucket",
        "b2",
    ]
    options = ingest.parse_args(argv)
    assert options["bucket"] == "b2"  # the last occurrence wins, as with argparse
    assert (options["max_bytes"], options["timeout_seconds"], options["max_attempts"]) == (2048, 2.5, 1)
    assert options["run_id"] == "r1"


def test_run_id_defaults_to_manual_without_glue(ingest):
    argv = ["x.py", "--source_url", "s3://b/incoming/a", "--bucket", "b", "--key", "k", "--quarantine_prefix", "q/"]
    assert ingest.parse_args(argv)["run_id"] == "manual"


def test_missing_arguments_are_named_and_glue_args_ignored(ingest):
    with pytest.raises(ingest.IngestError) as excinfo:
        ingest.parse_args(["x.py", *GLUE_EXTRA_ARGS, "--bucket", "b", "--source_url", SOURCE_URL])
    assert str(excinfo.value).startswith("missing required job argument(s): --key, --quarantine_prefix;")
    # no prefix matching: Glue's --job-bookmark-option must not be taken for anything of ours
    with pytest.raises(ingest.IngestError, match="--key"):
        ingest.parse_args(
            ["x.py", "--ke", "k", "--bucket", "b", "--source_url", SOURCE_URL, "--quarantine_prefix", "q"]
        )
    with pytest.raises(ingest.IngestError, match="--max_bytes: expected one argument"):
        ingest.parse_args(job_argv(SOURCE_URL, "--max_bytes"))


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_bytes", "abc"),
        ("max_bytes", "0"),
        ("timeout_seconds", "-1"),
        ("max_attempts", "1.5"),
        ("timeout_seconds", "nan"),
    ],
)
def test_bad_optional_numbers_are_rejected(ingest, name, value):
    with pytest.raises(ingest.IngestError, match=f"--{name}"):
        ingest.parse_args(job_argv(SOURCE_URL, f"--{name}", value))


def test_main_missing_argument_names_it_and_writes_nothing(ingest, capsys, s3):
    argv = [a for a in job_argv(write_source(s3))]
    i = argv.index("--quarantine_prefix")
    del argv[i : i + 2]
    rc = ingest.main(argv)
    out, err = capsys.readouterr()
    assert_failed_cleanly(rc, out, err, s3)
    assert "--quarantine_prefix" in error_line(err)


# --------------------------------------------------------------------------------------------
# The script as a process, and as Glue 3.9 source
# --------------------------------------------------------------------------------------------


def _subprocess_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update(
        {
            # Any S3 call would hit a closed port and fail loudly (and quickly).
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        }
    )
    return env


def _run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=_subprocess_env(tmp_path),
        timeout=60,
        cwd=tmp_path,
    )


def test_subprocess_missing_argument(tmp_path):
    result = _run_script(tmp_path, "--JOB_RUN_ID", "jr_1", "--source_url", "file:///x.json", "--key", KEY)
    assert result.returncode == 1
    assert json.loads(result.stdout)["event"] == "ingest_failed"
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ERROR: missing required job argument(s): --bucket, --quarantine_prefix")


def test_subprocess_bad_json_fails_before_touching_s3(tmp_path, server):
    url = server.script("/bad.json", Reply(200, b'[{"cca3": "DEU",}]'))
    result = _run_script(
        tmp_path, "--source_url", url, "--bucket", BUCKET, "--key", KEY, "--quarantine_prefix", QPREFIX
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["event"] == "ingest_failed"
    assert "Traceback" not in result.stderr
    message = error_line(result.stderr)
    assert "not valid JSON" in message and "line 1, column 17 (char 16" in message and url in message
    assert "127.0.0.1:9" not in result.stderr and "S3" not in result.stderr


def test_subprocess_s3_endpoint_comes_from_aws_endpoint_url(tmp_path, server, fixture_bytes):
    """The control for the test above: a valid source does reach S3 at AWS_ENDPOINT_URL and fails loudly."""
    url = server.script("/countries.json", Reply(200, fixture_bytes))
    result = _run_script(
        tmp_path, "--source_url", url, "--bucket", BUCKET, "--key", KEY, "--quarantine_prefix", QPREFIX
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["event"] == "ingest_failed"
    assert "Traceback" not in result.stderr
    message = error_line(result.stderr)
    assert f"S3 PutObject to s3://{BUCKET}/{KEY} failed: EndpointConnectionError" in message
    assert "127.0.0.1:9" in message


def test_subprocess_s3_source_unreachable_is_a_clean_download_error(tmp_path):
    result = _run_script(
        tmp_path, "--source_url", SOURCE_URL, "--bucket", BUCKET, "--key", KEY, "--quarantine_prefix", QPREFIX
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    failure = json.loads(result.stdout)
    assert failure["stage"] == "download"
    assert error_line(result.stderr).startswith(
        f"ERROR: could not download {SOURCE_URL} (bucket {BUCKET}, key {SOURCE_KEY}): EndpointConnectionError ("
    )
    assert "127.0.0.1:9" in failure["error"] and "AWS_ENDPOINT_URL" in failure["error"]


def test_script_imports_only_the_standard_library_and_its_declared_glue_modules(ingest):
    """Glue's Python shell 3.9 runs the script with the standard library and the preloaded
    libraries only (anything else needs --additional-python-modules, a pip install per run):
    https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html#python-shell-supported-library
    The script declares what it needs from that list; the declaration must be exactly what it imports."""
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert ingest.GLUE_PROVIDED_MODULES == ("boto3", "botocore", "urllib3")
    assert imported - set(sys.stdlib_module_names) == set(ingest.GLUE_PROVIDED_MODULES)
    assert not imported & {"tomllib"}  # standard library, but only from Python 3.11


def test_script_is_glue_python39_source_without_local_branching():
    source = SCRIPT.read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 9))  # e.g. no match statement
    for marker in ("endpoint_url", "localhost", "127.0.0.1", "os.environ", "getenv"):
        assert marker not in source
    assert "from __future__ import annotations" in source


# --------------------------------------------------------------------------------------------
# Unchanged sources and the failure summary
# --------------------------------------------------------------------------------------------


def test_unchanged_source_is_not_written_again(ingest, capsys, s3, fixture_bytes):
    url = write_source(s3)
    first = json.loads(run_job(ingest, capsys, url)[1])
    versions = all_versions(s3)
    rc, out, err = run_job(ingest, capsys, url, "--skip_if_sha256", first["source_sha256"].upper())
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["unchanged"] is True
    assert (summary["received"], summary["loaded"], summary["quarantined"]) == (20, 20, 0)
    assert summary["version_id"] is None and summary["quarantine_key"] is None
    assert summary["source_sha256"] == first["source_sha256"]
    assert all_versions(s3) == versions, "an unchanged source must not add an S3 version"
    assert "source unchanged" in err


def test_an_unchanged_http_source_is_a_conditional_request_that_downloads_nothing(
    ingest, capsys, s3, server, fixture_bytes
):
    """raw.githubusercontent.com sends an ETag and answers If-None-Match with 304 Not Modified (as
    tests/scripted_http.py does; RFC 9110 section 13.1.2). The landed file keeps the source's ETag and
    counts in its metadata, so the next run asks conditionally and, on a 304, reports "unchanged" with
    the same summary fields as an unchanged download, without downloading a byte."""
    url = server.script("/countries.json", Reply(200, fixture_bytes))
    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 0, err
    first, versions = json.loads(out), all_versions(s3)
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]["source-etag"]
    assert server.requests["/countries.json"][0].get("If-None-Match") is None and etag.startswith('"')
    sent = server.body_bytes["/countries.json"]
    assert sent == len(fixture_bytes)

    rc, out, err = run_job(ingest, capsys, url, "--skip_if_sha256", first["source_sha256"])
    assert rc == 0, err
    summary = json.loads(out)
    assert server.requests["/countries.json"][1]["If-None-Match"] == etag
    assert server.body_bytes["/countries.json"] == sent, "a 304 has no body: nothing was downloaded"
    assert summary == {**first, "version_id": None, "quarantine_key": None, "unchanged": True}
    assert all_versions(s3) == versions
    assert "source unchanged (304 Not Modified to If-None-Match)" in err

    # the source changes: its new ETag does not match, so it is downloaded and landed (with the new ETag)
    changed = json.dumps(json.loads(fixture_bytes)[:5], ensure_ascii=False).encode("utf-8")
    server.script("/countries.json", Reply(200, changed))
    rc, out, err = run_job(ingest, capsys, url, "--skip_if_sha256", first["source_sha256"])
    assert rc == 0, err
    summary = json.loads(out)
    assert server.requests["/countries.json"][2]["If-None-Match"] == etag
    assert server.body_bytes["/countries.json"] == sent + len(changed)
    assert (summary["unchanged"], summary["loaded"], summary["source_bytes"]) == (False, 5, len(changed))
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]["source-etag"] != etag
    assert len(all_versions(s3)) == len(versions) + 1


def test_an_unchanged_s3_source_is_a_conditional_get_object(ingest, capsys, s3, monkeypatch, fixture_bytes):
    """GetObject with If-None-Match answers 304 Not Modified when the ETag still matches:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (If-None-Match)."""
    url = write_source(s3)
    first = json.loads(run_job(ingest, capsys, url)[1])
    with monkeypatch.context() as patched:
        patched.setattr(ingest, "copy_capped", lambda *a: pytest.fail("an unchanged source must not be read"))
        rc, out, err = run_job(ingest, capsys, url, "--skip_if_sha256", first["source_sha256"])
    assert rc == 0, err
    assert json.loads(out) == {**first, "version_id": None, "unchanged": True}
    write_source(s3, fixture_bytes.replace(b"Argentina", b"Argentinia"))  # a new ETag
    rc, out, err = run_job(ingest, capsys, url, "--skip_if_sha256", first["source_sha256"])
    assert rc == 0, err
    changed = json.loads(out)
    assert changed["unchanged"] is False and changed["source_sha256"] != first["source_sha256"]


def test_a_source_with_only_last_modified_is_asked_with_if_modified_since(ingest, capsys, s3, tmp_path, fixture_bytes):
    """The local cloud's source (python -m http.server, helpers/local_cloud/launcher.py) sends Last-Modified,
    no ETag, and answers If-Modified-Since with 304 when the file is not newer (RFC 9110 section 13.1.3)."""
    (tmp_path / "countries.json").write_bytes(fixture_bytes)
    handler = functools.partial(QuietFileHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/countries.json"
        first = json.loads(run_job(ingest, capsys, url)[1])
        assert "source-etag" not in s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]
        rc, out, err = run_job(ingest, capsys, url, "--skip_if_sha256", first["source_sha256"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert rc == 0, err
    assert json.loads(out) == {**first, "version_id": None, "unchanged": True}
    assert "304 Not Modified to If-Modified-Since" in err


class QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_no_conditional_request_without_skip_if_sha256_or_for_another_source(ingest, capsys, s3, server, fixture_bytes):
    url = server.script("/a.json", Reply(200, fixture_bytes))
    first = json.loads(run_job(ingest, capsys, url)[1])
    run_job(ingest, capsys, url)  # no --skip_if_sha256 (e.g. --force): a plain download
    other = server.script("/b.json", Reply(200, fixture_bytes))
    rc, out, err = run_job(ingest, capsys, other, "--skip_if_sha256", first["source_sha256"])
    assert rc == 0 and json.loads(out)["unchanged"] is True  # by its sha256, after a full download
    assert [r.get("If-None-Match") for r in server.requests["/a.json"] + server.requests["/b.json"]] == [None] * 3
    assert server.body_bytes["/b.json"] == len(fixture_bytes)


def test_changed_source_is_written_despite_skip_if_sha256(ingest, capsys, s3):
    rc, out, err = run_job(ingest, capsys, write_source(s3), "--skip_if_sha256", "0" * 64)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["unchanged"] is False and summary["version_id"]
    assert len(all_versions(s3)) == 1


def test_failure_summary_says_what_is_known(ingest, capsys, s3, server, tmp_path):
    url = server.script("/gone.json", Reply(404, b"Not Found"))
    failure = assert_failed_cleanly(*run_job(ingest, capsys, url), s3)
    assert (failure["stage"], failure["received"], failure["source_bytes"], failure["run_id"]) == (
        "download",
        None,
        None,
        RUN_ID,
    )
    assert "HTTP 404" in failure["error"]

    raw = b'[{"cca3": "DEU"}, oops]'
    failure = assert_failed_cleanly(*run_job(ingest, capsys, write_source(s3, raw)), s3)
    assert (failure["stage"], failure["received"], failure["quarantined"]) == ("parse", None, 0)
    assert failure["source_sha256"] == hashlib.sha256(raw).hexdigest() and failure["source_bytes"] == len(raw)


# --------------------------------------------------------------------------------------------
# Streaming: small buffers, multipart upload, --code_pattern
# --------------------------------------------------------------------------------------------


def test_streaming_parse_across_tiny_buffers_equals_json_loads(
    ingest, monkeypatch, tmp_path, fixture_bytes, fixture_records
):
    monkeypatch.setattr(ingest, "PARSE_CHUNK_CHARS", 7)  # every element spans many buffer refills
    path = tmp_path / "c.json"
    path.write_bytes(b" \n" + fixture_bytes.replace(b"},", b"} ,\n ") + b"\n")
    assert list(ingest.iter_json_array(str(path), "s3://b/c.json", path.stat().st_size)) == fixture_records
    path.write_bytes(b'[1, 23456789, true, null, "\xc3\xbc\\u00fc", 1.5e3]')
    assert list(ingest.iter_json_array(str(path), "u", path.stat().st_size)) == [1, 23456789, True, None, "üü", 1500.0]
    # array, object and scalar top levels alike: the streaming parser words every error as json.loads
    for bad in (
        b'[{"a": 1}, oops]',
        b'[{"a": 1},]',
        b'[{"a": 1}] x',
        b'[{"a": 1} {"b": 2}]',
        b'[{"a": "x',
        b'{"a" 1}',
        b'{"a": 1,}',
        b"{1: 2}",
        b'{"a": [1, 2] "b": 3}',
        b'{"a": 1} x',
        b'"abc" x',
        b"",
        b"  ",
        b"[",
        b"{",
        b"[1 2]",
        b"tru",
        b"<!DOCTYPE html>",
    ):
        path.write_bytes(bad)
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(bad.decode())
        with pytest.raises(ingest.IngestError) as got:
            list(ingest.iter_json_array(str(path), "u", len(bad)))
        e = expected.value
        assert f"{e.msg} at line {e.lineno}, column {e.colno} (char {e.pos}, byte {e.pos})" in str(got.value)


def test_a_number_cut_by_the_parse_buffer_is_read_whole(ingest, monkeypatch, tmp_path):
    """'1.5e3' cut after 'e' (or '-' / '1.' at a buffer's end) is a valid number that goes on in the next
    chunk, not a 1.5 followed by junk."""
    path = tmp_path / "n.json"
    path.write_bytes(b"[1, 1.5e3, -2, 10.25, 7]")
    for chars in range(1, 30):
        monkeypatch.setattr(ingest, "PARSE_CHUNK_CHARS", chars)
        assert list(ingest.iter_json_array(str(path), "u", path.stat().st_size)) == [1, 1500.0, -2, 10.25, 7]


def test_non_array_top_levels_are_described_by_the_streaming_parser(ingest, monkeypatch, tmp_path):
    monkeypatch.setattr(ingest, "PARSE_CHUNK_CHARS", 5)  # an object much larger than the buffer
    path = tmp_path / "c.json"
    cases = {
        b'{"countries": [{"cca3": "DEU"}], "meta": {"n": 1}, "a": 1, "b": 2, "c": 3, "d": 4}': "object with 6 key(s) (countries, meta, a, b, c)",
        b" {} ": "empty object",
        b"42": "number",
        b'"hello"': "string",
        b"null": "null",
        b"true": "boolean",
        b"[]": None,
    }
    for body, what in cases.items():
        path.write_bytes(body)
        with pytest.raises(ingest.IngestError) as got:
            list(ingest.iter_json_array(str(path), "u", len(body)))
        if what is None:
            assert "has 0 records" in str(got.value)
        else:
            assert str(got.value).startswith(f"top level of source u is a JSON {what}, but a JSON array")


def test_large_output_is_uploaded_in_parts(ingest, capsys, s3, monkeypatch, fixture_records):
    monkeypatch.setattr(ingest, "MULTIPART_THRESHOLD_BYTES", 1000)
    monkeypatch.setattr(ingest, "MULTIPART_PART_BYTES", 5 * 1024 * 1024)  # S3's minimum part size
    rc, out, err = run_job(ingest, capsys, write_source(s3))
    assert rc == 0, err
    summary = json.loads(out)
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert summary["version_id"] == head["VersionId"] and head["ContentType"] == "application/x-ndjson"
    assert head["Metadata"]["records"] == "20"
    assert_landed_equals(s3, fixture_records, summary)


def test_code_pattern_replaces_the_iso_rule(ingest, capsys, s3, tmp_path, fixture_records):
    records = copy.deepcopy(fixture_records[:3])
    records[1]["cca3"] = "ATA0000001"
    records[2]["cca3"] = "bad"
    url = write_source(s3, records)
    rc, out, err = run_job(ingest, capsys, url, "--code_pattern", "[A-Z]{3}([0-9]{7})?")
    assert rc == 0, err
    summary = json.loads(out)
    assert (summary["loaded"], summary["quarantined"]) == (2, 1)
    [entry] = [json.loads(line) for line in read_lines(s3, summary["quarantine_key"])]
    assert entry["reasons"] == ['cca3 does not match --code_pattern [A-Z]{3}([0-9]{7})? (got "bad")']
    with pytest.raises(ingest.IngestError, match="--code_pattern"):
        ingest.parse_args(job_argv(url, "--code_pattern", "[A-"))


# --------------------------------------------------------------------------------------------
# s3:// sources
# --------------------------------------------------------------------------------------------


def test_s3_source_is_read_with_the_jobs_client(ingest, capsys, s3, fixture_bytes, fixture_records):
    url = write_source(s3)
    rc, out, err = run_job(ingest, capsys, url)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["source_url"] == url and summary["source_bytes"] == len(fixture_bytes)
    assert summary["source_sha256"] == hashlib.sha256(fixture_bytes).hexdigest()
    assert_landed_equals(s3, fixture_records, summary)
    assert retry_lines(err) == []


def test_s3_source_missing_key_names_bucket_key_and_hint(ingest, capsys, s3):
    url = f"s3://{BUCKET}/incoming/nope.json"
    failure = assert_failed_cleanly(*run_job(ingest, capsys, url), s3)
    assert failure["stage"] == "download"
    assert failure["error"] == (
        f"cannot read source {url} (bucket {BUCKET}, key incoming/nope.json): NoSuchKey "
        "(The specified key does not exist.). hint: there is no such object; upload the file to "
        f"s3://{BUCKET}/incoming/ first and pass its exact key"
    )


def test_s3_source_missing_bucket_names_it(ingest, capsys, s3):
    url = "s3://no-such-source-bucket/incoming/countries.json"
    failure = assert_failed_cleanly(*run_job(ingest, capsys, url), s3)
    assert failure["stage"] == "download"
    message = failure["error"]
    assert message.startswith(
        f"cannot read source {url} (bucket no-such-source-bucket, key incoming/countries.json): NoSuchBucket ("
    )
    assert message.endswith(
        f"hint: the bucket does not exist; upload the file to s3://{BUCKET}/incoming/ "
        f"and pass s3://{BUCKET}/incoming/<file>"
    )


def test_s3_source_access_denied_names_the_readable_prefix(ingest, capsys, s3):
    """Real S3 answers 403 AccessDenied when the role may not read the object, and also for a
    missing key when the role may not s3:ListBucket (then it never says NoSuchKey):
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions).
    The in-process moto does not enforce IAM, so S3's answer is stubbed here."""
    job_s3 = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(job_s3)
    stubber.add_client_error(
        "get_object",
        service_error_code="AccessDenied",
        service_message="Access Denied",
        http_status_code=403,
        expected_params={"Bucket": BUCKET, "Key": "private/c.json"},
    )
    url = f"s3://{BUCKET}/private/c.json"
    with stubber:
        rc = ingest.main(job_argv(url), s3_client=job_s3)
    out, err = capsys.readouterr()
    failure = assert_failed_cleanly(rc, out, err, s3)
    assert failure["stage"] == "download"
    assert failure["error"] == (
        f"cannot read source {url} (bucket {BUCKET}, key private/c.json): AccessDenied (Access Denied). "
        f"hint: the Glue job's role may read only s3://{BUCKET}/incoming/*; upload the file there and pass "
        f"s3://{BUCKET}/incoming/<file> (S3 also answers AccessDenied for a missing key when the role may "
        "not list the bucket)"
    )
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("url", ["s3://", f"s3://{BUCKET}", f"s3://{BUCKET}/"])
def test_s3_source_must_name_an_object(ingest, capsys, s3, url):
    failure = assert_failed_cleanly(*run_job(ingest, capsys, url), s3)
    assert failure["stage"] == "download"
    assert failure["error"].startswith(f"--source_url {url} does not name an object; hint: pass s3://<bucket>/<key>")


def test_s3_source_larger_than_max_bytes_is_refused_before_reading(ingest, capsys, s3, monkeypatch):
    url = write_source(s3)
    monkeypatch.setattr(ingest, "copy_capped", lambda *a: pytest.fail("the body must not be read"))
    failure = assert_failed_cleanly(*run_job(ingest, capsys, url, "--max_bytes", "4096"), s3)
    assert failure["stage"] == "download"
    assert failure["error"].startswith(
        f"source {url} is larger than max_bytes=4096 (its ContentLength is {FIXTURE.stat().st_size}); stopped reading."
    )


def test_s3_source_key_with_url_special_characters(ingest, capsys, s3, fixture_bytes):
    key = "incoming/2026 run #1?.json"  # S3 keys are taken as they are, not URL-decoded
    s3.put_object(Bucket=BUCKET, Key=key, Body=fixture_bytes)
    rc, out, err = run_job(ingest, capsys, f"s3://{BUCKET}/{key}")
    assert rc == 0, err
    assert json.loads(out)["loaded"] == 20


# --------------------------------------------------------------------------------------------
# No traceback, whatever the input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'[{"cca3": "DEU", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
    ],
)
def test_deeply_nested_json_is_a_clean_error(ingest, capsys, s3, body):
    failure = assert_failed_cleanly(*run_job(ingest, capsys, write_source(s3, body)), s3)
    assert failure["stage"] == "parse"
    assert "nests JSON arrays/objects too deeply to parse" in failure["error"]
    assert "hint:" in failure["error"]


def test_records_nested_just_below_the_recursion_limit_are_loaded_or_a_clean_error(ingest, capsys, s3):
    """Python's json recurses once per level, parsing and writing alike, so a record that parses just
    below the recursion limit can still be too deep to write back out: that too is the clean
    "too deeply" error, never "unexpected RecursionError" (and never a traceback)."""
    deepest = 1  # the deepest list json.loads reads from here; the job's own limit is a few levels below
    while True:
        try:
            json.loads("[" * (deepest + 1) + "]" * (deepest + 1))
        except RecursionError:
            break
        deepest += 1
    outcomes = set()
    for depth in range(deepest - 40, deepest + 2):
        nested = "[" * depth + "]" * depth
        body = f'[{{"name": {{"common": "X"}}, "cca3": "XXX", "continents": ["Asia"], "x": {nested}}}]'
        rc, out, err = run_job(ingest, capsys, write_source(s3, body.encode()), "--run_id", f"d{depth}")
        assert "Traceback" not in err and "unexpected" not in err, err
        if rc == 0:
            outcomes.add("loaded")
            assert json.loads(out)["loaded"] == 1
        else:
            failure = failure_of(out)
            assert failure["stage"] == "parse" and "nests JSON arrays/objects too deeply" in failure["error"]
            outcomes.add("record_index" if "record_index 0 goes deeper" in failure["error"] else "parser")
    assert outcomes == {"loaded", "record_index", "parser"}


def test_an_unexpected_error_is_one_error_line(ingest, capsys, s3, monkeypatch):
    def broken(record, code_re=None):
        raise KeyError("boom")

    monkeypatch.setattr(ingest, "record_problems", broken)
    failure = assert_failed_cleanly(*run_job(ingest, capsys, write_source(s3)), s3)
    assert failure["stage"] == "parse"
    assert re.fullmatch(
        r"unexpected KeyError during stage parse at test_glue_ingest_script\.py:\d+: 'boom'\. "
        r"hint: this is a bug in the ingest job; report it with this line",
        failure["error"],
    )


# --------------------------------------------------------------------------------------------
# Uploads: the transfer manager, and the VersionId of this run's own write
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [None, 1000])
def test_version_id_is_this_runs_even_when_another_writer_follows(ingest, capsys, s3, monkeypatch, threshold):
    """A concurrent writer lands a newer version right after the job's upload: the summary must
    still name the job's own version, not whatever is latest (a head_object would see theirs)."""
    if threshold:  # the multipart path: CompleteMultipartUpload's response carries the VersionId
        monkeypatch.setattr(ingest, "MULTIPART_THRESHOLD_BYTES", threshold)
        monkeypatch.setattr(ingest, "MULTIPART_PART_BYTES", 5 * 1024 * 1024)
    url = write_source(s3)
    job_s3 = boto3.client("s3", region_name="us-east-1")
    other_writer = boto3.client("s3", region_name="us-east-1")

    def race(**kwargs):
        other_writer.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"cca3":"NEW"}\n')

    for op in ("PutObject", "CompleteMultipartUpload"):
        job_s3.meta.events.register(f"after-call.s3.{op}", race)
    rc = ingest.main(job_argv(url), s3_client=job_s3)
    out, err = capsys.readouterr()
    assert rc == 0, err
    summary = json.loads(out)
    latest = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert latest["VersionId"] != summary["version_id"]
    ours = s3.head_object(Bucket=BUCKET, Key=KEY, VersionId=summary["version_id"])
    assert ours["Metadata"]["run-id"] == RUN_ID and ours["Metadata"]["records"] == "20"
    assert ours["ETag"].endswith('-1"') == bool(threshold)  # multipart ETags end in -<parts>


def test_unversioned_bucket_reports_no_version_id(ingest, capsys, s3):
    s3.create_bucket(Bucket="plain-bucket")
    argv = job_argv(write_source(s3))
    argv[argv.index(BUCKET)] = "plain-bucket"
    rc = ingest.main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)["version_id"] is None


def test_a_landed_line_is_the_record_as_compact_json_with_its_unicode_kept(ingest):
    """One encoder serves every line, without the cycle check (a parsed record has no cycles): the bytes
    must stay those of json.dumps(ensure_ascii=False, compact), one line each."""
    records = [
        {"name": {"common": "Åland Islands", "nativeName": {"swe": {"official": "Landskapet Åland"}}}},
        {"cca3": "CIV", "name": {"common": "Côte d'Ivoire"}, "latlng": [8.0, -5.0], "population": 26378275},
        {"quote": 'a "b"\\c\n', "empty": {}, "list": [], "null": None, "flag": True, "tiny": 1e-7},
    ]
    for record in records:
        line = ingest.ndjson_line(record)
        assert line == (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        assert line.count(b"\n") == 1 and json.loads(line) == record
