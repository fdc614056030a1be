"""The walkthrough's kernels (helpers.notebooks._kernels): every notebook gets a kernel of its own,
the next one starts (and imports what its notebook imports) while the current notebook runs, and none
is left running afterwards. The warm-up leaves no name behind that a cell could use."""

from __future__ import annotations

import asyncio
import json

import nbformat
import pytest

from helpers import notebooks


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("import os  # prose, not code")] + [
        nbformat.v4.new_code_cell(c) for c in cells
    ]
    nbformat.write(nb, path)
    return path


def _run(km, code: str) -> str:
    """Run `code` in the kernel; what it printed."""
    kc = km.client()
    kc.start_channels()
    out: list[str] = []
    try:
        asyncio.run(kc.wait_for_ready(timeout=60))
        reply = asyncio.run(
            kc.execute_interactive(
                code,
                timeout=60,
                output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
            )
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
    return "".join(out)


NAMES_AND_MODULES = (
    "import json as _j, sys as _s\n"
    "print(_j.dumps({'names': sorted(k for k in globals() if not k.startswith('_')),"
    " 'fractions': 'fractions' in _s.modules, 'tomllib': 'tomllib' in _s.modules}))"
)


def test_warm_imports_are_the_notebooks_import_statements_then_the_clients(tmp_path):
    path = _notebook(
        tmp_path / "00_x.ipynb",
        "import json\nimport pandas as pd",
        "from helpers import figures, warehouse\nfrom helpers.walkthrough import open_notebook",
        "def f():\n    import fractions  # inside a function: still a module the notebook uses",
        "%time x = 1",  # not plain Python: nothing from this cell
        "from . import sibling\nfrom os.path import *",
        "import json",  # once only
    )
    assert notebooks.warm_imports(path) == [
        "json",
        "pandas",
        "helpers",
        "helpers.figures",
        "helpers.warehouse",
        "helpers.walkthrough",
        "helpers.walkthrough.open_notebook",  # may not be a module: the warm-up skips what fails
        "fractions",
        "os.path",
        *notebooks.CLIENT_MODULES,
    ]


def test_a_warm_kernel_has_the_modules_imported_and_no_name_a_cold_one_lacks(tmp_path):
    """The modules are in sys.modules before the first cell runs, and the cells' namespace is the
    same as in a kernel started without a warm-up: a cell that forgets an import still fails."""
    from jupyter_client.manager import AsyncKernelManager

    path = _notebook(tmp_path / "01_x.ipynb", "import fractions\nimport no_such_module_anywhere")
    with notebooks._kernels() as kernel_for:
        warm = kernel_for(path)
        try:
            warm_state = json.loads(_run(warm, NAMES_AND_MODULES))
        finally:
            asyncio.run(warm.shutdown_kernel(now=True))
    cold = AsyncKernelManager(kernel_name="python3")
    asyncio.run(cold.start_kernel(cwd=str(notebooks.NOTEBOOKS_DIR)))
    try:
        cold_state = json.loads(_run(cold, NAMES_AND_MODULES))
    finally:
        asyncio.run(cold.shutdown_kernel(now=True))
    assert warm_state["fractions"] and not cold_state["fractions"]  # imported by the warm-up only
    assert not warm_state["tomllib"]  # a module the notebook does not name is not imported
    assert warm_state["names"] == cold_state["names"]  # the module that failed did not stop the rest
    assert "fractions" not in warm_state["names"]


def test_each_notebook_gets_a_fresh_kernel_and_none_outlives_the_run(tmp_path):
    first_nb, second_nb = _notebook(tmp_path / "00_a.ipynb", "x = 1"), _notebook(tmp_path / "01_b.ipynb", "y = 2")
    started = []
    with notebooks._kernels() as kernel_for:
        first = kernel_for(first_nb, then=second_nb)
        second = kernel_for(second_nb)
        started = [first, second]
        assert first is not second
        assert all(asyncio.run(km.is_alive()) for km in started), "the second started while the first ran"
        kernel_for.stop(first)  # what _run_one does after its notebook: on a thread, not waited for
        kernel_for.stop(second)
    # leaving _kernels waits until every kernel stopped
    assert not any(asyncio.run(km.is_alive()) for km in started)


def _wait_for_iopub_message(kc, seconds: float = 30) -> bool:
    import time

    from jupyter_core.utils import run_sync

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if run_sync(kc.iopub_channel.msg_ready)():
            return True
        time.sleep(0.05)
    return False


def test_the_first_client_subscribed_as_the_kernel_started_and_needs_no_readiness_wait(tmp_path):
    """nbclient's client is the one subscribed to IOPub as the kernel started: the kernel's
    iopub_welcome (JEP 65) is waiting for it, so its wait_for_ready sends no kernel_info. A later
    client has no such proof and goes through jupyter_client's own readiness check."""
    from jupyter_core.utils import run_sync

    path = _notebook(tmp_path / "00_a.ipynb", "x = 1")
    with notebooks._kernels() as kernel_for:
        km = kernel_for(path)
        early = km.client()
        assert _wait_for_iopub_message(early), "the early subscription got no message from the kernel"
        sent: list[str] = []
        early.kernel_info = lambda *a, **k: sent.append("kernel_info")  # what the full readiness check sends
        early.start_channels()
        run_sync(early.wait_for_ready)(timeout=60)
        assert sent == []
        # the proof was the kernel's answer to the subscription (a kernel busy importing may publish
        # its start-up output, e.g. a warning on stderr, before it): it is among what arrived
        kinds = []
        while "iopub_welcome" not in kinds and len(kinds) < 50:
            kinds.append(run_sync(early.iopub_channel.get_msg)(timeout=10)["msg_type"])
        assert "iopub_welcome" in kinds, kinds
        early.stop_channels()

        later = km.client()
        assert later is not early and later._iopub_channel is None  # nobody subscribed it early
        later.start_channels()
        run_sync(later.wait_for_ready)(timeout=60)  # the full check: kernel_info answered, IOPub live
        later.stop_channels()
        kernel_for.stop(km)


def test_a_kernel_that_died_before_its_notebook_ran_fails_the_notebook_instead_of_hanging(tmp_path):
    """Skipping the readiness wait must not hide a dead kernel: nbclient checks the kernel while it
    waits for the first cell's reply."""
    import os
    import signal

    path = _notebook(tmp_path / "00_a.ipynb", "x = 1")
    with notebooks._kernels() as kernel_for:
        km = kernel_for(path)
        assert _wait_for_iopub_message(km._early_client)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        with pytest.raises(Exception, match="(?i)dead|died"):
            notebooks._run_one(path, 1, 1, km, kernel_for.stop, tmp_path / "out", None, False, lambda _m: None)


def test_a_kernel_started_for_a_notebook_that_never_runs_is_stopped(tmp_path):
    first_nb, second_nb = _notebook(tmp_path / "00_a.ipynb", "x = 1"), _notebook(tmp_path / "01_b.ipynb", "y = 2")
    with pytest.raises(RuntimeError), notebooks._kernels() as kernel_for:
        current = kernel_for(first_nb, then=second_nb)
        asyncio.run(current.shutdown_kernel(now=True))
        raise RuntimeError("the notebook failed")  # the next notebook's kernel is already starting
    # _kernels stopped the pending one: no kernel process is left
    import psutil

    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert not kernels, kernels


def test_a_kernel_whose_notebook_failed_before_stopping_it_is_stopped_on_leaving(tmp_path):
    import psutil

    path = _notebook(tmp_path / "00_a.ipynb", "x = 1")
    with pytest.raises(RuntimeError), notebooks._kernels() as kernel_for:
        km = kernel_for(path)
        assert asyncio.run(km.is_alive())
        raise RuntimeError("failed before its kernel was stopped")
    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert not kernels, kernels


def test_the_runner_imports_papermill_without_its_s3_and_hdfs_handlers_and_can_import_them_after():
    """≈ 60 MB less in the process that runs beside every kernel and the dbt docs capture (make demo's
    peak), and ≈ 0.9 s less CPU (rfc3987_syntax's grammar); papermill says which dependency is missing
    if an s3:// path is ever used; nbformat still validates; later imports of boto3, pyarrow and
    rfc3987_syntax in the same process work as usual."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from helpers import notebooks\n"
        "notebooks.import_papermill()\n"
        "print('pyarrow' in sys.modules, 'boto3' in sys.modules, 'rfc3987_syntax' in sys.modules)\n"
        "import nbformat\n"
        "nb = nbformat.v4.new_notebook()\n"
        "nbformat.validate(nb)\n"
        "nb.cells = [{'cell_type': 'code'}]\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    print('invalid-refused')\n"
        "from papermill.iorw import papermill_io\n"
        "try:\n"
        "    papermill_io.read('s3://bucket/notebook.ipynb')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
        "import pyarrow, boto3, rfc3987_syntax\n"
        "print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", "invalid-refused", "PapermillOptionalDependencyException", "imported"]


def test_kernel_chatter_goes_to_the_log_and_this_process_keeps_its_stderr(tmp_path):
    """The runner's progress lines ([3/9] 02_glue_ingest.ipynb done in ...) go to its stderr: they
    must reach the reader's console, while what the kernels print on theirs goes to kernels.log."""
    import os

    path = _notebook(tmp_path / "00_a.ipynb", "x = 1")
    log = tmp_path / "kernels.log"
    before = os.fstat(2)
    with notebooks._kernels(stderr_log=log) as kernel_for:
        km = kernel_for(path)
        assert os.fstat(2).st_ino == before.st_ino  # our stderr is where it was
        _run(km, "import sys; print('kernel chatter', file=sys.__stderr__, flush=True)")
        asyncio.run(km.shutdown_kernel(now=True))
    assert "kernel chatter" in log.read_text()
