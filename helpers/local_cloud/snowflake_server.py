"""The local Snowflake: the fakesnow server (Snowflake's wire protocol over DuckDB) plus the
fidelity fixes this pipeline depends on. Started by `launcher.up()` as its own process:

    python -m helpers.local_cloud.snowflake_server --port P --state-dir DIR --aws-endpoint URL ...

This module is the app and its entry point; what is added on top of fakesnow 0.11.18, and why, lives in
one module per concern (each has a test in tests/integration):

* fakesnow_compat.py - the fence: every private fakesnow / Starlette name hooked, checked at start (the
  server refuses to start, naming what is missing), the patches (FLATTEN ... OUTER => TRUE keeps a row of
  NULLs for empty input; CREATE OR REPLACE TABLE t CLONE s replaces t; table kinds in
  information_schema.tables) and persistence (every database and the `_fs_global` catalog are DuckDB
  files under the state dir, so a restart keeps them).
* local_warehouse.py - which statements are answered here and which go to fakesnow; DROP DATABASE.
* stage_catalog.py - storage integrations (fakesnow cannot parse them), stages and their file formats.
* stage_s3.py - S3 read through sts:AssumeRole on the integration's role as Snowflake's principal;
  LIST @s3_stage lists the S3 objects (fakesnow lists a local folder: 0 rows).
* copy_json.py - COPY INTO ... FILE_FORMAT = (TYPE = JSON ...), with transformations and load metadata
  (fakesnow implements only CSV and Parquet).
* account_objects.py - roles, warehouses, resource monitors, users and grants (recorded, not evaluated).
* schema_swap.py, table_kinds.py, load_metadata.py - ALTER SCHEMA ... SWAP WITH, table kinds in CLONE,
  Snowflake's load metadata.

Here: a memory budget (DuckDB's `memory_limit`, default 2GB, `--memory-limit`, and a spill directory
under the state dir, `--spill-dir`, so a large load pages to disk instead of growing the server's RSS
without bound), and unsupported SQL failing at once with a SQL error naming the statement: fakesnow
answers HTTP 500, which the Snowflake connector retries for many seconds (dbt once hung > 10 minutes).
And each query request id runs once (`RunOnce`): the connector re-sends a statement whose answer takes
longer than its read timeout under the same requestId, and Snowflake does not run it again.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import duckdb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from helpers.local_cloud import fakesnow_compat
from helpers.local_cloud.local_warehouse import LocalWarehouse
from helpers.local_cloud.stage_s3 import Principal
from helpers.local_cloud.warehouse_sql import ProgrammingError, sql_literal

__all__ = ["LocalWarehouse", "Principal", "build_app", "main"]


def _load_httpfs(duck: duckdb.DuckDBPyConnection) -> None:
    """httpfs from the pip package (duckdb-extension-httpfs): no download at run time."""
    import duckdb_extension_httpfs

    path = (
        Path(duckdb_extension_httpfs.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "httpfs.duckdb_extension"
    )
    if not path.exists():
        path = next(Path(duckdb_extension_httpfs.__file__).parent.rglob("httpfs.duckdb_extension"))
    duck.execute(f"LOAD '{path}'")


DEFAULT_MEMORY_LIMIT = "2GB"


def _limit_memory(duck: duckdb.DuckDBPyConnection, memory_limit: str, spill_dir: Path) -> None:
    """DuckDB's buffer manager keeps to `memory_limit` and spills what does not fit to
    `spill_dir` (hash tables, sorts, big inserts). Note: the limit covers DuckDB's buffers, not
    Python objects or the HTTP layer, so the process's RSS can be somewhat above it."""
    spill_dir.mkdir(parents=True, exist_ok=True)
    duck.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    duck.execute(f"SET temp_directory = {sql_literal(str(spill_dir))}")
    # A COPY reads each staged file once, in one streamed pass (and skips it afterwards by its load
    # metadata): DuckDB's external file cache would only keep the file's bytes in the buffer pool,
    # up to the whole 1.2 GB at 1M records, crowding out the transformations that follow.
    duck.execute("SET enable_external_file_cache = false")


