"""The dbt project (dbt_project/): one list of continents, contracts enforced on every model, source
tests that check this run's load, and a MART whose content on the real 250-country file is exactly
the content it had before the project was restructured (tests/integration/expected/).

These tests stop before the publish step: they build the _BUILD schemas the way the pipeline does
(load, then `dbt build`), in databases of their own (DBTPROJECT_DEV / DBTPROJECT_PROD). What the
project declares (contracts, tests) is read from `dbt parse`'s manifest, with nothing built.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import dbt, validation, warehouse
from helpers.local_cloud.bootstrap import admin_client
from helpers.pipeline import Pipeline
from helpers.screenshots import serve_directory
from helpers.settings import PROJECT_ROOT, Settings
from tests.conftest import SHARED_DATA
from tests.integration.operators import account_setup

DEV_DB, PROD_DB = "DBTPROJECT_DEV", "DBTPROJECT_PROD"
EXPECTED_DIGEST = Path(__file__).parent / "expected" / "mart_250_digest.json"
# differ from run to run by design: which run built the rows, and when
PER_RUN_COLUMNS = ("LOAD_ID", "INSERT_DTS")
MART_MODELS = dbt.DBT_PROJECT_DIR / "models" / "mart"


def shared_countries_file() -> Path:
    """conftest's SHARED_DATA (the shared folder beside this checkout) or, when this checkout is a
    git worktree (e.g. /work/wt/<name>), the same file beside the main checkout."""
    common = subprocess.run(
        ["git", "rev-parse", "--git-common-dir"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    candidates = [SHARED_DATA]
    if common.returncode == 0:
        main_checkout = (PROJECT_ROOT / common.stdout.strip()).resolve().parent
        candidates.append(main_checkout.parent / "shared" / "data" / SHARED_DATA.name)
    return next((c for c in candidates if c.is_file()), SHARED_DATA)


COUNTRIES_250 = shared_countries_file()


# -- the content digest (also how expected/mart_250_digest.json was computed) ----------------------
def table_digest(columns: list[str], rows: list[str]) -> dict[str, Any]:
    """Columns and sha256 of the sorted rows without the per-run columns. `rows` are each row as
    `json.dumps(list(row), default=str)` of what the Snowflake connector returns (the baseline's
    form), so a changed type (int -> Decimal, float -> str) changes the digest too."""
    keep = [i for i, c in enumerate(columns) if c not in PER_RUN_COLUMNS]
    body = sorted(json.dumps([json.loads(row)[i] for i in keep]) for row in rows)
    return {
        "columns": [columns[i] for i in keep],
        "rows": len(body),
        "sha256": hashlib.sha256("\n".join(body).encode("utf-8")).hexdigest(),
    }


def baseline_digest(baseline_file: Path) -> dict[str, Any]:
    """The expected digest from a baseline capture ({table: {columns, rows}}, MART tables unqualified)."""
    baseline = json.loads(baseline_file.read_text())
    return {table: table_digest(t["columns"], t["rows"]) for table, t in baseline.items() if "." not in table}


def built_digest(settings: Settings, target: str, tables: list[str], schema: str = "MART_BUILD") -> dict[str, Any]:
    db = settings.database(target)
    out = {}
    with warehouse.connect(settings, target) as conn:
        for table in tables:
            result = warehouse.execute(conn, f"select * from {db}.{schema}.{table}")
            out[table] = table_digest(result.columns, [json.dumps(list(r), default=str) for r in result.rows])
    return out


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipeline(local_cloud: object) -> Pipeline:
    """A pipeline set up up to the stage, in this module's own databases."""
    p = Pipeline(account_setup(Settings(dev_database=DEV_DB, prod_database=PROD_DB)))
    roles = p.setup_iam()
    p.setup_storage()
    p.setup_glue_job(roles)
    p.setup_integration(roles, "dev")
    p.setup_stage("dev")
    return p


