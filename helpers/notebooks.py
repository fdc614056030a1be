"""Run the numbered notebooks headlessly with papermill, in order, stopping at the first failure.

Executed copies go to artifacts/notebooks/ (git-ignored) for a reader to open. `--update-committed`
writes the outputs back into notebooks/ instead, cleaned so GitHub shows a complete walkthrough:
no papermill timing metadata, no local absolute paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.settings import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
Echo = Callable[[str], None]


DBT_LOG_LINE = re.compile(r"^\s*\d{2}:\d{2}:\d{2}\s")


def notebook_echo(message: str) -> None:
    """`print` for the pipeline's progress in a notebook, without dbt's per-node log lines: with 4
    threads their order changes from run to run, and the notebook shows dbt's results as a table."""
    if not DBT_LOG_LINE.match(message):
        print(message)


class NotebookFailed(RuntimeError):
    pass


@dataclass
class NotebookRun:
    name: str
    seconds: float
    output: Path


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def _clean(path: Path) -> None:
    """Drop run-specific metadata and make paths relative, so the committed file changes only when
    what a reader sees changes. nbformat reads, validates and writes it: the same bytes as Jupyter
    and papermill write (sorted keys, one-space indent, multi-line text as a list of lines)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    local_root = re.compile(re.escape(str(PROJECT_ROOT)) + "/?")
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if "text" in output:  # nbformat joins a stream's lines into one string
                output.text = local_root.sub("", output.text)
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") and isinstance(value, str):
                    output.data[key] = local_root.sub("", value)
    nbformat.validate(nb)
    nbformat.write(nb, path)


@contextlib.contextmanager
def _kernel_stderr_to(log: Path) -> Iterator[None]:
    """Kernels inherit our stderr and chatter on it (transport warnings, the interrupt at shutdown);
    send it to a log file instead of the reader's console. Cell errors still come back as exceptions."""
    saved = os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_notebooks(
    output_dir: Path | None = None,
    parameters: dict[str, dict[str, Any]] | None = None,
    update_committed: bool = False,
    echo: Echo | None = None,
) -> list[NotebookRun]:
    """Execute every notebook in order. `parameters` maps a notebook's file name to the papermill
    parameters it gets (e.g. {"08_teardown.ipynb": {"confirm": True}}); the others run with their own."""
    echo = echo or (lambda _m: None)
    output_dir = output_dir or PROJECT_ROOT / "artifacts" / "notebooks"
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = notebook_paths()
    runs: list[NotebookRun] = []
    with _kernel_stderr_to(output_dir / "kernels.log"), _kernels() as next_kernel:
        for i, path in enumerate(paths, start=1):
            km = next_kernel(another=i < len(paths))
            runs.append(_run_one(path, i, len(paths), km, output_dir, parameters, update_committed, echo))
    return runs


@contextlib.contextmanager
def _kernels() -> Iterator[Callable[..., Any]]:
    """A fresh, already started kernel for each notebook, and the next one starting meanwhile: a
    kernel takes ~0.7 s to start, which the previous notebook's run hides. Each kernel runs one
    notebook only (nothing carries over); the one left unused at the end is stopped."""
    from jupyter_client.manager import AsyncKernelManager

    def start() -> Any:
        km = AsyncKernelManager(kernel_name="python3")
        asyncio.run(km.start_kernel(cwd=str(NOTEBOOKS_DIR)))
        return km

    pending: list[Any] = []

    def next_kernel(another: bool) -> Any:
        km = pending.pop() if pending else start()
        if another:  # the next notebook's kernel starts while this one runs
            pending.append(start())
        return km

    try:
        yield next_kernel
    finally:
        for km in pending:
            asyncio.run(km.shutdown_kernel(now=True))


def _run_one(
    path: Path,
    i: int,
    total: int,
    km: Any,
    output_dir: Path,
    parameters: dict[str, dict[str, Any]] | None,
    update_committed: bool,
    echo: Echo,
) -> NotebookRun:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = path if update_committed else output_dir / path.name
    echo(f"[{i}/{total}] {path.name} ...")
    started = time.monotonic()
    try:
        try:
            papermill.execute_notebook(
                str(path),
                str(out),
                parameters=(parameters or {}).get(path.name, {}),
                kernel_name="python3",
                km=km,  # started by _kernels() in NOTEBOOKS_DIR; nbclient uses it and leaves stopping it to us
                progress_bar=False,
                request_save_on_cell_execute=False,
            )
        finally:
            # every output is in once the last cell has run: stop the kernel at once instead of waiting
            # up to 2.6 s for it to wind down (its local-cloud servers run in sessions of their own)
            asyncio.run(km.shutdown_kernel(now=True))
    except PapermillExecutionError as e:
        raise NotebookFailed(
            f"{path.name} failed in cell {e.exec_count} ({e.ename}: {e.evalue}); the executed copy "
            f"with the traceback is {out}"
        ) from None
    if update_committed:
        _clean(out)
    run = NotebookRun(path.name, round(time.monotonic() - started, 2), out)
    echo(f"[{i}/{total}] {path.name} done in {run.seconds:.1f}s")
    return run