def build_app(
    state_dir: Path,
    aws_endpoint: str,
    region: str,
    principal: Principal,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    spill_dir: Path | None = None,
) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route

    fakesnow_compat.check()  # refuses to start, naming each hooked fakesnow name that is missing or changed
    fakesnow_compat.patch()
    server = fakesnow_compat.server()
    fs = fakesnow_compat.persistent_instance(state_dir)
    _limit_memory(fs.duck_conn, memory_limit, spill_dir or state_dir / "spill")
    _load_httpfs(fs.duck_conn)
    fakesnow_compat.serve_instance(fs)
    warehouse = LocalWarehouse(fs.duck_conn, aws_endpoint, region, principal, db_dir=state_dir / "databases")

    def error_response(code: int, message: str, sqlstate: str) -> JSONResponse:
        return JSONResponse(
            {
                "data": {"errorCode": f"{code:06d}", "sqlState": sqlstate},
                "code": f"{code:06d}",
                "message": message,
                "success": False,
            }
        )

    statement_log = StatementLog.from_environment()
    run_once = RunOnce()

    async def query_request(request: Request) -> Response:
        # a re-sent request id is answered with its first run's answer (not logged again: it did not run)
        return await run_once.answer(request, logged_query)

    async def logged_query(request: Request) -> JSONResponse:
        if statement_log is None:
            return await answer_query(request)
        body = await request.body()  # starlette caches it: answer_query reads the same bytes
        try:
            sql = json.loads(gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body)
            sql = sql.get("sqlText", "")
        except ValueError:
            sql = ""
        response = await answer_query(request)
        statement_log.record(sql, response)
        return response

    async def answer_query(request: Request) -> JSONResponse:
        body = await request.body()
        gzipped = request.headers.get("Content-Encoding") == "gzip"
        body_json = json.loads(gzip.decompress(body) if gzipped else body)
        sql_text = body_json.get("sqlText", "")
        if (conn := fakesnow_compat.session_of(request)) is None:
            return await server.query_request(request)  # fakesnow answers an unknown session
        try:
            substitute = await _run_in_thread(warehouse.handle, conn, sql_text)
        except ProgrammingError as e:
            return error_response(e.errno or 2, e.msg or str(e), e.sqlstate or "42000")
        except Exception as e:  # noqa: BLE001 - any bug becomes a SQL error, never an HTTP 500 retry loop
            return error_response(2, f"local warehouse error in {sql_text[:200]!r}: {type(e).__name__}: {e}", "XX000")
        if substitute is not None:
            body_json["sqlText"] = substitute
            new_body = json.dumps(body_json).encode()
            fakesnow_compat.replace_body(request, gzip.compress(new_body) if gzipped else new_body)
        response = await server.query_request(request)
        if response.status_code >= 500:
            payload = json.loads(response.body)
            message = payload.get("message") or "internal error"
            return error_response(
                2,
                "SQL compilation error:\nstatement not supported by the local warehouse (fakesnow): "
                + message.replace("Unhandled exception", "").strip(),
                "0A000",
            )
        return response

    async def login_request(request: Request) -> Response:
        """fakesnow's login, answered with a master token too, as Snowflake answers it. The connector
        deletes a session as it closes (`SnowflakeConnection.close` -> `SnowflakeRestful.delete_session`,
        POST /session?delete=true), but only with a master token: without one it raises "Connection is
        closed", which close() swallows, so no session was ever deleted here. Each one kept a DuckDB
        cursor: ≈ 5 sessions and ≈ 8 MB more per dbt build (benchmarks/PERFORMANCE.md)."""
        response = await server.login_request(request)
        payload = json.loads(response.body)
        if payload.get("success") and isinstance(payload.get("data"), dict):
            payload["data"].setdefault("masterToken", secrets.token_urlsafe(32))
        return JSONResponse(payload, status_code=response.status_code)

    endpoints = {fakesnow_compat.QUERY_ROUTE: query_request, fakesnow_compat.LOGIN_ROUTE: login_request}
    routes = [Route(r.path, endpoints.get(r.path, r.endpoint), methods=r.methods) for r in server.routes]
    routes.append(Route("/health", lambda _: JSONResponse({"ok": True}), methods=["GET"]))
    return Starlette(routes=routes)


