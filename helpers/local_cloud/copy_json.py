"""COPY INTO <table> FROM @<s3 stage> for the local warehouse: JSON, which fakesnow cannot load.

FILE_FORMAT = (TYPE = JSON [STRIP_OUTER_ARRAY = TRUE]), optionally with a transformation (`SELECT $1,
METADATA$FILENAME, ... FROM @stage`): one VARIANT row per top-level value (per element with
STRIP_OUTER_ARRAY), load history, and Snowflake's load metadata (load_metadata.py: LOAD_SKIPPED unless
FORCE = TRUE). All files or none (ON_ERROR = ABORT_STATEMENT). Options it does not implement are refused,
naming them. CSV and Parquet go to fakesnow, reading S3 through the role's session (stage_s3.py). A
general fakesnow gap: a candidate for upstream (docs/parity.md).

Each staged file is read once, as a stream: one INSERT ... SELECT over read_json_objects, which httpfs
feeds with consecutive 32 MB ranged GETs (one HEAD, then ceil(size / 32 MB) GETs, measured at 300 MB),
the values parsed as they arrive; METADATA$FILE_ROW_NUMBER's row_number() OVER () is a streaming window
(EXPLAIN: STREAMING_WINDOW), so no file is held whole in memory - except a STRIP_OUTER_ARRAY file,
whose one top-level array is one value by definition.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from helpers.local_cloud import load_metadata
from helpers.local_cloud.fakesnow_compat import LOAD_HISTORY, in_autocommit, session_duck
from helpers.local_cloud.warehouse_sql import (
    ProgrammingError,
    format_properties,
    ident,
    quote,
    sql_literal,
    truthy,
    truthy_value,
    values_sql,
)


class CopyJson:
    def __init__(self, catalog: Any, s3: Any):
        self.catalog = catalog  # stage_catalog.StageCatalog
        self.s3 = s3  # stage_s3.StageS3

    def copy_into(self, conn: Any, text: str) -> str | None:
        expr = sqlglot.parse_one(text, read="snowflake")
        assert isinstance(expr, exp.Copy)
        source = expr.args["files"][0]
        select = source.this if isinstance(source, exp.Subquery) else None
        if select is not None:
            from_table = select.args["from_"].this
            var = from_table.this.name if isinstance(from_table.this, exp.Var) else None
        else:
            var = source.this.name if isinstance(source, exp.Table) and isinstance(source.this, exp.Var) else None
        if not var or not var.startswith("@"):
            return None  # COPY from a URL: fakesnow's own implementation
        fq, url, sub_path, integration = self.catalog.stage(conn, var[1:])
        if not url.startswith("s3://"):
            return None
        creds = self.s3.credentials(integration, fq)
        self.s3.install_secret(url, creds)
        options = copy_options(expr)
        file_format = options.pop("FILE_FORMAT") or self.catalog.stage_format(fq)
        file_format = self.catalog.resolve_format(conn, file_format)
        options["TYPE"] = str(file_format.get("TYPE", "CSV")).upper()
        options["STRIP_OUTER_ARRAY"] = truthy_value(file_format.get("STRIP_OUTER_ARRAY", False))
        if options["TYPE"] != "JSON":
            return None  # CSV / Parquet: fakesnow reads S3 through the secret installed above
        return self._copy_json(conn, expr, fq, url, sub_path, creds, select, options)

    def _copy_json(
        self,
        conn: Any,
        expr: exp.Copy,
        fq_stage: str,
        url: str,
        sub_path: str,
        creds: dict[str, str] | None,
        select: exp.Select | None,
        options: dict[str, Any],
    ) -> str:
        target = expr.this
        table = target.this if isinstance(target, exp.Schema) else target
        database = ident(table.catalog) if table.catalog else conn.database
        schema = ident(table.db) if table.db else conn.schema
        table_name = ident(table.name)
        qualified = f'"{database}"."{schema}"."{table_name}"'
        duck = session_duck(conn)  # same transaction as the session's other statements
        try:
            table_columns = [r[0] for r in duck.execute(f"DESCRIBE {qualified}").fetchall()]
        except duckdb.CatalogException:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nTable '{database}.{schema}.{table_name}' does not exist or not authorized.",
                errno=2003,
                sqlstate="42S02",
            ) from None
        columns = [ident(c.name) for c in target.expressions] if isinstance(target, exp.Schema) else []

        if select is None:
            if len(columns or table_columns) != 1:
                raise ProgrammingError(
                    msg=(
                        "SQL compilation error:\nJSON file format can produce one and only one column of type "
                        "variant, object, or array. Use CSV file format if you want to load more than one column."
                    ),
                    errno=2019,
                    sqlstate="0A000",
                )
            exprs = ["v"]
            columns = columns or table_columns
        else:
            exprs = [_transformation_expr(e) for e in select.expressions]
            columns = columns or table_columns[: len(exprs)]
            if len(columns) != len(exprs):
                raise ProgrammingError(
                    msg=(
                        f"SQL compilation error:\nInsert value list does not match column list expecting "
                        f"{len(columns)} but got {len(exprs)}"
                    ),
                    errno=2020,
                    sqlstate="21S01",
                )

        location = url.rstrip("/") + "/" + sub_path if sub_path else url
        objects = self.s3.list_objects(fq_stage, location, creds)
        if options["FILES"]:
            wanted = {f.lstrip("/") for f in options["FILES"]}
            objects = [o for o in objects if o["Url"][len(location.rstrip("/")) + 1 :] in wanted]
        if options["PATTERN"]:
            pattern = re.compile(options["PATTERN"])
            objects = [
                o for o in objects if pattern.fullmatch(o["Url"][len(url) :].lstrip("/")) or pattern.fullmatch(o["Key"])
            ]
        if not objects:
            return values_sql(["status"], [("Copy executed with 0 files processed.",)])

        strip = options["STRIP_OUTER_ARRAY"]
        history_table = f'"{database}".{LOAD_HISTORY}'
        results = []
        began = False
        if in_autocommit(conn):
            duck.begin()  # ON_ERROR = ABORT_STATEMENT: all files or none
            began = True
        try:
            for obj in objects:
                file_url = obj["Url"]
                etag = obj["ETag"].strip('"')
                unchanged = load_metadata.already_loaded(duck, database, schema, table_name, file_url, etag)
                if unchanged and not options["FORCE"]:
                    results.append((file_url, "LOAD_SKIPPED", 0, 0, 1, 1, "File was loaded before.", None, None, None))
                    continue
                values = (
                    "json"
                    if not strip
                    else "unnest(CASE WHEN json_type(json) = 'ARRAY' THEN json_transform(json, '[\"JSON\"]') ELSE [json] END)"
                )
                metadata = {
                    # "Includes the full path to the data file" (Snowflake, Query metadata for staged files):
                    # for an S3 stage, the object's key in its bucket, the stage's own prefix included
                    "filename": sql_literal(obj["Key"]),
                    "last_modified": sql_literal(obj["LastModified"].isoformat()) + "::TIMESTAMPTZ",
                }
                select_list = ", ".join(e.format(**metadata) for e in exprs)
                sql = (
                    f"INSERT INTO {qualified} ({', '.join(quote(c) for c in columns)}) "
                    f"SELECT {select_list} FROM (SELECT v, row_number() OVER () AS file_row FROM ("
                    f"SELECT {values} AS v FROM read_json_objects({sql_literal(file_url)}, format='unstructured')))"
                )
                try:
                    (count,) = duck.execute(sql).fetchone()
                except (duckdb.InvalidInputException, duckdb.IOException, duckdb.HTTPException) as e:
                    message = str(e).split("\n")[0]
                    raise ProgrammingError(
                        msg=f"Error parsing JSON in file '{file_url}': {message}. File '{file_url}'",
                        errno=100069,
                        sqlstate="22P02",
                    ) from None
                results.append((file_url, "LOADED", count, count, 1, 0, None, None, None, None))
                load_metadata.record(duck, database, schema, table_name, file_url, etag)
                now = dt.datetime.now(dt.UTC).isoformat()
                duck.execute(
                    f"INSERT INTO {history_table} VALUES (?, ?, ?, ?, 'LOADED', ?, ?, NULL, NULL, NULL, NULL, 0, 1)",
                    [schema, file_url, table_name, now, count, count],
                )
            if began:
                duck.commit()
        except BaseException:
            if began:
                duck.rollback()
            raise
        return values_sql(
            [
                "file",
                "status",
                "rows_parsed",
                "rows_loaded",
                "error_limit",
                "errors_seen",
                "first_error",
                "first_error_line",
                "first_error_character",
                "first_error_column_name",
            ],
            results,
        )


_METADATA_COLUMNS = {
    "METADATA$FILENAME": "{filename}",
    "METADATA$FILE_ROW_NUMBER": "file_row",
    "METADATA$FILE_LAST_MODIFIED": "{last_modified}",
    "METADATA$START_SCAN_TIME": "now()",
}


def _transformation_expr(e: exp.Expression) -> str:
    """The few COPY transformation expressions this pipeline uses, as DuckDB SQL over (v, file_row)."""
    inner = e.this if isinstance(e, exp.Alias) else e
    if isinstance(inner, exp.Parameter) and inner.this.name == "1":
        return "v"
    if isinstance(inner, exp.Column) and inner.name.upper() in _METADATA_COLUMNS:
        return _METADATA_COLUMNS[inner.name.upper()]
    if isinstance(inner, (exp.CurrentTimestamp,)):
        return "now()"
    if isinstance(inner, exp.Literal):
        return inner.sql(dialect="duckdb").replace("{", "{{").replace("}", "}}")
    raise ProgrammingError(
        msg=(
            f"SQL compilation error:\nCOPY transformation '{inner.sql(dialect='snowflake')}' is not supported by the "
            "local warehouse (supported: $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, "
            "METADATA$FILE_LAST_MODIFIED, METADATA$START_SCAN_TIME, CURRENT_TIMESTAMP(), literals)."
        ),
        errno=2016,
        sqlstate="0A000",
    )


def copy_options(expr: exp.Copy) -> dict[str, Any]:
    options: dict[str, Any] = {"FILE_FORMAT": None, "FORCE": False, "FILES": [], "PATTERN": None}
    for param in expr.args.get("params", []):
        name = param.this.name.upper()
        if name == "FILE_FORMAT":
            options["FILE_FORMAT"] = format_properties(param.expressions)
        elif name == "FORCE":
            options["FORCE"] = truthy(param.expression)
        elif name == "FILES":
            options["FILES"] = [lit.name for lit in param.find_all(exp.Literal)]
        elif name == "PATTERN":
            options["PATTERN"] = param.expression.name
        elif name == "ON_ERROR" and param.expression.name.upper() in {"ABORT_STATEMENT"}:
            pass
        else:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nCOPY option {name} is not supported by the local warehouse",
                errno=2016,
                sqlstate="0A000",
            )
    return options
