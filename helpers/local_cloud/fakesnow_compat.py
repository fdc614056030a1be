"""The fence around fakesnow's (and Starlette's) private parts: every private name the local warehouse
touches is listed in HOOKS with the shape it relies on, `check()` verifies them all when the local
warehouse starts (it refuses to start, naming each one that is missing or changed), and the patches and
private accesses themselves live here - nowhere else in the project reaches into fakesnow.

Written against fakesnow 0.11.18 (see /work/shared/docs/local-cloud-facts.md for why that version).
A fakesnow upgrade that renames or reshapes one of these names fails `check()` at once, instead of
silently dropping a fix (a reassigned module attribute nobody calls any more, a catalog table with a new
column order, a request body no longer cached where we replace it).

The patches are small fixes of general fakesnow gaps, which fakesnow could take upstream (docs/parity.md):
LATERAL FLATTEN(..., OUTER => TRUE), CREATE OR REPLACE TABLE ... CLONE, information_schema.tables'
IS_TRANSIENT / IS_TEMPORARY (table_kinds.py), a persistent global catalog; and one that changes only
speed: each statement's ~80 rewrites copy its syntax tree once instead of once per rewrite
(`one_copy_transforms`), and each result is described by DuckDB without a sqlglot round trip
(`describe_without_reparse`). sqlglot itself runs compiled (sqlglotc, its mypyc build, in the lock
file): the hooks on it are probed by trying them, since compiled functions have no source to read.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from sqlglot import exp

from helpers.local_cloud import table_kinds
from helpers.local_cloud.warehouse_sql import truthy

GLOBAL = "_fs_global"
CATALOG_SCHEMA = f"{GLOBAL}._fs_information_schema"
# fakesnow's own catalog tables that the local warehouse reads or writes
STAGES_TABLE = f"{CATALOG_SCHEMA}._fs_stages"
FILE_FORMATS_TABLE = f"{CATALOG_SCHEMA}._fs_file_formats"
TABLES_EXT = f"{CATALOG_SCHEMA}._fs_tables_ext"  # table comments
COLUMNS_EXT = f"{CATALOG_SCHEMA}._fs_columns_ext"  # column lengths
LOAD_HISTORY = "_fs_information_schema._fs_load_history"  # per database
LOAD_HISTORY_COLUMNS = (
    "SCHEMA_NAME",
    "FILE_NAME",
    "TABLE_NAME",
    "LAST_LOAD_TIME",
    "STATUS",
    "ROW_COUNT",
    "ROW_PARSED",
    "FIRST_ERROR_MESSAGE",
    "FIRST_ERROR_LINE_NUMBER",
    "FIRST_ERROR_CHARACTER_POSITION",
    "FIRST_ERROR_COL_NAME",
    "ERROR_COUNT",
    "ERROR_LIMIT",
)
QUERY_ROUTE = "/queries/v1/query-request"
LOGIN_ROUTE = "/session/v1/login-request"


class FakesnowIncompatible(RuntimeError):
    """fakesnow (or Starlette) no longer has a private name the local warehouse hooks."""


# -- the hooks -----------------------------------------------------------------------------------
_MISSING = object()


def _resolve(dotted: str) -> Any:
    """`package.module.attr.attr` -> the object, or _MISSING."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _function(*params: str) -> Callable[[Any], bool]:
    def probe(obj: Any) -> bool:
        if not callable(obj):
            return False
        names = list(inspect.signature(obj).parameters)
        return names[: len(params)] == list(params)

    return probe


def _source_has(*snippets: str) -> Callable[[Any], bool]:
    def probe(obj: Any) -> bool:
        try:
            source = inspect.getsource(obj)
        except (OSError, TypeError):
            return False
        return all(s in source for s in snippets)

    return probe


def _transforms_in_place(transform: Any) -> bool:
    """Tried, not read: sqlglot's compiled build (sqlglotc, mypyc) has no Python source to read."""
    tree = exp.column("a")
    return transform(tree, lambda node: node, copy=False) is tree and transform(tree, lambda node: node) is not tree