class RunOnce:
    """Each query request id runs once, as in Snowflake; a re-sent one gets the first run's answer.

    Why: snowflake-connector-python (4.8.1) sends a statement as POST
    /queries/v1/query-request?requestId=<uuid4> (connection.py `_cmd_query`: `url_parameters = {REQUEST_ID:
    request_id}`; the id is made once per execute(), cursor.py `self._request_id = uuid.uuid4()`), reads
    the answer with a socket timeout of 60 s (network.py DEFAULT_SOCKET_CONNECT_TIMEOUT, `timeout=socket_timeout`),
    and on a ReadTimeout raises RetryRequest and loops (`SnowflakeRestful.fetch`: `while True`), re-sending the
    same URL, so the same requestId, plus `clientStartTime` and `retryCount` (`RetryCtx.add_retry_params`,
    `retryReason` too when enabled). Snowflake does not run that statement twice; fakesnow ran it again, so
    a long INSERT ... SELECT was applied twice.

    A duplicate waits for the first run (in flight or done) and gets its answer. The run is its own task,
    shielded, so it finishes even if the request that started it is gone (the connector closed it). The
    look-up and the insert have no `await` between them, and every request is handled on the server's one
    event loop (the statements run in worker threads), so two copies arriving together cannot both run.
    Memory is bounded, checked as each new request id arrives: the last `keep` ids, and finished answers
    up to `keep_bytes` in all (the oldest finished are forgotten first; a re-send comes within a minute or
    two of its first send)."""

    def __init__(self, keep: int = 256, keep_bytes: int = 64 * 2**20):
        self.keep, self.keep_bytes = keep, keep_bytes
        self._runs: OrderedDict[tuple[str, str], asyncio.Task[Response]] = OrderedDict()

    async def answer(self, request: Request, run: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.query_params.get("requestId")
        if not request_id:
            return await run(request)
        key = (request.headers.get("Authorization", ""), request_id)  # a request id within its session
        if (task := self._runs.get(key)) is None:
            task = self._runs[key] = asyncio.ensure_future(run(request))
            self._forget_old()
        # the same Response may be sent again: it has no background task and sending does not change it
        return await asyncio.shield(task)

    def _forget_old(self) -> None:
        def size(task: asyncio.Task[Response]) -> int:
            return len(task.result().body) if task.done() and not task.cancelled() and not task.exception() else 0

        total = sum(size(t) for t in self._runs.values())
        for key, task in list(self._runs.items()):
            if len(self._runs) <= self.keep and total <= self.keep_bytes:
                break
            if task.done():  # one still running is kept: its re-sends must wait for it
                total -= size(task)
                del self._runs[key]


STATEMENT_LOG_ENV = "PIPELINE_LOCAL_WAREHOUSE_STATEMENT_LOG"


class StatementLog:
    """Test instrumentation: with PIPELINE_LOCAL_WAREHOUSE_STATEMENT_LOG=<path> in the server's
    environment, every SQL text received at the query route is appended to <path> as one JSON line
    {"sql", "ok", "errno"} - what the pipeline, dbt and the notebooks really send (tests/statement_kinds.py
    and tests/integration/test_parity_ledger.py read it)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> StatementLog | None:
        import os

        path = os.environ.get(STATEMENT_LOG_ENV)
        return cls(Path(path)) if path else None

    def record(self, sql: str, response: Any) -> None:
        try:
            answer = json.loads(response.body)
        except (AttributeError, ValueError):
            answer = {}
        line = json.dumps({"sql": sql, "ok": bool(answer.get("success")), "errno": answer.get("code")})
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


async def _run_in_thread(fn: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--aws-endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--principal-file", type=Path, required=True, help="JSON: arn, access_key_id, secret_access_key")
    p.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT, help="DuckDB memory_limit, e.g. 2GB")
    p.add_argument("--spill-dir", type=Path, default=None, help="DuckDB temp_directory (default: STATE_DIR/spill)")
    args = p.parse_args()
    principal = Principal(**json.loads(args.principal_file.read_text()))
    app = build_app(args.state_dir, args.aws_endpoint, args.region, principal, args.memory_limit, args.spill_dir)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
