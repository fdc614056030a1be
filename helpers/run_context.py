"""What the steps of one run share: settings, echo, the AWS clients, one Snowflake session per target,
the run lock's file descriptor, the step in progress and the layers published so far.

One context per run (or per step a notebook calls on its own), so a `Pipeline` holds no run's state
and two runs never share one. The Snowflake session of a target is opened when a step first needs it
and closed when the context closes: a run signs in once per target instead of once per step (each
sign-in is about a second on a real account). dbt runs as its own process with its own connections.

A step that retries on the shared session (LIST/COPY while the stage's role is not yet usable,
`warehouse.while_stage_access_pending`) retries on a session that is still good: Snowflake answers
those with a SQL error, the session stays. A session whose warehouse went away fails its next
statement with the connector's OperationalError, which helpers/errors.py classifies like a failed
sign-in - but only after the connector's retries (minutes), so a kept session is checked to still
reach its host before each use (`warehouse.endpoint_answers`), and signed in again when it does not.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from helpers import warehouse
from helpers.settings import Settings

Echo = Callable[[str], None]


@dataclass
class RunContext:
    settings: Settings
    echo: Echo = lambda _msg: None  # the default: say nothing
    lock_fd: int | None = None  # the run lock, while the run holds it (dbt inherits it)
    step: str = ""  # the step in progress, for error messages
    published: list[str] = field(default_factory=list)  # the layers this run's publish swapped so far
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _sessions: dict[str, Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def of(ctx: RunContext | None, settings: Settings, echo: Echo) -> contextlib.AbstractContextManager[RunContext]:
        """`ctx` itself (a step inside a run), or a context of the step's own, closed after it."""
        return contextlib.nullcontext(ctx) if ctx is not None else RunContext(settings, echo)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def aws(self, service: str) -> Any:
        """The boto3 client of `service`, made once per context."""
        if service not in self._clients:
            self._clients[service] = self.settings.aws_client(service)
        return self._clients[service]

    def warehouse(self, target: str) -> Any:
        """The Snowflake session of `target` (its role and database), opened on first use."""
        conn = self._sessions.get(target)
        if conn is not None and not warehouse.endpoint_answers(conn):
            # gone since the last use: signing in again fails at once with the connector's own
            # "Could not connect" (or works, if it is back), where a statement would hang in retries
            del self._sessions[target]
            with contextlib.suppress(Exception):
                conn.close(retry=False)
            conn = None
        if conn is None:
            conn = self._sessions[target] = warehouse.open_connection(self.settings, target)
        return conn

    def close(self) -> None:
        """Close the sessions; a session whose warehouse is gone is simply dropped."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for conn in sessions:
            with contextlib.suppress(Exception):
                conn.close(retry=False)

    @contextlib.contextmanager
    def timed(self, seconds: dict[str, float] | None, step: str) -> Iterator[None]:
        """Run a step: say it starts and how long it took; its seconds go into `seconds`."""
        started = time.monotonic()
        self.step = step
        self.echo(f"[{step}] ...")
        try:
            yield
        finally:
            elapsed = round(time.monotonic() - started, 2)
            if seconds is not None:
                seconds[step] = elapsed
            self.echo(f"[{step}] done in {elapsed:.1f}s")

    def show(self, results: list[warehouse.StatementResult]) -> None:
        """Each statement sent and the gist of Snowflake's answer."""
        for r in results:
            first = " ".join(r.sql.split())[:90]
            answer = r.rows[0][0] if len(r.rows) == 1 and len(r.columns) == 1 else f"{len(r.rows)} row(s)"
            self.echo(f"    > {first}\n      {answer}")
