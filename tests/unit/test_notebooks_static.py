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
    ]


@pytest.mark.parametrize("name", ["00_start_here", "01_iam_setup", "02_glue_ingest"])
def test_the_setup_cell_is_open_notebook(name):
    cells = NOTEBOOKS[name]["cells"]
    params = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    setup = _source(cells[params + 1])
    assert f'open_notebook("{name[:2]}"' in setup and "Settings()" not in setup


def test_01_draws_no_json_as_a_picture_and_02_probes_the_access_matrix():
    sources = {
        name: "\n".join(_source(c) for c in NOTEBOOKS[name]["cells"]) for name in ("01_iam_setup", "02_glue_ingest")
    }
    assert "policy_figure" not in sources["01_iam_setup"]
    assert "access_matrix.probe(" in sources["02_glue_ingest"] and '"access_matrix"' in sources["02_glue_ingest"]
    outputs = _outputs_text(NOTEBOOKS["02_glue_ingest"])
    assert "s3:DeleteObject" in outputs and "denied" in outputs and "allowed" in outputs


def test_02_shows_the_scripts_parts_its_logs_and_what_breaks():
    source = "\n".join(_source(c) for c in NOTEBOOKS["02_glue_ingest"]["cells"])
    for function in ("parse_args", "record_problems", "ndjson_line"):
        assert f'function_source("{function}")' in source
    outputs = _outputs_text(NOTEBOOKS["02_glue_ingest"])
    assert "/aws-glue/python-jobs/output" in outputs and "/aws-glue/python-jobs/error" in outputs
    assert "missing:cca3" in outputs and "loaded + quarantined = source records" in outputs
    assert "the restoring run" in outputs  # the good source is back before 03


def test_00_shows_no_loopback_ports():
    assert "127.0.0.1" not in _outputs_text(NOTEBOOKS["00_start_here"])


def test_the_notebooks_readme_maps_the_original_project():
    readme = (NOTEBOOKS_DIR / "README.md").read_text()
    assert "## The original project, mapped" in readme and "## Deliberate deviations, and why" in readme
    for step in ("`ls @GLUE_S3_STAGE;`", "CloudWatch", "raw.yml", "dbt Cloud", "teardown", "OUTER"):
        assert step in readme, step
    # every heading it cites is a heading of the notebook it names
    headings = {
        name[:2]: {
            line.lstrip("# ").strip()
            for c in nb["cells"]
            if c["cell_type"] == "markdown"
            for line in _source(c).splitlines()
            if line.startswith("#")
        }
        for name, nb in NOTEBOOKS.items()
    }
    for row in re.findall(r"^\| .* \| (.*) \|$", readme, re.M):
        for nb_id, cited in re.findall(r"\b(0\d) · ((?:\*[^*]+\*(?:, )?)+)", row):
            for heading in re.findall(r"\*([^*]+)\*", cited):
                assert any(h.startswith(heading) for h in headings[nb_id]), (nb_id, heading)
