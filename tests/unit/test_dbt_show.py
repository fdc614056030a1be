"""helpers/dbt_show.py, helpers/deploy_show.py and helpers/layer_counts.py: what notebooks 05-07 show,
read from dbt's own artifacts (synthetic ones here, shaped as dbt 1.11 writes them), the deploy
workflow and the warehouse's metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import dbt_show, deploy_show, layer_counts
from helpers.settings import PROJECT_ROOT, Settings

SOURCE = "source.countries.load.countries_copy"
RAW, TRANSFORM = "model.countries.country_details_raw", "model.countries.country_details_transform"
AFRICA, ASIA = "model.countries.country_details_africa", "model.countries.country_details_asia"
DETAILS = "model.countries.country_details"


def _model(uid: str, parents: list[str], folder: str) -> dict[str, Any]:
    return {
        "resource_type": "model",
        "depends_on": {"nodes": parents},
        "original_file_path": f"models/{folder}/{uid.split('.')[-1]}.sql",
    }


def _test(parents: list[str], name: str, kwargs: dict[str, Any], path: str, attached: str | None = None, column=None):
    return {
        "resource_type": "test",
        "depends_on": {"nodes": parents},
        "test_metadata": {"name": name, "kwargs": kwargs} if name else None,
        "attached_node": attached,
        "column_name": column,
        "original_file_path": path,
    }


NODES = {
    RAW: _model(RAW, [SOURCE], "raw"),
    TRANSFORM: _model(TRANSFORM, [RAW], "transform"),
    DETAILS: _model(DETAILS, [TRANSFORM], "mart"),
    AFRICA: _model(AFRICA, [DETAILS], "mart"),
    ASIA: _model(ASIA, [DETAILS], "mart"),
    "test.countries.source_population.1": _test(
        [SOURCE], "expression_is_true", {"expression": "population >= 0"}, "models/raw/_sources.yml", column="DATA"
    ),
    "test.countries.unique_raw_code.2": _test(
        [RAW], "unique", {"column_name": "country_code"}, "models/raw/_models.yml", RAW, "country_code"
    ),
    # a relationship from RAW to TRANSFORM: it reads TRANSFORM, so TRANSFORM cannot wait for it
    "test.countries.rel_raw_transform.3": _test(
        [TRANSFORM, RAW],
        "relationships",
        {"column_name": "country_code", "to": "ref('t')", "field": "country_code"},
        "models/raw/_models.yml",
        RAW,
        "country_code",
    ),
    # continent table tests name their column in kwargs only (column_name: under the test)
    "test.countries.unique_africa_code.4": _test(
        [AFRICA], "unique", {"column_name": "country_code"}, "models/mart/_models.yml", AFRICA
    ),
    "test.countries.rel_asia_details.5": _test(
        [DETAILS, ASIA],
        "relationships",
        {"column_name": "country_code", "to": "ref('d')", "field": "country_code"},
        "models/mart/_models.yml",
        ASIA,
    ),
    "test.countries.assert_summary.6": _test([AFRICA, ASIA], "", {}, "tests/assert_summary.sql"),
}
MANIFEST = {"nodes": NODES, "sources": {SOURCE: {"source_name": "load", "name": "countries_copy", "depends_on": {}}}}


def _result(uid: str, status: str = "pass", took: float = 0.25, **extra: Any) -> dict[str, Any]:
    return {"unique_id": uid, "status": status, "execution_time": took, **extra}


RESULTS = [_result(uid, "success" if uid.startswith("model.") else "pass") for uid in NODES]


@pytest.fixture
def target_path(tmp_path: Path) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    args = {
        "which": "build",
        "project_dir": str(PROJECT_ROOT / "dbt_project"),
        "profiles_dir": str(PROJECT_ROOT / "dbt_project"),
        "target": "dev",
        "target_path": str(PROJECT_ROOT / "dbt_project" / "target" / "dev"),
        "vars": {"schema_suffix": "_BUILD"},
        "select": [],
    }
    (tmp_path / "run_results.json").write_text(json.dumps({"args": args, "results": RESULTS}))
    return tmp_path


def test_the_command_line_is_dbts_own_args_with_paths_a_reader_can_type(target_path: Path) -> None:
    line = dbt_show.command_line(target_path, {"PIPELINE_LOAD_ID": "run_1"})
    assert line == (
        "PIPELINE_LOAD_ID=run_1 dbt build --project-dir dbt_project --profiles-dir dbt_project --target dev "
        """--target-path dbt_project/target/dev --vars '{"schema_suffix": "_BUILD"}'"""
    )


def test_docs_generate_is_named_as_typed(target_path: Path) -> None:
    run_results = json.loads((target_path / "run_results.json").read_text())
    run_results["args"].update(which="generate", vars={})
    (target_path / "run_results.json").write_text(json.dumps(run_results))
    assert dbt_show.command_line(target_path).startswith("dbt docs generate --project-dir dbt_project ")


def test_every_test_is_listed_with_what_it_tests_source_tests_first(target_path: Path) -> None:
    table = dbt_show.tests_table(target_path)
    assert len(table) == sum(n["resource_type"] == "test" for n in NODES.values())
    rows = table.to_dict("records")
    assert rows[0] == {
        "layer": "RAW",
        "tests": "source load.countries_copy",
        "column": "DATA",
        "test": "expression_is_true",
        "detail": "population >= 0",
    }
    assert {
        "layer": "MART",
        "tests": "model country_details_africa",
        "column": "country_code",
        "test": "unique",
        "detail": "",
    } in rows
    assert rows[-1]["layer"] == "(singular)" and rows[-1]["test"] == "singular (tests/assert_summary.sql)"
    assert rows[-1]["tests"] == "model country_details_africa, model country_details_asia"


def test_a_model_waits_for_its_inputs_tests_and_no_relationship_makes_a_cycle(target_path: Path) -> None:
    steps = {
        uid.split(".")[-1] if uid.startswith("model.") else uid.split(".")[2]: s
        for uid, s in dbt_show.build_steps(RESULTS, target_path).items()
    }
    assert steps["source_population"] == 1
    assert steps["country_details_raw"] == 2  # after the source's test
    assert steps["unique_raw_code"] == 3
    assert steps["country_details_transform"] == 4  # after RAW's tests, but not the one that reads TRANSFORM
    assert steps["rel_raw_transform"] == 5
    assert steps["country_details_africa"] == steps["country_details_asia"]  # siblings: the same step
    assert steps["rel_asia_details"] > steps["country_details_asia"]


def test_the_run_table_is_in_build_order_and_durations_have_one_width(target_path: Path) -> None:
    rows = [*RESULTS[:-1], _result("test.countries.assert_summary.6", took=12.5)]
    table = dbt_show.run_table(rows, target_path)
    assert list(table.step) == sorted(table.step)
    assert table.node.iloc[0] == "source_population"
    assert {len(t) for t in table.took} == {7}
    assert table.set_index("node").took["assert_summary"] == " 12.50s"


def test_a_failed_test_is_named_with_its_rows_and_its_query(target_path: Path) -> None:
    rows = [
        _result(
            "test.countries.source_population.1",
            "fail",
            failures=1,
            compiled_code="\nselect * from c where not (p >= 0)\n",
        ),
        _result(RAW, "skipped"),
        _result("test.countries.unique_raw_code.2", "pass", compiled_code="select 1"),
    ]
    failed = dbt_show.failed_tests(rows, target_path)
    assert failed.to_dict("records") == [
        {
            "node": "source_population",
            "tests": "source load.countries_copy",
            "column": "DATA",
            "test": "expression_is_true: population >= 0",
            "status": "fail",
            "failing rows": 1,
        }
    ]
    assert dbt_show.failing_rows_sql(rows) == ["select * from c where not (p >= 0)"]


def test_project_files_prints_whole_files_and_only_the_projects() -> None:
    text = dbt_show.project_files("models/raw/_sources.yml")
    assert text.startswith("── dbt_project/models/raw/_sources.yml ")
    assert text.endswith((PROJECT_ROOT / "dbt_project/models/raw/_sources.yml").read_text().rstrip("\n"))
    with pytest.raises(ValueError, match="not a file of the dbt project"):
        dbt_show.project_files("../pyproject.toml")


def test_the_dbt_cloud_mapping_is_read_from_the_deploy_workflow() -> None:
    rows = {r["dbt Cloud"]: r for r in deploy_show.dbt_cloud_mapping(Settings(), "prod")}
    assert deploy_show.deploy_workflow().name == "deploy-prod.yml"
    assert "COUNTRIES_PROD_ROLE" in rows["environment (Production)"]["this project"]
    assert rows["job command"]["original project"] == "dbt build"
    assert "helpers run --target prod" in rows["job command"]["this project"]
    assert 'cron "17 5 * * *"' in rows["schedule (job trigger)"]["this project"]
    assert "deploy-prod" in rows["one run of a job at a time"]["this project"]


def test_layer_counts_say_when_the_metadata_row_count_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    class Result:
        rows = [("MART", "B", 7), ("RAW", "A", 21)]  # RAW.A after a DELETE: the metadata still says 21

    counted = {"DB.RAW.A": 20, "DB.MART.B": 7}
    monkeypatch.setattr(layer_counts.warehouse, "execute", lambda conn, sql: Result())
    monkeypatch.setattr(layer_counts.warehouse, "scalar", lambda conn, sql: counted[sql.split()[-1]])
    rows = layer_counts.layer_counts(None, "DB")
    assert rows == [
        {"schema": "RAW", "table": "A", "ROW_COUNT": 21, "COUNT(*)": 20, "agrees": False},
        {"schema": "MART", "table": "B", "ROW_COUNT": 7, "COUNT(*)": 7, "agrees": True},
    ]


def test_docs_are_generated_in_a_target_path_of_their_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from helpers import dbt

    calls = []
    monkeypatch.setattr(dbt, "run_dbt", lambda s, args, target: calls.append((s.dbt_target_dir, args, target)))
    settings = Settings(dbt_target_dir=tmp_path / "target")
    dbt_show.generate_docs(settings, "dev")
    # not the build's target path (<dir>/dev): each keeps its own partial-parse state
    assert calls == [(tmp_path / "target" / "docs", ["docs", "generate"], "dev")]
    assert settings.dbt_target_dir == tmp_path / "target"


def test_counts_do_not_depend_on_the_order_threads_finish_in(tmp_path: Path) -> None:
    """dbt runs nodes on several threads; the committed notebook output of the counts table must not
    change with which test happened to finish first (a CI run failed nbval on exactly that)."""
    from helpers.dbt import DbtResult

    finished = [
        {"unique_id": "test.p.a", "status": "pass"},
        {"unique_id": "model.p.m", "status": "success"},
        {"unique_id": "test.p.b", "status": "fail"},
        {"unique_id": "test.p.c", "status": "skipped"},
        {"unique_id": "test.p.d", "status": "pass"},
    ]
    forward = DbtResult(command=[], returncode=1, target_path=tmp_path, results=finished).counts()
    backward = DbtResult(command=[], returncode=1, target_path=tmp_path, results=finished[::-1]).counts()
    assert forward == {"model": {"success": 1}, "test": {"fail": 1, "pass": 2, "skipped": 1}}
    assert [(k, list(v)) for k, v in forward.items()] == [(k, list(v)) for k, v in backward.items()]
