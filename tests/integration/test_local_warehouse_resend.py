"""A statement the Snowflake connector re-sends runs once, as in Snowflake.

snowflake-connector-python posts each statement to /queries/v1/query-request?requestId=<uuid4> and, when
the answer does not come within its read timeout (60 s by default), sends the same request again: the same
requestId, plus clientStartTime and retryCount (snowflake/connector/connection.py `_cmd_query`,
network.py `SnowflakeRestful.fetch` and `RetryCtx.add_retry_params`). Snowflake runs the statement once and
answers the re-send with that run's result; the local warehouse did run it again (an INSERT or COPY applied
twice). helpers/local_cloud/snowflake_server.py `RunOnce`; docs/parity.md."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from helpers import warehouse

pytestmark = pytest.mark.integration

DB = "RESEND_CHECKS"


@pytest.fixture
def conn(settings):
    with warehouse.connect(settings, None) as c:
        warehouse.execute(c, f"CREATE DATABASE IF NOT EXISTS {DB}")
        warehouse.execute(c, f"CREATE SCHEMA IF NOT EXISTS {DB}.S")
        warehouse.execute(c, f"CREATE OR REPLACE TABLE {DB}.S.T (X NUMBER(38, 0))")
        yield c


def _count(conn) -> int:
    return warehouse.execute(conn, f"SELECT COUNT(*) FROM {DB}.S.T").rows[0][0]


def _post_query(conn, sql: str, request_id: str, retry_count: int = 0) -> dict:
    """POST the query-request through the connector's own REST layer, as `_cmd_query` does; a re-send
    carries the parameters the connector's retry loop adds (`RetryCtx.add_retry_params`)."""
    params = {"requestId": request_id}
    if retry_count:
        params |= {"clientStartTime": int(time.time() * 1000), "retryCount": retry_count}
    body = {
        "sqlText": sql,
        "asyncExec": False,
        "sequenceId": conn._next_sequence_counter(),  # noqa: SLF001 - what the cursor does
        "querySubmissionTime": int(time.time() * 1000),
        "queryContextDTO": conn.get_query_context(),
    }
    return conn.rest.request("/queries/v1/query-request?" + urlencode(params), body, _include_retry_params=True)


def test_a_resent_request_id_runs_once_and_gets_the_first_answer(conn):
    request_id = str(uuid.uuid4())
    sql = f"INSERT INTO {DB}.S.T VALUES (1)"
    first = _post_query(conn, sql, request_id)
    again = _post_query(conn, sql, request_id, retry_count=1)
    assert first["success"], first
    assert _count(conn) == 1  # ran once
    assert again == first  # the same answer, the same query id
    assert first["data"]["rowset"] == [["1"]]


def test_a_distinct_request_id_runs_again(conn):
    sql = f"INSERT INTO {DB}.S.T VALUES (1)"
    first = _post_query(conn, sql, str(uuid.uuid4()))
    second = _post_query(conn, sql, str(uuid.uuid4()))
    assert _count(conn) == 2
    assert first["data"]["queryId"] != second["data"]["queryId"]


def test_the_connector_resending_after_a_read_timeout_inserts_once(conn, monkeypatch):
    """The connector's real retry loop: the first answer is lost as a read timeout would lose it (the
    local warehouse has run the statement), the connector re-sends, and execute() succeeds with one row."""
    from snowflake.connector.vendored.requests import Session
    from snowflake.connector.vendored.requests.exceptions import ReadTimeout

    sent: list[str] = []
    original = Session.request

    def request(self, method, url, *args, **kwargs):
        response = original(self, method, url, *args, **kwargs)
        if "/queries/v1/query-request" in url:
            sent.append(url)
            if len(sent) == 1:
                raise ReadTimeout("the answer came after the read timeout (simulated)")
        return response

    monkeypatch.setattr(Session, "request", request)
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {DB}.S.T VALUES (1)")
    assert cur.rowcount == 1
    monkeypatch.undo()
    assert len(sent) == 2
    first, resent = (parse_qs(urlparse(u).query) for u in sent)
    assert resent["requestId"] == first["requestId"]  # what makes it the same statement
    assert resent["retryCount"] == ["1"] and "clientStartTime" in resent and "retryCount" not in first
    assert _count(conn) == 1
