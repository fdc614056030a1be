"""A real JupyterLab driven by a real browser, as a reader uses the walkthrough.

`JupyterLab` starts `jupyter lab` (headless, a random token, a free loopback port) on a copy of the
notebooks, so the committed files are never touched by JupyterLab's saves. `LabPage` drives the system's
Chromium through Playwright (Debian's `chromium` package; Playwright never downloads a browser here): it
opens a notebook, runs all cells from the Run menu, waits for the kernel, saves, and hands back the saved
notebook, read with nbformat, so a test checks exactly what a reader would see.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

from helpers.screenshots import QUIET_FLAGS, find_browser
from helpers.settings import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """`jupyter lab` on a copy of notebooks/, with `environment` (the kernel inherits it)."""

    def __init__(self, workdir: Path, environment: dict[str, str]):
        self.root = workdir / "notebooks"
        shutil.copytree(NOTEBOOKS, self.root)
        for path in self.root.glob("*.ipynb"):  # no committed outputs: a cell that did not run shows as such
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            nbformat.write(nb, path)
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.log = workdir / "jupyterlab.log"
        self.environment = environment
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> None:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            # the JupyterLab application object on `window`, to read the kernel's state (not to run cells)
            "--LabApp.expose_app_in_browser=True",
            # no network here: no update checks or news
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.allow_root=True",  # CI runs as root; a server on loopback behind a token
        ]
        env = {**os.environ, **self.environment, "JUPYTER_CONFIG_DIR": str(self.root.parent / "jupyter-config")}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.process.returncode}); see {self.log}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2).close()
                return
            time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer in {timeout_s:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def saved(self, name: str) -> Any:
        return nbformat.read(self.root / name, as_version=4)


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """Headless Chromium from the system, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = find_browser()
    assert executable, "no Chromium found"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=[f for f in QUIET_FLAGS if f != "--headless"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


class LabPage:
    """One notebook open in JupyterLab in one browser page."""

    def __init__(self, chromium: Any, lab: JupyterLab, name: str):
        self.lab, self.name = lab, name
        self.page = chromium.new_page(viewport={"width": 1400, "height": 900})
        # a workspace of its own, reset: JupyterLab would otherwise restore the previous page's open tabs, and
        # the menu would act on whichever of them is current
        workspace = Path(name).stem.replace("_", "-")
        self.page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?token={lab.token}&reset")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        self.wait_idle(timeout_s=60)

    def kernel_status(self) -> str:
        return self.page.evaluate(
            """() => {
                const widget = window.jupyterapp.shell.currentWidget;
                const kernel = widget && widget.sessionContext && widget.sessionContext.session
                    && widget.sessionContext.session.kernel;
                return kernel ? kernel.status : 'none';
            }"""
        )

    def wait_idle(self, timeout_s: float) -> None:
        """Until the kernel is idle and no cell shows the running prompt `[*]`."""
        deadline, quiet = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline:
            running = self.page.locator(".jp-InputPrompt", has_text="[*]").count()
            quiet = quiet + 1 if self.kernel_status() == "idle" and running == 0 else 0
            if quiet >= 3:  # idle on three looks in a row: not a gap between two queued cells
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: the kernel was still busy after {timeout_s:.0f} s")

    def menu(self, menu: str, item: str) -> None:
        self.page.get_by_role("menuitem", name=menu, exact=True).click()
        self.page.get_by_role("menuitem", name=item, exact=False).first.click()

    def prompts(self) -> list[str]:
        return self.page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()

    def run_all(self, timeout_s: float = 300) -> Any:
        """Run ▸ Run All Cells, wait until it has started and the kernel is idle again, save; the saved
        notebook. Raises when the run did not start (the menu click was lost): never a silent pass."""
        before = self.prompts()
        self.menu("Run", "Run All Cells")
        deadline = time.monotonic() + 30
        while self.prompts() == before and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.prompts() == before:
            self.page.screenshot(path=str(self.lab.root.parent / f"{self.name}.not-started.png"))
            raise AssertionError(f"{self.name}: Run All Cells did not start any cell")
        self.wait_idle(timeout_s)
        return self.save()

    def add_cell_and_run(self, source: str, timeout_s: float = 300) -> Any:
        """What a reader does with the one line a notebook offers: a new cell at the end, typed, run
        (Ctrl+Enter: run in place). Returns that cell as saved."""
        self.page.locator(".jp-Notebook .jp-Cell").last.click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")  # command mode: insert a cell below
        self.page.keyboard.press("Enter")  # edit mode
        self.page.keyboard.insert_text(source)
        self.page.keyboard.press("Control+Enter")
        time.sleep(1)
        self.wait_idle(timeout_s)
        cell = self.save().cells[-1]
        assert cell.source == source, f"the typed cell is not the last one: {cell.source!r}"
        return cell

    def delete_last_cell(self) -> None:
        """The reader's helper cell goes again (command mode `d d`), so Run All runs the notebook as shipped."""
        self.page.locator(".jp-Notebook .jp-Cell").last.click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("d")
        self.page.keyboard.press("d")

    def save(self) -> Any:
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dirty = self.page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
            if not dirty:
                return self.lab.saved(self.name)
            time.sleep(0.3)
        raise TimeoutError(f"{self.name}: JupyterLab did not save the notebook")


def cell_errors(cell: Any) -> list[dict[str, Any]]:
    return [
        {"ename": out.get("ename"), "evalue": out.get("evalue"), "traceback": out.get("traceback")}
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def errors(notebook: Any) -> list[dict[str, Any]]:
    """Every error output of the notebook, with its cell index."""
    return [
        {"cell": i, **error}
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for error in cell_errors(cell)
    ]


def unexecuted(notebook: Any) -> list[int]:
    """Indices of code cells with source that did not run."""
    return [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and cell.source.strip() and cell.get("execution_count") is None
    ]
