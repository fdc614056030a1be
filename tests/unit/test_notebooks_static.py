"""The committed notebooks as a reader gets them on GitHub: complete, clean, thin."""

from __future__ import annotations

import json
import re

import pytest

from helpers.notebooks import NOTEBOOKS_DIR, notebook_paths

STEPS = [
    "00_start_here",
    "01_iam_setup",
    "02_glue_ingest",
    "03_snowflake_integration",
    "04_raw_load",
    "05_dbt_layers",
    "06_production_deploy",
    "07_validation",
    "08_teardown",
]
NOTEBOOKS = {p.stem: json.loads(p.read_text()) for p in notebook_paths()}


def _source(cell) -> str:
    return "".join(cell["source"])


def _outputs_text(nb) -> str:
    return json.dumps([c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"])


def test_the_walkthrough_has_every_step_in_order():
    assert list(NOTEBOOKS) == STEPS


@pytest.mark.parametrize("name", STEPS)
def test_structure_intro_parameters_and_a_closing_assertion(name):
    cells = NOTEBOOKS[name]["cells"]
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith("# ")
    assert len(_source(cells[0])) > 400, "the introduction explains goal, service, security/cost, local difference"
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    # `target` where the notebook builds or reads one target; 08 tears both down and has `confirm` instead
    assert len(tagged) == 1 and ("confirm = False" if name.startswith("08_") else "target") in _source(tagged[0])
    assert cells[-1]["cell_type"] == "code" and "assert" in _source(cells[-1])
    assert cells[-2]["cell_type"] == "markdown" and "guarantees" in _source(cells[-2])


@pytest.mark.parametrize("name", STEPS)
def test_cells_are_thin_calls_into_helpers(name):
    for cell in NOTEBOOKS[name]["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = _source(cell)
        assert not re.search(r"^\s*(def|class) ", source, re.M), f"logic belongs in helpers/: {source[:80]}"
        assert len(source.splitlines()) <= 16, f"a short cell, please: {source[:80]}"


@pytest.mark.parametrize("name", STEPS)
def test_stored_outputs_are_complete_and_clean(name):
    nb = NOTEBOOKS[name]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "every cell was executed (run `make notebooks`)"
    text = _outputs_text(nb)
    assert '"output_type": "error"' not in text
    assert not re.search(r"(/root|/home|/tmp|/work)/", text), "a local absolute path in an output"
    assert not re.search(r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|aws_secret_access_key|FAKESNOW_SFCRole", text)
    assert "papermill" not in json.dumps(nb["metadata"])


def test_the_sanitizer_replaces_only_what_changes_between_runs():
    sections = re.findall(r"^\[(\w+)\]", (NOTEBOOKS_DIR / "nbval_sanitize.cfg").read_text(), re.M)
    assert sections == [
        "loopback_ports",
        "pipeline_run_id",
        "glue_job_run_id",
        "clock_times",
        "durations",
        "object_count",
        "dates",
    ]


def _code_after_parameters(nb) -> str:
    cells = nb["cells"]
    [at] = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    return _source(cells[at + 1])


def _stream_text(nb) -> str:
    return "".join(
        "".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
    )


@pytest.mark.parametrize("name", ["05_dbt_layers", "06_production_deploy", "07_validation"])
def test_the_setup_cell_opens_the_notebook_for_its_target(name):
    assert f'open_notebook("{name[:2]}", target)' in _code_after_parameters(NOTEBOOKS[name])


def test_05_shows_each_step_of_the_build_not_only_its_result():
    nb = NOTEBOOKS["05_dbt_layers"]
    shown = _stream_text(nb)
    for path in (
        "models/raw/country_details_raw.sql",
        "models/transform/country_details_transform.sql",
        "models/mart/country_details_europe.sql",
        "macros/country_details_for_continent.sql",
        "models/raw/_sources.yml",
        "models/raw/_models.yml",
        "models/transform/_models.yml",
        "models/mart/_models.yml",
    ):
        assert f"── dbt_project/{path} " in shown, f"05 does not print {path}"
    # the exact command line, from dbt's own record of the invocation
    assert re.search(r"PIPELINE_LOAD_ID=\S+ dbt build .*--target dev .*schema_suffix", shown)
    outputs = _outputs_text(nb)
    assert "expression_is_true" in outputs and "accepted_values" in outputs, "the table of every test"
    assert "country_details_raw" in outputs and "took" in outputs, "the ordered node list with timings"


def test_05_shows_a_failing_test_and_that_nothing_was_published():
    nb = NOTEBOOKS["05_dbt_layers"]
    shown, outputs = _stream_text(nb), _outputs_text(nb)
    assert "failed in the RAW_BUILD, TRANSFORM_BUILD, MART_BUILD schemas" in shown
    assert "Nothing was published" in shown
    assert "ZZZ" in outputs and "-5" in outputs, "the row the failing test found"
    assert "unchanged" in outputs and "False" not in outputs.split("unchanged", 1)[1][:2000]
    # a good state again before the notebook ends
    assert "records failing the population test in RAW_BUILD.COUNTRIES_COPY: 0" in shown


def test_06_shows_prods_role_load_the_workflow_and_the_dbt_cloud_mapping():
    nb = NOTEBOOKS["06_production_deploy"]
    shown, outputs = _stream_text(nb), _outputs_text(nb)
    assert "role COUNTRIES_PROD_ROLE" in shown and "OWNERSHIP" in outputs
    assert re.search(r"dbt build .*--target prod", shown)
    assert "LOAD_ID" in outputs and "INSERT_DTS" in outputs
    assert "name: deploy-prod" in shown, "the workflow file, printed"
    for concept in ("environment (Production)", "job command", "schedule (job trigger)"):
        assert concept in outputs


def test_07_validates_prod_beside_dev_with_metadata_and_exact_counts():
    nb = NOTEBOOKS["07_validation"]
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert _source(tagged[0]).strip() == 'target = "prod"'
    outputs = _outputs_text(nb)
    assert "ROW_COUNT" in outputs and "COUNT(*)" in outputs and "agrees" in outputs
    assert "dev" in outputs and "prod" in outputs
    assert "CONTINENT_NAME" in outputs and "landed in S3" in outputs
