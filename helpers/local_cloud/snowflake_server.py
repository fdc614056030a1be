"""The local Snowflake: the fakesnow server (Snowflake's wire protocol over DuckDB) plus the
fidelity fixes this pipeline depends on. Started by `launcher.up()` as its own process:

    python -m helpers.local_cloud.snowflake_server --port P --state-dir DIR --aws-endpoint URL ...

What is added on top of fakesnow 0.11.18, and why (each has a test in tests/integration):

* Persistence: every database is a DuckDB file under the state dir, and so is fakesnow's
  `_fs_global` catalog (stages, file formats) plus our integration catalog, so a restart keeps them.
* Storage integrations: CREATE/ALTER/DESC/SHOW/DROP [STORAGE] INTEGRATION. fakesnow cannot parse
  them. DESC returns STORAGE_AWS_IAM_USER_ARN (an IAM user in the local AWS that stands for
  Snowflake's own principal) and a generated STORAGE_AWS_EXTERNAL_ID, like Snowflake.
* Stages WITH STORAGE_INTEGRATION read S3 with credentials from sts:AssumeRole on the
  integration's role, as that principal, with that external id: a wrong trust policy fails here as
  it does in Snowflake. fakesnow ignores the clause and uses whatever S3 secret it has.
* LIST @s3_stage lists the S3 objects (fakesnow lists a local folder: 0 rows).
* COPY INTO ... FILE_FORMAT=(TYPE=JSON [STRIP_OUTER_ARRAY=TRUE]), optionally with a
  transformation (`SELECT $1, METADATA$FILENAME, ... FROM @stage`): one VARIANT row per top-level
  value (per element with STRIP_OUTER_ARRAY), load history, LOAD_SKIPPED unless FORCE=TRUE.
  fakesnow implements only CSV and Parquet.
* LATERAL FLATTEN(..., OUTER => TRUE) keeps one row of NULLs for empty or missing input; fakesnow
  silently ignores OUTER and drops the row.
* CREATE OR REPLACE TABLE t CLONE s replaces t (the pipeline publishes tested builds this way);
  fakesnow dropped OR REPLACE and failed when t existed.
* A memory budget: DuckDB's `memory_limit` (default 2GB, `--memory-limit`) and a spill directory
  under the state dir (`temp_directory`, `--spill-dir`), so a large load (1M records) pages to
  disk instead of growing the server's RSS without bound.
* Unsupported SQL fails at once with a SQL error naming the statement; fakesnow answers HTTP 500,
  which the Snowflake connector retries for many seconds (dbt once hung > 10 minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions
import duckdb
import snowflake.connector.errors
import sqlglot
from sqlglot import exp
from starlette.requests import Request
from starlette.responses import JSONResponse

from helpers.local_cloud import account_grants, load_metadata, table_kinds
from helpers.local_cloud.account_objects import AccountObjects

ProgrammingError = snowflake.connector.errors.ProgrammingError

GLOBAL = "_fs_global"
CATALOG_SCHEMA = f"{GLOBAL}._fs_information_schema"
INTEGRATIONS_TABLE = f"{CATALOG_SCHEMA}._local_storage_integrations"
STAGES_TABLE = f"{CATALOG_SCHEMA}._fs_stages"
STAGE_FORMATS_TABLE = f"{CATALOG_SCHEMA}._local_stage_file_formats"
FILE_FORMATS_TABLE = f"{CATALOG_SCHEMA}._fs_file_formats"


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _values_sql(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A SELECT whose result is `rows`: how a handler hands its answer back to fakesnow."""
    # quoted: Snowflake reports these result columns in lower case
    cols = ", ".join(f'"{c}"' for c in columns)
    if not rows:
        typed_nulls = ", ".join(f'NULL AS "{c}"' for c in columns)
        return f"SELECT {typed_nulls} WHERE 1 = 0"
    values = ", ".join("(" + ", ".join(_sql_literal(v) for v in row) + ")" for row in rows)
    return f"SELECT * FROM (VALUES {values}) AS t({cols})"


def _ident(name: str) -> str:
    """Snowflake identifier resolution: unquoted names are upper-cased."""
    name = name.strip()
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1]
    return name.upper()


# ---------------------------------------------------------------------------------------------
# Storage integrations
# ---------------------------------------------------------------------------------------------

_PROPERTY = re.compile(
    r"""\s*(?P<key>[A-Za-z_]+)\s*=\s*(?P<value>'(?:[^']|'')*'|\([^)]*\)|[^\s()]+)""",
    re.IGNORECASE,
)


