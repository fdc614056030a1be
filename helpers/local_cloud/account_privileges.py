"""GRANT / REVOKE / SHOW GRANTS for the local warehouse, and the statements that make grants follow their
objects. Privileges are RECORDED, NOT EVALUATED (see account_objects.py).

Snowflake's rules kept here (each pinned by tests/integration/test_local_account_objects.py):
* GRANT ROLE r TO ROLE|USER x; GRANT <privileges> ON WAREHOUSE|DATABASE|SCHEMA|TABLE|INTEGRATION|RESOURCE
  MONITOR x TO ROLE r [WITH GRANT OPTION]; GRANT <privileges> ON ALL TABLES IN SCHEMA s TO ROLE r - one
  grant per table that exists now, as Snowflake records it (not a future grant); REVOKE of the same forms.
  https://docs.snowflake.com/en/sql-reference/sql/grant-privilege , .../grant-role , .../revoke-privilege
* A role, user or object that does not exist: 002003 "... does not exist or not authorized.".
* GRANT OWNERSHIP ON <object> TO ROLE r [COPY | REVOKE CURRENT GRANTS]: one owner; with other grants on the
  object and neither option, Snowflake refuses (003036 "Dependent grant of privilege ... exists"); REVOKE
  OWNERSHIP is refused (003937 "OWNERSHIP can only be transferred.").
  https://docs.snowflake.com/en/sql-reference/sql/grant-ownership
* Grants follow objects: DROP SCHEMA / TABLE (and CREATE OR REPLACE of either, without COPY GRANTS) forget
  what was granted on them; DROP DATABASE, DROP INTEGRATION and ALTER SCHEMA ... SWAP WITH call in from
  the statements that implement them. https://docs.snowflake.com/en/sql-reference/sql/alter-schema ("also
  swaps all access control privileges granted on the schemas and objects they contain").
"""

from __future__ import annotations

import re
from typing import Any

from helpers.local_cloud.account_grants import (
    SHOW_GRANTS_COLUMNS,
    SHOW_ROLE_GRANTS_COLUMNS,
    Key,
    account_key,
    display_name,
    key_of,
)
from helpers.local_cloud.table_kinds import _CREATE_TABLE, _qualify
from helpers.local_cloud.warehouse_sql import ProgrammingError, ident, not_supported, split_name, status, values_sql

NAME = r'"(?:[^"]|"")+"|[A-Za-z_][\w$]*'
QNAME = rf"(?:{NAME})(?:\.(?:{NAME})){{0,2}}"
KIND = r"WAREHOUSE|DATABASE|SCHEMA|TABLE|INTEGRATION|RESOURCE\s+MONITOR|ROLE|USER"

# The privileges each kind of object takes (Snowflake's "Access control privileges" page,
# https://docs.snowflake.com/en/user-guide/security-access-control-privileges); OWNERSHIP apart.
PRIVILEGES: dict[str, set[str]] = {
    "WAREHOUSE": {"USAGE", "OPERATE", "MONITOR", "MODIFY", "APPLYBUDGET"},
    "DATABASE": {
        "USAGE",
        "MONITOR",
        "MODIFY",
        "CREATE SCHEMA",
        "CREATE DATABASE ROLE",
        "APPLYBUDGET",
        "REFERENCE_USAGE",
    },
    "SCHEMA": {
        "USAGE",
        "MONITOR",
        "MODIFY",
        "CREATE TABLE",
        "CREATE VIEW",
        "CREATE STAGE",
        "CREATE FILE FORMAT",
        "CREATE SEQUENCE",
        "CREATE FUNCTION",
        "CREATE PROCEDURE",
        "CREATE TEMPORARY TABLE",
        "CREATE DYNAMIC TABLE",
        "CREATE MATERIALIZED VIEW",
        "CREATE PIPE",
        "CREATE STREAM",
        "CREATE TASK",
        "ADD SEARCH OPTIMIZATION",
        "APPLYBUDGET",
    },
    "TABLE": {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "REBUILD",
        "EVOLVE SCHEMA",
        "APPLYBUDGET",
    },
    "INTEGRATION": {"USAGE", "USE_ANY_ROLE"},
    "RESOURCE MONITOR": {"MONITOR", "MODIFY"},
    "ROLE": set(),
    "USER": {"MONITOR"},
}
MISSING_LABEL = {
    "WAREHOUSE": "Warehouse",
    "DATABASE": "Database",
    "SCHEMA": "Schema",
    "TABLE": "Table",
    "INTEGRATION": "Integration",
    "RESOURCE MONITOR": "Resource monitor",
    "ROLE": "Role",
    "USER": "User",
}

