"""Shared by the bad-input and fault tests: a scripted HTTP source on 127.0.0.1, byte-exact snapshots
of what users query, and the S3 facts a run must (not) change.

These tests use databases of their own (BADINPUT_DEV / BADINPUT_PROD) so that the other modules'
expectations about COUNTRIES_DEV / COUNTRIES_PROD do not depend on the order the modules run in.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from pathlib import Path

from helpers import warehouse
from helpers.local_cloud.bootstrap import admin_client
from helpers.settings import Settings
from tests.conftest import FIXTURE
from tests.scripted_http import Reply, ScriptedServer, serve  # noqa: F401 - Reply is used as support.Reply

DEV_DB, PROD_DB = "BADINPUT_DEV", "BADINPUT_PROD"
PUBLISHED_SCHEMAS = ("RAW", "TRANSFORM", "MART")


def isolated_settings(**overrides: Any) -> Settings:
    """Settings for these tests: own databases; a short download timeout and 2 attempts."""
    values: dict[str, Any] = {
        "dev_database": DEV_DB,
        "prod_database": PROD_DB,
        "source_timeout_seconds": 1,
        "source_max_attempts": 2,
    }
    values.update(overrides)
    from tests.integration.operators import account_setup

    return account_setup(Settings(**values))


# -- the sources ----------------------------------------------------------------------------------
def problem_records() -> list[dict[str, Any]]:
    """The 20-country fixture with one record-level problem of each kind (6 records to quarantine)
    and one unknown new field: the "last good run" these tests start from. Deterministic, so its
    sha256 is the same in every module (a second module's baseline run is an unchanged source)."""
    records = json.loads(FIXTURE.read_bytes())
    del records[0]["name"]["common"]
    del records[1]["cca3"]
    del records[2]["continents"]
    records[3]["population"] = str(records[3]["population"])
    records[4]["continents"] = records[4]["continents"][0]
    duplicate = copy.deepcopy(records[5])
    duplicate["name"]["common"] += " (again)"
    records.append(duplicate)  # index 20
    records[6]["newField"] = {"addedIn": "v3.2", "values": [1, "ü"]}  # unknown: kept, no failure
    return records


def problem_source_bytes() -> bytes:
    return json.dumps(problem_records(), ensure_ascii=False).encode("utf-8")


def write_source(directory: Path, body: bytes | Any, name: str = "countries.json") -> str:
    """A file:// URL of `body` (bytes as they are, anything else as JSON)."""
    path = directory / name
    path.write_bytes(body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8"))
    return path.resolve().as_uri()


# -- a scripted HTTP source: tests/scripted_http.py ---------------------------------------------
ScriptedSource = ScriptedServer
SourceServer = serve


# -- what users query, byte for byte --------------------------------------------------------------
def published(settings: Settings, target: str) -> dict[str, str]:
    """sha256 of every published table's full contents (every column, the load ids and
    timestamps included), plus the target's LOAD_STATE: equal snapshots mean nothing changed."""
    db = settings.database(target)
    out: dict[str, str] = {}
    with warehouse.connect(settings, target) as conn:
        tables = warehouse.execute(
            conn,
            f"select table_schema, table_name from {db}.information_schema.tables "
            "where table_schema in ('RAW', 'TRANSFORM', 'MART', 'AUDIT') order by 1, 2",
        ).rows
        for schema, table in tables:
            result = warehouse.execute(conn, f"select * from {db}.{schema}.{table}")
            rows = sorted(json.dumps(list(row), default=repr) for row in result.rows)
            body = json.dumps([result.columns, rows])
            out[f"{schema}.{table}"] = f"{len(rows)} rows sha256 {hashlib.sha256(body.encode()).hexdigest()}"
    return out


def scalar(settings: Settings, target: str, sql: str) -> Any:
    with warehouse.connect(settings, target) as conn:
        return warehouse.scalar(conn, sql)


def data_versions(settings: Settings) -> list[str]:
    """Version ids of the landed file, newest first."""
    s3 = settings.aws_client("s3")
    listing = s3.list_object_versions(Bucket=settings.bucket, Prefix=settings.data_key)
    return [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == settings.data_key]


def quarantine_lines(settings: Settings, key: str) -> list[dict[str, Any]]:
    # read as the local admin: the operator policy does not let the operator read the quarantine
    body = admin_client(settings, "s3").get_object(Bucket=settings.bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def quarantine_keys_of_run(settings: Settings, run_id: str) -> list[str]:
    listing = settings.aws_client("s3").list_objects_v2(
        Bucket=settings.bucket, Prefix=f"{settings.quarantine_prefix}{run_id}/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


def report_file(settings: Settings, run_id: str) -> dict[str, Any]:
    return json.loads((settings.artifacts_dir / "runs" / f"{run_id}.json").read_text())
