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
    ("insert_dts 2026-12-02 21:08:11.123", "insert_dts YYYY-MM-DD HH:MM:SS.123"),
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


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_the_setup_cell_is_open_notebook_and_brings_prepare(name):
    """The setup cell (right after `parameters`) is the one open_notebook call, and it imports `prepare`
    too: the line a NotReady stop offers (`prepare(upto=...)`) must run as typed in the next cell
    (found by the JupyterLab test: 03 offered it without importing it)."""
    cells = NOTEBOOKS[name]["cells"]
    params = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    setup = _source(cells[params + 1])
    if "open_notebook" not in setup:
        assert name.startswith("08"), f"{name}: the setup cell does not call open_notebook"
        return
    assert f'open_notebook("{name[:2]}"' in setup and "Settings()" not in setup
    assert re.search(r"from helpers\.walkthrough import .*\bprepare\b", setup), f"{name}: prepare is not imported"


def test_no_notebook_draws_json_as_a_picture_and_02_and_03_probe_the_access_matrix():
    sources = {name: "\n".join(_source(c) for c in nb["cells"]) for name, nb in NOTEBOOKS.items()}
    assert not [name for name, source in sources.items() if "policy_figure" in source]
    for name in ("02_glue_ingest", "03_snowflake_integration"):
        assert "access_matrix.probe(" in sources[name] and '"access_matrix"' in sources[name], name
    outputs = _outputs_text(NOTEBOOKS["02_glue_ingest"])
    assert "s3:DeleteObject" in outputs and "denied" in outputs and "allowed" in outputs
    # in 03 the trust policy lets Snowflake's principal in: its row is probed, not "cannot assume"
    cells = NOTEBOOKS["03_snowflake_integration"]["cells"]
    trust_fixed = next(i for i, c in enumerate(cells) if "update_assume_role_policy" in _source(c))
    probed = next(i for i, c in enumerate(cells) if "access_matrix.probe(" in _source(c))
    assert probed > trust_fixed
    assert "cannot assume" not in _outputs_text({"cells": cells[probed : probed + 1]})


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


def _code_cells(name: str) -> list[tuple[str, str]]:
    """(source, text of the outputs) of each code cell, in order."""
    return [
        (_source(c), json.dumps(c.get("outputs", []), ensure_ascii=False))
        for c in NOTEBOOKS[name]["cells"]
        if c["cell_type"] == "code"
    ]


def test_03_shows_list_denied_before_the_trust_policy_is_fixed_then_listing():
    cells = _code_cells("03_snowflake_integration")
    denied = [i for i, (_, out) in enumerate(cells) if "091003" in out and "Error assuming AWS_ROLE" in out]
    update = [i for i, (src, _) in enumerate(cells) if "update_assume_role_policy(" in src]
    listed = [i for i, (_, out) in enumerate(cells) if "countries.ndjson" in out and "68563" in out]
    assert len(denied) == 2, "the placeholder and the wrong external id, each denied"
    assert len(update) == 1 and cells[update[0]][0].count("\n") <= 2, "the IAM call is a cell of its own"
    assert max(denied) < update[0] < min(listed)
    diff = next(out for src, out in cells if "json_diff(" in src)
    assert '-          \\"sts:ExternalId\\": \\"0000\\"' in diff and "<STORAGE_AWS_EXTERNAL_ID>" in diff


def test_04_proves_idempotency_without_hiding_duplicates():
    cells = _code_cells("04_raw_load")
    sources = "\n".join(src for src, _ in cells)
    outputs = "\n".join(out for _, out in cells)
    assert "drop_duplicates" not in sources and "SELECT DISTINCT" not in sources.upper()
    assert "LOAD_SKIPPED" in outputs and "the table now holds 40 rows, 20 distinct countries" in outputs
    assert sources.count("pipeline.load(target)") == 3  # the load, the re-run, and the good state at the end
    assert "INFORMATION_SCHEMA.LOAD_HISTORY" in sources


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
