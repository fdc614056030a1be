"""dbt: run the project in dbt_project/ against a target, and read what it reports.

dbt runs as a subprocess (the `dbt` CLI of this virtualenv) with its connection settings in the
environment, exactly as a data engineer would run it by hand; results come from run_results.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.settings import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtFailed(RuntimeError):
    pass


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
        return [
            {"node": r["unique_id"], "status": r["status"], "message": r.get("message")}
            for r in self.results
            if r["status"] not in {"success", "pass"}
        ]


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    settings: Settings,
    args: list[str],
    target: str = "dev",
    dbt_vars: dict[str, Any] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> DbtResult:
    """Run `dbt <args>`; each output line goes to `on_line` as it arrives (progress)."""
    target_path = settings.dbt_target_dir / target
    cmd = [
        dbt_executable(),
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
    }
    tail: list[str] = []
    proc = subprocess.Popen(  # noqa: S603
        cmd, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail = (tail + [line])[-60:]
        if on_line:
            on_line(line)
    returncode = proc.wait()
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


def build(
    settings: Settings, target: str, load_id: str, on_line: Callable[[str], None] | None = None
) -> DbtResult:
    result = run_dbt(settings, ["build"], target=target, dbt_vars={"load_id": load_id}, on_line=on_line)
    if not result.ok:
        failures = result.failures()
        detail = "\n".join(f"  {f['status']}: {f['node']}: {f['message']}" for f in failures) or "\n".join(
            result.log_tail[-20:]
        )
        raise DbtFailed(f"dbt build --target {target} failed ({len(failures)} failing nodes):\n{detail}")
    return result