def ingest_and_load(p: Pipeline, source_url: str, run_id: str) -> None:
    p.ingest(source_url, run_id)
    p.load("dev")


def manifest(result: dbt.DbtResult) -> dict[str, Any]:
    return json.loads((result.target_path / "manifest.json").read_text())


# -- one list of continents -----------------------------------------------------------------------
def test_continents_are_listed_once_in_dbt_project_yml():
    """validation.CONTINENTS is the dbt var `continents`; each continent has exactly one MART model
    file, a thin call of country_details_for_continent naming it, and there is no other."""
    project = yaml.safe_load((dbt.DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert tuple(project["vars"]["continents"]) == validation.CONTINENTS
    expected = {f"country_details_{c.lower().replace(' ', '_')}.sql": c for c in validation.CONTINENTS}
    found = {p.name for p in MART_MODELS.glob("country_details_*.sql")}
    assert found == set(expected), "one model file per continent of vars.continents, no other"
    for name, continent in expected.items():
        body = (MART_MODELS / name).read_text().strip()
        assert body == f"{{{{ country_details_for_continent('{continent}') }}}}", name
        assert validation.continent_table(continent) == Path(name).stem.upper()


# -- contracts ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixture_build(pipeline: Pipeline) -> dbt.DbtResult:
    """The 20-country fixture, loaded and built into the _BUILD schemas."""
    ingest_and_load(pipeline, pipeline.settings.resolved_source_url, "run_dbt_fixture")
    return dbt.build(pipeline.settings, "dev", "run_dbt_fixture")


@pytest.fixture(scope="module")
def parsed(local_cloud: object, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project's manifest from `dbt parse`: every model's config, columns and tests, without a
    warehouse connection and without building anything (its own target dir: the builds' stays theirs)."""
    settings = Settings(dev_database=DEV_DB, prod_database=PROD_DB, dbt_target_dir=tmp_path_factory.mktemp("parse"))
    result = dbt.run_dbt(settings, ["parse"], dbt_vars={"schema_suffix": "_BUILD"})
    assert result.ok, result.log_tail[-20:]
    return manifest(result)


def test_the_parse_before_a_command_writes_no_manifest_json(local_cloud: object, tmp_path: Path):
    """run_dbt parses once per process and hands the manifest to the command, which writes
    manifest.json itself as it finishes (dbt/task/runnable.py `run`): the parse writes only
    partial_parse.msgpack, never a manifest.json the command would overwrite (≈ 0.5 s each time)."""
    settings = Settings(dev_database=DEV_DB, prod_database=PROD_DB, dbt_target_dir=tmp_path)
    target_path = tmp_path / "dev"
    env = {
        **settings.dbt_env("dev"),
        "DBT_LOG_PATH": str(target_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    with dbt._environment(env):
        assert dbt._manifest(dbt.project_args(settings, "dev", {"schema_suffix": "_BUILD"}), target_path) is not None
    assert (target_path / "partial_parse.msgpack").is_file()
    assert not (target_path / "manifest.json").exists()


def test_every_model_is_a_table_with_an_enforced_contract(parsed):
    """Contracts cascade from dbt_project.yml: every model has `contract.enforced`, every column a
    data_type (https://docs.getdbt.com/reference/resource-configs/contract). Tables, not views: a
    view's text names MART_BUILD, which after the publish swap holds the previous run."""
    models = {n["name"]: n for n in parsed["nodes"].values() if n["resource_type"] == "model"}
    assert set(models) == {
        "country_details_raw",
        "country_details_transform",
        "country_details",
        "continent_summary",
        *(validation.continent_table(c).lower() for c in validation.CONTINENTS),
    }
    for name, node in models.items():
        assert node["config"]["contract"]["enforced"] is True, name
        assert node["config"]["materialized"] == "table", name
        untyped = [c for c, col in node["columns"].items() if not col.get("data_type")]
        assert node["columns"] and not untyped, f"{name}: columns without data_type: {untyped}"
    # the continent tables are the one model's columns, in its order, with its types (the YAML anchor)
    shape = [(c["name"], c["data_type"]) for c in models["country_details"]["columns"].values()]
    for continent in validation.CONTINENTS:
        table = models[validation.continent_table(continent).lower()]
        assert [(c["name"], c["data_type"]) for c in table["columns"].values()] == shape
        assert table["depends_on"]["nodes"] == ["model.countries.country_details"]


def test_the_build_creates_each_model_as_a_table_with_its_declared_columns(pipeline, fixture_build):
    """dbt-snowflake creates a contracted table with that column list
    (https://docs.snowflake.com/en/sql-reference/sql/create-table: CTAS takes a column list), and
    what the warehouse then holds is tables only, valid as the pipeline checks them."""
    sql = (
        fixture_build.target_path / "run" / "countries" / "models" / "mart" / "country_details_africa.sql"
    ).read_text()
    assert re.search(
        rf"create or replace transient table {DEV_DB}\.MART_BUILD\.country_details_africa\s*\(\s*country_code varchar,",
        sql,
    ), sql
    db = pipeline.settings.database("dev")
    with warehouse.connect(pipeline.settings, "dev") as conn:
        kinds = dict(
            warehouse.execute(
                conn,
                f"select table_name, table_type from {db}.information_schema.tables where table_schema = 'MART_BUILD'",
            ).rows
        )
    assert set(kinds) == set(validation.MART_TABLES)
    assert "VIEW" not in kinds.values(), kinds
    assert validation.validate(pipeline.settings, "dev", schema_suffix="_BUILD").ok


def test_no_test_that_cannot_fail_on_the_continent_tables(parsed):
    """A continent table filters `country_continent_name = '<continent>'`, so accepted_values on that
    column could never fail: the tests there are the key (unique) and the relationship to the one
    MART model."""
    nodes = parsed["nodes"].values()
    continent_tables = {f"model.countries.{validation.continent_table(c).lower()}" for c in validation.CONTINENTS}
    tests = [n for n in nodes if n["resource_type"] == "test" and n.get("attached_node") in continent_tables]
    kinds = {(n["attached_node"], n["test_metadata"]["name"]) for n in tests}
    assert kinds == {(t, k) for t in continent_tables for k in ("unique", "relationships")}


def test_the_local_warehouse_reports_types_so_a_contract_mismatch_fails(pipeline, fixture_build, tmp_path, monkeypatch):
    """dbt's contract check compares the query's column types with the declared ones, both as the
    warehouse reports them (cursor description: FIXED, REAL, TEXT, ...). If the local warehouse
    reported one type for everything the contract would pass locally and fail on Snowflake; here a
    declared FLOAT over a NUMBER(38, 2) column must fail before anything is built."""
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models_yml = project / "models" / "mart" / "_models.yml"
    text = models_yml.read_text()
    declared = "      - name: total_area\n        data_type: number(38, 2)"
    assert declared in text
    models_yml.write_text(text.replace(declared, "      - name: total_area\n        data_type: float"))
    monkeypatch.setattr(dbt, "DBT_PROJECT_DIR", project)
    settings = account_setup(Settings(dev_database=DEV_DB, prod_database=PROD_DB, dbt_target_dir=tmp_path / "target"))
    result = dbt.run_dbt(settings, ["build", "--select", "continent_summary"], dbt_vars={"schema_suffix": "_BUILD"})
    assert not result.ok
    message = result.describe_failures()
    assert "This model has an enforced contract that failed" in message, message
    assert re.search(r"\|\s*TOTAL_AREA\s*\|\s*FIXED\s*\|\s*REAL\s*\|\s*data type mismatch", message), message


# -- dbt in this process ---------------------------------------------------------------------------
def test_a_failed_invocation_leaves_nothing_that_breaks_the_next_one(pipeline, fixture_build, capfd):
    """helpers/dbt.py runs dbt in this process (dbtRunner), and dbt keeps its flags, adapters and
    loggers in module globals: a build whose nodes fail, an invocation dbt refuses and one stopped by
    an `on_line` that raised must each leave the next build in the same process as good as the first.
    dbt's console log goes to `on_line` only (never to this process's stdout, e.g. a notebook's),
    and the connector's default network timeout is as it was outside an invocation."""
    from snowflake.connector.connection import DEFAULT_CONFIGURATION

    s = pipeline.settings
    default_timeout = DEFAULT_CONFIGURATION["network_timeout"][0]
    # the source tests read RAW_NOSUCH.COUNTRIES_COPY, which does not exist
    failed = dbt.run_dbt(s, ["test", "--select", "source:load"], dbt_vars={"schema_suffix": "_NOSUCH"})
    assert failed.returncode == 1 and failed.failures(), failed.log_tail
    assert all(f["status"] == "error" for f in failed.failures()), failed.failures()
    refused = dbt.run_dbt(s, ["build", "--threads", "many"])
    assert refused.returncode == 2 and "'many' is not a valid integer" in refused.describe_failures()

    def stop_at_first_model(line: str) -> None:
        if "START sql table model" in line:
            raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError, match="the caller gave up"):
        dbt.build(s, "dev", "run_dbt_given_up", on_line=stop_at_first_model)
    assert DEFAULT_CONFIGURATION["network_timeout"][0] == default_timeout
    capfd.readouterr()

    lines: list[str] = []
    again = dbt.build(s, "dev", "run_dbt_after_failures", on_line=lines.append)
    assert again.ok and again.counts() == fixture_build.counts()
    assert any("Completed successfully" in line for line in lines), lines[-5:]
    out, _err = capfd.readouterr()
    assert "Completed successfully" not in out and "START sql table model" not in out
    assert "Completed successfully" in (again.target_path / "logs" / "dbt.log").read_text()
    assert DEFAULT_CONFIGURATION["network_timeout"][0] == default_timeout


def test_a_stale_run_results_json_is_not_taken_for_this_invocations(pipeline, fixture_build):
    """An invocation that dbt refuses writes no run_results.json; the one in the target path is an
    earlier invocation's and must not be reported as this one's results."""
    run_results = pipeline.settings.dbt_target_dir / "dev" / "run_results.json"
    earlier = json.loads(run_results.read_text())
    assert earlier["results"], "an earlier build left its results"
    refused = dbt.run_dbt(pipeline.settings, ["build", "--threads", "many"])
    assert refused.returncode == 2 and not refused.ok
    assert json.loads(run_results.read_text()) == earlier, "dbt wrote no run_results.json"
    assert refused.results == [] and refused.failures() == [] and refused.counts() == {}


# -- source tests check this load ----------------------------------------------------------------
def test_a_json_null_is_not_sql_null_in_the_local_warehouse(pipeline):
    """Snowflake: "The JSON null value is distinct from the SQL NULL value"
    (https://docs.snowflake.com/en/sql-reference/functions/is_null_value); STRIP_NULL_VALUE turns it
    into SQL NULL (https://docs.snowflake.com/en/sql-reference/functions/strip_null_value). The
    local warehouse must agree, or the cca3 source test could pass locally and differ on Snowflake."""
    with warehouse.connect(pipeline.settings, "dev") as conn:
        row = warehouse.execute(
            conn,
            """select parse_json('{"a": null}'):a is null, strip_null_value(parse_json('{"a": null}'):a) is null,
                      is_null_value(parse_json('{"a": null}'):a), parse_json('{}'):a is null""",
        ).rows[0]
    assert tuple(row) == (False, True, True, True)


def source_test_id(result: dbt.DbtResult, expression: str) -> str:
    """The unique_id of the expression_is_true test on source load.countries_copy with `expression`."""
    found = [
        uid
        for uid, n in manifest(result)["nodes"].items()
        if n["resource_type"] == "test"
        and n.get("test_metadata", {}).get("name") == "expression_is_true"
        and n["test_metadata"]["kwargs"].get("expression") == expression
        and n["sources"] == [["load", "countries_copy"]]
    ]
    assert len(found) == 1, f"one source test with expression {expression!r}, found {found}"
    return found[0]


def _without_cca3(record: dict[str, Any]) -> None:
    del record["cca3"]


def _null_cca3(record: dict[str, Any]) -> None:
    # a JSON null, distinct from SQL NULL: `data:cca3 is not null` is true for it
    # (https://docs.snowflake.com/en/sql-reference/functions/is_null_value), the test must not be
    record["cca3"] = None


def _negative_population(record: dict[str, Any]) -> None:
    record["population"] = -1


@pytest.mark.parametrize(
    ("break_record", "expression"),
    [
        (_without_cca3, "strip_null_value(data:cca3) is not null"),
        (_null_cca3, "strip_null_value(data:cca3) is not null"),
        (_negative_population, "data:population::number(38, 0) >= 0"),
    ],
    ids=["cca3-missing", "cca3-json-null", "population-negative"],
)
def test_a_bad_fresh_load_fails_its_source_test_before_any_model_reads_it(
    pipeline, fixture_build, break_record, expression
):
    """The load runs before dbt, so the source tests test this load. The Glue job quarantines bad
    records, so the bad record is written straight to the landed key (as the local admin), loaded,
    and `dbt build` must fail naming that source test, with RAW not built from it."""
    s = pipeline.settings
    s3 = admin_client(s, "s3")  # the operator may not write the landed key: only the Glue job's role may
    ingest_and_load(pipeline, s.resolved_source_url, "run_dbt_good")  # a good landed file to spoil
    lines = s3.get_object(Bucket=s.bucket, Key=s.data_key)["Body"].read().decode("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    break_record(records[0])
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    s3.put_object(Bucket=s.bucket, Key=s.data_key, Body=body)
    pipeline.load("dev")

    with pytest.raises(dbt.DbtFailed) as failed:
        dbt.build(s, "dev", "run_dbt_bad_load")
    result = failed.value.result
    assert result is not None
    expected_test = source_test_id(result, expression)
    statuses = {r["unique_id"]: r["status"] for r in result.results}
    assert statuses[expected_test] == "fail", statuses
    assert expected_test in str(failed.value)
    assert statuses["model.countries.country_details_raw"] == "skipped"
    failing = {uid for uid, status in statuses.items() if status in ("fail", "error")}
    assert all(uid.startswith("test.countries.source_") for uid in failing), failing


# -- the MART on the real file is the MART it was --------------------------------------------------
@pytest.mark.skipif(not COUNTRIES_250.is_file(), reason=f"the 250-country file {COUNTRIES_250} is not on this machine")
def test_mart_on_the_250_country_file_has_the_baseline_content(pipeline):
    """Built from /work/shared/data/countries_v3.1.json, every MART table has exactly the columns and
    rows (LOAD_ID and INSERT_DTS aside) it had before the restructuring: the digest in
    expected/mart_250_digest.json was computed by `baseline_digest()` from the capture taken with the
    old project. COUNTRY_DETAILS (new) holds exactly the continent tables' rows."""
    expected = json.loads(EXPECTED_DIGEST.read_text())["tables"]
    with serve_directory(COUNTRIES_250.parent) as base_url:
        ingest_and_load(pipeline, f"{base_url}/{COUNTRIES_250.name}", "run_dbt_250")
    dbt.build(pipeline.settings, "dev", "run_dbt_250")
    got = built_digest(pipeline.settings, "dev", sorted(expected))
    assert got == expected
    report = validation.validate(pipeline.settings, "dev", expected_records=250, schema_suffix="_BUILD")
    assert report.ok, report.describe_failures()
    assert report.rows_per_layer["mart_continent_rows"] == sum(
        t["rows"] for n, t in expected.items() if n != "CONTINENT_SUMMARY"
    )
