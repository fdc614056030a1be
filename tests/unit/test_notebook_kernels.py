"""The walkthrough's kernels (helpers.notebooks._kernels): every notebook gets a kernel of its own,
the next one starts while the current notebook runs, and none is left running afterwards."""

from __future__ import annotations

import asyncio

import pytest

from helpers import notebooks


def test_each_notebook_gets_a_fresh_kernel_and_none_outlives_the_run():
    started = []
    with notebooks._kernels() as next_kernel:
        first = next_kernel(another=True)
        second = next_kernel(another=False)
        started = [first, second]
        assert first is not second
        assert all(asyncio.run(km.is_alive()) for km in started), "the second started while the first ran"
        asyncio.run(first.shutdown_kernel(now=True))  # what _run_one does after its notebook
        asyncio.run(second.shutdown_kernel(now=True))
    assert not any(asyncio.run(km.is_alive()) for km in started)


def test_a_kernel_started_for_a_notebook_that_never_runs_is_stopped():
    with pytest.raises(RuntimeError), notebooks._kernels() as next_kernel:
        current = next_kernel(another=True)
        asyncio.run(current.shutdown_kernel(now=True))
        raise RuntimeError("the notebook failed")  # the next notebook's kernel is already starting
    # _kernels stopped the pending one: no kernel process is left
    import psutil

    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert not kernels, kernels
