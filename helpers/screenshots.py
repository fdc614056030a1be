"""Browser captures for screenshots/: the dbt docs site and a rendered notebook page, taken with
headless Chromium (Debian's `chromium` package). Without a browser the capture is skipped and the
reason returned, never faked.

`PIPELINE_BROWSER` chooses the browser: a path (e.g. Chrome on macOS), or `none` to act as if no
browser were installed (`make test` checks the notebooks' outputs that way, proving the check does not
depend on a browser)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from helpers.settings import PROJECT_ROOT

# The committed gallery (what README shows) is refreshed only by `make notebooks`; every other run (a
# reader in JupyterLab, `make demo`, the tests) writes its images under artifacts/, so running a
# notebook never dirties a tracked file. PIPELINE_SCREENSHOTS_DIR chooses the folder explicitly.
# (Here, not in figures.py, so that reading them does not import matplotlib: the walkthrough's runner
# needs only these paths, and its memory counts in make demo's peak.)
GALLERY_DIR = PROJECT_ROOT / "screenshots"
SCREENSHOTS_DIR = Path(os.environ.get("PIPELINE_SCREENSHOTS_DIR") or PROJECT_ROOT / "artifacts" / "screenshots")

# the gallery images that need a browser (everything else is drawn by matplotlib)
BROWSER_CAPTURES = frozenset({"dbt_docs.png", "notebook_validation.png"})
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium's background services try the network at start; this machine (and CI) has none.
QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# One capture needs one page: fewer helper processes (network service in the browser process, GPU
# in-process, one renderer, no zygote). Summed RSS of a dbt docs capture 1.19 GB -> 0.95 GB, the
# screenshot unchanged (make demo's peak is this capture; benchmarks/PERFORMANCE.md).
LEAN_FLAGS = (
    "--no-zygote",
    "--in-process-gpu",
    "--renderer-process-limit=1",
    "--process-per-site",
    "--disable-extensions",
    "--enable-features=NetworkServiceInProcess2",
    "--disable-features=site-per-process,IsolateOrigins,SpareRendererForSitePerProcess,AudioServiceOutOfProcess",
)


def find_browser() -> str | None:
    chosen = os.environ.get("PIPELINE_BROWSER", "").strip()
    if chosen.lower() == "none":
        return None
    if chosen:
        return shutil.which(chosen)
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def capture(url: str, out: Path, width: int = 1400, height: int = 900, wait_ms: int = 4000) -> Path:
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found: install Debian's `chromium` package to take browser captures")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(  # noqa: S603
            [
                browser,
                *QUIET_FLAGS,
                *LEAN_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium produced no screenshot for {url}")
    return out


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """A throwaway loopback HTTP server (the dbt docs page fetches manifest.json over HTTP)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def capture_dbt_docs(target_path: Path, out: Path, model: str = "model.countries.country_details_transform") -> Path:
    """The dbt docs site (`dbt docs generate` output in target_path) opened on one model."""
    with serve_directory(target_path) as base:
        return capture(f"{base}/index.html#!/model/{model}", out, wait_ms=6000)


@functools.cache
def notebook_exporter() -> object:
    """nbconvert's HTML exporter with JupyterLab's template, made once per process. Importing nbconvert
    and loading the template take ≈ 0.6 s: the walkthrough calls this early, on the capture thread, so
    the capture of 07's page does not pay it after 07 has run."""
    from nbconvert import HTMLExporter

    from helpers.notebooks import import_nbformat

    import_nbformat()  # nbconvert imports nbformat: without the grammar nbformat never uses (0.9 s)
    return HTMLExporter(template_name="lab")


def capture_notebook(notebook: Path, out: Path) -> Path:
    """A notebook rendered to HTML by nbconvert, as a reader sees it."""
    html, _ = notebook_exporter().from_filename(str(notebook))  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="nb-html-") as tmp:
        page = Path(tmp) / "notebook.html"
        page.write_text(html, encoding="utf-8")
        return capture(page.as_uri(), out, width=1200, height=1600)
