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


# (what a run prints that differs on the next run, what nbval must compare it as)
VOLATILE_SAMPLES = [
    ("      <td>http://127.0.0.1:51349</td>\n", "      <td>http://127.0.0.1:PORT</td>\n"),
    ("run run_20261202T185131Z_77b372ea: fetching", "run RUN_ID: fetching"),
    (f"glue job run jr_{'0a' * 32} SUCCEEDED", "glue job run JOB_RUN_ID SUCCEEDED"),
    ("18:51:37  1 of 12 START sql table model", "HH:MM:SS  1 of 12 START sql table model"),
    ("glue done in 12.3s, dbt in 7s", "glue done in Ns, dbt in Ns"),
    ("teardown: deleted 14 objects from countries-bucket", "teardown: deleted N objects from countries-bucket"),
]
# what a run prints the same every time: the sanitizer must leave it for nbval to compare
STABLE_SAMPLES = [
    "loaded 20 rows into RAW.COUNTRY_DETAILS_RAW",
    "| Africa | 5 |",
    "received = loaded + quarantined: 21 = 15 + 6",
    "s3://countries-bucket/data/countries/countries.ndjson",
    "dbt=1.9.4 snowflake=1.9.0",
    "deleted the stage COUNTRIES_STAGE",
    "PASS=38 WARN=0 ERROR=0 SKIP=0 TOTAL=38",
    "version 3 of 3, 4096 bytes",
]


def _sanitize(text: str) -> str:
    """What nbval does with --nbval-sanitize-with: its own parser of the file, each regex in order."""
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((NOTEBOOKS_DIR / "nbval_sanitize.cfg").read_text())
    assert patterns, "nbval found no regex/replace pair in the file"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize(("volatile", "sanitized"), VOLATILE_SAMPLES, ids=[s for s, _ in VOLATILE_SAMPLES])
def test_the_sanitizer_hides_what_changes_between_runs(volatile, sanitized):
    assert _sanitize(volatile) == sanitized


@pytest.mark.parametrize("stable", STABLE_SAMPLES)
def test_the_sanitizer_leaves_what_a_run_prints_the_same_every_time(stable):
    assert _sanitize(stable) == stable


def test_every_sanitizer_rule_has_a_volatile_sample_above():
    """A rule added to the file without a sample here is a rule nobody checked."""
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((NOTEBOOKS_DIR / "nbval_sanitize.cfg").read_text())
    unexercised = [regex for regex, _ in patterns if not any(re.search(regex, v) for v, _ in VOLATILE_SAMPLES)]
    assert len(patterns) >= 6 and not unexercised, unexercised


def _dirty(committed: dict) -> dict:
    """What papermill writes before cleaning: its metadata, each cell's timings, absolute paths."""
    from helpers.settings import PROJECT_ROOT

    nb = json.loads(json.dumps(committed))
    nb["metadata"]["papermill"] = {"duration": 1.5, "input_path": f"{PROJECT_ROOT}/notebooks/x.ipynb"}
    for cell in nb["cells"]:
        cell["metadata"]["papermill"] = {"status": "completed", "duration": 0.1}
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {"iopub.execute_input": "2026-12-02T18:51:31.1Z"}
        for output in cell.get("outputs", []):
            for lines in [output.get("text", [])] + [v for k, v in output.get("data", {}).items() if k[:5] == "text/"]:
                for i in range(len(lines)):
                    for relative in ("sql/99_account_teardown.sql", "dbt_project/target"):
                        lines[i] = lines[i].replace(relative, f"{PROJECT_ROOT}/{relative}")
    return nb


@pytest.mark.parametrize("name", ["00_start_here", "08_teardown"])  # a path in a table, in a stream
def test_cleaning_a_run_gives_back_the_committed_notebook_byte_for_byte(name, tmp_path):
    from helpers.notebooks import _clean

    committed = (NOTEBOOKS_DIR / f"{name}.ipynb").read_bytes()
    clean, dirty = tmp_path / "clean.ipynb", tmp_path / "dirty.ipynb"
    clean.write_bytes(committed)
    dirty_nb = _dirty(json.loads(committed))
    dirty.write_text(json.dumps(dirty_nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert dirty.read_bytes() != committed and "papermill" in dirty.read_text()
    _clean(clean)
    _clean(dirty)
    assert clean.read_bytes() == committed, "cleaning a clean notebook changes nothing"
    assert dirty.read_bytes() == committed