def parse_properties(text: str) -> dict[str, Any]:
    """`KEY = 'v' KEY2 = (a, b) KEY3 = TRUE` -> {"KEY": "v", "KEY2": ["a", "b"], "KEY3": "TRUE"}."""
    props: dict[str, Any] = {}
    pos = 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _PROPERTY.match(text, pos)
        if not m:
            rest = text[pos:].strip()
            if not rest:
                break
            raise ProgrammingError(
                msg=f"SQL compilation error:\nsyntax error near '{rest[:40]}'", errno=1003, sqlstate="42000"
            )
        value = m.group("value")
        if value.startswith("("):
            items = re.findall(r"'((?:[^']|'')*)'", value)
            props[m.group("key").upper()] = [i.replace("''", "'") for i in items]
        elif value.startswith("'"):
            props[m.group("key").upper()] = value[1:-1].replace("''", "'")
        else:
            props[m.group("key").upper()] = value.upper()
        pos = m.end()
    return props


@dataclass
class Principal:
    """The IAM user standing for Snowflake's AWS principal, with its access keys."""

    arn: str
    access_key_id: str
    secret_access_key: str


class LocalWarehouse:
    """Statement handlers. `handle()` returns None to let fakesnow run a statement unchanged, or a
    substitute SELECT (after doing the statement's work) whose result is Snowflake's answer."""

    def __init__(
        self,
        duck: duckdb.DuckDBPyConnection,
        aws_endpoint: str,
        region: str,
        principal: Principal,
        db_dir: Path | None = None,
    ):
        self.duck = duck
        self.db_dir = db_dir
        self.aws_endpoint = aws_endpoint
        self.region = region
        self.principal = principal
        self._lock = threading.Lock()
        table_kinds.ensure_catalog(duck)
        duck.execute(
            f"""CREATE TABLE IF NOT EXISTS {INTEGRATIONS_TABLE} (
                name TEXT PRIMARY KEY, properties JSON, external_id TEXT, created_on TIMESTAMPTZ)"""
        )
        duck.execute(
            f"""CREATE TABLE IF NOT EXISTS {STAGE_FORMATS_TABLE} (
                database_name TEXT, schema_name TEXT, name TEXT, file_format JSON,
                PRIMARY KEY (database_name, schema_name, name))"""
        )
        self.account = AccountObjects(duck, INTEGRATIONS_TABLE)

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, conn: Any, sql: str) -> str | None:
        text = _strip_comments(sql).strip().rstrip(";").strip()
        upper = text.upper()
        # roles, warehouses, resource monitors, users and grants (account_objects.py)
        if (answer := self.account.handle(conn, text)) is not None:
            return answer
        if m := re.match(
            r"CREATE\s+(OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\s+(IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|\w+)\s*(.*)$",
            text,
            re.IGNORECASE | re.DOTALL,
        ):
            return self.create_integration(_ident(m.group(3)), m.group(4), bool(m.group(1)), bool(m.group(2)))
        if m := re.match(
            r"ALTER\s+(?:STORAGE\s+)?INTEGRATION\s+(IF\s+EXISTS\s+)?(\"[^\"]+\"|\w+)\s+SET\s+(.*)$",
            text,
            re.IGNORECASE | re.DOTALL,
        ):
            return self.alter_integration(_ident(m.group(2)), m.group(3), bool(m.group(1)))
        if m := re.match(r"(?:DESC|DESCRIBE)\s+(?:STORAGE\s+)?INTEGRATION\s+(\"[^\"]+\"|\w+)$", text, re.I):
            return self.describe_integration(_ident(m.group(1)))
        if m := re.match(r"SHOW\s+(?:STORAGE\s+)?INTEGRATIONS(?:\s+LIKE\s+'([^']*)')?$", text, re.I):
            return self.show_integrations(m.group(1))
        if m := re.match(
            r"DROP\s+(?:STORAGE\s+)?INTEGRATION\s+(IF\s+EXISTS\s+)?(\"[^\"]+\"|\w+)$", text, re.IGNORECASE
        ):
            return self.drop_integration(_ident(m.group(2)), bool(m.group(1)))
        if m := re.match(
            r"ALTER\s+SCHEMA\s+(IF\s+EXISTS\s+)?(\S+)\s+SWAP\s+WITH\s+(\S+)$", text, re.IGNORECASE
        ):
            return self.swap_schemas(conn, m.group(2), m.group(3), bool(m.group(1)))
        if m := re.match(r"DROP\s+DATABASE\s+(IF\s+EXISTS\s+)?(\"[^\"]+\"|\w+)$", text, re.IGNORECASE):
            return self.drop_database(conn, _ident(m.group(2)), bool(m.group(1)))
        if re.match(r"CREATE\s+(OR\s+REPLACE\s+)?((LOCAL\s+|GLOBAL\s+)?(TEMP|TEMPORARY|VOLATILE)\s+|TRANSIENT\s+)?TABLE\b", upper):
            table_kinds.on_create_table(self.duck, conn, text)
            load_metadata.on_create_table(self.duck, conn, text)
            return None  # fakesnow creates it
        if m := re.match(r"TRUNCATE\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?(\S+)$", text, re.IGNORECASE):
            load_metadata.forget(self.duck, conn, m.group(1))
            return None  # fakesnow empties it
        if m := re.match(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\S+)$", text, re.IGNORECASE):
            load_metadata.forget(self.duck, conn, m.group(1))
            return None
        if re.match(r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP(ORARY)?\s+)?STAGE\b", upper):
            return self.create_stage(conn, text)
        if m := re.match(r"(?:LIST|LS)\s+@(\S+)$", text, re.IGNORECASE):
            return self.list_stage(conn, m.group(1))
        if upper.startswith("COPY INTO") or upper.startswith("COPY\n") or re.match(r"COPY\s+INTO", upper):
            return self.copy_into(conn, text)
        return None

    # -- integrations --------------------------------------------------------------------------
    def _integration(self, name: str) -> dict[str, Any] | None:
        row = self.duck.cursor().execute(
            f"SELECT properties, external_id, created_on FROM {INTEGRATIONS_TABLE} WHERE name = ?", [name]
        ).fetchone()
        if not row:
            return None
        return {"name": name, "props": json.loads(row[0]), "external_id": row[1], "created_on": row[2]}

    def _require_integration(self, name: str) -> dict[str, Any]:
        if not (integration := self._integration(name)):
            raise ProgrammingError(
                msg=f"SQL compilation error:\nIntegration '{name}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return integration

    def create_integration(self, name: str, body: str, replace: bool, if_not_exists: bool) -> str:
        props = parse_properties(body)
        if props.get("TYPE") != "EXTERNAL_STAGE":
            raise ProgrammingError(
                msg="SQL compilation error:\nthe local warehouse supports only TYPE = EXTERNAL_STAGE integrations",
                errno=1003,
                sqlstate="42000",
            )
        for required in ("STORAGE_PROVIDER", "STORAGE_ALLOWED_LOCATIONS"):
            if required not in props:
                raise ProgrammingError(
                    msg=f"SQL compilation error:\nmissing required property {required}", errno=1008, sqlstate="22023"
                )
        if str(props["STORAGE_PROVIDER"]).upper() != "S3":
            raise ProgrammingError(
                msg="SQL compilation error:\nonly STORAGE_PROVIDER = 'S3' is supported locally",
                errno=1008,
                sqlstate="22023",
            )
        with self._lock:
            existing = self._integration(name)
            if existing and if_not_exists:
                return _values_sql(["status"], [(f"{name} already exists, statement succeeded.",)])
            if existing and not replace:
                raise ProgrammingError(
                    msg=f"SQL compilation error:\nObject '{name}' already exists.", errno=2002, sqlstate="42710"
                )
            # Like Snowflake, a new (or replaced) integration gets a new external id: CREATE OR
            # REPLACE therefore breaks a trust policy written for the old one.
            external_id = props.pop("STORAGE_AWS_EXTERNAL_ID", None) or (
                "FAKESNOW_SFCRole=2_" + secrets.token_urlsafe(21)
            )
            self.duck.cursor().execute(
                f"INSERT OR REPLACE INTO {INTEGRATIONS_TABLE} VALUES (?, ?, ?, now())",
                [name, json.dumps(props), external_id],
            )
            if existing:  # a replaced integration is a new object: the grants on the old one are gone
                self.account.privileges.forget_integration(name)
        return _values_sql(["status"], [(f"Integration {name} successfully created.",)])

    def alter_integration(self, name: str, body: str, if_exists: bool) -> str:
        with self._lock:
            integration = self._integration(name)
            if not integration:
                if if_exists:
                    return _values_sql(["status"], [("Statement executed successfully.",)])
                self._require_integration(name)
            assert integration
            props = {**integration["props"], **parse_properties(body)}
            external_id = props.pop("STORAGE_AWS_EXTERNAL_ID", None) or integration["external_id"]
            self.duck.cursor().execute(
                f"UPDATE {INTEGRATIONS_TABLE} SET properties = ?, external_id = ? WHERE name = ?",
                [json.dumps(props), external_id, name],
            )
        return _values_sql(["status"], [("Statement executed successfully.",)])

    def describe_integration(self, name: str) -> str:
        i = self._require_integration(name)
        p = i["props"]
        rows = [
            ("ENABLED", "Boolean", str(p.get("ENABLED", "TRUE")).lower(), "false"),
            ("STORAGE_PROVIDER", "String", "S3", ""),
            ("STORAGE_ALLOWED_LOCATIONS", "List", ",".join(p.get("STORAGE_ALLOWED_LOCATIONS", [])), "[]"),
            ("STORAGE_BLOCKED_LOCATIONS", "List", ",".join(p.get("STORAGE_BLOCKED_LOCATIONS", [])), "[]"),
            ("STORAGE_AWS_IAM_USER_ARN", "String", self.principal.arn, ""),
            ("STORAGE_AWS_ROLE_ARN", "String", p.get("STORAGE_AWS_ROLE_ARN", ""), ""),
            ("STORAGE_AWS_EXTERNAL_ID", "String", i["external_id"], ""),
            ("COMMENT", "String", p.get("COMMENT", ""), ""),
        ]
        return _values_sql(["property", "property_type", "property_value", "property_default"], rows)

    def show_integrations(self, like: str | None) -> str:
        rows = self.duck.cursor().execute(
            f"SELECT name, properties, created_on FROM {INTEGRATIONS_TABLE} ORDER BY name"
        ).fetchall()
        pattern = re.compile("^" + re.escape(like).replace("%", ".*").replace("_", ".") + "$", re.I) if like else None
        out = []
        for name, props_json, created_on in rows:
            if pattern and not pattern.match(name):
                continue
            props = json.loads(props_json)
            enabled = str(props.get("ENABLED", "TRUE")).lower()
            out.append((name, "EXTERNAL_STAGE", "STORAGE", enabled, props.get("COMMENT", ""), str(created_on)))
        return _values_sql(["name", "type", "category", "enabled", "comment", "created_on"], out)

    def drop_integration(self, name: str, if_exists: bool) -> str:
        with self._lock:
            if not self._integration(name):
                if if_exists:
                    return _values_sql(["status"], [(f"Drop statement executed successfully ({name} already dropped).",)])
                self._require_integration(name)
            self.duck.cursor().execute(f"DELETE FROM {INTEGRATIONS_TABLE} WHERE name = ?", [name])
            self.account.privileges.forget_integration(name)
        return _values_sql(["status"], [(f"{name} successfully dropped.",)])

    # -- schemas -------------------------------------------------------------------------------
    def swap_schemas(self, conn: Any, first: str, second: str, if_exists: bool) -> str:
        """ALTER SCHEMA ... SWAP WITH (helpers/local_cloud/schema_swap.py)."""
        from helpers.local_cloud.schema_swap import swap_schemas

        def split(name: str) -> tuple[str, str]:
            parts = [_ident(p) for p in name.split(".")]
            return (parts[0], parts[1]) if len(parts) == 2 else (_ident(conn.database or ""), parts[0])

        (db_a, a), (db_b, b) = split(first), split(second)
        if db_a != db_b:
            raise ProgrammingError(
                msg="SQL compilation error:\nALTER SCHEMA ... SWAP WITH needs two schemas of the same database "
                    "(the local warehouse does not move schemas between databases)",
                errno=2016, sqlstate="0A000",
            )
        with self._lock, self.account.lock:
            status = swap_schemas(self.duck, db_a, a, b, if_exists, extra_catalogs=(
                (STAGE_FORMATS_TABLE, "database_name", "schema_name"),
                (table_kinds.KINDS_TABLE, "database_name", "schema_name"),
                account_grants.SCHEMA_KEYED,  # privileges are swapped with the schemas and their tables
            ))
        return _values_sql(["status"], [(status,)])

    # -- databases -----------------------------------------------------------------------------
    def drop_database(self, conn: Any, name: str, if_exists: bool) -> str:
        """DROP DATABASE: detach the DuckDB file and delete it, with the database's stages and file
        formats (fakesnow has no DROP DATABASE)."""
        with self._lock:
            attached = {r[0].upper() for r in self.duck.cursor().execute("SELECT database_name FROM duckdb_databases()").fetchall()}
            if name not in attached:
                if if_exists:
                    return _values_sql(["status"], [(f"Drop statement executed successfully ({name} already dropped).",)])
                raise ProgrammingError(
                    msg=f"SQL compilation error:\nDatabase '{name}' does not exist or not authorized.",
                    errno=2003,
                    sqlstate="02000",
                )
            if conn.database == name:
                conn._duck_conn.execute("SET schema = 'memory.main'")
                conn.database, conn.database_set, conn.schema_set = None, False, False
            self.duck.cursor().execute(f'DETACH "{name}"')
            for table in (STAGES_TABLE, STAGE_FORMATS_TABLE, FILE_FORMATS_TABLE):
                self.duck.cursor().execute(f"DELETE FROM {table} WHERE database_name = ?", [name])
            self.account.privileges.forget_database(name)
            if self.db_dir is not None:
                for path in (self.db_dir / f"{name}.db", self.db_dir / f"{name}.db.wal"):
                    path.unlink(missing_ok=True)
        return _values_sql(["status"], [(f"{name} successfully dropped.",)])

    # -- stages --------------------------------------------------------------------------------
    def create_stage(self, conn: Any, text: str) -> str | None:
        expr = sqlglot.parse_one(text, read="snowflake")
        props = expr.args.get("properties")
        integration_name = None
        url = None
        stage_format: dict[str, Any] = {}
        kept = []
        for prop in props.expressions if props else []:
            if isinstance(prop, exp.FileFormatProperty):
                stage_format = _format_properties(prop.expressions)
            key = prop.this.name.upper() if isinstance(prop, exp.Property) and prop.this else ""
            if key == "STORAGE_INTEGRATION":
                integration_name = _ident(prop.args["value"].name)
                continue  # fakesnow would ignore it; we enforce it
            if key == "URL":
                url = prop.args["value"].name
            kept.append(prop)
        if integration_name:
            integration = self._require_integration(integration_name)
            allowed = integration["props"].get("STORAGE_ALLOWED_LOCATIONS", [])
            blocked = integration["props"].get("STORAGE_BLOCKED_LOCATIONS", [])
            if not url or not any(a == "*" or url.startswith(a) for a in allowed) or any(
                url.startswith(b) for b in blocked
            ):
                raise ProgrammingError(
                    msg=(
                        f"SQL compilation error:\nURL '{url}' is not allowed by integration '{integration_name}'. "
                        f"Allowed locations: {allowed}."
                    ),
                    errno=3001,
                    sqlstate="42601",
                )
            props.set("expressions", kept)
        table = expr.find(exp.Table)
        assert table is not None
        database = _ident(table.catalog) if table.catalog else conn.database
        schema = _ident(table.db) if table.db else conn.schema
        name = _ident(table.name)
        cur = conn.cursor()
        cur.execute(expr.sql(dialect="snowflake"))
        status = cur.fetchall()
        self.duck.cursor().execute(
            f"UPDATE {STAGES_TABLE} SET storage_integration = ? WHERE database_name = ? AND schema_name = ? AND name = ?",
            [integration_name, database, schema, name],
        )
        self.duck.cursor().execute(
            f"INSERT OR REPLACE INTO {STAGE_FORMATS_TABLE} VALUES (?, ?, ?, ?)",
            [database, schema, name, json.dumps(stage_format)],
        )
        return _values_sql(["status"], [(status[0][0],)])

    def _stage(self, conn: Any, var: str) -> tuple[str, str, str, str | None]:
        """`db.schema.stage/sub/path` -> (stage fq name, stage url, sub path, integration)."""
        name_part, _, sub_path = var.partition("/")
        parts = name_part.split(".")
        database, schema = conn.database, conn.schema
        if len(parts) == 3:
            database, schema, name = parts
        elif len(parts) == 2:
            schema, name = parts
        else:
            (name,) = parts
        database, schema, name = _ident(database or ""), _ident(schema or ""), _ident(name)
        row = self.duck.cursor().execute(
            f"SELECT url, storage_integration FROM {STAGES_TABLE} "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            [database, schema, name],
        ).fetchone()
        fq = f"{database}.{schema}.{name}"
        if not row:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nStage '{fq}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return fq, row[0] or "", sub_path, row[1]

    def _credentials(self, integration_name: str | None, fq_stage: str) -> dict[str, str] | None:
        """Credentials for reading a stage's S3 location: assume the integration's role as Snowflake's
        principal, with the integration's external id, exactly as Snowflake does."""
        if not integration_name:
            return None
        integration = self._require_integration(integration_name)
        if str(integration["props"].get("ENABLED", "TRUE")).upper() != "TRUE":
            raise ProgrammingError(
                msg=f"Integration '{integration_name}' is disabled.", errno=91002, sqlstate="22000"
            )
        sts = boto3.client(
            "sts",
            endpoint_url=self.aws_endpoint,
            region_name=self.region,
            aws_access_key_id=self.principal.access_key_id,
            aws_secret_access_key=self.principal.secret_access_key,
        )
        try:
            creds = sts.assume_role(
                RoleArn=integration["props"].get("STORAGE_AWS_ROLE_ARN", ""),
                RoleSessionName="snowflake",
                ExternalId=integration["external_id"],
            )["Credentials"]
        except botocore.exceptions.ClientError as e:
            raise ProgrammingError(
                msg=(
                    "SQL execution error:\nError assuming AWS_ROLE. Please verify the role and externalId are "
                    f"configured correctly in your AWS policy. (stage {fq_stage}, integration {integration_name}: "
                    f"{e.response['Error'].get('Code')}: {e.response['Error'].get('Message')})"
                ),
                errno=91003,
                sqlstate="22000",
            ) from None
        return {
            "key": creds["AccessKeyId"],
            "secret": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
        }

    def _s3_client(self, creds: dict[str, str] | None) -> Any:
        kwargs: dict[str, Any] = {"endpoint_url": self.aws_endpoint, "region_name": self.region}
        if creds:
            kwargs.update(
                aws_access_key_id=creds["key"], aws_secret_access_key=creds["secret"], aws_session_token=creds["token"]
            )
        else:
            # no integration: an anonymous request, which a private bucket refuses
            kwargs["config"] = botocore.config.Config(signature_version=botocore.UNSIGNED)
        return boto3.client("s3", **kwargs)

    def _list_objects(self, fq_stage: str, url: str, creds: dict[str, str] | None) -> list[dict[str, Any]]:
        parsed = urlparse(url)
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        try:
            pages = self._s3_client(creds).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            objects = [o for page in pages for o in page.get("Contents", [])]
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            raise ProgrammingError(
                msg=(
                    f"Failure using stage area. Cause: [{err.get('Message')} (Status Code: "
                    f"{e.response['ResponseMetadata'].get('HTTPStatusCode')}; Error Code: {err.get('Code')})] "
                    f"stage {fq_stage} url {url}"
                ),
                errno=91016,
                sqlstate="22000",
            ) from None
        return [{**o, "Url": f"s3://{bucket}/{o['Key']}"} for o in objects if not o["Key"].endswith("/")]

    def list_stage(self, conn: Any, var: str) -> str | None:
        fq, url, sub_path, integration = self._stage(conn, var)
        if not url.startswith("s3://"):
            return None  # an internal stage: fakesnow lists its local folder correctly
        creds = self._credentials(integration, fq)
        location = url.rstrip("/") + "/" + sub_path if sub_path else url
        rows = [
            (
                o["Url"],
                o["Size"],
                o["ETag"].strip('"'),
                o["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"),
            )
            for o in self._list_objects(fq, location, creds)
        ]
        return _values_sql(["name", "size", "md5", "last_modified"], rows)

    # -- COPY INTO -----------------------------------------------------------------------------
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
        fq, url, sub_path, integration = self._stage(conn, var[1:])
        if not url.startswith("s3://"):
            return None
        creds = self._credentials(integration, fq)
        self._install_secret(url, creds)
        options = _copy_options(expr)
        file_format = options.pop("FILE_FORMAT") or self._stage_format(fq)
        file_format = self._resolve_format(conn, file_format)
        options["TYPE"] = str(file_format.get("TYPE", "CSV")).upper()
        options["STRIP_OUTER_ARRAY"] = _truthy_value(file_format.get("STRIP_OUTER_ARRAY", False))
        if options["TYPE"] != "JSON":
            return None  # CSV / Parquet: fakesnow reads S3 through the secret installed above
        return self._copy_json(conn, expr, fq, url, sub_path, creds, select, options)

    def _stage_format(self, fq_stage: str) -> dict[str, Any]:
        database, schema, name = fq_stage.split(".")
        row = self.duck.cursor().execute(
            f"SELECT file_format FROM {STAGE_FORMATS_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
            [database, schema, name],
        ).fetchone()
        return json.loads(row[0]) if row else {}

    def _resolve_format(self, conn: Any, file_format: dict[str, Any]) -> dict[str, Any]:
        """Inline options as they are; FORMAT_NAME looked up in the file format catalog."""
        if not (format_name := file_format.get("FORMAT_NAME")):
            return file_format
        parts = [_ident(p) for p in format_name.split(".")]
        database, schema, name = ([conn.database, conn.schema] + parts)[-3:]
        row = self.duck.cursor().execute(
            f"SELECT options FROM {FILE_FORMATS_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
            [database, schema, name],
        ).fetchone()
        if not row:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nFile format '{database}.{schema}.{name}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return json.loads(row[0])

    def _install_secret(self, url: str, creds: dict[str, str] | None) -> None:
        """A DuckDB S3 secret scoped to exactly this stage location, holding the role's session."""
        if not creds:
            return
        endpoint = urlparse(self.aws_endpoint)
        name = "stage_" + hashlib.sha256(url.encode()).hexdigest()[:16]
        self.duck.cursor().execute(
            f"""CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID {_sql_literal(creds['key'])},
                SECRET {_sql_literal(creds['secret'])}, SESSION_TOKEN {_sql_literal(creds['token'])},
                REGION {_sql_literal(self.region)}, ENDPOINT {_sql_literal(endpoint.netloc)},
                URL_STYLE 'path', USE_SSL {str(endpoint.scheme == 'https').lower()},
                SCOPE {_sql_literal(url if url.endswith('/') else url + '/')})"""
        )

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
        database = _ident(table.catalog) if table.catalog else conn.database
        schema = _ident(table.db) if table.db else conn.schema
        table_name = _ident(table.name)
        qualified = f'"{database}"."{schema}"."{table_name}"'
        duck = conn._duck_conn  # the session's own DuckDB cursor: same transaction as its other statements
        try:
            table_columns = [r[0] for r in duck.execute(f"DESCRIBE {qualified}").fetchall()]
        except duckdb.CatalogException:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nTable '{database}.{schema}.{table_name}' does not exist or not authorized.",
                errno=2003,
                sqlstate="42S02",
            ) from None
        columns = [_ident(c.name) for c in target.expressions] if isinstance(target, exp.Schema) else []

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
        objects = self._list_objects(fq_stage, location, creds)
        if options["FILES"]:
            wanted = {f.lstrip("/") for f in options["FILES"]}
            objects = [o for o in objects if o["Url"][len(location.rstrip("/")) + 1 :] in wanted]
        if options["PATTERN"]:
            pattern = re.compile(options["PATTERN"])
            objects = [o for o in objects if pattern.fullmatch(o["Url"][len(url) :].lstrip("/")) or pattern.fullmatch(o["Key"])]
        if not objects:
            return _values_sql(["status"], [("Copy executed with 0 files processed.",)])

        strip = options["STRIP_OUTER_ARRAY"]
        history_table = f'"{database}"._fs_information_schema._fs_load_history'
        results = []
        began = False
        if conn._autocommit and not conn._in_transaction:
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
                    "json" if not strip else
                    "unnest(CASE WHEN json_type(json) = 'ARRAY' THEN json_transform(json, '[\"JSON\"]') ELSE [json] END)"
                )
                metadata = {
                    # "Includes the full path to the data file" (Snowflake, Query metadata for staged files):
                    # for an S3 stage, the object's key in its bucket, the stage's own prefix included
                    "filename": _sql_literal(obj["Key"]),
                    "last_modified": _sql_literal(obj["LastModified"].isoformat()) + "::TIMESTAMPTZ",
                }
                select_list = ", ".join(e.format(**metadata) for e in exprs)
                sql = (
                    f"INSERT INTO {qualified} ({', '.join(_quote(c) for c in columns)}) "
                    f"SELECT {select_list} FROM (SELECT v, row_number() OVER () AS file_row FROM ("
                    f"SELECT {values} AS v FROM read_json_objects({_sql_literal(file_url)}, format='unstructured')))"
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
                now = dt.datetime.now(dt.timezone.utc).isoformat()
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
        return _values_sql(
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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def _format_properties(props: list[exp.Expression]) -> dict[str, Any]:
    """FILE_FORMAT = (TYPE = JSON STRIP_OUTER_ARRAY = TRUE) or (FORMAT_NAME = x) or = x, as a dict."""
    out: dict[str, Any] = {}
    for prop in props:
        key = prop.this.name.upper()
        value = prop.args.get("value")
        if isinstance(value, exp.Table):
            out[key] = ".".join(p.sql(dialect="snowflake") for p in value.parts)
        elif isinstance(value, exp.Boolean):
            out[key] = bool(value.this)
        else:
            out[key] = value.name if value is not None else None
    for key in out:
        if key not in {"TYPE", "STRIP_OUTER_ARRAY", "FORMAT_NAME"} and str(out.get("TYPE", "")).upper() == "JSON":
            raise ProgrammingError(
                msg=f"SQL compilation error:\nfile format option {key} is not supported by the local warehouse",
                errno=2016,
                sqlstate="0A000",
            )
    return out


def _copy_options(expr: exp.Copy) -> dict[str, Any]:
    options: dict[str, Any] = {"FILE_FORMAT": None, "FORCE": False, "FILES": [], "PATTERN": None}
    for param in expr.args.get("params", []):
        name = param.this.name.upper()
        if name == "FILE_FORMAT":
            options["FILE_FORMAT"] = _format_properties(param.expressions)
        elif name == "FORCE":
            options["FORCE"] = _truthy(param.expression)
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


def _truthy_value(value: Any) -> bool:
    return value is True or str(value).upper() in {"TRUE", "1", "YES"}


def _truthy(value: exp.Expression | None) -> bool:
    if isinstance(value, exp.Boolean):
        return bool(value.this)
    return value is not None and value.name.upper() in {"TRUE", "1", "YES"}


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return "\n".join(line for line in (re.sub(r"^\s*--.*$", "", ln) for ln in sql.splitlines()))


# ---------------------------------------------------------------------------------------------
# fakesnow patches and the server
# ---------------------------------------------------------------------------------------------

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


def _patch_fakesnow() -> None:
    import fakesnow.macros
    import fakesnow.transforms
    from fakesnow.transforms import transforms as fs_transforms

    original_creation_sql = fakesnow.macros.creation_sql

    def creation_sql(catalog: str) -> str:
        return original_creation_sql(catalog) + FLATTEN_OUTER_MACRO.format(catalog=catalog) + ";"

    fakesnow.macros.creation_sql = creation_sql

    original_flatten = fs_transforms.flatten

    def flatten(expression: exp.Expression) -> exp.Expression:
        # OUTER => TRUE: one row with NULL KEY/INDEX/VALUE for an empty or missing input
        if isinstance(expression, (exp.Lateral, exp.TableFromRows)) and isinstance(expression.this, exp.Explode):
            outer = any(
                isinstance(k, exp.Kwarg) and k.this.name.upper() == "OUTER" and _truthy(k.expression)
                for k in expression.this.expressions
            )
            result = original_flatten(expression)
            if outer and isinstance(result, exp.Table) and isinstance(result.this, exp.Anonymous):
                result.this.set("this", "_fs_flatten_outer")
            return result
        return original_flatten(expression)

    fakesnow.transforms.flatten = flatten

    original_create_clone = fs_transforms.create_clone

    def create_clone(expression: exp.Expression) -> exp.Expression:
        # CREATE OR REPLACE TABLE t CLONE s: fakesnow rewrites CLONE to CREATE TABLE AS SELECT and
        # drops OR REPLACE, so replacing an existing table failed with "already exists".
        result = original_create_clone(expression)
        if result is not expression and expression.args.get("replace"):
            result.set("replace", True)
        return result

    fakesnow.transforms.create_clone = create_clone


def _persistent_instance(state_dir: Path) -> Any:
    """A FakeSnow whose databases and global catalog (stages, file formats) live in files."""
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


def _load_httpfs(duck: duckdb.DuckDBPyConnection) -> None:
    """httpfs from the pip package (duckdb-extension-httpfs): no download at run time."""
    import duckdb_extension_httpfs

    path = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.exists():
        path = next(Path(duckdb_extension_httpfs.__file__).parent.rglob("httpfs.duckdb_extension"))
    duck.execute(f"LOAD '{path}'")


DEFAULT_MEMORY_LIMIT = "2GB"


def _limit_memory(duck: duckdb.DuckDBPyConnection, memory_limit: str, spill_dir: Path) -> None:
    """DuckDB's buffer manager keeps to `memory_limit` and spills what does not fit to
    `spill_dir` (hash tables, sorts, big inserts). Note: the limit covers DuckDB's buffers, not
    Python objects or the HTTP layer, so the process's RSS can be somewhat above it."""
    spill_dir.mkdir(parents=True, exist_ok=True)
    duck.execute(f"SET memory_limit = {_sql_literal(memory_limit)}")
    duck.execute(f"SET temp_directory = {_sql_literal(str(spill_dir))}")


def build_app(
    state_dir: Path, aws_endpoint: str, region: str, principal: Principal,
    memory_limit: str = DEFAULT_MEMORY_LIMIT, spill_dir: Path | None = None,
) -> Any:
    import fakesnow.server as server
    from starlette.applications import Starlette
    from starlette.routing import Route

    _patch_fakesnow()
    table_kinds.patch_information_schema()
    fs = _persistent_instance(state_dir)
    _limit_memory(fs.duck_conn, memory_limit, spill_dir or state_dir / "spill")
    _load_httpfs(fs.duck_conn)
    server.shared_fs = fs
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

    async def query_request(request: Request) -> JSONResponse:
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
        try:
            conn = server.to_conn(server.to_token(request))
        except server.ServerError:
            return await server.query_request(request)
        try:
            substitute = await _run_in_thread(warehouse.handle, conn, sql_text)
        except ProgrammingError as e:
            return error_response(e.errno or 2, e.msg or str(e), e.sqlstate or "42000")
        except Exception as e:  # noqa: BLE001 - any bug becomes a SQL error, never an HTTP 500 retry loop
            return error_response(2, f"local warehouse error in {sql_text[:200]!r}: {type(e).__name__}: {e}", "XX000")
        if substitute is not None:
            body_json["sqlText"] = substitute
            new_body = json.dumps(body_json).encode()
            request._body = gzip.compress(new_body) if gzipped else new_body  # noqa: SLF001
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

    routes = [
        Route(r.path, query_request if r.path == "/queries/v1/query-request" else r.endpoint, methods=r.methods)
        for r in server.routes
    ]
    routes.append(Route("/health", lambda _: JSONResponse({"ok": True}), methods=["GET"]))
    return Starlette(routes=routes)


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
