"""The whole pipeline on the local cloud: exact results, lineage, idempotency, dev and prod - as the
local operator (helpers/local_cloud/bootstrap.py): every AWS request of the dev and the prod run is
signed with the operator's key, so its policy alone (helpers.iam_operator.operator_policy) sufficed."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot

from helpers import dbt, publish, validation, warehouse
from helpers.pipeline import Pipeline
from tests.conftest import FIXTURE, PROJECT_ROOT, SHARED_DATA
from tests.integration.operators import signing_keys

pytestmark = pytest.mark.integration

VOLATILE_COLUMNS = {"LOADED_AT", "INSERT_DTS", "LOAD_ID"}
# Snowflake statements sqlglot 30 cannot parse at all (checked by the local warehouse instead)
SQLGLOT_HAS_NO_GRAMMAR_FOR = ("DESC INTEGRATION", "LIST @")


def expected_continent_counts(countries: list[dict]) -> dict[str, int]:
    """The oracle: count continent memberships straight from the source JSON, in plain Python."""
    counts: collections.Counter[str] = collections.Counter()
    for country in countries:
        for continent in country["continents"]:
            counts[continent] += 1
    return {c: counts.get(c, 0) for c in validation.CONTINENTS}


def snapshot(settings, target: str) -> dict[str, list[str]]:
    """Every row of every table the pipeline builds, minus the columns that say *when*."""
    db = settings.database(target)
    out = {}
    with warehouse.connect(settings, target) as conn:
        tables = [
            f"{r[0]}.{r[1]}"
            for r in warehouse.execute(
                conn,
                f"select table_schema, table_name from {db}.information_schema.tables "
                "where table_schema in ('RAW', 'TRANSFORM', 'MART') order by 1, 2",
            ).rows
        ]
        for table in tables:
            result = warehouse.execute(conn, f"select * from {db}.{table}")
            keep = [i for i, c in enumerate(result.columns) if c.upper() not in VOLATILE_COLUMNS]
            out[table] = sorted(json.dumps([row[i] for i in keep], default=str) for row in result.rows)
    return out


@pytest.fixture(scope="module")
def dev_run_and_its_keys(local_cloud):
    """The dev run, and the access keys that signed its AWS requests."""
    from helpers.settings import Settings

    with signing_keys() as keys:
        report = Pipeline(Settings()).run(target="dev")
    return report, keys


@pytest.fixture(scope="module")
def dev_run(dev_run_and_its_keys):
    return dev_run_and_its_keys[0]


def operator_key(settings) -> str:
    return settings.local_cloud["aws"]["operator"]["access_key_id"]


def test_the_dev_run_signed_every_aws_request_as_the_local_operator(settings, dev_run_and_its_keys):
    report, keys = dev_run_and_its_keys
    assert report.status == "succeeded"
    assert keys == {operator_key(settings)}
    assert settings.local_cloud["aws"]["admin"]["access_key_id"] not in keys


def test_mart_counts_per_continent_match_the_source(settings, dev_run, fixture_countries):
    expected = expected_continent_counts(fixture_countries)
    assert dev_run.steps["rows_per_continent"] == expected
    with warehouse.connect(settings, "dev") as conn:
        summary = dict(warehouse.execute(conn, "select continent_name, country_count from MART.CONTINENT_SUMMARY").rows)
        for continent, count in expected.items():
            table = validation.continent_table(continent)
            assert warehouse.scalar(conn, f"select count(*) from MART.{table}") == count, table
            assert summary[continent] == count


def test_every_source_country_reaches_transform_even_without_a_currency(settings, dev_run, fixture_countries):
    with warehouse.connect(settings, "dev") as conn:
        codes = {
            r[0] for r in warehouse.execute(conn, "select country_code from TRANSFORM.COUNTRY_DETAILS_TRANSFORM").rows
        }
        no_currency = {
            r[0]
            for r in warehouse.execute(
                conn, "select country_code from TRANSFORM.COUNTRY_DETAILS_TRANSFORM where currency_code is null"
            ).rows
        }
    assert codes == {c["cca3"] for c in fixture_countries}
    assert no_currency == {c["cca3"] for c in fixture_countries if not c.get("currencies")}
    assert no_currency, "the fixture must include countries without a currency"


def test_continent_summary_counts_each_country_once_despite_several_currencies(settings, dev_run, fixture_countries):
    by_continent: dict[str, list[dict]] = collections.defaultdict(list)
    for c in fixture_countries:
        for continent in c["continents"]:
            by_continent[continent].append(c)
    with warehouse.connect(settings, "dev") as conn:
        rows = warehouse.execute(
            conn,
            "select continent_name, total_population, distinct_currency_count, un_member_count "
            "from MART.CONTINENT_SUMMARY",
        ).rows
    for continent, population, currencies, un_members in rows:
        members = by_continent[continent]
        assert int(population) == sum(c["population"] for c in members), continent
        assert currencies == len({code for c in members for code in (c.get("currencies") or {})}), continent
        assert un_members == sum(1 for c in members if c.get("unMember")), continent


def test_raw_rows_carry_lineage(settings, dev_run):
    with warehouse.connect(settings, "dev") as conn:
        rows = warehouse.execute(conn, "select distinct source_file, load_id from RAW.COUNTRY_DETAILS_RAW").rows
        positions = warehouse.execute(
            conn, "select min(source_file_row), max(source_file_row), count(*) from RAW.COUNTRY_DETAILS_RAW"
        ).rows[0]
    assert rows == [(settings.data_key, dev_run.run_id)]  # METADATA$FILENAME: the full S3 key
    assert positions == (1, 20, 20)


def test_run_report_describes_the_run(dev_run, fixture_countries):
    report = json.loads((Path(os.environ["PIPELINE_ARTIFACTS_DIR"]) / "run_report.json").read_text())
    raw = FIXTURE.read_bytes()
    assert report["status"] == "succeeded"
    assert report["source"] == {
        "url": report["source_url"],
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "records": len(fixture_countries),
    }
    assert report["landing"]["key"] == "data/countries/countries.ndjson" and report["landing"]["version_id"]
    assert report["landing"]["received"] == report["landing"]["loaded"] + report["landing"]["quarantined"]
    assert report["rows_per_layer"]["raw"] == len(fixture_countries)
    assert report["dbt"]["counts"]["model"] == {"success": 11}
    assert report["dbt"]["counts"]["test"]["pass"] >= 30 and not report["dbt"]["failures"]
    assert set(report["seconds_per_step"]) == {"iam", "s3", "glue", "snowflake", "load", "dbt", "validation"}
    assert [f["status"] for f in report["load"]["files"]] == ["LOADED"]
    assert report["load"]["rows_loaded"] == len(fixture_countries)
    assert all(check["ok"] for check in report["validation"]["checks"])


def test_a_second_run_leaves_identical_table_contents(settings, dev_run):
    before = snapshot(settings, "dev")
    # forced: an unchanged source is otherwise not reloaded at all (tests/integration/test_faults_and_reruns.py)
    second = Pipeline(settings).run(target="dev", force=True)
    assert second.run_id != dev_run.run_id
    after = snapshot(settings, "dev")
    assert after == before
    assert len(before) == 12  # copy table, RAW, TRANSFORM, COUNTRY_DETAILS, 7 continent tables, CONTINENT_SUMMARY
    s3 = settings.aws_client("s3")
    versions = s3.list_object_versions(Bucket=settings.bucket, Prefix=settings.data_key)["Versions"]
    assert len(versions) >= 2, "each ingest is kept as an S3 object version"


def test_prod_target_builds_the_same_marts_in_its_own_database(settings, dev_run):
    with signing_keys() as keys:
        prod = Pipeline(settings).run(target="prod")
    assert keys == {operator_key(settings)}  # the prod run, too, as the local operator
    assert prod.steps["snowflake"]["database"] == settings.prod_database
    assert prod.steps["rows_per_continent"] == dev_run.steps["rows_per_continent"]
    dev, prod_snap = snapshot(settings, "dev"), snapshot(settings, "prod")
    assert dev == prod_snap


def test_sql_and_compiled_dbt_models_parse_as_snowflake_sql(settings, dev_run):
    compiled_run = dbt.run_dbt(settings, ["compile"], target="prod", dbt_vars={"schema_suffix": "_BUILD"})
    assert compiled_run.ok, compiled_run.log_tail[-20:]
    # the pipeline's own files (the administrator's 00 and 99: tests/unit/test_account_setup_sql.py)
    files = sorted((PROJECT_ROOT / "sql").glob("0[1-9]_*.sql"))
    compiled = sorted((settings.dbt_target_dir / "prod" / "compiled").rglob("*.sql"))
    assert len(files) >= 5 and len(compiled) >= 10
    pipeline = Pipeline(settings)
    context = {
        **pipeline.sql_context("prod"),
        "layers": publish.LAYERS,
        "suffix": publish.BUILD_SUFFIX,
        "reader_role": settings.reader_role,
    }
    skipped = []
    for path in files:
        for statement in warehouse.render_sql(path, context):
            if statement.upper().startswith(SQLGLOT_HAS_NO_GRAMMAR_FOR):
                skipped.append(statement.split()[0:3])
                continue
            sqlglot.parse_one(statement, read="snowflake")
    # only the statements named above are left to the warehouse's own parser
    assert len(skipped) == 2, skipped
    for path in compiled:
        sqlglot.parse_one(path.read_text(), read="snowflake")


def test_cli_sql_prints_csv_and_status_prints_endpoints(settings, dev_run):
    env = {**os.environ}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "sql",
            "select continent_name, country_count from MART.CONTINENT_SUMMARY order by 1",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
    ).stdout.splitlines()
    assert out[0] == "CONTINENT_NAME,COUNTRY_COUNT"
    assert out[1:] == [f"{c},{n}" for c, n in sorted(dev_run.steps["rows_per_continent"].items())]
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "helpers", "local", "status", "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
        ).stdout
    )
    assert set(status) == {"aws", "snowflake", "source"} and all(s["healthy"] for s in status.values())


@pytest.mark.skipif(not SHARED_DATA.exists(), reason=f"the shared dataset is not at {SHARED_DATA}")
def test_the_real_dataset_gives_the_documented_counts(settings):
    report = Pipeline(settings).run(source_url=SHARED_DATA.resolve().as_uri(), target="prod")
    assert report.steps["rows_per_continent"] == {
        "Africa": 58,
        "Antarctica": 5,
        "Asia": 53,
        "Europe": 55,
        "North America": 41,
        "Oceania": 27,
        "South America": 14,
    }
    assert report.steps["rows_per_layer"]["transform_countries"] == 250
    assert report.steps["source"]["sha256"] == "8209daa9fd26e842e84992739dfbfb272566b60357a6ee760955bb4e9f2cc18e"
