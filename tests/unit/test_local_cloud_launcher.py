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


# -- ports -------------------------------------------------------------------------------------
def test_a_service_started_afresh_gets_the_same_port_for_the_same_state_dir(tmp_path):
    """dbt re-parses the whole project when its profile changes, and the local Snowflake port is in
    the profile: a fresh local cloud (`local down`, even `--wipe`) must come back on the same ports."""
    from helpers.settings import Settings

    cloud = launcher.LocalCloud(Settings(state_dir=tmp_path / "a"))
    first = {s: cloud.preferred_port(s) for s in launcher.SERVICES}
    again = launcher.LocalCloud(Settings(state_dir=tmp_path / "a"))
    assert {s: again.preferred_port(s) for s in launcher.SERVICES} == first
    assert all(p in launcher.STABLE_PORTS for p in first.values())
    assert len(set(first.values())) == len(first), "one port per service"
    others = {launcher.stable_port(tmp_path / f"worker{i}", "snowflake") for i in range(8)}
    assert len(others) > 1, "another state dir (another test worker) gets other ports"


def test_a_restarted_service_keeps_the_port_it_had(tmp_path):
    from helpers.settings import Settings

    cloud = launcher.LocalCloud(Settings(state_dir=tmp_path))
    tmp_path.mkdir(exist_ok=True)
    cloud._pidfile("snowflake").write_text('{"pid": 1, "port": 31999, "url": "http://127.0.0.1:31999"}')
    assert cloud.preferred_port("snowflake") == 31999
    cloud._forget("snowflake")
    assert cloud.preferred_port("snowflake") == launcher.stable_port(tmp_path, "snowflake")


def test_a_busy_preferred_port_falls_back_to_a_free_one():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert launcher._free_port(taken) != taken
    assert launcher._free_port(taken) == taken
