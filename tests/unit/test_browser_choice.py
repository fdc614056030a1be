"""Which browser the gallery's captures use: `make test` must pass on a machine without Chromium."""

from __future__ import annotations

import json
import stat

from helpers import screenshots
from tests.conftest import PROJECT_ROOT


def test_pipeline_browser_none_hides_an_installed_browser(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PIPELINE_BROWSER", raising=False)
    assert screenshots.find_browser() == str(fake)
    monkeypatch.setenv("PIPELINE_BROWSER", "none")
    assert screenshots.find_browser() is None


def test_pipeline_browser_names_a_browser_off_the_usual_names(monkeypatch, tmp_path):
    chrome = tmp_path / "Google Chrome"
    chrome.write_text("#!/bin/sh\n")
    chrome.chmod(chrome.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("PIPELINE_BROWSER", str(chrome))
    assert screenshots.find_browser() == str(chrome)
    monkeypatch.setenv("PIPELINE_BROWSER", str(tmp_path / "missing"))
    assert screenshots.find_browser() is None


def test_every_notebook_cell_whose_output_depends_on_the_browser_is_not_compared_by_nbval():
    """nbval compares committed outputs with a fresh run; a cell that shows a browser capture shows one
    line instead on a machine without Chromium, so it must carry `nbval-ignore-output`."""
    offenders = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "find_browser" in source:
                if "nbval-ignore-output" not in cell.get("metadata", {}).get("tags", []):
                    offenders.append(f"{path.name} cell {i}")
    assert not offenders, offenders
