"""dbt: run the project in dbt_project/ against a target, and read what it reports.

dbt runs in this process through its programmatic entry point (dbtRunner: no CLI start-up, and the
project parsed once per process), with the same arguments, connection settings (environment
variables profiles.yml reads) and finite Snowflake network timeout as its CLI started through
helpers/dbt_entry.py, which is how a data engineer runs it by hand; results come from dbt's answer,
in run_results.json's form.

The pipeline builds into the `_BUILD` schemas (`build()`): the load step has already filled
RAW_BUILD.COUNTRIES_COPY (sql/04_load.sql), dbt builds RAW_BUILD, TRANSFORM_BUILD and MART_BUILD
and tests them, source tests included, and only then does helpers/publish.py swap each build schema
with the schema users query.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import dbt_entry
from helpers.publish import BUILD_SUFFIX, LAYERS
from helpers.settings import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_TIMEOUT_SECONDS = 30 * 60  # a dbt run that takes longer has its queries cancelled, never waited on forever


class DbtFailed(RuntimeError):
    """dbt did not succeed; `result` (when dbt ran) has its per-node results."""

    def __init__(self, message: str, result: DbtResult | None = None):
        super().__init__(message)
        self.result = result


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    target_path: Path
    results: list[dict[str, Any]] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def counts(self) -> dict[str, dict[str, int]]:
        """{"model": {"success": 11}, "test": {"pass": 30}, ...}, sorted by kind and status: dbt runs nodes
        on several threads, so the order results finish in (and so a dict built from it) varies run to run."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            kind = r["unique_id"].split(".")[0]
            out.setdefault(kind, {}).setdefault(r["status"], 0)
            out[kind][r["status"]] += 1
        return {kind: dict(sorted(statuses.items())) for kind, statuses in sorted(out.items())}

    def failures(self) -> list[dict[str, Any]]:
        """Every node that did not succeed; a failing column test also names the column it tests,
        its model and the column's description (which says the source field, e.g. name.official)."""
        nodes = self._manifest_nodes()
        out = []
        for r in self.results:
            if r["status"] in {"success", "pass", "skipped"}:
                continue
            failure = {"node": r["unique_id"], "status": r["status"], "message": r.get("message")}
            node = nodes.get(r["unique_id"], {})
            column, model = node.get("column_name"), node.get("attached_node")
            if column and model:
                described = nodes.get(model, {}).get("columns", {}).get(column, {}).get("description", "")
                failure["tests"] = f"column {column} of {model.split('.')[-1]}" + (
                    f" ({' '.join(described.split())})" if described else ""
                )
            out.append(failure)
        return out

    def _manifest_nodes(self) -> dict[str, Any]:
        try:
            return json.loads((self.target_path / "manifest.json").read_text()).get("nodes", {})
        except (OSError, ValueError):
            return {}

    def describe_failures(self) -> str:
        failures = self.failures()
        if not failures:
            return "\n".join(self.log_tail[-20:])
        return "\n".join(
            f"  {f['status']}: {f['node']}: {f['message']}" + (f"\n    tests {f['tests']}" if f.get("tests") else "")
            for f in failures
        )


def dbt_command() -> list[str]:
    """The CLI command that runs what run_dbt runs (plans, DbtResult.command, by hand): dbt's own CLI
    with a finite Snowflake network timeout (dbt_entry.py). run_dbt itself runs dbt in this process."""
    return [sys.executable, "-m", "helpers.dbt_entry"]


# dbt keeps its flags, adapters and loggers in module globals and its docs say an in-process
# invocation is not safe alongside another one: one at a time per process
# (https://docs.getdbt.com/reference/programmatic-invocations)
_INVOCATION = threading.Lock()
# per target path: (what the manifest was parsed from, the parsed manifest). The parse writes only
# partial_parse.msgpack: the commands that run nodes (build, run, test, compile, docs generate) write
# manifest.json themselves as they finish, so writing it at the parse too cost every process's first
# invocation ≈ 0.5 s for nothing (ls and run-operation write none: they leave the last one written)
_MANIFESTS: dict[Path, tuple[str, Any]] = {}
_NO_MANIFEST = {"parse", "deps", "clean", "debug", "init"}  # commands that parse nothing or parse themselves


