"""Faults and re-runs: whatever breaks mid-run, the error is clear and quick, what users query stays as
the last good run left it, and simply running again gives the correct state.

* an unchanged source is not reloaded (no new S3 version, no COPY, no dbt build) unless forced,
  and dev and prod are separate: a source already loaded in dev still loads prod the first time;
* the warehouse (fakesnow) stopped in the middle of the dbt build; AWS (moto) stopped mid-run;
* a dbt model failing halfway through the build;
* two runs at once: the second is refused at once, naming the first (or waits, if asked to);
* the run process killed mid-build; a Glue job run left behind by a killed process.

Failures are injected deterministically through the pipeline's `echo` callback, which it calls
synchronously at each step ("[dbt] ...") and for each line dbt prints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from helpers import dbt, run_lock, warehouse
from helpers.local_cloud.launcher import LocalCloud
from helpers.pipeline import Pipeline, ServiceUnavailable
from tests.conftest import FIXTURE, PROJECT_ROOT
from tests.integration import support

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def source_url(local_cloud, tmp_path_factory) -> str:
    return support.write_source(tmp_path_factory.mktemp("source"), support.problem_records())


@pytest.fixture(scope="module")
def baseline(source_url):
    """The dev target holds the problem source (loaded now, or by an earlier module: then this run
    finds it unchanged); returns what users query, byte for byte. Every test below must end with
    exactly this again."""
    settings = support.isolated_settings()
    report = Pipeline(settings).run(source_url=source_url, target="dev")
    assert report.status == "succeeded"
    return support.published(settings, "dev")


def when(predicate: Callable[[str], bool], action: Callable[[], None]) -> Callable[[str], None]:
    """An echo callback that runs `action` once, at the first message matching `predicate`."""
    done = threading.Event()

    def echo(message: str) -> None:
        if not done.is_set() and predicate(message):
            done.set()
            action()

    return echo


# -- unchanged sources ----------------------------------------------------------------------------
def test_an_unchanged_source_is_not_reloaded_but_prod_loads_it_the_first_time(baseline, source_url):
    settings = support.isolated_settings()
    versions = support.data_versions(settings)
    state = Pipeline(settings).load_state("dev")

    again = Pipeline(settings).run(source_url=source_url, target="dev")

    assert again.status == "succeeded"
    assert again.steps["landing"]["skipped"] == again.steps["dbt"]["skipped"] == "unchanged source"
    assert again.steps["landing"]["written"] is False and support.data_versions(settings) == versions
    assert "counts" not in again.steps["dbt"], "no dbt build ran (the COPY is the RAW model's pre-hook)"
    assert support.published(settings, "dev") == baseline, "not even the load ids or timestamps changed"
    assert Pipeline(settings).load_state("dev") == state
    assert again.steps["reconciliation"]["loaded = RAW rows"] is True

    # prod is another database: never loaded, so the same (unchanged) source loads there
    prod = Pipeline(settings).run(source_url=source_url, target="prod")
    assert prod.steps["landing"]["skipped"] == "unchanged source" and support.data_versions(settings) == versions
    assert "skipped" not in prod.steps["dbt"] and prod.steps["dbt"]["counts"]["model"] == {"success": 11}
    assert prod.steps["rows_per_continent"] == again.steps["rows_per_continent"]
    assert Pipeline(settings).load_state("prod")["run_id"] == prod.run_id
    # ... and once loaded, prod skips it too
    prod_again = Pipeline(settings).run(source_url=source_url, target="prod")
    assert prod_again.steps["dbt"]["skipped"] == "unchanged source"


# -- the warehouse or AWS going away --------------------------------------------------------------
def test_the_warehouse_stopped_mid_build_fails_clearly_and_a_rerun_recovers(baseline, source_url, local_cloud):
    settings = support.isolated_settings(snowflake_network_timeout=1)  # default 300; never infinite
    cloud = LocalCloud(settings)
    versions = support.data_versions(settings)
    # stop the warehouse as soon as dbt has built its first model (the RAW load); force=True makes
    # this unchanged source go through the Glue job and dbt again
    echo = when(lambda m: "OK created sql table model" in m, lambda: cloud._stop("snowflake"))
    started = time.monotonic()
    with pytest.raises(dbt.DbtFailed) as failed:
        Pipeline(settings, echo=echo).run(source_url=source_url, target="dev", force=True)
    assert time.monotonic() - started < 60, "no hang, no endless client retries"
    message = str(failed.value)
    assert "Could not connect to Snowflake backend" in message or "Connection refused" in message
    assert "Nothing was published" in message and "once it is up again, run again" in message
    assert len(support.data_versions(settings)) == len(versions) + 1, "force re-landed the unchanged source"

    cloud.up()  # the warehouse keeps its data; it may come back on another port: read the settings again
    settings = support.isolated_settings()
    assert support.published(settings, "dev") == baseline, "MART as the last good run left it"
    rerun = Pipeline(settings).run(source_url=source_url, target="dev")
    assert rerun.status == "succeeded" and support.published(settings, "dev") == baseline


def test_aws_stopped_mid_run_fails_clearly_and_a_rerun_recovers(baseline, source_url, local_cloud):
    settings = support.isolated_settings()
    cloud = LocalCloud(settings)
    echo = when(lambda m: m == "[snowflake] ...", lambda: cloud._stop("aws"))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as failed:
        Pipeline(settings, echo=echo).run(source_url=source_url, target="dev")
    assert time.monotonic() - started < 60
    message = str(failed.value)
    assert message.startswith(f"AWS ({settings.resolved_aws_endpoint}) could not be reached during the snowflake step")
    assert "nothing users query was changed" in message and "python -m helpers local up" in message

    cloud.up()  # a new moto: every AWS resource is gone, the warehouse kept its data
    fresh = support.isolated_settings()
    assert support.published(fresh, "dev") == baseline
    rerun = Pipeline(fresh).run(source_url=source_url, target="dev")
    assert rerun.status == "succeeded"
    assert rerun.steps["s3"]["created"] is True and rerun.steps["landing"]["written"] is True
    assert rerun.steps["dbt"]["skipped"] == "unchanged source", "the warehouse already holds this source"
    assert support.published(fresh, "dev") == baseline


def test_the_warehouse_stopped_between_two_steps_fails_as_quickly_as_a_sign_in(baseline, source_url, local_cloud):
    """A run keeps one Snowflake session per target from step to step (helpers/run_context.py). A
    statement sent over a session whose warehouse went away is retried by the connector until its
    network_timeout (https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api,
    connect(): network_timeout; the same client against a real account) - measured here: 600 s with
    the default 300. So the kept session is checked before it is used again, and the run fails the way
    a sign-in to a stopped warehouse does: at once, with ServiceUnavailable."""
    settings = support.isolated_settings()  # the default network_timeout: no shortcut for this test
    cloud = LocalCloud(settings)
    # the source is unchanged: the session opened in the snowflake step is next used by validation
    echo = when(lambda m: m == "[load] ...", lambda: cloud._stop("snowflake"))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as failed:
        Pipeline(settings, echo=echo).run(source_url=source_url, target="dev")
    assert time.monotonic() - started < 60, "no hang in the connector's retries"
    message = str(failed.value)
    assert "could not be reached during the validation step: OperationalError" in message
    assert "Could not connect to Snowflake backend" in message and "nothing users query was changed" in message

    cloud.up()
    settings = support.isolated_settings()
    assert support.published(settings, "dev") == baseline
    assert Pipeline(settings).run(source_url=source_url, target="dev").status == "succeeded"


# -- a model failing mid-build ----------------------------------------------------------------------
def test_a_model_failing_mid_build_leaves_mart_byte_identical_and_a_rerun_recovers(baseline, source_url, tmp_path):
    records = support.problem_records()
    records[7]["unMember"] = "maybe"  # not checked by the Glue job; TRANSFORM's ::boolean cast fails
    settings = support.isolated_settings()
    with pytest.raises(dbt.DbtFailed) as failed:
        Pipeline(settings).run(source_url=support.write_source(tmp_path, records), target="dev")
    message = str(failed.value)
    assert "error: model.countries.country_details_transform" in message and "'maybe'" in message
    assert "Nothing was published" in message
    assert support.published(settings, "dev") == baseline

    rerun = Pipeline(settings).run(source_url=source_url, target="dev")
    assert rerun.status == "succeeded" and rerun.steps["landing"]["written"] is True
    assert support.published(settings, "dev") == baseline


# -- two runs at once, and a killed run -------------------------------------------------------------
def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PIPELINE_DEV_DATABASE": support.DEV_DB, "PIPELINE_PROD_DATABASE": support.PROD_DB}
    return subprocess.Popen(  # its own process group, so that it can be killed with its dbt child
        [sys.executable, "-m", "helpers", "run", *args],
        cwd=PROJECT_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_second_run_is_refused_while_one_runs_and_a_killed_run_is_recovered_by_running_again(baseline, source_url):
    settings = support.isolated_settings()
    first = _cli("--source-url", source_url, "--force")
    try:
        lines: list[str] = []
        assert first.stdout is not None
        for line in first.stdout:  # until dbt is building (the lock is held since the start)
            lines.append(line)
            if "START sql table model" in line:
                break
        holder = run_lock.holder(run_lock.lock_path(settings.artifacts_dir))
        assert holder["pid"] == first.pid, "".join(lines)

        second = Pipeline(settings)
        started = time.monotonic()
        with pytest.raises(run_lock.RunLocked) as refused:
            second.run(source_url=source_url, target="dev")
        assert time.monotonic() - started < 2, "refused at once"
        assert f"run {holder['run_id']} (target dev, pid {first.pid}" in str(refused.value)
        assert "Nothing was changed" in str(refused.value)
        refused_report = support.report_file(settings, second.last_report.run_id)
        assert refused_report["status"] == "failed" and "RunLocked" in refused_report["error"]
        latest = json.loads((settings.artifacts_dir / "run_report.json").read_text())
        assert latest["run_id"] != second.last_report.run_id, "the refused run does not overwrite the report"

        os.killpg(first.pid, signal.SIGKILL)  # the run and its dbt child, mid-build
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()

    assert support.published(settings, "dev") == baseline, "a killed build publishes nothing"
    rerun = Pipeline(settings).run(source_url=source_url, target="dev")  # the lock was released by the kill
    assert rerun.status == "succeeded" and support.published(settings, "dev") == baseline


def test_a_second_run_can_wait_for_the_first(baseline, source_url):
    settings = support.isolated_settings(run_lock_wait_seconds=20)
    outcome: list[object] = []

    def second_run() -> None:
        try:
            outcome.append(Pipeline(settings).run(source_url=source_url, target="dev").status)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            outcome.append(e)

    waiter = threading.Thread(target=second_run)
    with run_lock.acquire(settings.artifacts_dir, "run_holding_the_lock", "dev"):
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and not outcome, "the second run waits while the lock is held"
    waiter.join(timeout=60)
    assert outcome == ["succeeded"]


def test_a_glue_run_left_behind_by_a_killed_pipeline_is_waited_for(baseline, source_url):
    """Glue allows one run of the job at a time: a new run waits for a leftover one, then runs."""
    settings = support.isolated_settings()
    pipeline = Pipeline(settings)
    with support.SourceServer() as server:
        slow = server.script("/slow.json", support.Reply(200, FIXTURE.read_bytes(), delay=2))
        leftover = settings.aws_client("glue").start_job_run(
            JobName=settings.glue_job_name, Arguments={"--source_url": slow, "--run_id": "leftover"}
        )["JobRunId"]
        report = pipeline.run(source_url=source_url, target="dev")
    assert report.status == "succeeded" and report.steps["glue"]["waited_for_runs"] == [leftover]
    state = settings.aws_client("glue").get_job_run(JobName=settings.glue_job_name, RunId=leftover)["JobRun"]
    assert state["JobRunState"] == "SUCCEEDED"  # the leftover ran to its end before ours started
    assert report.steps["landing"]["written"] is True  # ours then landed the problem source again
    assert support.published(settings, "dev") == baseline


def test_the_publish_statement_replaces_an_existing_table_as_snowflake_does(local_cloud):
    """`CREATE OR REPLACE TABLE t CLONE s` (what publishing runs) replaces t with s's columns and rows;
    the local warehouse needed a fix for it (helpers/local_cloud/snowflake_server.py)."""
    settings = support.isolated_settings()
    with warehouse.connect(settings, None) as conn:
        for sql in (
            f"create database if not exists {support.DEV_DB}",
            f"create schema if not exists {support.DEV_DB}.CLONE_CHECK",
            f"create or replace table {support.DEV_DB}.CLONE_CHECK.T (a number(38, 0))",
            f"insert into {support.DEV_DB}.CLONE_CHECK.T values (1)",
            f"create or replace table {support.DEV_DB}.CLONE_CHECK.S (a number(38, 0), v variant)",
            f"insert into {support.DEV_DB}.CLONE_CHECK.S select 2, parse_json('{{\"k\": [1, 2]}}')",
            f"create or replace table {support.DEV_DB}.CLONE_CHECK.T clone {support.DEV_DB}.CLONE_CHECK.S",
        ):
            warehouse.execute(conn, sql)
        rows = warehouse.execute(conn, f"select a, v:k[1]::int from {support.DEV_DB}.CLONE_CHECK.T").rows
        types = [r[1] for r in warehouse.execute(conn, f"describe table {support.DEV_DB}.CLONE_CHECK.T").rows]
        warehouse.execute(conn, f"drop schema {support.DEV_DB}.CLONE_CHECK cascade")
    assert rows == [(2, 2)] and types == ["NUMBER(38,0)", "VARIANT"]