_S = re.I | re.S
GRANT_ROLE = re.compile(rf"GRANT\s+ROLE\s+(?P<role>{NAME})\s+TO\s+(?P<to>ROLE|USER)\s+(?P<grantee>{NAME})\s*$", _S)
REVOKE_ROLE = re.compile(rf"REVOKE\s+ROLE\s+(?P<role>{NAME})\s+FROM\s+(?P<to>ROLE|USER)\s+(?P<grantee>{NAME})\s*$", _S)
TARGET = rf"(?:ALL\s+(?P<all>TABLES)\s+IN\s+SCHEMA|(?P<kind>{KIND}))\s+(?P<object>{QNAME})"
GRANT = re.compile(
    rf"GRANT\s+(?P<privs>[A-Z_ ,]+?)\s+ON\s+{TARGET}\s+TO\s+ROLE\s+(?P<grantee>{NAME})"
    r"(?P<option>\s+WITH\s+GRANT\s+OPTION)?(?:\s+(?P<current>COPY|REVOKE)\s+CURRENT\s+GRANTS)?\s*$",
    _S,
)
REVOKE = re.compile(
    rf"REVOKE\s+(?P<option>GRANT\s+OPTION\s+FOR\s+)?(?P<privs>[A-Z_ ,]+?)\s+ON\s+{TARGET}\s+FROM\s+ROLE\s+"
    rf"(?P<grantee>{NAME})(?:\s+(?P<mode>CASCADE|RESTRICT))?\s*$",
    _S,
)
SHOW_TO = re.compile(rf"SHOW\s+GRANTS\s+TO\s+(?P<to>ROLE|USER)\s+(?P<grantee>{NAME})\s*$", _S)
SHOW_OF = re.compile(rf"SHOW\s+GRANTS\s+OF\s+ROLE\s+(?P<role>{NAME})\s*$", _S)
SHOW_ON = re.compile(rf"SHOW\s+GRANTS\s+ON\s+(?P<kind>{KIND})\s+(?P<object>{QNAME})\s*$", _S)
DROP_SCHEMA = re.compile(rf"DROP\s+SCHEMA\s+(?:IF\s+EXISTS\s+)?(?P<object>{QNAME})(?:\s+(?:CASCADE|RESTRICT))?\s*$", _S)
REPLACE_SCHEMA = re.compile(rf"CREATE\s+OR\s+REPLACE\s+(?:TRANSIENT\s+)?SCHEMA\s+(?P<object>{QNAME})\b", _S)
DROP_TABLE = re.compile(rf"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<object>{QNAME})(?:\s+(?:CASCADE|RESTRICT))?\s*$", _S)


def _kind(text: str) -> str:
    return " ".join(text.upper().split())


