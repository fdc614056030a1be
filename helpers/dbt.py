"""dbt: run the project in dbt_project/ against a target, and read what it reports; build into
the `_BUILD` schemas and publish to RAW, TRANSFORM and MART only what passed.

dbt runs as a subprocess (dbt's own CLI, started through helpers/dbt_entry.py so that a Snowflake
request cannot be retried forever) with its connection settings in the environment, as a data
engineer would run it by hand; results come from run_results.json.

Why build-then-publish: dbt rebuilds a table with CREATE OR REPLACE, one model at a time, and
tests a model only after building it. Built in place, a failing test (or a model failing halfway
through the DAG, or the warehouse going away) would leave MART partly or wholly built from bad
data. So the pipeline builds and tests everything in RAW_BUILD, TRANSFORM_BUILD and MART_BUILD
(`build()`), runs the validation checks on that build, and only then copies each built table over
its published twin with `CREATE OR REPLACE TABLE <schema>.<t> CLONE <schema>_BUILD.<t>`
(`publish()`): in Snowflake a zero-copy, metadata-only operation that is atomic per table.
A failed run leaves the published tables exactly as the last good run left them (the failed build
stays in the _BUILD schemas for inspection). Snowflake's `ALTER SCHEMA ... SWAP WITH` would
switch a whole schema atomically, but the local warehouse cannot do it (nor rename a schema or
swap tables); per-table clones, RAW then TRANSFORM then MART, run the same everywhere. Cloned
tables do not keep grants made on the replaced table: grant readers
`SELECT ON FUTURE TABLES IN SCHEMA` (Snowflake) rather than grants on individual tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import warehouse
from helpers.settings import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
BUILD_SUFFIX = "_BUILD"
LAYERS = ("RAW", "TRANSFORM", "MART")  # publish order: upstream first
COPY_TABLE = "COUNTRIES_COPY"  # the landing table COPY INTO fills (sql/03_stage.sql)
DBT_TIMEOUT_SECONDS = 30 * 60  # a dbt run that takes longer is killed, never waited on forever


class DbtFailed(RuntimeError):
    """dbt did not succeed; `result` (when dbt ran) has its per-node results."""

    def __init__(self, message: str, result: DbtResult | None = None):
        super().__init__(message)
        self.result = result


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    target_path: Path
    results: list[dict[str, Any]] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def counts(self) -> dict[str, dict[str, int]]:
        """{"model": {"success": 11}, "test": {"pass": 30}, ...}"""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            kind = r["unique_id"].split(".")[0]
            out.setdefault(kind, {}).setdefault(r["status"], 0)
            out[kind][r["status"]] += 1
        return out

    def failures(self) -> list[dict[str, Any]]:
        """Every node that did not succeed; a failing column test also names the column it tests,
        its model and the column's description (which says the source field, e.g. name.official)."""
        nodes = self._manifest_nodes()
        out = []
        for r in self.results:
            if r["status"] in {"success", "pass", "skipped"}:
                continue
            failure = {"node": r["unique_id"], "status": r["status"], "message": r.get("message")}
            node = nodes.get(r["unique_id"], {})
            column, model = node.get("column_name"), node.get("attached_node")
            if column and model:
                described = nodes.get(model, {}).get("columns", {}).get(column, {}).get("description", "")
                failure["tests"] = f"column {column} of {model.split('.')[-1]}" + (
                    f" ({' '.join(described.split())})" if described else ""
                )
            out.append(failure)
        return out

    def _manifest_nodes(self) -> dict[str, Any]:
        try:
            return json.loads((self.target_path / "manifest.json").read_text()).get("nodes", {})
        except (OSError, ValueError):
            return {}

    def describe_failures(self) -> str:
        failures = self.failures()
        if not failures:
            return "\n".join(self.log_tail[-20:])
        return "\n".join(
            f"  {f['status']}: {f['node']}: {f['message']}" + (f"\n    tests {f['tests']}" if f.get("tests") else "")
            for f in failures
        )


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def dbt_command() -> list[str]:
    """dbt's CLI, started so that the Snowflake connector's network timeout is finite (dbt_entry.py)."""
    return [sys.executable, "-m", "helpers.dbt_entry"]


