"""No credential leaks into anything the pipeline writes or prints.

After a full run of `python -m helpers run` and then `python -m helpers teardown` (subprocesses
with this session's environment, their stdout and stderr captured), every file under the artifacts dir, the dbt target dir and the local
cloud's state dir (its logs above all) is searched for the local cloud's credentials: the admin's
and the operator's access key ids and secret keys, Snowflake's principal's key id and secret key, and the local
Snowflake password. The only files allowed to hold them are the credential files the launcher
writes on purpose, and those must be readable by their owner only (0600).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import teardown as td
from helpers.settings import Settings
from tests.conftest import PROJECT_ROOT
from tests.integration.operators import operating

pytestmark = pytest.mark.integration

CREDENTIAL_FILES = (
    "cloud.json",
    "aws_admin.json",
    "aws_operator.json",
    "snowflake_principal.json",
    "snowflake_password",
)


def _namespace() -> dict[str, str]:
    """Names of this module's own, so the run below really runs every step (the pipeline skips
    COPY and dbt for a source a database has already loaded) and its teardown touches nothing else."""
    tag = uuid.uuid4().hex[:6]
    return {
        "PIPELINE_BUCKET": f"sec-{tag}-bucket",
        "PIPELINE_GLUE_JOB": f"sec-{tag}-ingest",
        "PIPELINE_GLUE_ROLE": f"sec-{tag}-glue-role",
        "PIPELINE_SNOWFLAKE_AWS_ROLE": f"sec-{tag}-snowflake-role",
        "PIPELINE_INTEGRATION": f"SEC_{tag.upper()}_INT",
        "PIPELINE_DEV_DATABASE": f"SEC_{tag.upper()}_DEV",
        "PIPELINE_PROD_DATABASE": f"SEC_{tag.upper()}_PROD",
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helpers", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def cli(local_cloud) -> dict[str, subprocess.CompletedProcess[str]]:
    """`python -m helpers run`, then `python -m helpers teardown --json`, with this session's
    environment, their output captured. No assertion here: a failed run is scanned too (error
    paths are where secrets leak); test_the_runs_scanned_are_real says whether they succeeded."""
    env = {**os.environ, **_namespace()}
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _namespace_of(env).items():
            mp.setenv(k, v)
        settings = Settings()
    with operating(settings):  # the local operator may operate these names while the CLI runs
        try:
            out["run"] = _cli(env, "run", "--target", "dev")
            out["teardown"] = _cli(env, "teardown", "--json")
        finally:
            if out.get("teardown") is None or out["teardown"].returncode != 0:
                td.teardown(settings)
    return out


def _namespace_of(env: dict[str, str]) -> dict[str, str]:
    return {k: env[k] for k in _namespace()}


@pytest.fixture(scope="module")
def secrets(local_cloud) -> dict[str, str]:
    state = Settings().state_dir
    admin = json.loads((state / "aws_admin.json").read_text())
    principal = json.loads((state / "snowflake_principal.json").read_text())
    operator = json.loads((state / "aws_operator.json").read_text())
    found = {
        "admin access key id": admin["access_key_id"],
        "admin secret access key": admin["secret_access_key"],
        "operator access key id": operator["access_key_id"],
        "operator secret access key": operator["secret_access_key"],
        "snowflake principal access key id": principal["access_key_id"],
        "snowflake principal secret access key": principal["secret_access_key"],
        "local snowflake password": (state / "snowflake_password").read_text().strip(),
    }
    # the search must be meaningful: real, distinct, long enough not to match by chance
    assert all(len(v) >= 16 for v in found.values()), {k: len(v) for k, v in found.items()}
    assert len(set(found.values())) == len(found)
    return found


def _needles(secrets: dict[str, str]) -> dict[bytes, str]:
    """Each secret as it could appear: raw, URL-encoded (query strings), JSON-escaped."""
    out: dict[bytes, str] = {}
    for name, value in secrets.items():
        for form in {value, quote(value, safe=""), json.dumps(value)[1:-1]}:
            out[form.encode()] = name
    return out


def _hits(blob: bytes, needles: dict[bytes, str]) -> list[str]:
    return sorted({name for needle, name in needles.items() if needle in blob})


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_the_runs_scanned_are_real(cli):
    run, teardown = cli["run"], cli["teardown"]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    settings = Settings()
    report = json.loads((settings.artifacts_dir / "run_report.json").read_text())
    assert report["status"] == "succeeded"
    assert report["dbt"]["counts"]["model"], report["dbt"]  # dbt really ran (not skipped as unchanged)
    assert (settings.dbt_target_dir / "dev" / "run_results.json").exists()
    assert list((settings.state_dir / "logs").glob("*.log"))
    assert teardown.returncode == 0, teardown.stdout[-2000:] + teardown.stderr[-4000:]
    assert json.loads(teardown.stdout)["deleted"]


@pytest.mark.parametrize("command", ["run", "teardown"])
def test_no_secret_in_the_commands_output(cli, secrets, command):
    needles = _needles(secrets)
    assert _hits(cli[command].stdout.encode(), needles) == []
    assert _hits(cli[command].stderr.encode(), needles) == []


@pytest.mark.parametrize("where", ["artifacts", "dbt target", "local cloud state and logs"])
def test_no_secret_in_any_file_written(cli, secrets, where):
    settings = Settings()
    root = {
        "artifacts": settings.artifacts_dir,
        "dbt target": settings.dbt_target_dir,
        "local cloud state and logs": settings.state_dir,
    }[where]
    files = [
        p for p in _files(root) if not (root == settings.state_dir and p.name in CREDENTIAL_FILES and p.parent == root)
    ]
    assert files, f"nothing to scan under {root}"
    if where == "local cloud state and logs":
        assert {p.name for p in (root / "logs").glob("*.log")} >= {"aws.log", "snowflake.log", "source.log"}
    needles = _needles(secrets)
    leaks = {str(p.relative_to(root)): hits for p in files if (hits := _hits(p.read_bytes(), needles))}
    assert leaks == {}


def test_the_credential_files_are_readable_by_their_owner_only(local_cloud):
    state = Settings().state_dir
    modes = {name: oct(stat.S_IMODE((state / name).stat().st_mode)) for name in CREDENTIAL_FILES}
    assert modes == {name: "0o600" for name in CREDENTIAL_FILES}