class _Lines(io.TextIOBase):
    """The stream dbt's console log writes to: each whole line goes to the tail and to `on_line`.
    dbt logs from its worker threads, so lines are handled one at a time. An exception from
    `on_line` is kept (dbt's logging would swallow it) and raised once dbt has stopped."""

    def __init__(self, on_line: Callable[[str], None] | None = None):
        self.tail: deque[str] = deque(maxlen=60)
        self.on_line = on_line
        self.error: BaseException | None = None
        self.on_error: Callable[[], None] = lambda: None
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
            for line in lines:
                self._line(line)
        return len(text)

    def close_lines(self) -> None:
        with self._lock:
            if self._partial:
                self._line(self._partial)
                self._partial = ""

    def _line(self, line: str) -> None:
        self.tail.append(line)
        if self.on_line is not None and self.error is None:
            try:
                self.on_line(line)
            except BaseException as e:  # noqa: BLE001 - re-raised by run_dbt once dbt has stopped
                self.error = e
                self.on_error()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` for the invocation (profiles.yml and the models read env_var()), then as it was."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _console_to(lines: _Lines) -> Iterator[None]:
    """dbt's console log goes to `lines` instead of sys.stdout (where the subprocess's output went:
    to the caller's `on_line`, never straight into a notebook); its file log still goes to
    <target>/logs/dbt.log. Afterwards both log files/streams are released."""
    from dbt_common.events.event_manager_client import cleanup_event_logger, get_event_manager
    from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

    capture_stdout_logs(lines)
    try:
        yield
    finally:
        stop_capture_stdout_logs()
        for logger in get_event_manager().loggers:
            python_logger = getattr(logger, "_python_logger", None)
            for handler in list(python_logger.handlers) if python_logger is not None else []:
                handler.close()  # the open dbt.log; dbt itself only drops it at its next invocation
                python_logger.removeHandler(handler)
        cleanup_event_logger()
        lines.close_lines()


def _cancel_open_queries() -> None:
    """What dbt does on Ctrl-C: on a connection of this thread's own, cancel every query dbt's
    connections are running (Snowflake: SYSTEM$CANCEL_ALL_QUERIES per session); the nodes running
    them fail and the nodes after them are skipped. Not exercised locally: fakesnow has no
    SYSTEM$CANCEL_ALL_QUERIES."""
    from dbt.adapters.factory import FACTORY

    for adapter in list(FACTORY.adapters.values()):
        with contextlib.suppress(Exception):  # a dead warehouse: its queries fail on their own
            with adapter.connection_named("master"):
                adapter.cancel_open_connections()


def import_in_background() -> threading.Thread:
    """Start importing dbt (about 2 s of CPU) on a thread of its own, so that a run's first steps,
    which mostly wait on AWS and Snowflake, hide it. Only imports: dbt itself runs when it is called,
    on the caller's thread; importing it there again waits for this import instead of repeating it."""
    import importlib

    dbt_entry.skip_unused_imports()
    thread = threading.Thread(target=importlib.import_module, args=("dbt.cli.main",), name="dbt-import", daemon=True)
    thread.start()
    return thread


def _manifest(common: list[str], target_path: Path) -> Any:
    """The project parsed once per process for these arguments and this environment (profiles.yml
    reads the connection and the database names from it), again when a project file changed. Env
    vars the models read at run time (PIPELINE_LOAD_ID) need no new parse: dbt renders a model's
    SQL again when it runs it. None: the parse failed; the command itself then reports why."""
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    key = hashlib.sha256(
        json.dumps(
            [
                str(DBT_PROJECT_DIR),
                project_fingerprint(),
                (DBT_PROJECT_DIR / "profiles.yml").read_text(),
                common,
                {k: v for k, v in sorted(os.environ.items()) if k.startswith(("SNOWFLAKE_", "PIPELINE_", "DBT_"))},
            ]
        ).encode()
    ).hexdigest()
    cached = _MANIFESTS.get(target_path)
    if cached and cached[0] == key:
        return cached[1]
    _MANIFESTS.pop(target_path, None)
    with _console_to(_Lines()):  # the command logs what matters; a failed parse is repeated by it
        parsed = dbtRunner().invoke(["parse", "--no-write-json", *common])
    if not (parsed.success and isinstance(parsed.result, Manifest)):
        return None
    _MANIFESTS[target_path] = (key, parsed.result)
    return parsed.result


def _results(outcome: Any) -> list[dict[str, Any]]:
    """The per-node results of this invocation, as run_results.json has them: taken from dbt's
    answer, never from a file an earlier invocation may have left."""
    from dbt.artifacts.schemas.run import RunExecutionResult, RunResultsArtifact

    if not isinstance(outcome.result, RunExecutionResult):
        return []
    run = outcome.result
    artifact = RunResultsArtifact.from_execution_results(
        results=run.results, elapsed_time=run.elapsed_time, generated_at=run.generated_at, args=run.args
    )
    return json.loads(json.dumps(artifact.to_dict(omit_none=False), default=str))["results"]


def project_args(settings: Settings, target: str, dbt_vars: dict[str, Any] | None = None) -> list[str]:
    """The arguments every invocation carries (project, profiles, target, its own target path, vars):
    what a run passes and what `plan` shows as the command to run by hand."""
    args = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target", target, "--target-path", str(settings.dbt_target_dir / target)]
    return args + (["--vars", json.dumps(dbt_vars)] if dbt_vars else [])


def run_dbt(
    settings: Settings,
    args: list[str],
    target: str = "dev",
    dbt_vars: dict[str, Any] | None = None,
    on_line: Callable[[str], None] | None = None,
    keep_fds: tuple[int, ...] = (),
    timeout_s: float = DBT_TIMEOUT_SECONDS,
    extra_env: dict[str, str] | None = None,
) -> DbtResult:
    """Run `dbt <args>` in this process (dbt's dbtRunner); each line dbt logs to its console goes to
    `on_line` as it comes (progress). Returns when dbt has finished, whatever happened.

    The project is parsed once and the manifest reused while nothing it was parsed from changed
    (`_manifest`). `keep_fds` is kept for callers: dbt runs in this process, which holds the run lock
    itself. After `timeout_s` dbt's open queries are cancelled (as on Ctrl-C) and the result says so;
    a warehouse that went away fails within the network timeout (dbt_entry.network_timeout)."""
    del keep_fds  # dbt no longer outlives this process
    dbt_entry.skip_unused_imports()
    from dbt.cli.main import dbtRunner

    target_path = settings.dbt_target_dir / target
    common = project_args(settings, target, dbt_vars)
    env = {
        **settings.dbt_env(target),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(target_path / "logs"),
        "DBT_USE_COLORS": "false",
    }
    lines = _Lines(on_line)
    timed_out = threading.Event()
    # cancelling runs on threads of its own: never on a dbt thread, whose connection is in use

    def time_out() -> None:
        timed_out.set()
        _cancel_open_queries()

    def given_up() -> None:  # on_line raised: stop dbt, as killing the subprocess did
        cancellers.append(threading.Thread(target=_cancel_open_queries, name="dbt-cancel"))
        cancellers[-1].start()

    watchdog = threading.Timer(timeout_s, time_out)
    watchdog.daemon = True
    cancellers: list[threading.Thread] = [watchdog]
    lines.on_error = given_up

    with _INVOCATION, _environment(env), dbt_entry.network_timeout(settings.snowflake_network_timeout):
        manifest = None if args[:1] and args[0] in _NO_MANIFEST else _manifest(common, target_path)
        with _environment(extra_env or {}), _console_to(lines):
            watchdog.start()
            try:
                outcome = dbtRunner(manifest=manifest).invoke([*args, *common])
            finally:
                watchdog.cancel()
                for canceller in cancellers:  # done before the next invocation resets dbt's adapters
                    if canceller.ident is not None:
                        canceller.join()
    if lines.error is not None:
        raise lines.error
    tail = list(lines.tail)
    if outcome.exception is not None and str(outcome.exception) not in "\n".join(tail):
        tail.append(f"dbt: {type(outcome.exception).__name__}: {outcome.exception}")  # e.g. a usage error
    if timed_out.is_set():
        tail.append(f"dbt ran longer than {timeout_s:.0f}s (DBT_TIMEOUT_SECONDS): its open queries were cancelled")
    # dbt's exit codes: 0 success, 1 a node failed, 2 dbt itself failed
    returncode = 0 if outcome.success else 2 if outcome.exception is not None else 1
    return DbtResult(
        command=[*dbt_command(), *args, *common],
        returncode=returncode,
        target_path=target_path,
        results=_results(outcome),
        log_tail=tail,
    )


def project_fingerprint() -> str:
    """sha256 over the dbt project's code (dbt_project.yml, models, macros, tests): a changed model
    means the marts must be rebuilt even when the source is unchanged."""
    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml"] + sorted(
        p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()
    )
    for path in files:
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(
    settings: Settings,
    target: str,
    load_id: str,
    on_line: Callable[[str], None] | None = None,
    schema_suffix: str = BUILD_SUFFIX,
    keep_fds: tuple[int, ...] = (),
) -> DbtResult:
    """`dbt build` (load, models, tests) into the `<layer><schema_suffix>` schemas; raises DbtFailed
    naming every failing node. With the default suffix nothing users query is touched."""
    result = run_dbt(
        settings,
        ["build"],
        target=target,
        dbt_vars={"schema_suffix": schema_suffix} if schema_suffix else None,
        on_line=on_line,
        keep_fds=keep_fds,
        # the run id goes in the environment, not in --vars: vars that change from run to run make
        # dbt re-parse the whole project every time (~1.5 s), a changed env var only the RAW model
        extra_env={"PIPELINE_LOAD_ID": load_id},
    )
    if not result.ok:
        failures = result.failures()
        where = f"in the {', '.join(layer + schema_suffix for layer in LAYERS)} schemas" if schema_suffix else ""
        unreachable = any(
            marker in str(f.get("message"))
            for f in failures
            for marker in ("Could not connect to Snowflake", "Connection refused")
        )
        hint = (
            "the warehouse could not be reached during the build; once it is up again, run again"
            if unreachable
            else "the failed build is kept in the _BUILD schemas to inspect; fix the source (or the model) and run again"
        )
        kept = (
            f"\nNothing was published: {', '.join(LAYERS)} still hold the last good run. hint: {hint}."
            if schema_suffix
            else ""
        )
        raise DbtFailed(
            f"dbt build --target {target} failed {where} ({len(failures)} failing nodes):\n"
            f"{result.describe_failures()}{kept}",
            result=result,
        )
    return result
