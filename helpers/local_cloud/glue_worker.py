"""Where the local Glue runs a Python-shell job's script: a fresh process per run, forked from a warm one.

AWS Glue starts each run in a fresh Python with boto3 among its preinstalled libraries
(https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html). A fresh `python script.py` here
cost ≈ 0.2 s per run only to start the interpreter and import boto3: more than half of a local job
run's 0.33 s (benchmarks/PERFORMANCE.md). Instead, multiprocessing's forkserver, with those
libraries imported once, forks each run's process. The script then runs as `python script.py` would
run it: as `__main__` in a namespace of its own (runpy: a name it does not import is a NameError, even
boto3), with only the run's environment, its argv, its working directory, stdout and stderr
unbuffered into files, and its own exit status. Nothing carries over from one run to the next but
the preloaded modules' code, since each run is a process of its own. (Handlers registered with
`atexit` do not run at the end; the ingest script registers none.)

The forkserver stops after IDLE_STOP_SECONDS without a run, so that it takes no memory between bursts
of runs (it counts in make demo's peak), and starts again with the next run.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys
import tempfile
import threading
from dataclasses import dataclass

# What the forkserver imports once: the libraries the ingest script imports beyond the standard library
# (preinstalled on Glue), and this server's main module, which every forked process imports as
# multiprocessing's __mp_main__.
PRELOADED = ("boto3", "boto3.s3.transfer", "urllib3", "helpers.local_cloud.aws_server")
IDLE_STOP_SECONDS = 5.0


@dataclass
class Finished:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def _child(script: str, argv: list[str], env: dict[str, str], cwd: str, out_path: str, err_path: str) -> None:
    """In the forked process: become `python script.py argv...` with `env`, then exit as it would."""
    import io
    import runpy
    import traceback

    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    # unbuffered, as PYTHONUNBUFFERED=1 (which the run's environment sets) makes them: a run killed at
    # its timeout keeps what it printed
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [script, *argv]
    sys.path[0] = os.path.dirname(script)  # as `python script.py` sets it
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise  # multiprocessing exits with its code, as the interpreter would (a str: printed, then 1)
    except BaseException as e:  # noqa: BLE001 - reported as the interpreter reports an uncaught exception
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next  # the traceback starts at the script, without runpy's and this module's frames
        traceback.print_exception(type(e), e, tb or e.__traceback__)
        raise SystemExit(1) from None


class GlueWorkers:
    """Runs job scripts in processes forked from a warm forkserver; safe to use from several threads."""

    def __init__(self, idle_stop_seconds: float = IDLE_STOP_SECONDS):
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(PRELOADED))
        self._idle_stop_seconds = idle_stop_seconds
        self._lock = threading.Lock()
        self._running = 0
        self._idle_timer: threading.Timer | None = None

    def run(self, script: str, argv: list[str], env: dict[str, str], cwd: str, timeout_s: float) -> Finished:
        with self._lock:
            self._running += 1
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        try:
            with tempfile.TemporaryDirectory(prefix="glue-output-") as out_dir:
                out_path, err_path = os.path.join(out_dir, "stdout"), os.path.join(out_dir, "stderr")
                process = self._context.Process(
                    target=_child, args=(script, argv, env, cwd, out_path, err_path), name="glue-job-run"
                )
                process.start()
                process.join(timeout_s)
                returncode = process.exitcode
                if process.is_alive():
                    process.kill()
                    process.join()
                    returncode = None
                process.close()
                return Finished(returncode, _read(out_path), _read(err_path))
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._idle_timer = threading.Timer(self._idle_stop_seconds, self._stop_if_idle)
                    self._idle_timer.daemon = True
                    self._idle_timer.start()

    def _stop_if_idle(self) -> None:
        with self._lock:
            if self._running == 0:
                self.stop()

    @staticmethod
    def stop() -> None:
        """Stop the forkserver (the next run starts it again). multiprocessing has no public call for it:
        `_stop` is the one its own tests use."""
        multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]

    @staticmethod
    def forkserver_pid() -> int | None:
        return multiprocessing.forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined, no-any-return]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


_WORKERS: GlueWorkers | None = None
_WORKERS_LOCK = threading.Lock()


def workers() -> GlueWorkers:
    """This process's one GlueWorkers (one forkserver, one idle timer)."""
    global _WORKERS
    with _WORKERS_LOCK:
        if _WORKERS is None:
            _WORKERS = GlueWorkers()
        return _WORKERS


def run_script(script: str, argv: list[str], env: dict[str, str], cwd: str, timeout_s: float) -> Finished:
    """`python script argv...` with exactly `env`, in `cwd`, killed after `timeout_s`: a Finished."""
    return workers().run(script, argv, env, cwd, timeout_s)
