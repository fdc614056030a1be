"""The benchmark's generator and RSS sampler (fast; no timing assertions)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path


from benchmarks import generator, sampler
from benchmarks.sampler import PeakRss, rss_bytes

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "helpers" / "fixtures" / "countries_sample.json"


def _ingest():
    spec = importlib.util.spec_from_file_location("countries_ingest_bench", ROOT / "glue" / "countries_ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic_unique_and_valid(tmp_path):
    source = generator.REAL_DATA if generator.REAL_DATA.exists() else FIXTURE
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    n = 3 * len(json.loads(source.read_text())) + 7
    info = generator.generate(n, a, source=source)
    generator.generate(n, b, source=source)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    records = json.loads(a.read_text())
    assert len(records) == info["records"] == n
    codes = [r["cca3"] for r in records]
    assert len(set(codes)) == n
    assert all(re.fullmatch(generator.CODE_PATTERN, c) for c in codes)
    ingest = _ingest()  # every generated record is one the Glue job loads (codes unique: above)
    code_re = re.compile(generator.CODE_PATTERN)
    assert [(r["cca3"], p) for r in records if (p := ingest.record_problems(r, code_re))] == []


def test_peak_rss_counts_this_process():
    with PeakRss(None, interval=0.05) as peak:
        blob = b"x" * (50 * 1024 * 1024)  # noqa: F841 - touched pages, held while sampled
        peak.sample()
    assert peak.total >= 50 * 1024 * 1024 and peak.groups["pipeline"] == peak.total
    # no state dir: this process's tree is the one group, read from /proc like any other
    assert peak.samples >= 2 and set(peak.groups) == {"pipeline"}
    assert rss_bytes(os.getpid()) >= 50 * 1024 * 1024  # the blob is still held


def test_peak_rss_counts_child_processes_in_their_roots_tree():
    """A child process (e.g. dbt or a notebook kernel) is in the pipeline group; a root given
    separately (a local-cloud server) is counted in its own group and not twice."""
    child = subprocess.Popen([sys.executable, "-c", "b = b'x' * (40 * 1024 * 1024); import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while sampler.rss_bytes(child.pid) < 40 * 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in sampler.tree([os.getpid()], sampler._children_map())
        peak = PeakRss(None, extra_roots={"server": child.pid})
        peak.sample()
        assert peak.groups["server"] >= 40 * 1024 * 1024
        assert peak.groups["pipeline"] < peak.total, "the child is counted once, in its own group"
    finally:
        child.kill()
        child.wait()
    assert sampler.rss_bytes(child.pid) == 0, "a process that is gone has no RSS"


def test_the_groups_at_the_peak_come_from_the_sample_where_the_total_peaked(monkeypatch):
    """Each group's own peak need not coincide with the total's; at_peak says what made the peak."""
    samples = iter([{"server": 100, "pipeline": 900}, {"server": 300, "pipeline": 200}])
    sizes: dict[int, int] = {}
    monkeypatch.setattr(sampler, "_children_map", lambda: {})
    monkeypatch.setattr(sampler, "rss_bytes", lambda pid: sizes[pid])
    peak = PeakRss(None, extra_roots={"server": -1})
    for sample in samples:
        sizes.update({-1: sample["server"], os.getpid(): sample["pipeline"]})
        peak.sample()
    assert peak.total == 1000
    assert peak.at_peak == {"server": 100, "pipeline": 900}
    assert peak.groups == {"server": 300, "pipeline": 900}


def test_a_measuring_process_can_leave_itself_out_and_still_count_its_children():
    """make demo's commands run as children of the benchmark, which only measures them."""
    blob = b"x" * (60 * 1024 * 1024)  # noqa: F841 - held while sampled: this process is large
    child = subprocess.Popen([sys.executable, "-c", "b = b'x' * (40 * 1024 * 1024); import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while sampler.rss_bytes(child.pid) < 40 * 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        # this process may have other children too (a pytest worker's local cloud): compare the two ways
        with_self, without_self = PeakRss(None), PeakRss(None, count_self=False)
        with_self.sample()
        without_self.sample()
        assert without_self.total >= 40 * 1024 * 1024, "the child still counts"
        assert with_self.total - without_self.total >= 50 * 1024 * 1024, "this process (60 MB held) does not"
    finally:
        child.kill()
        child.wait()


def test_each_figure_is_printed_next_to_its_limit():
    from benchmarks.__main__ import against_targets

    results = {
        "walkthrough": {"total_s": 90.6, "peak_rss_mb": 1500},
        "sizes": {"250": {"first_run": {"wall_s": 4.0}, "unchanged_rerun": {"wall_s": 1.0}}},
    }
    lines = {line.split("  ")[0].strip(): line for line in against_targets(results).splitlines()}
    assert "MISSED by 60.6 s (x3.0)" in lines["make demo: local up to the summary"]
    assert lines["make demo: peak RSS, all processes"].endswith("met")
    assert lines["250 records (the real file): first run"].endswith("met")
    assert "MISSED by 0.5 s" in lines["250 records: unchanged re-run"]
    assert lines["1M records: first run"].endswith("not measured")
    assert lines["make test"].endswith("not measured")