def _template_has(*alternatives: tuple[str, str]) -> Callable[[Any], bool]:
    """A string.Template holding each (original, or as already patched) text."""
    return lambda obj: (
        isinstance(obj, Template) and all(a in obj.template or b in obj.template for a, b in alternatives)
    )


def _columns(sql_of: Callable[[], str], table: str, expected: tuple[str, ...], exact: bool) -> Callable[[Any], bool]:
    """The table fakesnow's creation SQL makes (run on a scratch DuckDB) has these columns (in this order)."""

    def probe(creation_sql: Any) -> bool:
        import duckdb

        scratch = duckdb.connect()
        try:
            scratch.execute(f"ATTACH ':memory:' AS {GLOBAL}")
            scratch.execute("ATTACH ':memory:' AS probe_db")
            scratch.execute(sql_of())
            database, schema, name = table.split(".")
            found = tuple(
                r[0].upper()
                for r in scratch.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
                    "AND table_name = ? ORDER BY column_index",
                    [database, schema, name],
                ).fetchall()
            )
        except duckdb.Error:
            return False
        finally:
            scratch.close()
        want = tuple(c.upper() for c in expected)
        return found == want if exact else set(want) <= set(found)

    return probe


def _global_sql() -> str:
    from fakesnow import info_schema
    from fakesnow.transforms import show

    return info_schema.fs_global_creation_sql() + ";" + show.fs_global_creation_sql()


def _per_db_sql() -> str:
    from fakesnow import info_schema

    # its views read the global catalog (and, once patched, the table kinds): those first
    return (
        _global_sql() + f";CREATE TABLE IF NOT EXISTS {table_kinds.KINDS_TABLE} (database_name TEXT, "
        "schema_name TEXT, table_name TEXT, kind TEXT);" + info_schema.per_db_creation_sql("probe_db")
    )


@dataclass(frozen=True)
class Hook:
    name: str  # the dotted name, as the refusal names it
    shape: str  # what the local warehouse relies on, in words
    probe: Callable[[Any], bool]  # given the resolved object: does it still have that shape?


def _catalog_hook(table: str, columns: tuple[str, ...], exact: bool, per_db: bool = False) -> Hook:
    return Hook(
        f"fakesnow catalog table {table}",
        ("columns exactly " if exact else "columns ") + ", ".join(columns),
        _columns(_per_db_sql if per_db else _global_sql, f"probe_db.{table}" if per_db else table, columns, exact),
    )


