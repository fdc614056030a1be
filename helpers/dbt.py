"""dbt: run the project in dbt_project/ against a target, and read what it reports.

dbt runs as a subprocess (dbt's own CLI, started through helpers/dbt_entry.py so that a Snowflake
request cannot be retried forever) with its connection settings in the environment, as a data
engineer would run it by hand; results come from run_results.json.

The pipeline builds into the `_BUILD` schemas (`build()`): the load step has already filled
RAW_BUILD.COUNTRIES_COPY (sql/04_load.sql), dbt builds RAW_BUILD, TRANSFORM_BUILD and MART_BUILD
and tests them, source tests included, and only then does helpers/publish.py swap each build schema
with the schema users query.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.publish import BUILD_SUFFIX, LAYERS
from helpers.settings import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
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
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        target,
        "--target-path",
        str(target_path),
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
    started_at = time.time()  # run_results.json older than this is an earlier invocation's
    proc = subprocess.Popen(  # noqa: S603
        cmd,
        cwd=DBT_PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
    if run_results.exists() and run_results.stat().st_mtime >= started_at - 1:  # 1 s: coarse file clocks
        results = json.loads(run_results.read_text()).get("results", [])
    return DbtResult(command=cmd, returncode=returncode, target_path=target_path, results=results, log_tail=tail)


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
            if unreachable
            else "the failed build is kept in the _BUILD schemas to inspect; fix the source (or the model) and run again"
        )
        kept = (
            f"\nNothing was published: {', '.join(LAYERS)} still hold the last good run. hint: {hint}."
            if schema_suffix
            else ""
        )
        raise DbtFailed(
            f"dbt build --target {target} failed {where} ({len(failures)} failing nodes):\n"
            f"{result.describe_failures()}{kept}",
            result=result,
        )
    return result
