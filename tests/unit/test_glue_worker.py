"""The local Glue's job processes (helpers/local_cloud/glue_worker.py): forked from a warm forkserver,
each run exits as `python script.py` would, a run over its timeout is killed with what it printed
kept, and the forkserver stops when idle and starts again with the next run."""

from __future__ import annotations

import os
import time

from helpers.local_cloud import glue_worker


def _script(tmp_path, source: str):
    path = tmp_path / "job.py"
    path.write_text(source)
    return str(path)


ENV = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
# the forkserver is one per process: a GlueWorkers whose idle timer fired in the middle of another
# test's run would stop it under that run, so the tests that do not test the idle stop never reach it
NEVER_IDLE = 3600.0


def test_exit_statuses_are_those_of_the_interpreter(tmp_path):
    workers = glue_worker.GlueWorkers(idle_stop_seconds=NEVER_IDLE)
    ok = workers.run(_script(tmp_path, "print('hi')\n"), [], ENV, str(tmp_path), timeout_s=60)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "hi\n", "")
    code = workers.run(_script(tmp_path, "import sys\nsys.exit(3)\n"), [], ENV, str(tmp_path), timeout_s=60)
    assert code.returncode == 3
    text = workers.run(_script(tmp_path, "import sys\nsys.exit('ERROR: no such file')\n"), [], ENV, str(tmp_path), 60)
    assert (text.returncode, text.stderr) == (1, "ERROR: no such file\n")
    args = workers.run(_script(tmp_path, "import sys\nprint(sys.argv[1:])\n"), ["--a", "1"], ENV, str(tmp_path), 60)
    assert args.stdout == "['--a', '1']\n"


def test_a_run_over_its_timeout_is_killed_and_keeps_what_it_printed(tmp_path):
    workers = glue_worker.GlueWorkers(idle_stop_seconds=NEVER_IDLE)
    script = _script(tmp_path, "import time\nprint('started')\ntime.sleep(60)\nprint('never')\n")
    started = time.monotonic()
    finished = workers.run(script, [], ENV, str(tmp_path), timeout_s=1)
    assert finished.timed_out and finished.returncode is None
    assert finished.stdout == "started\n"
    assert time.monotonic() - started < 30  # killed, not waited for


def test_the_forkserver_stops_when_idle_and_the_next_run_starts_it_again(tmp_path):
    workers = glue_worker.GlueWorkers(idle_stop_seconds=0.3)
    script = _script(tmp_path, "print('run')\n")
    assert workers.run(script, [], ENV, str(tmp_path), timeout_s=60).stdout == "run\n"
    first = workers.forkserver_pid()
    assert first is not None
    deadline = time.monotonic() + 20
    while workers.forkserver_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers.forkserver_pid() is None
    assert not os.path.exists(f"/proc/{first}")
    assert workers.run(script, [], ENV, str(tmp_path), timeout_s=60).stdout == "run\n"
    workers.stop()