def run_dbt(
    settings: Settings,
    args: list[str],
    target: str = "dev",
    dbt_vars: dict[str, Any] | None = None,
    on_line: Callable[[str], None] | None = None,
    keep_fds: tuple[int, ...] = (),
    timeout_s: float = DBT_TIMEOUT_SECONDS,
    extra_env: dict[str, str] | None = None,
) -> DbtResult:
    """Run `dbt <args>`; each output line goes to `on_line` as it arrives (progress).

    `keep_fds` are inherited by dbt (the pipeline's run lock: held while dbt lives, even if this
    process is killed). After `timeout_s` dbt is killed and the result says so."""
    target_path = settings.dbt_target_dir / target
    cmd = [
        *dbt_command(),
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", target,
        "--target-path", str(target_path),
    ]
    if dbt_vars:
        cmd += ["--vars", json.dumps(dbt_vars)]
    env = {
        **os.environ,
        **settings.dbt_env(target),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(target_path / "logs"),
        "DBT_USE_COLORS": "false",
        "DBT_SNOWFLAKE_NETWORK_TIMEOUT": str(settings.snowflake_network_timeout),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])),
        **(extra_env or {}),
    }
    tail: list[str] = []
    proc = subprocess.Popen(  # noqa: S603
        cmd, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        pass_fds=keep_fds,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(timeout_s, kill)
    watchdog.daemon = True
    watchdog.start()
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail = (tail + [line])[-60:]
            if on_line:
                on_line(line)
        returncode = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:  # e.g. on_line raised, or KeyboardInterrupt: never leave dbt behind
            proc.kill()
            proc.wait()
    if timed_out.is_set():
        tail.append(f"dbt was killed after {timeout_s:.0f}s (DBT_TIMEOUT_SECONDS)")
    results: list[dict[str, Any]] = []
    run_results = target_path / "run_results.json"
    if run_results.exists() and run_results.stat().st_mtime >= _started_mtime(proc):
        results = json.loads(run_results.read_text()).get("results", [])
    return DbtResult(command=cmd, returncode=returncode, target_path=target_path, results=results, log_tail=tail)


def _started_mtime(proc: subprocess.Popen[str]) -> float:
    # run_results.json from an earlier invocation must not be mistaken for this one's
    try:
        return Path(f"/proc/{proc.pid}").stat().st_mtime
    except OSError:
        return 0.0


def project_fingerprint() -> str:
    """sha256 over the dbt project's code (dbt_project.yml, models, macros, tests): a changed model
    means the marts must be rebuilt even when the source is unchanged."""
    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml"] + sorted(
        p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()
    )
    for path in files:
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare_build_schemas(settings: Settings, target: str, schema_suffix: str = BUILD_SUFFIX) -> None:
    """The build's copy table must exist before dbt starts: the source's tests run before the RAW
    model's pre-hook (which reloads it). Same columns as RAW.COUNTRIES_COPY (sql/03_stage.sql)."""
    db = settings.database(target)
    with warehouse.connect(settings, target) as conn:
        warehouse.execute(conn, f"create schema if not exists {db}.RAW{schema_suffix}")
        warehouse.execute(
            conn,
            f"create table if not exists {db}.RAW{schema_suffix}.{COPY_TABLE} (DATA VARIANT, SOURCE_FILE VARCHAR, "
            "SOURCE_FILE_ROW NUMBER(38, 0), LOADED_AT TIMESTAMP_LTZ)",
        )


def build(
    settings: Settings,
    target: str,
    load_id: str,
    on_line: Callable[[str], None] | None = None,
    schema_suffix: str = BUILD_SUFFIX,
    keep_fds: tuple[int, ...] = (),
) -> DbtResult:
    """`dbt build` (load, models, tests) into the `<layer><schema_suffix>` schemas; raises DbtFailed
    naming every failing node. With the default suffix nothing users query is touched."""
    if schema_suffix:
        prepare_build_schemas(settings, target, schema_suffix)
    result = run_dbt(
        settings,
        ["build"],
        target=target,
        dbt_vars={"schema_suffix": schema_suffix} if schema_suffix else None,
        on_line=on_line,
        keep_fds=keep_fds,
        # the run id goes in the environment, not in --vars: vars that change from run to run make
        # dbt re-parse the whole project every time (~1.5 s), a changed env var only the RAW model
        extra_env={"PIPELINE_LOAD_ID": load_id},
    )
    if not result.ok:
        failures = result.failures()
        where = f"in the {', '.join(layer + schema_suffix for layer in LAYERS)} schemas" if schema_suffix else ""
        unreachable = any(
            marker in str(f.get("message"))
            for f in failures
            for marker in ("Could not connect to Snowflake", "Connection refused")
        )
        hint = (
            "the warehouse could not be reached during the build; once it is up again, run again"
            if unreachable else
            "the failed build is kept in the _BUILD schemas to inspect; fix the source (or the model) and run again"
        )
        kept = (
            f"\nNothing was published: {', '.join(LAYERS)} still hold the last good run. hint: {hint}."
            if schema_suffix else ""
        )
        raise DbtFailed(
            f"dbt build --target {target} failed {where} ({len(failures)} failing nodes):\n"
            f"{result.describe_failures()}{kept}",
            result=result,
        )
    return result


def built_tables(result: DbtResult, schema_suffix: str = BUILD_SUFFIX) -> list[tuple[str, str]]:
    """(layer, table) of every table the build made, in publish order, the copy table included."""
    tables = [("RAW", COPY_TABLE)]
    for r in result.results:
        if r["unique_id"].startswith("model.") and r.get("relation_name") and r["status"] == "success":
            _db, schema, name = (part.strip('"') for part in r["relation_name"].split("."))
            layer = schema.upper().removesuffix(schema_suffix.upper()) if schema_suffix else schema.upper()
            tables.append((layer, name.upper()))
    return sorted(set(tables), key=lambda t: (LAYERS.index(t[0]) if t[0] in LAYERS else len(LAYERS), t[1]))


def publish(
    settings: Settings, target: str, result: DbtResult, schema_suffix: str = BUILD_SUFFIX
) -> list[str]:
    """Replace each published table with its tested build: RAW, then TRANSFORM, then MART.
    Returns the statements run (also kept on `result.published`)."""
    db = settings.database(target)
    statements = []
    with warehouse.connect(settings, target) as conn:
        for layer in LAYERS:
            warehouse.execute(conn, f"create schema if not exists {db}.{layer}")
        for layer, table in built_tables(result, schema_suffix):
            sql = f"create or replace table {db}.{layer}.{table} clone {db}.{layer}{schema_suffix}.{table}"
            warehouse.execute(conn, sql)
            statements.append(sql)
    result.published = statements
    return statements
