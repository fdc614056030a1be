"""The launcher's liveness check (helpers/local_cloud/launcher.py): a PID file's process counts as
running only while it really runs; a zombie (exited, not yet reaped by its parent) does not."""

from __future__ import annotations

import subprocess
import sys
import time

from helpers.local_cloud import launcher


def test_a_running_process_is_alive_an_exited_one_is_not_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert launcher._alive(child.pid)
        assert child.stdin is not None
        child.stdin.close()  # it exits; not reaped (no wait() yet): a zombie
        deadline = time.monotonic() + 10
        while launcher._alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not launcher._alive(child.pid), "a zombie is not alive"
        assert child.returncode is None, "still unreaped: the zombie state was what was checked"
    finally:
        child.kill()
        child.wait()
    assert not launcher._alive(child.pid), "a reaped process is gone"
