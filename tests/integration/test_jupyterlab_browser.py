"""The walkthrough as a reader uses it: a real JupyterLab in a real (headless) Chromium.

JupyterLab runs on a copy of notebooks/ with a deployment of its own (own bucket, roles, Glue job,
integration and databases: a clean slate, whatever the other test modules did). The browser opens a
notebook, runs every cell from the Run menu, and the saved notebook is checked cell by cell:

- 03 from a clean slate stops in its first cell with ONE sentence (no traceback) naming the notebook that
  builds what is missing and the `prepare(...)` line; the reader types that line into a new cell, runs
  it, runs all again: every cell runs, none has an error, the final assert cell ran.
- 05 next, the same way (it needs 04's load).

Skipped, with one line, only where no Chromium is installed (Debian's `chromium` package; `.ci/run`
installs it). Playwright drives the system browser and never downloads one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from helpers.screenshots import find_browser
from helpers.settings import Settings
from tests.integration.operators import operating
from tests.jupyterlab import JupyterLab, LabPage, browser, cell_errors, errors, unexecuted

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="no Chromium installed: apt-get install chromium to run the JupyterLab test"
)

NAMES = {
    "PIPELINE_BUCKET": "browser-countries-bucket",
    "PIPELINE_GLUE_ROLE": "browser-glue-role",
    "PIPELINE_SNOWFLAKE_AWS_ROLE": "browser-snowflake-role",
    "PIPELINE_GLUE_JOB": "browser-ingest",
    "PIPELINE_INTEGRATION": "BROWSER_INT",
    "PIPELINE_DEV_DATABASE": "BROWSER_DEV",
    "PIPELINE_PROD_DATABASE": "BROWSER_PROD",
}


@pytest.fixture(scope="module")
def lab(local_cloud: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    settings = Settings(
        bucket=NAMES["PIPELINE_BUCKET"],
        glue_role_name=NAMES["PIPELINE_GLUE_ROLE"],
        snowflake_role_name=NAMES["PIPELINE_SNOWFLAKE_AWS_ROLE"],
        glue_job_name=NAMES["PIPELINE_GLUE_JOB"],
        integration_name=NAMES["PIPELINE_INTEGRATION"],
        dev_database=NAMES["PIPELINE_DEV_DATABASE"],
        prod_database=NAMES["PIPELINE_PROD_DATABASE"],
    )
    with operating(settings):
        own = {  # a deployment of its own: its images, run reports and dbt target too
            "PIPELINE_SCREENSHOTS_DIR": str(tmp_path_factory.mktemp("screenshots")),
            "PIPELINE_ARTIFACTS_DIR": str(tmp_path_factory.mktemp("artifacts")),
            "PIPELINE_DBT_TARGET_DIR": str(tmp_path_factory.mktemp("dbt-target")),
        }
        server = JupyterLab(tmp_path_factory.mktemp("jupyterlab"), {**NAMES, **own})
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as launched:
        yield launched


def _start_anywhere(chromium: Any, lab: JupyterLab, name: str) -> Any:
    """Run all; it must stop in the first cell with the one sentence; run its prepare line; run all."""
    page = LabPage(chromium, lab, name)
    first = page.run_all()
    stopped = errors(first)
    assert len(stopped) == 1, f"{name}: expected one stop, got {stopped}"
    stop = stopped[0]
    assert stop["ename"] == "NotReady", stop
    assert "\n" not in stop["evalue"].strip(), f"not one sentence: {stop['evalue']!r}"
    shown = "\n".join(stop["traceback"] or [])
    assert "Traceback" not in shown and "site-packages" not in shown, f"a traceback was shown:\n{shown}"
    assert re.search(r"\d\d_\w+\.ipynb", stop["evalue"]), f"no notebook named: {stop['evalue']}"
    offered = re.search(r"prepare\([^)]*\)", stop["evalue"])
    assert offered, f"no prepare(...) line offered: {stop['evalue']}"

    prepared = page.add_cell_and_run(offered.group(0), timeout_s=600)
    assert prepared.get("execution_count"), "the prepare line did not run"
    assert cell_errors(prepared) == [], prepared.get("outputs")
    page.delete_last_cell()
    again = page.run_all(timeout_s=600)
    assert errors(again) == [], errors(again)
    counts = [c.execution_count for c in again.cells if c.cell_type == "code" and c.source.strip()]
    assert counts == sorted(counts) and len(set(counts)) == len(counts), f"{name}: not one run in order: {counts}"
    assert unexecuted(again) == [], f"{name}: cells that did not run: {unexecuted(again)}"
    last_code = [c for c in again.cells if c.cell_type == "code" and c.source.strip()][-1]
    assert "assert" in last_code.source, f"{name}: the last code cell is not the notebook's assert cell"
    page.page.close()
    return again


def test_03_from_a_clean_slate_through_the_prepare_line(chromium: Any, lab: JupyterLab) -> None:
    _start_anywhere(chromium, lab, "03_snowflake_integration.ipynb")


def test_05_after_03_through_the_prepare_line(chromium: Any, lab: JupyterLab) -> None:
    notebook = _start_anywhere(chromium, lab, "05_dbt_layers.ipynb")
    shown = "".join(
        out.get("text", "") if isinstance(out.get("text"), str) else ""
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "dbt build" in shown, "05 did not show the dbt build command"