HOOKS: tuple[Hook, ...] = (
    # module attributes reassigned by patch() - and called through the module, so the reassignment works
    Hook("fakesnow.transforms.flatten", "function (expression)", _function("expression")),
    Hook("fakesnow.transforms.transforms.flatten", "function (expression)", _function("expression")),
    Hook("fakesnow.transforms.create_clone", "function (expression)", _function("expression")),
    Hook("fakesnow.transforms.transforms.create_clone", "function (expression)", _function("expression")),
    Hook(
        "fakesnow.cursor.FakeSnowflakeCursor._transform",
        "(self, expression, params): a chain of expression.transform(...) calls, among them "
        "transforms.flatten and transforms.create_clone",
        lambda f: (
            _function("self", "expression", "params")(f)
            and _source_has("expression.transform(", "transforms.flatten)", "transforms.create_clone)")(f)
        ),
    ),
    Hook(
        "fakesnow.cursor.FakeSnowflakeCursor._describe_last_sql",
        "(self): DESCRIBE of self._last_sql with self._last_params on another cursor of the session",
        lambda f: _function("self")(f) and _source_has('f"DESCRIBE {self._last_sql}"', "self._last_params")(f),
    ),
    Hook(
        "sqlglot.expressions.core.Expression.transform",
        "(self, fun, *args, copy=True, **kwargs): copy=False transforms the tree in place",
        lambda f: _function("self", "fun", "args", "copy")(f) and _transforms_in_place(f),
    ),
    Hook(
        "fakesnow.transforms.transforms.SUCCESS_NOP",
        "the one module-level expression that transforms return as it is",
        lambda v: type(v).__name__ == "Select",
    ),
    Hook("fakesnow.macros.creation_sql", "function (catalog) -> SQL", _function("catalog")),
    Hook(
        "fakesnow.info_schema.SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW",
        "Template with 'NO' AS \"IS_TRANSIENT\" and 'NO' AS \"IS_TEMPORARY\"",
        _template_has(*table_kinds.INFORMATION_SCHEMA_PATCHES),
    ),
    Hook(
        "fakesnow.info_schema.per_db_creation_sql",
        "function (catalog), reading SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW when called",
        lambda f: _function("catalog")(f) and _source_has("SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW.substitute")(f),
    ),
    Hook("fakesnow.info_schema.fs_global_creation_sql", "function () -> SQL", _function()),
    Hook("fakesnow.transforms.show.fs_global_creation_sql", "function () -> SQL", _function()),
    # the instance, its DuckDB connection, and the sessions' connections
    Hook(
        "fakesnow.instance.FakeSnow",
        "class FakeSnow(db_path=..., create_database_on_connect=..., create_schema_on_connect=...) with .duck_conn",
        lambda c: (
            inspect.isclass(c)
            and {"db_path", "create_database_on_connect", "create_schema_on_connect"}
            <= set(inspect.signature(c).parameters)
            and _source_has("self.duck_conn =")(c)
        ),
    ),
    Hook("fakesnow.instance.GLOBAL_DATABASE_NAME", f"'{GLOBAL}'", lambda v: v == GLOBAL),
    Hook(
        "fakesnow.conn.FakeSnowflakeConnection",
        "._duck_conn, .database, .schema, .database_set, .schema_set, ._autocommit, ._in_transaction, .cursor()",
        _source_has(
            "self._duck_conn =",
            "self.database =",
            "def schema(",
            "self.database_set =",
            "self.schema_set =",
            "self._autocommit =",
            "self._in_transaction =",
            "def cursor(",
        ),
    ),
    # the server
    Hook(
        "fakesnow.server.shared_fs",
        "the module-level FakeSnow every session uses",
        lambda v: type(v).__name__ == "FakeSnow",
    ),
    Hook("fakesnow.server.login_request", "uses shared_fs when no FAKESNOW_DB_PATH", _source_has("shared_fs")),
    Hook("fakesnow.server.to_token", "function (request)", _function("request")),
    Hook("fakesnow.server.to_conn", "function (token)", _function("token")),
    Hook("fakesnow.server.ServerError", "exception class", lambda c: inspect.isclass(c) and issubclass(c, Exception)),
    Hook(
        "fakesnow.server.query_request",
        "async function (request), reading await request.body()",
        lambda f: inspect.iscoroutinefunction(f) and _source_has("await request.body()")(f),
    ),
    Hook(
        "fakesnow.server.routes",
        f"Starlette routes including {QUERY_ROUTE} and {LOGIN_ROUTE}",
        lambda rs: isinstance(rs, list) and {QUERY_ROUTE, LOGIN_ROUTE} <= {getattr(r, "path", None) for r in rs},
    ),
    Hook(
        "starlette.requests.Request.body",
        "caches the body in request._body (replaced before fakesnow reads it)",
        _source_has("self._body"),
    ),
    # fakesnow's catalog tables, which the local warehouse reads and writes
    _catalog_hook(STAGES_TABLE, ("name", "database_name", "schema_name", "url", "storage_integration"), exact=False),
    _catalog_hook(FILE_FORMATS_TABLE, ("name", "database_name", "schema_name", "options"), exact=False),
    _catalog_hook(TABLES_EXT, ("ext_table_catalog", "ext_table_schema"), exact=False),
    _catalog_hook(COLUMNS_EXT, ("ext_table_catalog", "ext_table_schema"), exact=False),
    _catalog_hook(LOAD_HISTORY, LOAD_HISTORY_COLUMNS, exact=True, per_db=True),  # INSERTed positionally
)


def problems() -> list[str]:
    """Each hooked name that is missing or has lost its shape. A name this module has already patched
    in this process is probed through the patch, on fakesnow's own (its `.original`): the fence
    checks fakesnow, not our wrapper of it, so the answer is the same before and after patch()."""
    out = []
    for hook in HOOKS:
        obj = None if hook.name.startswith("fakesnow catalog table") else _resolve(hook.name)
        obj = getattr(obj, "original", obj)
        try:
            ok = obj is not _MISSING and hook.probe(obj)
        except Exception:  # noqa: BLE001 - a probe that cannot even run means the shape changed
            ok = False
        if not ok:
            out.append(f"{hook.name}: {'missing' if obj is _MISSING else 'changed'} (expected: {hook.shape})")
    return out


