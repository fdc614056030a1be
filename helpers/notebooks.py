"""Run the numbered notebooks headlessly with papermill, in order, stopping at the first failure.

Executed copies go to artifacts/notebooks/ (git-ignored) for a reader to open. `--update-committed`
writes the outputs back into notebooks/ instead, cleaned so GitHub shows a complete walkthrough:
no papermill timing metadata, no local absolute paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
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
    nbformat = import_nbformat()
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


def run_notebooks(
    output_dir: Path | None = None,
    parameters: dict[str, dict[str, Any]] | None = None,
    update_committed: bool = False,
    echo: Echo | None = None,
    on_done: Callable[[NotebookRun], None] | None = None,
) -> list[NotebookRun]:
    """Execute every notebook in order. `parameters` maps a notebook's file name to the papermill
    parameters it gets (e.g. {"08_teardown.ipynb": {"confirm": True}}); the others run with their own.
    `on_done` is called with each notebook's run as it finishes, before the next one starts."""
    echo = echo or (lambda _m: None)
    output_dir = output_dir or PROJECT_ROOT / "artifacts" / "notebooks"
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = notebook_paths()
    runs: list[NotebookRun] = []
    with _kernels(stderr_log=output_dir / "kernels.log") as kernel_for:
        for i, path in enumerate(paths, start=1):
            km = kernel_for(path, then=paths[i] if i < len(paths) else None)
            runs.append(
                _run_one(path, i, len(paths), km, kernel_for.stop, output_dir, parameters, update_committed, echo)
            )
            if on_done is not None:
                on_done(runs[-1])
    return runs


# Loaded lazily by the helpers the setup cell of every notebook calls (an AWS client, a Snowflake
# session), so a notebook's own import statements do not name them; ≈ 1 s to import, the connector most.
CLIENT_MODULES = ("boto3", "snowflake.connector")


def warm_imports(path: Path) -> list[str]:
    """What a notebook's kernel imports as it starts, before the notebook runs: every module its code
    cells import (their import statements, read, not run; `from a import b` tries `a.b` as a module
    too), then CLIENT_MODULES. A cell that is not plain Python (a magic) adds nothing."""
    import ast

    nbformat = import_nbformat()
    found: dict[str, None] = {}  # ordered, no repeats
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(dict.fromkeys(a.name for a in node.names))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found[node.module] = None
                found.update(dict.fromkeys(f"{node.module}.{a.name}" for a in node.names if a.name != "*"))
    found.update(dict.fromkeys(CLIENT_MODULES))
    return list(found)


def warm_up_line(modules: list[str]) -> str:
    """The kernel's start-up line (IPKernelApp.exec_lines) that imports `modules`. It runs in a namespace
    of its own (exec(..., {})), so the notebook's namespace gets no names from it: the cells still
    import what they use, and a name a cell forgets to import is still a NameError. A module that
    fails to import is skipped here; the cell that imports it shows the real error."""
    code = (
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        pass\n"
    )
    return f"exec({code!r}, {{}})"


