"""The publish step: each published layer is wholly the old build or wholly the new one, whatever point a
run stops at, and a re-run finishes the job.

The publish is `ALTER SCHEMA <db>.<LAYER>_BUILD SWAP WITH <db>.<LAYER>` per layer, RAW then TRANSFORM
then MART (sql/05_publish.sql, helpers/publish.py). Snowflake docs, ALTER SCHEMA
(https://docs.snowflake.com/en/sql-reference/sql/alter-schema): SWAP WITH "swaps all objects (tables,
views, etc.) and metadata, including identifiers, between the two specified schemas ... essentially
performs a rename of both schemas as a single operation". The local warehouse's SWAP is pinned by its
own fidelity tests; here the pipeline's use of it is.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import snowflake.connector.errors

from helpers import publish, warehouse
from helpers.pipeline import Pipeline, ServiceUnavailable
from helpers.settings import Settings
from tests.conftest import FIXTURE
from tests.integration.operators import account_setup

pytestmark = pytest.mark.integration

DB = "PUBLISH_DEV"


def _settings() -> Settings:
    return account_setup(Settings(dev_database=DB, prod_database="PUBLISH_PROD"))


def layer_contents(settings: Settings, schema_suffix: str = "") -> dict[str, str]:
    """Per layer, one digest of every table's full contents (lineage columns included, so two runs'
    builds never look alike: load_id is the run id)."""
    out = {}
    with warehouse.connect(settings, "dev") as conn:
        for layer in publish.LAYERS:
            schema = layer + schema_suffix
            tables = [
                r[0]
                for r in warehouse.execute(
                    conn,
                    f"select table_name from {DB}.information_schema.tables where table_schema = '{schema}' order by 1",
                ).rows
            ]
            digest = hashlib.sha256()
            for table in tables:
                rows = warehouse.execute(conn, f"select * from {DB}.{schema}.{table}").rows
                digest.update(
                    table.encode() + json.dumps(sorted(json.dumps(list(r), default=str) for r in rows)).encode()
                )
            out[layer] = f"{len(tables)} tables {digest.hexdigest()[:16]}"
    return out


@pytest.fixture(scope="module")
def published_once(local_cloud, tmp_path_factory) -> dict[str, Any]:
    """A good run (the "old" state), then a second build of a different source loaded into the _BUILD
    schemas but not published (the "new" state)."""
    settings = _settings()
    pipeline = Pipeline(settings)
    assert pipeline.run(target="dev").status == "succeeded"
    old = layer_contents(settings)
    records = json.loads(FIXTURE.read_text())[:-3]  # a different source: three countries fewer
    source = tmp_path_factory.mktemp("publish-source") / "countries.json"
    source.write_text(json.dumps(records))
    # build the new version the way a run does, and stop before the publish
    pipeline.ingest(pipeline.stage_source(source.as_uri()), "run_publish_test")
    pipeline.load("dev")
    from helpers import dbt

    dbt.build(settings, "dev", "run_publish_test")
    new = layer_contents(settings, publish.BUILD_SUFFIX)
    assert all(old[layer] != new[layer] for layer in publish.LAYERS)
    return {"settings": settings, "old": old, "new": new, "records": len(records)}


class CrashAfter:
    """Stands in for helpers.warehouse inside helpers.publish: the process "dies" (the connection is
    gone) when the statement after the first `n` is sent."""

    def __init__(self, n: int):
        self.n, self.sent = n, 0

    def __getattr__(self, name: str) -> Any:  # everything but execute is the real module
        return getattr(warehouse, name)

    def execute(self, conn: Any, sql: str, params: Any = None) -> Any:
        if self.sent == self.n:
            raise snowflake.connector.errors.OperationalError(msg="Could not connect to Snowflake backend (crash)")
        self.sent += 1
        return warehouse.execute(conn, sql, params)


def _undo(settings: Settings, swapped: list[str]) -> None:
    """Swap back what a partial publish swapped: the old state again, for the next crash point."""
    with warehouse.connect(settings, "dev") as conn:
        for layer in swapped:
            warehouse.execute(conn, f"ALTER SCHEMA {DB}.{layer}{publish.BUILD_SUFFIX} SWAP WITH {DB}.{layer}")


def test_a_crash_between_any_two_publish_statements_leaves_each_layer_wholly_old_or_wholly_new(
    published_once, monkeypatch
):
    settings, old, new = published_once["settings"], published_once["old"], published_once["new"]
    statements = publish.publish_statements(DB, settings.reader_role)
    # per layer: ensure it exists, then swap; MART's reader grant before and revoke after (2 + 2)
    assert len(statements) == 2 * len(publish.LAYERS) + 4
    for n in range(len(statements)):  # a crash before statement n+1 (n = 0: before the first)
        crash = CrashAfter(n)
        monkeypatch.setattr(publish, "warehouse", crash)
        done: list[str] = []
        with warehouse.connect(settings, "dev") as conn, pytest.raises(snowflake.connector.errors.OperationalError):
            publish.publish(conn, DB, settings.reader_role, on_statement=done.append)
        monkeypatch.undo()
        swapped = publish.swapped_layers(done)
        now = layer_contents(settings)
        for layer in publish.LAYERS:
            expected = new[layer] if layer in swapped else old[layer]
            assert now[layer] == expected, f"crash after {n} statement(s): {layer} is neither wholly old nor wholly new"
        _undo(settings, swapped)
        assert layer_contents(settings) == old
    # and a publish that is not interrupted publishes every layer
    with warehouse.connect(settings, "dev") as conn:
        publish.publish(conn, DB, settings.reader_role)
    assert layer_contents(settings) == new
    _undo(settings, list(publish.LAYERS))
    assert layer_contents(settings) == old


def test_a_run_interrupted_mid_publish_says_which_layers_are_new_and_a_rerun_finishes(published_once, monkeypatch):
    """What a reader sees (README, "When things go wrong"): the error names the layers already new and
    the ones still old; running again converges to the new build everywhere."""
    settings = published_once["settings"]
    crash = CrashAfter(2)  # RAW swapped, TRANSFORM and MART not
    monkeypatch.setattr(publish, "warehouse", crash)
    pipeline = Pipeline(settings)
    with pytest.raises(ServiceUnavailable) as failed:
        pipeline.run(target="dev", force=True)
    monkeypatch.undo()
    message = str(failed.value)
    assert f"the publish was interrupted: {DB}'s RAW hold the new build" in message
    assert "TRANSFORM, MART the last good run's - each layer wholly one or the other" in message
    report = pipeline.run(target="dev")
    assert report.status == "succeeded" and report.steps["dbt"]["published"] == publish.publish_statements(
        DB, settings.reader_role
    )
    assert report.steps["validation"]["ok"]
