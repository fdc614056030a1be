"""The smoke test for a first real run: plan -> dev run -> prod run -> validation -> teardown -> audit,
and one evidence report a user can attach to a bug report.

`python -m helpers smoke` writes `artifacts/smoke/report.json` and `report.md`: the versions in use,
every step's result and time, the counts per layer and per continent of both targets, and what the
audit found after the teardown. Account identifiers (the AWS account id, the Snowflake account and
user, the bucket) are masked, so the report can be shared as it is.

A failed step stops the steps after it, except the teardown and the audit, which always run (a smoke
test leaves nothing behind) unless `keep=True`.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, UTC
from importlib import metadata
from pathlib import Path
from typing import Any

from helpers.settings import PROJECT_ROOT, TARGETS, Settings

Echo = Callable[[str], None]
PACKAGES = ("boto3", "botocore", "snowflake-connector-python", "dbt-core", "dbt-snowflake", "pydantic")
_AWS_ACCOUNT = re.compile(r"(?<!\d)(\d{4})\d{4}(\d{4})(?!\d)")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        out["project commit"] = (
            subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        out["project commit"] = "unknown"
    return out


def mask(text: str, identifiers: list[str]) -> str:
    """Mask 12-digit AWS account ids (first and last 4 digits kept) and the given identifiers (first 2
    characters kept): the report says enough to compare two reports, not to find the account."""
    for ident in sorted({i for i in identifiers if i and len(i) > 2}, key=len, reverse=True):
        text = re.sub(re.escape(ident), ident[:2] + "*" * (len(ident) - 2), text, flags=re.IGNORECASE)
    return _AWS_ACCOUNT.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


@dataclass
class Step:
    name: str
    status: str = "not run"  # ok | failed | not run
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class SmokeReport:
    started_at: str
    mode: str
    versions: dict[str, str]
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.status == "ok" for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "mode": self.mode,
            "versions": self.versions,
            "steps": [vars(s) for s in self.steps],
        }

    def to_markdown(self) -> str:
        lines = [
            f"# Smoke test: {'PASSED' if self.ok else 'FAILED'}",
            "",
            f"{self.started_at}, {self.mode} mode",
            "",
            "| package | version |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v} |" for k, v in self.versions.items()]
        lines += ["", "| step | result | seconds | detail |", "|---|---|---|---|"]
        for s in self.steps:
            detail = s.error or ", ".join(f"{k}: {v}" for k, v in s.detail.items() if not isinstance(v, dict))
            lines.append(f"| {s.name} | {s.status} | {s.seconds:.1f} | {detail.replace('|', '/')} |")
        for s in self.steps:
            for key, value in s.detail.items():
                if isinstance(value, dict) and value:
                    lines += ["", f"**{s.name}: {key}**", "", "| | rows |", "|---|---|"]
                    lines += [f"| {k} | {v} |" for k, v in value.items()]
        return "\n".join(lines) + "\n"


def _plan(settings: Settings) -> dict[str, Any]:
    from helpers import plan

    built = plan.build_plan(settings, "dev", with_teardown=True)
    counts: dict[str, int] = {}
    for item in built.items:
        counts[item.status] = counts.get(item.status, 0) + 1
    missing = [i.resource for i in built.items if i.status in (plan.MISSING, plan.DIFFERS)]
    if missing:
        raise RuntimeError(f"the account setup is incomplete: {missing}; {plan.ACCOUNT_SETUP_HINT}")
    return {"items": counts, "estimated_usd": built.cost["total_usd"]}


def _run(settings: Settings, target: str, source_url: str | None, echo: Echo) -> dict[str, Any]:
    from helpers.pipeline import Pipeline

    report = Pipeline(settings, echo=echo).run(source_url=source_url, target=target)
    return {
        "run_id": report.run_id,
        "records": report.steps["source"]["records"],
        "rows_per_layer": report.steps["rows_per_layer"],
        "rows_per_continent": report.steps["rows_per_continent"],
    }


def _validate(settings: Settings) -> dict[str, Any]:
    from helpers import validation

    out: dict[str, Any] = {}
    for target in TARGETS:
        checks = validation.validate(settings, target)
        if not checks.ok:
            raise validation.ValidationFailed(f"{target}: {checks.describe_failures()}")
        out[f"{target} checks"] = len(checks.checks)
    return out


def _teardown(settings: Settings, echo: Echo) -> dict[str, Any]:
    from helpers import teardown

    result = teardown.teardown(settings, echo=echo)
    return {"deleted": len(result["deleted"]), "kept": len(result["kept"])}


def _audit(settings: Settings) -> dict[str, Any]:
    from helpers import teardown

    remaining = {k: v for k, v in teardown.audit(settings).items() if v}
    if remaining:
        raise RuntimeError(f"left behind after the teardown: {remaining}")
    return {"remaining": 0}


def smoke(
    settings: Settings | None = None,
    source_url: str | None = None,
    keep: bool = False,
    echo: Echo | None = None,
    out_dir: Path | None = None,
) -> SmokeReport:
    s = (settings or Settings()).require_complete()
    echo = echo or (lambda _m: None)
    report = SmokeReport(datetime.now(UTC).isoformat(timespec="seconds"), s.mode, versions())
    steps: list[tuple[str, Callable[[], dict[str, Any]], bool]] = [
        ("plan", lambda: _plan(s), False),
        ("dev run", lambda: _run(s, "dev", source_url, echo), False),
        ("prod run", lambda: _run(s, "prod", source_url, echo), False),
        ("validation", lambda: _validate(s), False),
    ]
    if not keep:
        steps += [("teardown", lambda: _teardown(s, echo), True), ("audit", lambda: _audit(s), True)]
    failed = False
    for name, fn, always in steps:
        step = Step(name)
        report.steps.append(step)
        if failed and not always:
            continue
        echo(f"[smoke] {name}")
        started = time.monotonic()
        try:
            step.detail, step.status = fn(), "ok"
        except Exception as e:  # noqa: BLE001 - recorded in the report; the other steps still get their turn
            step.status, step.error, failed = "failed", f"{type(e).__name__}: {e}", True
        step.seconds = round(time.monotonic() - started, 2)
    write(report, s, out_dir or s.artifacts_dir / "smoke")
    return report


def write(report: SmokeReport, settings: Settings, out_dir: Path) -> tuple[Path, Path]:
    identifiers = [settings.snowflake_account or "", settings.snowflake_user or "", settings.bucket or ""]
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(mask(json.dumps(report.to_json(), indent=2, default=str), identifiers) + "\n")
    md_path.write_text(mask(report.to_markdown(), identifiers))
    return json_path, md_path
