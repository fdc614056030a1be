"""Peak RSS summed over a set of process trees, sampled (psutil) every ~0.2 s in a thread.

The trees: this process (the pipeline, dbt and notebook-kernel subprocesses, the baseline
subprocess) plus each local-cloud server (from the launcher's PID files: moto with the Glue-script
subprocesses it starts, fakesnow, the source server). RSS summed over processes counts pages
shared between them (e.g. the Python runtime's shared libraries) once per process: an upper bound.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import psutil


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):  # a process gone meanwhile is left out
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    return children


def tree(roots: list[int], children: dict[int, list[int]]) -> set[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(children.get(pid, []))
    return seen


def rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:  # gone, or not ours to read
        return 0


def local_cloud_pids(state_dir: Path) -> dict[str, int]:
    out = {}
    for service in ("aws", "snowflake", "source"):
        try:
            out[service] = json.loads((state_dir / f"{service}.pid").read_text())["pid"]
        except (OSError, ValueError, KeyError):
            pass
    return out


class PeakRss:
    """with PeakRss(state_dir) as peak: ...; then peak.total, peak.groups (per-group peaks, which need not
    coincide) and peak.at_peak (each group's RSS in the sample where the total peaked)."""

    def __init__(
        self,
        state_dir: Path | None = None,
        interval: float = 0.2,
        extra_roots: dict[str, int] | None = None,
        count_self: bool = True,
    ):
        """count_self=False: this process only measures (the work runs in its child processes, as in
        `make demo`'s own commands), so its RSS is left out; its children still count."""
        self.state_dir, self.interval, self.count_self = state_dir, interval, count_self
        self.extra_roots = extra_roots or {}
        self.total = 0
        self.groups: dict[str, int] = {}
        self.at_peak: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def sample(self) -> None:
        # the local cloud's servers first: when this process started them they are its children,
        # and must not be counted in the "pipeline" group
        roots = dict(local_cloud_pids(self.state_dir)) if self.state_dir is not None else {}
        roots.update(self.extra_roots)
        roots["pipeline"] = os.getpid()
        children = _children_map()
        counted: set[int] = set()
        total = 0
        now: dict[str, int] = {}
        for group, root in roots.items():
            pids = tree([root], children) - counted
            counted |= pids
            if group == "pipeline" and not self.count_self:
                pids.discard(root)
            rss = sum(rss_bytes(p) for p in pids)
            total += rss
            now[group] = rss
            self.groups[group] = max(self.groups.get(group, 0), rss)
        if total > self.total:
            self.total, self.at_peak = total, now
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def to_json(self) -> dict:
        mb = 1024 * 1024
        return {
            "peak_rss_mb": round(self.total / mb),
            "peak_rss_mb_by_group": {k: round(v / mb) for k, v in self.groups.items()},
            "at_peak_rss_mb_by_group": {k: round(v / mb) for k, v in self.at_peak.items()},
            "samples": self.samples,
        }


def load() -> str:
    """`uptime`'s load averages, to note next to each figure."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def now() -> float:
    return time.monotonic()
