"""The local warehouse's stage catalog: storage integrations (fakesnow cannot parse them), external stages
and their file formats.

* CREATE/ALTER/DESC/SHOW/DROP [STORAGE] INTEGRATION: a catalog table in `_fs_global` (persisted). DESC
  returns STORAGE_AWS_IAM_USER_ARN (an IAM user in the local AWS that stands for Snowflake's own
  principal) and a generated STORAGE_AWS_EXTERNAL_ID, like Snowflake; CREATE OR REPLACE makes a new one.
* CREATE STAGE ... STORAGE_INTEGRATION = x: fakesnow ignores the clause; here the URL is checked against
  the integration's allowed / blocked locations, and the integration and the stage's own FILE_FORMAT are
  recorded for LIST and COPY (stage_s3.py, copy_json.py).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp

from helpers.local_cloud.fakesnow_compat import CATALOG_SCHEMA, FILE_FORMATS_TABLE, STAGES_TABLE
from helpers.local_cloud.warehouse_sql import ProgrammingError, format_properties, ident, parse_properties, values_sql

INTEGRATIONS_TABLE = f"{CATALOG_SCHEMA}._local_storage_integrations"
STAGE_FORMATS_TABLE = f"{CATALOG_SCHEMA}._local_stage_file_formats"


class StageCatalog:
    def __init__(self, duck: Any, principal_arn: str, on_integration_gone: Callable[[str], None] = lambda _: None):
        self.duck = duck
        self.principal_arn = principal_arn
        self.on_integration_gone = on_integration_gone  # a dropped or replaced integration's grants go
        self._lock = threading.Lock()
        duck.execute(
            f"""CREATE TABLE IF NOT EXISTS {INTEGRATIONS_TABLE} (
                name TEXT PRIMARY KEY, properties JSON, external_id TEXT, created_on TIMESTAMPTZ)"""
        )
        duck.execute(
            f"""CREATE TABLE IF NOT EXISTS {STAGE_FORMATS_TABLE} (
                database_name TEXT, schema_name TEXT, name TEXT, file_format JSON,
                PRIMARY KEY (database_name, schema_name, name))"""
        )

    # -- integrations --------------------------------------------------------------------------
    def integration(self, name: str) -> dict[str, Any] | None:
        row = (
            self.duck.cursor()
            .execute(f"SELECT properties, external_id, created_on FROM {INTEGRATIONS_TABLE} WHERE name = ?", [name])
            .fetchone()
        )
        if not row:
            return None
        return {"name": name, "props": json.loads(row[0]), "external_id": row[1], "created_on": row[2]}

    def require_integration(self, name: str) -> dict[str, Any]:
        if not (integration := self.integration(name)):
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
            existing = self.integration(name)
            if existing and if_not_exists:
                return values_sql(["status"], [(f"{name} already exists, statement succeeded.",)])
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
                self.on_integration_gone(name)
        return values_sql(["status"], [(f"Integration {name} successfully created.",)])

    def alter_integration(self, name: str, body: str, if_exists: bool) -> str:
        with self._lock:
            integration = self.integration(name)
            if not integration:
                if if_exists:
                    return values_sql(["status"], [("Statement executed successfully.",)])
                self.require_integration(name)
            assert integration
            props = {**integration["props"], **parse_properties(body)}
            external_id = props.pop("STORAGE_AWS_EXTERNAL_ID", None) or integration["external_id"]
            self.duck.cursor().execute(
                f"UPDATE {INTEGRATIONS_TABLE} SET properties = ?, external_id = ? WHERE name = ?",
                [json.dumps(props), external_id, name],
            )
        return values_sql(["status"], [("Statement executed successfully.",)])

    def describe_integration(self, name: str) -> str:
        i = self.require_integration(name)
        p = i["props"]
        rows = [
            ("ENABLED", "Boolean", str(p.get("ENABLED", "TRUE")).lower(), "false"),
            ("STORAGE_PROVIDER", "String", "S3", ""),
            ("STORAGE_ALLOWED_LOCATIONS", "List", ",".join(p.get("STORAGE_ALLOWED_LOCATIONS", [])), "[]"),
            ("STORAGE_BLOCKED_LOCATIONS", "List", ",".join(p.get("STORAGE_BLOCKED_LOCATIONS", [])), "[]"),
            ("STORAGE_AWS_IAM_USER_ARN", "String", self.principal_arn, ""),
            ("STORAGE_AWS_ROLE_ARN", "String", p.get("STORAGE_AWS_ROLE_ARN", ""), ""),
            ("STORAGE_AWS_EXTERNAL_ID", "String", i["external_id"], ""),
            ("COMMENT", "String", p.get("COMMENT", ""), ""),
        ]
        return values_sql(["property", "property_type", "property_value", "property_default"], rows)

    def show_integrations(self, like: str | None) -> str:
        rows = (
            self.duck.cursor()
            .execute(f"SELECT name, properties, created_on FROM {INTEGRATIONS_TABLE} ORDER BY name")
            .fetchall()
        )
        pattern = re.compile("^" + re.escape(like).replace("%", ".*").replace("_", ".") + "$", re.I) if like else None
        out = []
        for name, props_json, created_on in rows:
            if pattern and not pattern.match(name):
                continue
            props = json.loads(props_json)
            enabled = str(props.get("ENABLED", "TRUE")).lower()
            out.append((name, "EXTERNAL_STAGE", "STORAGE", enabled, props.get("COMMENT", ""), str(created_on)))
        return values_sql(["name", "type", "category", "enabled", "comment", "created_on"], out)

    def drop_integration(self, name: str, if_exists: bool) -> str:
        with self._lock:
            if not self.integration(name):
                if if_exists:
                    return values_sql(
                        ["status"], [(f"Drop statement executed successfully ({name} already dropped).",)]
                    )
                self.require_integration(name)
            self.duck.cursor().execute(f"DELETE FROM {INTEGRATIONS_TABLE} WHERE name = ?", [name])
            self.on_integration_gone(name)
        return values_sql(["status"], [(f"{name} successfully dropped.",)])

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
                stage_format = format_properties(prop.expressions)
            key = prop.this.name.upper() if isinstance(prop, exp.Property) and prop.this else ""
            if key == "STORAGE_INTEGRATION":
                integration_name = ident(prop.args["value"].name)
                continue  # fakesnow would ignore it; we enforce it
            if key == "URL":
                url = prop.args["value"].name
            kept.append(prop)
        if integration_name:
            integration = self.require_integration(integration_name)
            allowed = integration["props"].get("STORAGE_ALLOWED_LOCATIONS", [])
            blocked = integration["props"].get("STORAGE_BLOCKED_LOCATIONS", [])
            if (
                not url
                or not any(a == "*" or url.startswith(a) for a in allowed)
                or any(url.startswith(b) for b in blocked)
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
        database = ident(table.catalog) if table.catalog else conn.database
        schema = ident(table.db) if table.db else conn.schema
        name = ident(table.name)
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
        return values_sql(["status"], [(status[0][0],)])

    def stage(self, conn: Any, var: str) -> tuple[str, str, str, str | None]:
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
        database, schema, name = ident(database or ""), ident(schema or ""), ident(name)
        row = (
            self.duck.cursor()
            .execute(
                f"SELECT url, storage_integration FROM {STAGES_TABLE} "
                "WHERE database_name = ? AND schema_name = ? AND name = ?",
                [database, schema, name],
            )
            .fetchone()
        )
        fq = f"{database}.{schema}.{name}"
        if not row:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nStage '{fq}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return fq, row[0] or "", sub_path, row[1]

    def stage_format(self, fq_stage: str) -> dict[str, Any]:
        database, schema, name = fq_stage.split(".")
        row = (
            self.duck.cursor()
            .execute(
                f"SELECT file_format FROM {STAGE_FORMATS_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
                [database, schema, name],
            )
            .fetchone()
        )
        return json.loads(row[0]) if row else {}

    def resolve_format(self, conn: Any, file_format: dict[str, Any]) -> dict[str, Any]:
        """Inline options as they are; FORMAT_NAME looked up in the file format catalog."""
        if not (format_name := file_format.get("FORMAT_NAME")):
            return file_format
        parts = [ident(p) for p in format_name.split(".")]
        database, schema, name = ([conn.database, conn.schema] + parts)[-3:]
        row = (
            self.duck.cursor()
            .execute(
                f"SELECT options FROM {FILE_FORMATS_TABLE} WHERE database_name = ? AND schema_name = ? AND name = ?",
                [database, schema, name],
            )
            .fetchone()
        )
        if not row:
            raise ProgrammingError(
                msg=f"SQL compilation error:\nFile format '{database}.{schema}.{name}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return json.loads(row[0])

    def forget_schema(self, database: str, schema: str) -> None:
        """DROP SCHEMA: its stages and file formats go with it (Snowflake drops everything a schema
        holds; fakesnow keeps their catalog rows, so SHOW STAGES would still list them)."""
        for table in (STAGES_TABLE, STAGE_FORMATS_TABLE, FILE_FORMATS_TABLE):
            self.duck.cursor().execute(
                f"DELETE FROM {table} WHERE upper(database_name) = ? AND upper(schema_name) = ?",
                [database.upper(), schema.upper()],
            )

    def forget_database(self, name: str) -> None:
        """DROP DATABASE: its stages and file formats go with it."""
        for table in (STAGES_TABLE, STAGE_FORMATS_TABLE, FILE_FORMATS_TABLE):
            self.duck.cursor().execute(f"DELETE FROM {table} WHERE database_name = ?", [name])