def check() -> None:
    """Refuse to start when a hooked name is missing or no longer has its shape, naming each one."""
    if found := problems():
        from importlib.metadata import version

        raise FakesnowIncompatible(
            f"the local warehouse cannot start on fakesnow {version('fakesnow')}: "
            f"{len(found)} hooked name(s) missing or changed (helpers/local_cloud/fakesnow_compat.py):\n  "
            + "\n  ".join(found)
        )


# -- the patches ---------------------------------------------------------------------------------

# LATERAL FLATTEN(..., OUTER => TRUE). The first version was fakesnow's _fs_flatten UNION ALL a NULL
# row WHERE NOT EXISTS (_fs_flatten(input)): it evaluates the flatten twice, and _fs_flatten numbers
# its rows with row_number() OVER (), which DuckDB decorrelates into a window partitioned by the
# (JSON) input over every row of the table. At 1M countries that made TRANSFORM take 96 s instead of
# 45 s (plain DuckDB, 2 GB memory limit; > 220 s in the server). This one is a single UNNEST with
# the element's position from list_transform's index, and the NULL row as the fallback list: same
# columns and values (SEQ is NULL on the OUTER row, as before).
FLATTEN_OUTER_MACRO = """
CREATE OR REPLACE MACRO {catalog}._fs_flatten_outer(input) AS TABLE
    SELECT
        CASE WHEN e.o THEN NULL ELSE hash(TO_JSON(input))::UBIGINT END AS SEQ,
        e.k AS KEY,
        COALESCE(e.k, '[' || (e.i - 1) || ']') AS PATH,
        CASE WHEN e.k IS NOT NULL THEN NULL ELSE (e.i - 1)::BIGINT END AS INDEX,
        e.v AS VALUE,
        TO_JSON(input) AS THIS
    FROM (
        SELECT UNNEST(
            COALESCE(
                NULLIF(
                    CASE WHEN json_type(TO_JSON(input)) = 'OBJECT'
                         THEN list_transform(
                            json_keys(TO_JSON(input)),
                            x -> struct_pack(k := x, v := CAST(TO_JSON(input) -> x AS JSON), i := NULL::BIGINT,
                                             o := false)
                         )
                         ELSE list_transform(
                            CAST(TO_JSON(input) AS JSON[]),
                            (x, i) -> struct_pack(k := NULL::VARCHAR, v := x, i := i::BIGINT, o := false)
                         )
                    END,
                    []),
                [struct_pack(k := NULL::VARCHAR, v := NULL::JSON, i := NULL::BIGINT, o := true)]
            ), recursive := true
        )
    ) AS e(k, v, i, o)
"""


def patch() -> None:
    """Apply the fixes (after check()): FLATTEN OUTER, CREATE OR REPLACE ... CLONE, table kinds in
    information_schema.tables."""
    import fakesnow.macros
    import fakesnow.transforms
    from fakesnow.transforms import transforms as fs_transforms

    original_creation_sql = fakesnow.macros.creation_sql

    def creation_sql(catalog: str) -> str:
        return original_creation_sql(catalog) + FLATTEN_OUTER_MACRO.format(catalog=catalog) + ";"

    creation_sql.original = original_creation_sql  # type: ignore[attr-defined]
    fakesnow.macros.creation_sql = creation_sql

    original_flatten = fs_transforms.flatten

    def flatten(expression: exp.Expression) -> exp.Expression:
        # OUTER => TRUE: one row with NULL KEY/INDEX/VALUE for an empty or missing input
        if isinstance(expression, (exp.Lateral, exp.TableFromRows)) and isinstance(expression.this, exp.Explode):
            outer = any(
                isinstance(k, exp.Kwarg) and k.this.name.upper() == "OUTER" and truthy(k.expression)
                for k in expression.this.expressions
            )
            result = original_flatten(expression)
            if outer and isinstance(result, exp.Table) and isinstance(result.this, exp.Anonymous):
                result.this.set("this", "_fs_flatten_outer")
            return result
        return original_flatten(expression)

    flatten.original = original_flatten  # type: ignore[attr-defined]
    fakesnow.transforms.flatten = flatten

    original_create_clone = fs_transforms.create_clone

    def create_clone(expression: exp.Expression) -> exp.Expression:
        # CREATE OR REPLACE TABLE t CLONE s: fakesnow rewrites CLONE to CREATE TABLE AS SELECT and
        # drops OR REPLACE, so replacing an existing table failed with "already exists".
        result = original_create_clone(expression)
        if result is not expression and expression.args.get("replace"):
            result.set("replace", True)
        return result

    create_clone.original = original_create_clone  # type: ignore[attr-defined]
    fakesnow.transforms.create_clone = create_clone
    _patch_information_schema()
    one_copy_transforms()
    describe_without_reparse()


