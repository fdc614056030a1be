"""Snowflake's account-level objects for the local warehouse: roles, warehouses, resource monitors and
users (CREATE / ALTER / DROP / SHOW / DESC USER), and the grants among them and on databases, schemas,
tables and integrations (GRANT / REVOKE / SHOW GRANTS: helpers/local_cloud/account_privileges.py).
fakesnow knows none of them (it no-ops USE ROLE and half-supports CREATE USER).

PRIVILEGES ARE RECORDED, NOT EVALUATED. fakesnow evaluates no privileges at all, and neither does this
module: any session may run any statement. What is kept is what Snowflake would record - which roles,
warehouses, monitors and users exist with which properties, and who was granted what - so that SHOW
answers as Snowflake would and the account scripts (sql/00_account_setup.sql, sql/99_account_teardown.sql)
run end to end with Snowflake's errors: a GRANT naming a missing role or object, an ALTER of a missing
object, a password for a TYPE = SERVICE user, or a CREATE of an existing object without IF NOT EXISTS
fails as it does in Snowflake. Nothing local proves a grant sufficient or a role least-privileged.

Persisted like the integration catalog: two tables in the `_fs_global` database (a file under the state
dir), so a server restart keeps them. Grants follow their objects (account_grants.py): ALTER SCHEMA ...
SWAP WITH swaps them, DROP SCHEMA / DATABASE / TABLE and CREATE OR REPLACE forget them.

Docs: https://docs.snowflake.com/en/sql-reference/sql/create-role, .../create-warehouse,
.../alter-warehouse, .../create-resource-monitor, .../create-user, .../alter-user, .../show-roles,
.../show-warehouses, .../show-resource-monitors, .../show-users, .../desc-user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from helpers.local_cloud import account_properties as props
from helpers.local_cloud.account_grants import Grants, account_key
from helpers.local_cloud.fakesnow_compat import CATALOG_SCHEMA
from helpers.local_cloud.warehouse_sql import ProgrammingError, ident, like_pattern, not_supported, status, values_sql

OBJECTS_TABLE = f"{CATALOG_SCHEMA}._local_account_objects"
NAME = r'"(?:[^"]|"")+"|[A-Za-z_][\w$]*'
QNAME = rf"(?:{NAME})(?:\.(?:{NAME})){{0,2}}"
LIKE = r"(?:\s+LIKE\s+'(?P<like>(?:[^']|'')*)')?"

# Snowflake's system-defined roles and their hierarchy (https://docs.snowflake.com/en/user-guide/security-access-control-overview#system-defined-roles)
SYSTEM_ROLES = ("ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "PUBLIC")
SYSTEM_HIERARCHY = (("SECURITYADMIN", "ACCOUNTADMIN"), ("USERADMIN", "SECURITYADMIN"), ("SYSADMIN", "ACCOUNTADMIN"))
# a session that never ran USE ROLE: the local warehouse lets it do anything, as ACCOUNTADMIN could
DEFAULT_ROLE = "ACCOUNTADMIN"

LABELS = {"ROLE": "Role", "WAREHOUSE": "Warehouse", "RESOURCE MONITOR": "Resource monitor", "USER": "User"}


def missing(label: str, name: str) -> ProgrammingError:
    return ProgrammingError(
        msg=f"SQL compilation error:\n{label} '{name}' does not exist or not authorized.", errno=2003, sqlstate="02000"
    )


def already_exists(name: str) -> ProgrammingError:
    return ProgrammingError(
        msg=f"SQL compilation error:\nObject '{name}' already exists.", errno=2002, sqlstate="42710"
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _yes(flag: bool) -> str:
    return "true" if flag else "false"


class AccountObjects:
    def __init__(self, duck: Any, integrations_table: str):
        from helpers.local_cloud.account_privileges import Privileges

        self.duck = duck
        self.integrations_table = integrations_table
        self.lock = threading.RLock()
        self._local = threading.local()  # .cur: the running statement's cursor (one transaction)
        self.grants = Grants(duck, cursor=self.cur)
        self._session_roles: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        duck.execute(
            f"""CREATE TABLE IF NOT EXISTS {OBJECTS_TABLE} (
                kind TEXT, name TEXT, properties JSON, created_on TIMESTAMPTZ, updated_on TIMESTAMPTZ,
                PRIMARY KEY (kind, name))"""
        )
        with self.atomic():
            for role in SYSTEM_ROLES:
                if not self.get("ROLE", role):
                    self.put("ROLE", role, {"COMMENT": "", "SYSTEM": True})
            for role, parent in SYSTEM_HIERARCHY:
                self.grants.grant("USAGE", "ROLE", account_key(role), "ROLE", parent, False, "")
        self.privileges = Privileges(self)
        self._statements = (
            (rf"USE\s+ROLE\s+(?P<name>{NAME})", self.use_role),
            (
                rf"CREATE\s+(?P<replace>OR\s+REPLACE\s+)?ROLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{NAME})(?P<body>.*)",
                self.create_role,
            ),
            (rf"DROP\s+ROLE\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})", self.drop_role),
            (
                rf"CREATE\s+(?P<replace>OR\s+REPLACE\s+)?WAREHOUSE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{NAME})"
                r"(?:\s+WITH\b)?(?P<body>.*)",
                self.create_warehouse,
            ),
            (rf"ALTER\s+WAREHOUSE\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})\s+SET\b(?P<body>.*)", self.alter_warehouse),
            (rf"DROP\s+WAREHOUSE\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})", self.drop_warehouse),
            (
                rf"CREATE\s+(?P<replace>OR\s+REPLACE\s+)?RESOURCE\s+MONITOR\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?"
                rf"(?P<name>{NAME})(?:\s+WITH\b)?(?P<body>.*)",
                self.create_monitor,
            ),
            (
                rf"ALTER\s+RESOURCE\s+MONITOR\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})(?:\s+SET\b)?(?P<body>.*)",
                self.alter_monitor,
            ),
            (rf"DROP\s+RESOURCE\s+MONITOR\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})", self.drop_monitor),
            (
                rf"CREATE\s+(?P<replace>OR\s+REPLACE\s+)?USER\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{NAME})(?P<body>.*)",
                self.create_user,
            ),
            (rf"ALTER\s+USER\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})\s+SET\b(?P<body>.*)", self.alter_user),
            (rf"DROP\s+USER\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{NAME})", self.drop_user),
            (rf"(?:DESC|DESCRIBE)\s+USER\s+(?P<name>{NAME})", self.describe_user),
            (rf"SHOW\s+ROLES{LIKE}", self.show_roles),
            (rf"SHOW\s+WAREHOUSES{LIKE}", self.show_warehouses),
            (rf"SHOW\s+RESOURCE\s+MONITORS{LIKE}", self.show_monitors),
            (rf"SHOW\s+USERS{LIKE}", self.show_users),
        )
        self._statements = tuple((re.compile(p + r"\s*$", re.I | re.S), f) for p, f in self._statements)

    # -- dispatch ------------------------------------------------------------------------------
    # Every statement about these objects is ours: what is not implemented fails, never passes silently
    OURS = re.compile(
        r"^(?:(?:CREATE(?:\s+OR\s+REPLACE)?|ALTER|DROP|UNDROP|DESC|DESCRIBE)\s+(?:ROLE|WAREHOUSE|RESOURCE\s+MONITOR|"
        r"USER|DATABASE\s+ROLE|APPLICATION\s+ROLE)\b|SHOW\s+(?:TERSE\s+)?(?:ROLES|WAREHOUSES|RESOURCE\s+MONITORS|USERS|"
        r"GRANTS|FUTURE\s+GRANTS|DATABASE\s+ROLES)\b|GRANT\b|REVOKE\b|USE\s+ROLE\b)",
        re.I,
    )

    def handle(self, conn: Any, text: str) -> str | None:
        """Snowflake's answer (a substitute SELECT) for a statement about account objects or grants;
        None for any other statement (after recording what it does to grants: DROP SCHEMA etc.)."""
        if not re.match(r"\s*(?:CREATE|ALTER|DROP|UNDROP|DESC|DESCRIBE|SHOW|GRANT|REVOKE|USE)\b", text, re.I):
            return None
        for pattern, handler in self._statements:
            if m := pattern.match(text.strip()):
                with self.atomic():
                    return handler(conn, m)
        with self.atomic():
            answer = self.privileges.handle(conn, text.strip())
        if answer is not None:
            return answer
        if self.OURS.match(text.strip()):
            raise not_supported(f"'{' '.join(text.split())[:80]}'")
        return None

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """One statement's catalog changes, all or none (nested calls join the running one)."""
        with self.lock:
            if getattr(self._local, "cur", None) is not None:
                yield
                return
            cur = self.duck.cursor()
            cur.execute("BEGIN TRANSACTION")
            self._local.cur = cur
            try:
                yield
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                self._local.cur = None

    def cur(self) -> Any:
        return getattr(self._local, "cur", None) or self.duck.cursor()

    def current_role(self, conn: Any) -> str:
        return self._session_roles.get(conn, DEFAULT_ROLE)

    # -- the catalog ---------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        row = (
            self.cur()
            .execute(
                f"SELECT properties, created_on, updated_on FROM {OBJECTS_TABLE} WHERE kind = ? AND name = ?",
                [kind, name],
            )
            .fetchone()
        )
        return None if row is None else {**json.loads(row[0]), "_created_on": row[1], "_updated_on": row[2]}

    def require(self, kind: str, name: str) -> dict[str, Any]:
        if (found := self.get(kind, name)) is None:
            raise missing(LABELS[kind], name)
        return found

    def put(self, kind: str, name: str, properties: dict[str, Any], created_on: dt.datetime | None = None) -> None:
        properties = {k: v for k, v in properties.items() if not k.startswith("_")}
        self.cur().execute(
            f"INSERT OR REPLACE INTO {OBJECTS_TABLE} VALUES (?, ?, ?, ?, ?)",
            [kind, name, json.dumps(properties), created_on or _now(), _now()],
        )

    def names(self, kind: str, like: str | None) -> list[str]:
        pattern = like_pattern(like)
        rows = self.cur().execute(f"SELECT name FROM {OBJECTS_TABLE} WHERE kind = ? ORDER BY name", [kind]).fetchall()
        return [r[0] for r in rows if pattern is None or pattern.match(r[0])]

    def _drop(self, conn: Any, kind: str, name: str) -> None:
        """The object and the grants on it, to it and of it go (DROP, or CREATE OR REPLACE)."""
        self.cur().execute(f"DELETE FROM {OBJECTS_TABLE} WHERE kind = ? AND name = ?", [kind, name])
        self.grants.forget_object(kind, account_key(name))
        if kind == "ROLE":
            self.grants.forget_role(name, self.current_role(conn))
        elif kind == "USER":
            self.grants.forget_user(name)
        elif kind == "RESOURCE MONITOR":  # its warehouses are no longer monitored
            for warehouse in self.names("WAREHOUSE", None):
                found = self.get("WAREHOUSE", warehouse) or {}
                if found.get("RESOURCE_MONITOR") == name:
                    self.put("WAREHOUSE", warehouse, {**found, "RESOURCE_MONITOR": None}, found["_created_on"])

    def _create(self, conn: Any, kind: str, m: re.Match[str], properties: dict[str, Any]) -> str:
        """CREATE [OR REPLACE] <kind> [IF NOT EXISTS]: the new object is owned by the session's role."""
        name = ident(m["name"])
        if self.get(kind, name) is not None:
            if m["ine"]:
                return status(f"{name} already exists, statement succeeded.")
            if not m["replace"]:
                raise already_exists(name)
        if m["replace"]:
            self._drop(conn, kind, name)
        self.put(kind, name, properties)
        self.grants.set_owner(kind, account_key(name), self.current_role(conn), self.current_role(conn))
        return status(f"{LABELS[kind]} {name} successfully created.")

    def _drop_statement(self, conn: Any, kind: str, m: re.Match[str]) -> str:
        name = ident(m["name"])
        if self.get(kind, name) is None:
            if m["ie"]:
                return status(f"Drop statement executed successfully ({name} already dropped).")
            raise missing(LABELS[kind], name)
        self._drop(conn, kind, name)
        return status(f"{name} successfully dropped.")

    def _alter(self, m: re.Match[str], kind: str, changes: dict[str, Any]) -> str:
        name = ident(m["name"])
        found = self.get(kind, name)
        if found is None:
            if m["ie"]:
                return status("Statement executed successfully.")
            raise missing(LABELS[kind], name)
        self.put(kind, name, {**found, **changes}, found["_created_on"])
        return status("Statement executed successfully.")

    # -- roles ---------------------------------------------------------------------------------
    def use_role(self, conn: Any, m: re.Match[str]) -> None:
        """USE ROLE: the role must exist (002003); fakesnow then answers it (a no-op there)."""
        role = ident(m["name"])
        self.require("ROLE", role)
        self._session_roles[conn] = role
        return None

    def create_role(self, conn: Any, m: re.Match[str]) -> str:
        return self._create(conn, "ROLE", m, {"COMMENT": "", **props.parse(m["body"], props.ROLE, "role")})

    def drop_role(self, conn: Any, m: re.Match[str]) -> str:
        if ident(m["name"]) in SYSTEM_ROLES:
            raise ProgrammingError(
                msg=f"SQL access control error:\nCannot drop system role '{ident(m['name'])}'.",
                errno=3001,
                sqlstate="42501",
            )
        return self._drop_statement(conn, "ROLE", m)

    # -- warehouses ----------------------------------------------------------------------------
    def _warehouse_props(self, body: str, creating: bool) -> dict[str, Any]:
        given = props.parse(body, props.WAREHOUSE, "warehouse")
        if not creating and "INITIALLY_SUSPENDED" in given:
            raise props.invalid_value("INITIALLY_SUSPENDED", "(a CREATE WAREHOUSE property only)")
        if given.get("RESOURCE_MONITOR"):
            self.require("RESOURCE MONITOR", given["RESOURCE_MONITOR"])
        return given

    def create_warehouse(self, conn: Any, m: re.Match[str]) -> str:
        given = self._warehouse_props(m["body"], creating=True)
        defaults = {
            "WAREHOUSE_SIZE": "X-Small",
            "WAREHOUSE_TYPE": "STANDARD",
            "AUTO_SUSPEND": 600,
            "AUTO_RESUME": True,
            "RESOURCE_MONITOR": None,
            "COMMENT": "",
        }
        warehouse = {
            **defaults,
            **given,
            "STATE": "SUSPENDED" if given.pop("INITIALLY_SUSPENDED", False) else "STARTED",
        }
        warehouse.pop("INITIALLY_SUSPENDED", None)
        return self._create(conn, "WAREHOUSE", m, warehouse)

    def alter_warehouse(self, conn: Any, m: re.Match[str]) -> str:
        return self._alter(m, "WAREHOUSE", self._warehouse_props(m["body"], creating=False))

    def drop_warehouse(self, conn: Any, m: re.Match[str]) -> str:
        return self._drop_statement(conn, "WAREHOUSE", m)

    # -- resource monitors ---------------------------------------------------------------------
    def _monitor_props(self, body: str) -> dict[str, Any]:
        before, after = props.split_triggers(props.tokens(body))
        given = props.parse(before, props.RESOURCE_MONITOR, "resource monitor")
        if after is not None:
            given["TRIGGERS"] = props.triggers(after)
        return given

    def create_monitor(self, conn: Any, m: re.Match[str]) -> str:
        defaults = {
            "CREDIT_QUOTA": None,
            "FREQUENCY": "MONTHLY",
            "START_TIMESTAMP": "IMMEDIATELY",
            "END_TIMESTAMP": None,
            "NOTIFY_USERS": [],
            "TRIGGERS": [],
        }
        return self._create(conn, "RESOURCE MONITOR", m, {**defaults, **self._monitor_props(m["body"])})

    def alter_monitor(self, conn: Any, m: re.Match[str]) -> str:
        return self._alter(m, "RESOURCE MONITOR", self._monitor_props(m["body"]))

    def drop_monitor(self, conn: Any, m: re.Match[str]) -> str:
        return self._drop_statement(conn, "RESOURCE MONITOR", m)

    # -- users ---------------------------------------------------------------------------------
    @staticmethod
    def _user_props(body: str, current: dict[str, Any]) -> dict[str, Any]:
        given = props.parse(body, props.USER, "user")
        if "PASSWORD" in given:  # the local warehouse keeps that a password was set, never the password
            given["PASSWORD"] = True
        merged = {**current, **given}
        if merged.get("TYPE") == "SERVICE":
            if forbidden := [p for p in props.NOT_FOR_SERVICE_USERS if merged.get(p) not in (None, False)]:
                raise ProgrammingError(
                    msg=f"SQL compilation error:\nUsers of TYPE = SERVICE cannot have the properties {', '.join(forbidden)} "
                    "(a service user signs in with a key pair, never a password).",
                    errno=1008,
                    sqlstate="22023",
                )
        return given

    def create_user(self, conn: Any, m: re.Match[str]) -> str:
        return self._create(conn, "USER", m, self._user_props(m["body"], {}))

    def alter_user(self, conn: Any, m: re.Match[str]) -> str:
        current = self.get("USER", ident(m["name"])) or {}
        return self._alter(m, "USER", self._user_props(m["body"], current))

    def drop_user(self, conn: Any, m: re.Match[str]) -> str:
        return self._drop_statement(conn, "USER", m)

    def describe_user(self, conn: Any, m: re.Match[str]) -> str:
        name = ident(m["name"])
        u = self.require("USER", name)
        fp = {
            k + "_FP": props.rsa_fingerprint(u[k]) if u.get(k) else "null"
            for k in ("RSA_PUBLIC_KEY", "RSA_PUBLIC_KEY_2")
        }
        rows = [
            ("NAME", name, "null", "Name"),
            ("TYPE", u.get("TYPE") or "null", "null", "Type of user"),
            ("LOGIN_NAME", u.get("LOGIN_NAME", name), "null", "Login name of the user"),
            ("DISABLED", _yes(u.get("DISABLED", False)), "false", "Whether the user is disabled"),
            ("DEFAULT_WAREHOUSE", u.get("DEFAULT_WAREHOUSE") or "null", "null", "Default warehouse for this user"),
            ("DEFAULT_ROLE", u.get("DEFAULT_ROLE") or "null", "null", "Primary default role for this user"),
            ("HAS_PASSWORD", _yes(bool(u.get("PASSWORD"))), "false", "Whether the user has a password"),
            ("RSA_PUBLIC_KEY", u.get("RSA_PUBLIC_KEY") or "null", "null", "RSA public key of the user"),
            ("RSA_PUBLIC_KEY_FP", fp["RSA_PUBLIC_KEY_FP"], "null", "Fingerprint of user's RSA public key."),
            ("RSA_PUBLIC_KEY_2", u.get("RSA_PUBLIC_KEY_2") or "null", "null", "Second RSA public key of the user"),
            ("RSA_PUBLIC_KEY_2_FP", fp["RSA_PUBLIC_KEY_2_FP"], "null", "Fingerprint of user's second RSA public key."),
            ("COMMENT", u.get("COMMENT") or "null", "null", "user comment associated to an object in the dictionary"),
        ]
        return values_sql(["property", "value", "default", "description"], rows)

    # -- SHOW ----------------------------------------------------------------------------------
    def _owner(self, kind: str, name: str) -> str:
        return self.grants.owner(kind, account_key(name)) or ""

    def show_roles(self, conn: Any, m: re.Match[str]) -> str:
        columns = [
            "created_on",
            "name",
            "is_default",
            "is_current",
            "is_inherited",
            "assigned_to_users",
            "granted_to_roles",
            "granted_roles",
            "owner",
            "comment",
            "owner_role_type",
        ]
        rows = []
        for name in self.names("ROLE", m["like"]):
            r = self.get("ROLE", name) or {}
            owner = self._owner("ROLE", name)
            rows.append(
                (
                    r["_created_on"],
                    name,
                    "N",
                    "Y" if name == self.current_role(conn) else "N",
                    "N",
                    self.grants.count_role_grantees(name, "USER"),
                    self.grants.count_role_grantees(name, "ROLE"),
                    len(self.grants.roles_granted_to_role(name)),
                    owner,
                    r.get("COMMENT", ""),
                    "ROLE" if owner else "",
                )
            )
        return values_sql(columns, rows)

    def show_warehouses(self, conn: Any, m: re.Match[str]) -> str:
        # Snowflake's columns, in its order (fakesnow's SHOW WAREHOUSES, which reports one fixed warehouse, has the same)
        columns = [
            "name",
            "state",
            "type",
            "size",
            "min_cluster_count",
            "max_cluster_count",
            "started_clusters",
            "running",
            "queued",
            "is_default",
            "is_current",
            "auto_suspend",
            "auto_resume",
            "available",
            "provisioning",
            "quiescing",
            "other",
            "created_on",
            "resumed_on",
            "updated_on",
            "owner",
            "comment",
            "enable_query_acceleration",
            "query_acceleration_max_scale_factor",
            "resource_monitor",
            "actives",
            "pendings",
            "failed",
            "suspended",
            "uuid",
            "scaling_policy",
            "budget",
            "owner_role_type",
        ]
        rows = []
        for name in self.names("WAREHOUSE", m["like"]):
            w = self.get("WAREHOUSE", name) or {}
            started = w["STATE"] == "STARTED"
            owner = self._owner("WAREHOUSE", name)
            rows.append(
                (
                    name,
                    w["STATE"],
                    w["WAREHOUSE_TYPE"],
                    w["WAREHOUSE_SIZE"],
                    1,
                    1,
                    int(started),
                    0,
                    0,
                    "N",
                    "N",
                    w["AUTO_SUSPEND"],
                    _yes(w["AUTO_RESUME"]),
                    "100" if started else "",
                    "",
                    "",
                    "",
                    w["_created_on"],
                    w["_created_on"],
                    w["_updated_on"],
                    owner,
                    w.get("COMMENT", ""),
                    "false",
                    8,
                    w.get("RESOURCE_MONITOR") or "null",
                    0,
                    0,
                    0,
                    0,
                    "",
                    "STANDARD",
                    "",
                    "ROLE" if owner else "",
                )
            )
        return values_sql(columns, rows)

    def show_monitors(self, conn: Any, m: re.Match[str]) -> str:
        columns = [
            "name",
            "credit_quota",
            "used_credits",
            "remaining_credits",
            "level",
            "frequency",
            "start_time",
            "end_time",
            "notify_at",
            "suspend_at",
            "suspend_immediately_at",
            "created_on",
            "owner",
            "comment",
            "notify_users",
        ]
        monitored = {(self.get("WAREHOUSE", w) or {}).get("RESOURCE_MONITOR") for w in self.names("WAREHOUSE", None)}
        rows = []
        for name in self.names("RESOURCE MONITOR", m["like"]):
            r = self.get("RESOURCE MONITOR", name) or {}

            def at(action: str, triggers: list = r["TRIGGERS"]) -> str:
                return ",".join(f"{p}%" for p, a in triggers if a == action)

            quota = f"{r['CREDIT_QUOTA']:.2f}" if r["CREDIT_QUOTA"] is not None else ""
            start = r["_created_on"] if r["START_TIMESTAMP"] == "IMMEDIATELY" else r["START_TIMESTAMP"]
            rows.append(
                (
                    name,
                    quota,
                    "0.00",
                    quota,
                    "WAREHOUSE" if name in monitored else "",
                    r["FREQUENCY"],
                    str(start),
                    r["END_TIMESTAMP"] or "",
                    at("NOTIFY"),
                    at("SUSPEND"),
                    at("SUSPEND_IMMEDIATE"),
                    r["_created_on"],
                    self._owner("RESOURCE MONITOR", name),
                    "",
                    ", ".join(r["NOTIFY_USERS"]),
                )
            )
        return values_sql(columns, rows)

    def show_users(self, conn: Any, m: re.Match[str]) -> str:
        columns = [
            "name",
            "created_on",
            "login_name",
            "display_name",
            "first_name",
            "last_name",
            "email",
            "mins_to_unlock",
            "days_to_expiry",
            "comment",
            "disabled",
            "must_change_password",
            "snowflake_lock",
            "default_warehouse",
            "default_namespace",
            "default_role",
            "default_secondary_roles",
            "ext_authn_duo",
            "ext_authn_uid",
            "has_mfa",
            "mins_to_bypass_mfa",
            "owner",
            "last_success_login",
            "expires_at_time",
            "locked_until_time",
            "has_password",
            "has_rsa_public_key",
            "type",
            "has_pat",
        ]
        rows = []
        for name in self.names("USER", m["like"]):
            u = self.get("USER", name) or {}
            rows.append(
                (
                    name,
                    u["_created_on"],
                    u.get("LOGIN_NAME", name),
                    u.get("DISPLAY_NAME", name),
                    u.get("FIRST_NAME", ""),
                    u.get("LAST_NAME", ""),
                    u.get("EMAIL", ""),
                    "",
                    "",
                    u.get("COMMENT", ""),
                    _yes(u.get("DISABLED", False)),
                    _yes(u.get("MUST_CHANGE_PASSWORD", False)),
                    "false",
                    u.get("DEFAULT_WAREHOUSE", ""),
                    u.get("DEFAULT_NAMESPACE", ""),
                    u.get("DEFAULT_ROLE", ""),
                    json.dumps(u["DEFAULT_SECONDARY_ROLES"]) if "DEFAULT_SECONDARY_ROLES" in u else "",
                    "false",
                    "",
                    "false",
                    "",
                    self._owner("USER", name),
                    "",
                    "",
                    "",
                    _yes(bool(u.get("PASSWORD"))),
                    _yes(bool(u.get("RSA_PUBLIC_KEY") or u.get("RSA_PUBLIC_KEY_2"))),
                    u.get("TYPE") or "",
                    "false",
                )
            )
        return values_sql(columns, rows)