class _Kernels:
    """`kernels(path, then=next_path)`: a fresh, started kernel for the notebook `path`, and the kernel
    for `next_path` starting meanwhile; `kernels.stop(km)` stops a kernel whose notebook has run.
    See `_kernels`."""

    def __init__(self, log: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.log = log
        self.pending: dict[Path, Any] = {}
        self.handed_out: list[Any] = []  # kernels given for a notebook and not stopped yet
        # a kernel is stopped on a thread of its own: killing it takes ≈ 0.1 s (jupyter_client checks
        # every 0.1 s whether the process has gone), which the next notebook need not wait for
        self.stopper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel-stop")
        self.stopping: list[Any] = []

    def start(self, path: Path) -> Any:
        km = _kernel_manager_class()(kernel_name="python3")
        warm = f"--IPKernelApp.exec_lines={warm_up_line(warm_imports(path))}"
        asyncio.run(km.start_kernel(cwd=str(NOTEBOOKS_DIR), extra_arguments=[warm], stderr=self.log))
        km.subscribe_early()
        return km

    def __call__(self, path: Path, then: Path | None = None) -> Any:
        km = self.pending.pop(path, None) or self.start(path)
        self.handed_out.append(km)
        if then is not None:  # the next notebook's kernel starts (and imports) while this one runs
            self.pending[then] = self.start(then)
        return km

    def stop(self, km: Any) -> None:
        if km in self.handed_out:
            self.handed_out.remove(km)
        self.stopping.append(self.stopper.submit(asyncio.run, km.shutdown_kernel(now=True)))

    def close(self) -> None:
        """Stop the kernels never used, and those given out but not stopped (a failure between), then
        wait until every kernel has stopped."""
        for km in [*self.pending.values(), *self.handed_out]:
            self.stop(km)
        self.pending.clear()
        self.stopper.shutdown(wait=True)
        for stopped in self.stopping:
            stopped.result()  # a kernel that could not be stopped is an error, not a leftover


@contextlib.contextmanager
def _kernels(stderr_log: Path | None = None) -> Iterator[_Kernels]:
    """`kernel_for(path, then=next_path)`: a fresh, started kernel for the notebook `path`, and the
    kernel for `next_path` starting meanwhile. A kernel takes ~0.7 s to start and its notebook's imports
    ~1-1.5 s more (warm_imports): the previous notebook's run hides both. Each kernel runs one
    notebook only (nothing carries over but imported modules, which no cell can see); `kernel_for.stop`
    stops one once its notebook has run, and on leaving every kernel has stopped, the ones left unused
    too. Kernels chatter on stderr (transport warnings, the interrupt at shutdown): with `stderr_log`
    it goes there instead of the reader's console, while this process's own stderr (the progress
    lines) stays on the console. Cell errors still come back as exceptions."""
    log = open(stderr_log, "ab") if stderr_log is not None else None  # noqa: SIM115 - closed below
    kernels = _Kernels(log)
    try:
        yield kernels
    finally:
        try:
            kernels.close()
        finally:
            if log is not None:
                log.close()


@functools.cache
def _kernel_manager_class() -> type:
    """AsyncKernelManager whose first client() is one subscribed to IOPub as the kernel started
    (`subscribe_early`), and whose clients skip the wait for readiness once IOPub is proven live.

    Why: nbclient makes its client as the notebook starts and waits until it is ready (jupyter_client's
    wait_for_ready): a kernel_info reply on shell, one message on IOPub (proof that the subscription is
    live, so no output is lost), then IOPub drained until 0.2 s pass without a message. That is 0.2 s or
    more per notebook, ≈ 2 s of make demo. A client subscribed seconds earlier has the kernel's
    `iopub_welcome` (JEP 65: the kernel's answer to a new subscription) waiting, which is the same proof,
    so it does not wait. nbclient then sends the first cell at once; a kernel still starting answers it
    when ready, and a dead kernel is still reported (nbclient checks the kernel while it waits for a
    reply). A client without that proof (any later client()) waits as before."""
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class SubscribedClient(AsyncKernelClient):  # type: ignore[misc]
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            if self._iopub_channel is not None and await self._iopub_channel.msg_ready():
                return
            await super().wait_for_ready(timeout=timeout)

    class EarlySubscribedKernelManager(AsyncKernelManager):  # type: ignore[misc]
        _early_client: Any = None

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.client_factory = SubscribedClient

        def subscribe_early(self) -> None:
            self._early_client = super().client()
            self._early_client.iopub_channel  # noqa: B018 - creating the channel connects and subscribes

        def client(self, **kwargs: Any) -> Any:
            if self._early_client is not None and not kwargs:
                kc, self._early_client = self._early_client, None
                return kc
            return super().client(**kwargs)

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            if self._early_client is not None:  # never handed out: close the socket it opened
                self._early_client.iopub_channel.close()
                self._early_client = None
            await super().shutdown_kernel(now=now, restart=restart)

    return EarlySubscribedKernelManager


def import_nbformat() -> Any:
    """nbformat, its jsonschema without the `iri` format checker (helpers.optional_imports.IRI_GRAMMARS:
    ≈ 0.9 s of CPU while the first kernels start)."""
    from helpers import optional_imports

    with optional_imports.unimportable(optional_imports.IRI_GRAMMARS):
        import nbformat
    return nbformat


def import_papermill() -> Any:
    """papermill as if boto3 and pyarrow were not installed (helpers.optional_imports.PAPERMILL_REMOTE_HANDLERS:
    ≈ 60 MB of the runner's RSS, which counts in make demo's peak): its S3 and HDFS handlers say so if
    used (papermill's own missing-dependency path); and nbformat as import_nbformat imports it."""
    from helpers import optional_imports

    import_nbformat()
    with optional_imports.unimportable(optional_imports.PAPERMILL_REMOTE_HANDLERS):
        import papermill
    return papermill


def _run_one(
    path: Path,
    i: int,
    total: int,
    km: Any,
    stop: Callable[[Any], None],
    output_dir: Path,
    parameters: dict[str, dict[str, Any]] | None,
    update_committed: bool,
    echo: Echo,
) -> NotebookRun:
    papermill = import_papermill()
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
            stop(km)
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