class _Chain(threading.local):
    active = False  # in FakeSnowflakeCursor._transform, on a tree of its own
    depth = 0  # Expression.transform calls in progress on this thread


_CHAIN = _Chain()


def one_copy_transforms() -> None:
    """fakesnow rewrites each statement with a chain of ~80 `expression.transform(fn)` calls, and each
    call deep-copies the whole syntax tree first (sqlglot's copy=True): 60 % of the local warehouse's
    CPU in a pipeline run (cProfile of the server: 12,313 copies for 137 statements). Here
    `_transform` copies the statement once and every call of its chain transforms that copy in place
    (copy=False), which is what each call did to its own copy: the same SQL comes out
    (checked on all 2,077 distinct statements the test suite sends; tests/unit/test_fakesnow_compat.py
    keeps a corpus of their kinds). Calls made inside a rewrite function keep copying. fakesnow
    returns its module-level SUCCESS_NOP itself from some rewrites: a chain whose tree has become that
    object copies it before going on, so it is never changed in place."""
    from fakesnow.cursor import FakeSnowflakeCursor
    from fakesnow.transforms.transforms import SUCCESS_NOP
    from sqlglot.expressions.core import Expression

    if getattr(FakeSnowflakeCursor._transform, "one_copy", False):  # noqa: SLF001
        return
    original_transform = Expression.transform
    original_chain = FakeSnowflakeCursor._transform  # noqa: SLF001

    def transform(self: Any, fun: Callable[..., Any], *args: Any, copy: bool = True, **kwargs: Any) -> Any:
        in_chain = _CHAIN.active and _CHAIN.depth == 0
        _CHAIN.depth += 1
        try:
            result = original_transform(self, fun, *args, copy=copy and not in_chain, **kwargs)
        finally:
            _CHAIN.depth -= 1
        return result.copy() if in_chain and result is SUCCESS_NOP else result

    def chain(self: Any, expression: Any, params: Any) -> Any:
        _CHAIN.active = True
        try:
            return original_chain(self, expression.copy(), params)
        finally:
            _CHAIN.active = False

    chain.one_copy = True  # type: ignore[attr-defined]
    transform.original = original_transform  # type: ignore[attr-defined]  # sqlglot's
    chain.original = original_chain  # type: ignore[attr-defined]  # fakesnow's, copying at every call
    Expression.transform = transform  # type: ignore[method-assign]
    FakeSnowflakeCursor._transform = chain  # type: ignore[method-assign]  # noqa: SLF001


