"""Running a notebook never dirties a tracked file: images go under artifacts/ unless `make notebooks`
(`python -m helpers notebooks --update-committed`) refreshes the committed gallery."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers.settings import PROJECT_ROOT


def _screenshots_dir(env: dict[str, str]) -> str:
    code = "from helpers import figures; print(figures.SCREENSHOTS_DIR)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_images_of_an_ordinary_run_go_under_artifacts_not_into_the_gallery():
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_SCREENSHOTS_DIR"}
    assert _screenshots_dir(env) == str(PROJECT_ROOT / "artifacts" / "screenshots")


def test_the_folder_can_be_chosen():
    env = {**os.environ, "PIPELINE_SCREENSHOTS_DIR": "/tmp/elsewhere"}
    assert _screenshots_dir(env) == "/tmp/elsewhere"


def test_the_walkthrough_runner_knows_where_images_go_without_importing_matplotlib():
    """`python -m helpers notebooks` runs beside every kernel and the dbt docs capture, so its memory
    counts in make demo's peak (benchmarks/PERFORMANCE.md): it reads the gallery paths from
    helpers.screenshots, and matplotlib (≈ 40 MB) stays in the kernels that draw."""
    code = (
        "import sys\n"
        "from helpers import cli, notebooks, screenshots\n"
        "print(screenshots.GALLERY_DIR, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(PROJECT_ROOT / "screenshots"), "False"]
