"""The local warehouse's statement dispatch: which statements it answers itself (a substitute SELECT
whose result is Snowflake's answer, after doing the statement's work), which it only records something
about before fakesnow runs them, and which it leaves to fakesnow unchanged.

Each concern is its own module: account_objects.py (roles, warehouses, monitors, users, grants),
stage_catalog.py (integrations, stages, file formats), stage_s3.py (S3 through the integration's role),
copy_json.py (COPY of JSON), table_kinds.py and load_metadata.py (what CREATE TABLE records),
schema_swap.py (ALTER SCHEMA ... SWAP WITH). DROP DATABASE is here: fakesnow has none.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from helpers.local_cloud import account_grants, load_metadata, table_kinds
from helpers.local_cloud.account_objects import AccountObjects
from helpers.local_cloud.copy_json import CopyJson
from helpers.local_cloud.fakesnow_compat import forget_session_database
from helpers.local_cloud.stage_catalog import INTEGRATIONS_TABLE, STAGE_FORMATS_TABLE, StageCatalog
from helpers.local_cloud.stage_s3 import Principal, StageS3
from helpers.local_cloud.warehouse_sql import ProgrammingError, ident, strip_comments, values_sql


class LocalWarehouse:
    """Statement handlers. `handle()` returns None to let fakesnow run a statement unchanged, or a
    substitute SELECT (after doing the statement's work) whose result is Snowflake's answer."""

    def __init__(self, duck: Any, aws_endpoint: str, region: str, principal: Principal, db_dir: Path | None = None):
        self.duck = duck
        self.db_dir = db_dir
        self._lock = threading.Lock()
        table_kinds.ensure_catalog(duck)
        self.catalog = StageCatalog(duck, principal.arn, on_integration_gone=self._integration_gone)
        self.s3 = StageS3(duck, aws_endpoint, region, principal, self.catalog)
        self.copy = CopyJson(self.catalog, self.s3)
        self.account = AccountObjects(duck, INTEGRATIONS_TABLE)

    def _integration_gone(self, name: str) -> None:
        self.account.privileges.forget_integration(name)

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, conn: Any, sql: str) -> str | None:
        text = strip_comments(sql).strip().rstrip(";").strip()
        upper = text.upper()
        # roles, warehouses, resource monitors, users and grants (account_objects.py)
        if (answer := self.account.handle(conn, text)) is not None:
            return answer
        if m := re.match(
            r"CREATE\s+(OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\s+(IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|\w+)\s*(.*)$",
            text,
            re.IGNORECASE | re.DOTALL,
        ):
            return self.catalog.create_integration(ident(m.group(3)), m.group(4), bool(m.group(1)), bool(m.group(2)))
        if m := re.match(
            r"ALTER\s+(?:STORAGE\s+)?INTEGRATION\s+(IF\s+EXISTS\s+)?(\"[^\"]+\"|\w+)\s+SET\s+(.*)$",
            text,
            re.IGNORECASE | re.DOTALL,
        ):
            return self.catalog.alter_integration(ident(m.group(2)), m.group(3), bool(m.group(1)))
        if m := re.match(r"(?:DESC|DESCRIBE)\s+(?:STORAGE\s+)?INTEGRATION\s+(\"[^\"]+\"|\w+)$", text, re.I):
            return self.catalog.describe_integration(ident(m.group(1)))
        if m := re.match(r"SHOW\s+(?:STORAGE\s+)?INTEGRATIONS(?:\s+LIKE\s+'([^']*)')?$", text, re.I):
            return self.catalog.show_integrations(m.group(1))
        if m := re.match(
            r"DROP\s+(?:STORAGE\s+)?INTEGRATION\s+(IF\s+EXISTS\s+)?(\"[^\"]+\"|\w+)$", text, re.IGNORECASE
        ):
            return self.catalog.drop_integration(ident(m.group(2)), bool(m.group(1)))
        if m := re.match(r"ALTER\s+SCHEMA\s+(IF\s+EXISTS\s+)?(\S+)\s+SWAP\s+WITH\s+(\S+)$", text, re.IGNORECASE):
            return self.swap_schemas(conn, m.group(2), m.group(3), bool(m.group(1)))
        if m := re.match(r"DROP\s+DATABASE\s+(IF\s+EXISTS\s+)?(\"[^\"]+\"|\w+)$", text, re.IGNORECASE):
            return self.drop_database(conn, ident(m.group(2)), bool(m.group(1)))
        if re.match(
            r"CREATE\s+(OR\s+REPLACE\s+)?((LOCAL\s+|GLOBAL\s+)?(TEMP|TEMPORARY|VOLATILE)\s+|TRANSIENT\s+)?TABLE\b",
            upper,
        ):
            table_kinds.on_create_table(self.duck, conn, text)
            load_metadata.on_create_table(self.duck, conn, text)
            return None  # fakesnow creates it
        if m := re.match(r"TRUNCATE\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?(\S+)$", text, re.IGNORECASE):
            load_metadata.forget(self.duck, conn, m.group(1))
            return None  # fakesnow empties it
        if m := re.match(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\S+)$", text, re.IGNORECASE):
            load_metadata.forget(self.duck, conn, m.group(1))
            return None
        if m := re.match(
            r"DROP\s+SCHEMA\s+(?:IF\s+EXISTS\s+)?(\S+?)(?:\s+(?:CASCADE|RESTRICT))?$", text, re.IGNORECASE
        ):
            parts = [ident(x) for x in m.group(1).split(".")]
            database, schema = (parts[0], parts[1]) if len(parts) == 2 else (ident(conn.database or ""), parts[0])
            self.catalog.forget_schema(database, schema)
            return None  # fakesnow drops the schema and its tables
        if re.match(r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP(ORARY)?\s+)?STAGE\b", upper):
            return self.catalog.create_stage(conn, text)
        if m := re.match(r"(?:LIST|LS)\s+@(\S+)$", text, re.IGNORECASE):
            return self.s3.list_stage(conn, m.group(1))
        if upper.startswith("COPY INTO") or upper.startswith("COPY\n") or re.match(r"COPY\s+INTO", upper):
            return self.copy.copy_into(conn, text)
        return None

    # -- schemas -------------------------------------------------------------------------------
    def swap_schemas(self, conn: Any, first: str, second: str, if_exists: bool) -> str:
        """ALTER SCHEMA ... SWAP WITH (helpers/local_cloud/schema_swap.py)."""
        from helpers.local_cloud.schema_swap import swap_schemas

        def split(name: str) -> tuple[str, str]:
            parts = [ident(p) for p in name.split(".")]
            return (parts[0], parts[1]) if len(parts) == 2 else (ident(conn.database or ""), parts[0])

        (db_a, a), (db_b, b) = split(first), split(second)
        if db_a != db_b:
            raise ProgrammingError(
                msg="SQL compilation error:\nALTER SCHEMA ... SWAP WITH needs two schemas of the same database "
                "(the local warehouse does not move schemas between databases)",
                errno=2016,
                sqlstate="0A000",
            )
        with self._lock, self.account.lock:
            status = swap_schemas(
                self.duck,
                db_a,
                a,
                b,
                if_exists,
                extra_catalogs=(
                    (STAGE_FORMATS_TABLE, "database_name", "schema_name"),
                    (table_kinds.KINDS_TABLE, "database_name", "schema_name"),
                    account_grants.SCHEMA_KEYED,  # privileges are swapped with the schemas and their tables
                ),
            )
        return values_sql(["status"], [(status,)])

    # -- databases -----------------------------------------------------------------------------
    def drop_database(self, conn: Any, name: str, if_exists: bool) -> str:
        """DROP DATABASE: detach the DuckDB file and delete it, with the database's stages and file
        formats (fakesnow has no DROP DATABASE)."""
        with self._lock:
            attached = {
                r[0].upper()
                for r in self.duck.cursor().execute("SELECT database_name FROM duckdb_databases()").fetchall()
            }
            if name not in attached:
                if if_exists:
                    return values_sql(
                        ["status"], [(f"Drop statement executed successfully ({name} already dropped).",)]
                    )
                raise ProgrammingError(
                    msg=f"SQL compilation error:\nDatabase '{name}' does not exist or not authorized.",
                    errno=2003,
                    sqlstate="02000",
                )
            if conn.database == name:
                forget_session_database(conn)
            self.duck.cursor().execute(f'DETACH "{name}"')
            self.catalog.forget_database(name)
            self.account.privileges.forget_database(name)
            if self.db_dir is not None:
                for path in (self.db_dir / f"{name}.db", self.db_dir / f"{name}.db.wal"):
                    path.unlink(missing_ok=True)
        return values_sql(["status"], [(f"{name} successfully dropped.",)])