def describe_without_reparse() -> None:
    """fakesnow describes every query's result (the column types of each response) by parsing
    "DESCRIBE <the DuckDB SQL it has just run>" with sqlglot, generating that SQL again and running it:
    about a fifth of the local warehouse's CPU in a dbt build (py-spy of the server), the parse spent on
    SQL that fakesnow generated itself a moment before. Here DuckDB's DESCRIBE gets that same text
    directly (the rows are the same: tests/unit/test_fakesnow_compat.py compares them on statements
    of each kind a run sends). SQL of several statements, or one DuckDB refuses, takes fakesnow's own
    path, so an error is raised as fakesnow raises it."""
    import duckdb
    from fakesnow.cursor import FakeSnowflakeCursor

    if getattr(FakeSnowflakeCursor._describe_last_sql, "direct", False):  # noqa: SLF001
        return
    original = FakeSnowflakeCursor._describe_last_sql  # noqa: SLF001

    def describe_last_sql(self: Any) -> list:
        sql = self._last_sql  # noqa: SLF001
        if ";" in sql:  # several statements (a SEED prefix; or just a ';' in a literal): fakesnow's way
            return original(self)
        try:
            return self._duck_conn.execute(f"DESCRIBE {sql}", self._last_params).fetchall()  # noqa: SLF001
        except duckdb.Error:
            return original(self)

    describe_last_sql.direct = True  # type: ignore[attr-defined]
    describe_last_sql.original = original  # type: ignore[attr-defined]  # fakesnow's, through sqlglot
    FakeSnowflakeCursor._describe_last_sql = describe_last_sql  # type: ignore[method-assign]  # noqa: SLF001


def _patch_information_schema() -> None:
    """fakesnow's per-database `information_schema.tables` view reads the kinds table_kinds.py records."""
    from fakesnow import info_schema

    text = info_schema.SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW.template
    for hard_coded, real in table_kinds.INFORMATION_SCHEMA_PATCHES:
        if hard_coded not in text and real not in text:
            raise FakesnowIncompatible(
                f"fakesnow's information_schema.tables view no longer has {hard_coded}: update table_kinds.py"
            )
        text = text.replace(hard_coded, real)
    info_schema.SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW = Template(text)


def persistent_instance(state_dir: Path) -> Any:
    """A FakeSnow whose databases and global catalog (stages, file formats, ours) live in files."""
    from fakesnow import info_schema, macros
    from fakesnow.instance import FakeSnow
    from fakesnow.transforms import show

    db_dir = state_dir / "databases"
    db_dir.mkdir(parents=True, exist_ok=True)
    # Snowflake signs in to a database or schema that does not exist without creating it (the session
    # just has none); fakesnow's default creates both, which would hide a missing account setup
    fs = FakeSnow(db_path=db_dir, create_database_on_connect=False, create_schema_on_connect=False)
    duck = fs.duck_conn
    duck.execute(f"DETACH {GLOBAL}")
    duck.execute(f"ATTACH '{state_dir / 'global.duckdb'}' AS {GLOBAL}")
    duck.execute(info_schema.fs_global_creation_sql())
    duck.execute(show.fs_global_creation_sql())
    table_kinds.ensure_catalog(duck)  # before any database's information_schema views, which read it
    for db_file in sorted(db_dir.glob("*.db")):
        name = db_file.stem
        duck.execute(f"ATTACH IF NOT EXISTS '{db_file}' AS {name}")
        duck.execute(info_schema.per_db_creation_sql(name))
        duck.execute(macros.creation_sql(name))
    return fs


# -- private accesses ----------------------------------------------------------------------------
def server() -> Any:
    import fakesnow.server

    return fakesnow.server


def serve_instance(fs: Any) -> None:
    """Every session the server opens from now on uses `fs` (fakesnow.server.shared_fs)."""
    server().shared_fs = fs


def session_of(request: Any) -> Any | None:
    """The fakesnow connection of the request's session token, or None (fakesnow then answers it)."""
    try:
        return server().to_conn(server().to_token(request))
    except server().ServerError:
        return None


def replace_body(request: Any, body: bytes) -> None:
    """Make fakesnow read `body` instead of what the client sent (Starlette caches it in _body)."""
    request._body = body  # noqa: SLF001


def session_duck(conn: Any) -> Any:
    """The session's own DuckDB cursor: what it runs there shares its transaction."""
    return conn._duck_conn  # noqa: SLF001


def in_autocommit(conn: Any) -> bool:
    """The session runs each statement in its own transaction (no BEGIN open)."""
    return bool(conn._autocommit and not conn._in_transaction)  # noqa: SLF001


def forget_session_database(conn: Any) -> None:
    """The session's current database was dropped: no current database or schema any more."""
    conn._duck_conn.execute("SET schema = 'memory.main'")  # noqa: SLF001
    conn.database, conn.database_set, conn.schema_set = None, False, False
