"""docs/parity.md covers everything a full run relies on: every kind of SQL statement the pipeline and dbt
send to the warehouse, and every AWS API call the pipeline makes, during a dev run, a prod run and a
teardown. Recorded here, not listed by hand: the local warehouse writes each statement it receives to
the statement log (tests/conftest.py), and botocore's event system reports each API call.

A kind or call that appears with no row in the ledger fails this test: add the row (what the real
service does, its documentation page, what the local cloud does, the test that pins it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from helpers import teardown
from helpers.pipeline import Pipeline
from helpers.settings import Settings
from tests.conftest import PROJECT_ROOT
from tests.integration.operators import operating
from tests.statement_kinds import FIDELITY_TESTS, statement_kind

pytestmark = pytest.mark.integration

LEDGER = PROJECT_ROOT / "docs" / "parity.md"


def ledger_rows(section: str) -> dict[str, str]:
    """First-column code spans of the table under `## <section>` -> the row's last cell (its test)."""
    text = LEDGER.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and (m := re.fullmatch(r"`([^`]+)`", cells[0])):
            rows[m.group(1)] = cells[-1]
    return rows


@pytest.fixture(scope="module")
def recorded(local_cloud, statement_log, tmp_path_factory) -> dict[str, set[str]]:
    settings = Settings(
        bucket="countries-ledger",
        glue_job_name="ledger-ingest",
        glue_role_name="ledger-glue-role",
        snowflake_role_name="ledger-snowflake-role",
        dev_database="LEDGER_DEV",
        prod_database="LEDGER_PROD",
        integration_name="LEDGER_S3_INTEGRATION",
    )
    calls: set[str] = set()

    def on_call(model, **_kwargs) -> None:
        calls.add(f"{model.service_model.signing_name}:{model.name}")

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    start = Path(statement_log).stat().st_size if Path(statement_log).exists() else 0
    # as the local operator, granted these names (its grant is made by the admin, whose calls are not recorded)
    with operating(settings):
        session.events.register("before-call", on_call)
        try:
            pipeline = Pipeline(settings)
            assert pipeline.run(target="dev").status == "succeeded"
            assert pipeline.run(target="prod").status == "succeeded"
            assert pipeline.run(target="dev").status == "succeeded"  # unchanged source: the skip path
            result = teardown.teardown(settings)
            assert not any(result["remaining"].values())
        finally:
            session.events.unregister("before-call", on_call)
    with open(statement_log, encoding="utf-8") as f:
        f.seek(start)
        statements = [json.loads(line)["sql"] for line in f if line.strip()]
    return {"kinds": {statement_kind(sql) for sql in statements}, "calls": calls}


def test_every_statement_kind_a_run_sends_is_in_the_ledger_and_has_a_fidelity_test(recorded):
    ledger = ledger_rows("Snowflake statements")
    missing = sorted(recorded["kinds"] - set(ledger))
    assert not missing, f"statement kinds with no row in docs/parity.md: {missing}"
    untested = sorted(k for k in recorded["kinds"] if k not in FIDELITY_TESTS)
    assert not untested, f"statement kinds with no fidelity test (tests/statement_kinds.py): {untested}"


def test_every_aws_api_call_a_run_makes_is_in_the_ledger(recorded):
    ledger = ledger_rows("AWS API calls")
    missing = sorted(recorded["calls"] - set(ledger))
    assert not missing, f"AWS API calls with no row in docs/parity.md: {missing}"


@pytest.mark.parametrize("section", ["Snowflake statements", "AWS API calls"])
def test_every_test_the_ledger_names_exists(section):
    for name, test in ledger_rows(section).items():
        for ref in re.findall(r"tests/[\w/]+\.py::\w+", test):
            path, func = ref.split("::")
            source = (PROJECT_ROOT / path).read_text()
            assert re.search(rf"def {func}\b", source), f"{name}: {ref} does not exist"
