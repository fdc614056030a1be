"""One pipeline run at a time: an exclusive lock held for the whole of `Pipeline.run()`.

Two runs at once would interleave on shared state: the one landed S3 key, the Glue job (which
allows one run at a time anyway), the `_BUILD` schemas dbt builds into, and the run report. So a
run takes this lock first; a second run either fails at once with a message naming the run that
holds it (the default), or waits for it up to `Settings.run_lock_wait_seconds`.

Locally (and on any single machine) the lock is `fcntl.flock` on `<artifacts_dir>/pipeline.lock`.
The kernel releases it when the holding process exits, however it exits (crash, `kill -9`,
closed terminal), so a stale lock cannot block the next run; the file's content (who holds it)
is only information for the message. The dbt subprocess inherits the lock, so it stays held
until a killed run's child processes are gone too.

In a cloud deployment the runs do not share a machine, so a file lock is not enough. What to use
instead, from the outside in:
* the scheduler allows one active run (Airflow `max_active_runs=1`, a Step Functions execution
  started with a fixed name, a cron job on one host);
* the Glue job's `ExecutionProperty.MaxConcurrentRuns = 1` (set in helpers/glue_job.py): a second
  concurrent start fails with ConcurrentRunsExceededException, so two ingests never interleave;
* a lease in a shared store for the Snowflake part: a DynamoDB item written with a conditional
  put (`attribute_not_exists(pk) OR expires_at < :now`) and a TTL, or a one-row lock table in
  Snowflake updated in a transaction. Unlike flock, a lease must expire, because a dead holder
  cannot release it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, UTC
from pathlib import Path
from typing import Any


class RunLocked(RuntimeError):
    """Another pipeline run holds the lock."""


def lock_path(artifacts_dir: Path) -> Path:
    return artifacts_dir / "pipeline.lock"


def holder(path: Path) -> dict[str, Any]:
    """Who holds (or last held) the lock, as written by `acquire` (information only)."""
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    return (
        f"run {info.get('run_id', '?')} (target {info.get('target', '?')}, pid {info.get('pid', '?')}, "
        f"started {info.get('started_at', '?')})"
    )


@contextlib.contextmanager
def acquire(artifacts_dir: Path, run_id: str, target: str, wait_seconds: float = 0) -> Iterator[int]:
    """Hold the pipeline lock for the block; yields the lock's file descriptor (a child process
    given it with `pass_fds` keeps the lock held while it lives).

    Raises RunLocked at once (wait_seconds=0) or after waiting wait_seconds.
    """
    path = lock_path(artifacts_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait_seconds, 0)
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait_seconds:g}s" if wait_seconds > 0 else ""
                    raise RunLocked(
                        f"another pipeline run is in progress{waited}: {_describe(holder(path))} holds {path}. "
                        "Nothing was changed. Wait for it to finish and run again (or set "
                        "PIPELINE_RUN_LOCK_WAIT_SECONDS to wait). The lock is released as soon as that "
                        "process exits, even if it was killed, so there is nothing to clean up."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        info = {
            "run_id": run_id,
            "target": target,
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield fd
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