class Privileges:
    def __init__(self, account: Any):
        self.account = account
        self.grants = account.grants

    def handle(self, conn: Any, text: str) -> str | None:
        for pattern, handler in (
            (GRANT_ROLE, self.grant_role),
            (REVOKE_ROLE, self.revoke_role),
            (GRANT, self.grant),
            (REVOKE, self.revoke),
            (SHOW_TO, self.show_to),
            (SHOW_OF, self.show_of),
            (SHOW_ON, self.show_on),
        ):
            if m := pattern.match(text):
                return handler(conn, m)
        self.follow(conn, text)
        return None

    # -- objects -------------------------------------------------------------------------------
    def _exists(self, kind: str, parts: list[str]) -> bool:
        cur = self.account.cur()
        if kind in ("WAREHOUSE", "RESOURCE MONITOR", "ROLE", "USER"):
            return self.account.get(kind, parts[0]) is not None
        if kind == "INTEGRATION":
            return bool(
                cur.execute(f"SELECT 1 FROM {self.account.integrations_table} WHERE name = ?", [parts[0]]).fetchone()
            )
        if kind == "DATABASE":
            return bool(
                cur.execute("SELECT 1 FROM duckdb_databases() WHERE upper(database_name) = ?", [parts[0]]).fetchone()
            )
        if kind == "SCHEMA":
            return bool(
                cur.execute(
                    "SELECT 1 FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?", parts
                ).fetchone()
            )
        return bool(
            cur.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?", parts
            ).fetchone()
        )

    def resolve(self, conn: Any, kind: str, name: str) -> tuple[Key, list[str]]:
        """The object's catalog key, after checking it exists (002003 if not)."""
        parts = split_name(name)
        depth = {"SCHEMA": 2, "TABLE": 3}.get(kind, 1)
        if len(parts) > depth:
            raise ProgrammingError(
                msg=f"SQL compilation error:\ninvalid identifier '{name}'", errno=904, sqlstate="42000"
            )
        parts = [conn.database or "", conn.schema or ""][: depth - len(parts)] + parts  # unqualified: the session's
        if not self._exists(kind, parts):
            raise ProgrammingError(
                msg=f"SQL compilation error:\n{MISSING_LABEL[kind]} '{'.'.join(parts)}' does not exist or not authorized.",
                errno=2003,
                sqlstate="02000",
            )
        return key_of(kind, parts), parts

    def _tables(self, database: str, schema: str) -> list[str]:
        return [
            r[0]
            for r in self.account.cur()
            .execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? ORDER BY table_name",
                [database, schema],
            )
            .fetchall()
        ]

    def _grantee(self, to: str, name: str) -> str:
        grantee = ident(name)
        self.account.require(to, grantee)
        return grantee

    # -- roles ---------------------------------------------------------------------------------
    def grant_role(self, conn: Any, m: re.Match[str]) -> str:
        role = ident(m["role"])
        self.account.require("ROLE", role)
        to = m["to"].upper()
        grantee = self._grantee(to, m["grantee"])
        if to == "ROLE" and (grantee == role or grantee in self._inherited(role)):
            raise ProgrammingError(
                msg=f"SQL execution error:\nGranting role '{role}' to role '{grantee}' would create a cycle.",
                errno=3096,
                sqlstate="42601",
            )
        self.grants.grant("USAGE", "ROLE", account_key(role), to, grantee, False, self.account.current_role(conn))
        return status("Statement executed successfully.")

    def _inherited(self, role: str) -> set[str]:
        """Every role `role` holds, directly or through the roles it holds."""
        seen, todo = set(), [role]
        while todo:
            for child in self.grants.roles_granted_to_role(todo.pop()) - seen:
                seen.add(child)
                todo.append(child)
        return seen

    def revoke_role(self, conn: Any, m: re.Match[str]) -> str:
        role = ident(m["role"])
        self.account.require("ROLE", role)
        to = m["to"].upper()
        self.grants.revoke("USAGE", "ROLE", account_key(role), to, self._grantee(to, m["grantee"]))
        return status("Statement executed successfully.")

    # -- privileges ----------------------------------------------------------------------------
    def _targets(self, conn: Any, m: re.Match[str]) -> tuple[str, list[Key]]:
        """(granted_on, keys): one object, or every table of the schema for ON ALL TABLES IN SCHEMA."""
        if m["all"]:
            _, (database, schema) = self.resolve(conn, "SCHEMA", m["object"])
            return "TABLE", [key_of("TABLE", [database, schema, t]) for t in self._tables(database, schema)]
        kind = _kind(m["kind"])
        key, _ = self.resolve(conn, kind, m["object"])
        return kind, [key]

    @staticmethod
    def _privileges(kind: str, text: str) -> list[str]:
        privileges = [_kind(p) for p in text.split(",")]
        for privilege in privileges:
            if privilege in ("ALL", "ALL PRIVILEGES"):
                raise not_supported("GRANT ALL [PRIVILEGES]")
            if privilege != "OWNERSHIP" and privilege not in PRIVILEGES[kind]:
                raise ProgrammingError(
                    msg=f"SQL compilation error:\nInvalid privilege {privilege} for {kind}.",
                    errno=3011,
                    sqlstate="42601",
                )
        return privileges

    def grant(self, conn: Any, m: re.Match[str]) -> str:
        granted_on, keys = self._targets(conn, m)
        privileges = self._privileges(granted_on, m["privs"])
        grantee = self._grantee("ROLE", m["grantee"])
        by = self.account.current_role(conn)
        if "OWNERSHIP" in privileges:
            if len(privileges) > 1 or m["option"]:
                raise ProgrammingError(
                    msg="SQL compilation error:\nsyntax error near 'OWNERSHIP'", errno=1003, sqlstate="42000"
                )
            for key in keys:
                self._transfer(granted_on, key, grantee, by, m["current"])
            return status("Statement executed successfully.")
        if m["current"]:
            raise ProgrammingError(
                msg="SQL compilation error:\nsyntax error near 'CURRENT GRANTS'", errno=1003, sqlstate="42000"
            )
        for key in keys:
            for privilege in privileges:
                self.grants.grant(privilege, granted_on, key, "ROLE", grantee, bool(m["option"]), by)
        return status("Statement executed successfully.")

    def _transfer(self, granted_on: str, key: Key, role: str, by: str, current: str | None) -> None:
        others = self.grants.other_grants(granted_on, key)
        if others and current is None and self.grants.owner(granted_on, key) != role:
            privilege, grantee = others[0]
            raise ProgrammingError(
                msg=f"SQL execution error: Dependent grant of privilege '{privilege}' on securable "
                f"'{display_name(granted_on, key)}' to role '{grantee}' exists.  It must be revoked first.  More than "
                "one dependent grant may exist: use 'SHOW GRANTS' command to view them.  To revoke all dependent "
                "grants while transferring object ownership, use convenience command 'GRANT OWNERSHIP ON "
                "<target_objects> TO <target_role> REVOKE CURRENT GRANTS'.",
                errno=3036,
                sqlstate="23001",
            )
        if current and current.upper() == "REVOKE":
            for privilege, grantee in others:
                self.grants.revoke(privilege, granted_on, key, "ROLE", grantee)
        self.grants.set_owner(granted_on, key, role, by)

    def revoke(self, conn: Any, m: re.Match[str]) -> str:
        granted_on, keys = self._targets(conn, m)
        privileges = self._privileges(granted_on, m["privs"])
        if "OWNERSHIP" in privileges:
            raise ProgrammingError(
                msg="SQL execution error: OWNERSHIP can only be transferred.", errno=3937, sqlstate="23001"
            )
        grantee = self._grantee("ROLE", m["grantee"])
        for key in keys:
            for privilege in privileges:
                self.grants.revoke(privilege, granted_on, key, "ROLE", grantee, grant_option_only=bool(m["option"]))
        return status("Statement executed successfully.")

    # -- SHOW GRANTS ---------------------------------------------------------------------------
    def show_to(self, conn: Any, m: re.Match[str]) -> str:
        to = m["to"].upper()
        grantee = self._grantee(to, m["grantee"])
        if to == "USER":
            return values_sql(SHOW_ROLE_GRANTS_COLUMNS, self.grants.roles_of_grantee("USER", grantee))
        return values_sql(SHOW_GRANTS_COLUMNS, self.grants.to("ROLE", grantee))

    def show_of(self, conn: Any, m: re.Match[str]) -> str:
        role = ident(m["role"])
        self.account.require("ROLE", role)
        return values_sql(SHOW_ROLE_GRANTS_COLUMNS, self.grants.grantees_of_role(role))

    def show_on(self, conn: Any, m: re.Match[str]) -> str:
        kind = _kind(m["kind"])
        key, _ = self.resolve(conn, kind, m["object"])
        return values_sql(SHOW_GRANTS_COLUMNS, self.grants.on(kind, key))

    # -- grants follow their objects -----------------------------------------------------------
    def follow(self, conn: Any, text: str) -> None:
        """Before fakesnow runs a DROP / CREATE OR REPLACE of a schema or table: forget the grants on
        what goes (a replaced object is a new one; COPY GRANTS keeps them, as in Snowflake)."""
        if (m := DROP_SCHEMA.match(text)) or (m := REPLACE_SCHEMA.match(text)):
            parts = split_name(m["object"])
            database, schema = ([conn.database or ""] + parts)[-2:]
            self.grants.forget_schema(database, schema)
        elif m := DROP_TABLE.match(text):
            self.grants.forget_object("TABLE", _qualify(m["object"], conn.database, conn.schema))
        elif (m := _CREATE_TABLE.match(text)) and not re.search(r"\bCOPY\s+GRANTS\b", text, re.I):
            key = _qualify(m.group("name"), conn.database, conn.schema)
            if not (m.group("ine") and self._exists("TABLE", list(key))):
                self.grants.forget_object("TABLE", key)

    def forget_database(self, database: str) -> None:
        with self.account.atomic():
            self.grants.forget_database(database)

    def forget_integration(self, name: str) -> None:
        with self.account.atomic():
            self.grants.forget_object("INTEGRATION", account_key(name))
