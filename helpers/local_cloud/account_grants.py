"""The grants catalog of the local warehouse: who holds which privilege on what, RECORDED, NOT EVALUATED
(see helpers/local_cloud/account_objects.py, whose statements write it).

One row per grant, as SHOW GRANTS lists them (https://docs.snowflake.com/en/sql-reference/sql/show-grants):
privilege, granted_on (WAREHOUSE, DATABASE, SCHEMA, TABLE, INTEGRATION, RESOURCE MONITOR, ROLE, USER),
the object, granted_to (ROLE or USER), grantee_name, grant_option, granted_by, created_on. A grant of role
R is privilege USAGE on ROLE R, as Snowflake reports it. The object is kept as (database, schema, name)
so that a grant follows its schema: `ALTER SCHEMA a SWAP WITH b` moves the rows of both schemas (and of
their tables) in the same transaction as the tables (schema_swap.py, through SCHEMA_KEYED), and dropping
a schema, a database or a table forgets what was granted on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from helpers.local_cloud.fakesnow_compat import CATALOG_SCHEMA

GRANTS_TABLE = f"{CATALOG_SCHEMA}._local_grants"
# (table, database column, schema column): for schema_swap.swap_schemas(extra_catalogs=...)
SCHEMA_KEYED = (GRANTS_TABLE, "database_name", "schema_name")

# The object a grant is on: account objects by name; a database, schema or table by its parts
Key = tuple[str | None, str | None, str | None]  # (database_name, schema_name, object_name)

SHOW_GRANTS_COLUMNS = [
    "created_on",
    "privilege",
    "granted_on",
    "name",
    "granted_to",
    "grantee_name",
    "grant_option",
    "granted_by",
]
SHOW_ROLE_GRANTS_COLUMNS = ["created_on", "role", "granted_to", "grantee_name", "granted_by"]


def account_key(name: str) -> Key:
    return (None, None, name)


def key_of(granted_on: str, parts: list[str]) -> Key:
    """The catalog key of a DATABASE (db), SCHEMA (db.s), TABLE (db.s.t) or account object (name)."""
    if granted_on == "DATABASE":
        return (parts[0], None, None)
    if granted_on == "SCHEMA":
        return (parts[0], parts[1], None)
    if granted_on == "TABLE":
        return (parts[0], parts[1], parts[2])
    return account_key(parts[0])


def display_name(granted_on: str, key: Key) -> str:
    database, schema, name = key
    if granted_on in ("DATABASE", "SCHEMA", "TABLE"):
        return ".".join(p for p in (database, schema, name) if p)
    return name or ""


_SAME_KEY = (
    "database_name IS NOT DISTINCT FROM ? AND schema_name IS NOT DISTINCT FROM ? AND object_name IS NOT DISTINCT FROM ?"
)


class Grants:
    def __init__(self, duck: Any, cursor: Any = None):
        self.duck = duck
        # the cursor of the statement being run (its transaction), or a fresh one
        self.cur = cursor or duck.cursor
        duck.execute(
            f"""CREATE TABLE IF NOT EXISTS {GRANTS_TABLE} (
                privilege TEXT, granted_on TEXT, database_name TEXT, schema_name TEXT, object_name TEXT,
                granted_to TEXT, grantee_name TEXT, grant_option BOOLEAN, granted_by TEXT, created_on TIMESTAMPTZ)"""
        )

    # -- writing -------------------------------------------------------------------------------
    def grant(
        self,
        privilege: str,
        granted_on: str,
        key: Key,
        granted_to: str,
        grantee: str,
        grant_option: bool,
        granted_by: str,
    ) -> None:
        """Record a grant; granting what is already granted changes nothing (Snowflake: it succeeds),
        except that WITH GRANT OPTION is added to it."""
        row = (
            self.cur()
            .execute(
                f"SELECT grant_option FROM {GRANTS_TABLE} WHERE privilege = ? AND granted_on = ? AND {_SAME_KEY} "
                "AND granted_to = ? AND grantee_name = ?",
                [privilege, granted_on, *key, granted_to, grantee],
            )
            .fetchone()
        )
        if row is None:
            self.cur().execute(
                f"INSERT INTO {GRANTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [privilege, granted_on, *key, granted_to, grantee, grant_option, granted_by, dt.datetime.now(dt.UTC)],
            )
        elif grant_option and not row[0]:
            self.cur().execute(
                f"UPDATE {GRANTS_TABLE} SET grant_option = TRUE WHERE privilege = ? AND granted_on = ? AND {_SAME_KEY} "
                "AND granted_to = ? AND grantee_name = ?",
                [privilege, granted_on, *key, granted_to, grantee],
            )

    def revoke(
        self, privilege: str, granted_on: str, key: Key, granted_to: str, grantee: str, grant_option_only: bool = False
    ) -> None:
        """Revoking what was never granted is no error (nothing changes)."""
        where = f"privilege = ? AND granted_on = ? AND {_SAME_KEY} AND granted_to = ? AND grantee_name = ?"
        params = [privilege, granted_on, *key, granted_to, grantee]
        if grant_option_only:
            self.cur().execute(f"UPDATE {GRANTS_TABLE} SET grant_option = FALSE WHERE {where}", params)
        else:
            self.cur().execute(f"DELETE FROM {GRANTS_TABLE} WHERE {where}", params)

    def owner(self, granted_on: str, key: Key) -> str | None:
        row = (
            self.cur()
            .execute(
                f"SELECT grantee_name FROM {GRANTS_TABLE} WHERE privilege = 'OWNERSHIP' AND granted_on = ? AND {_SAME_KEY}",
                [granted_on, *key],
            )
            .fetchone()
        )
        return row[0] if row else None

    def set_owner(self, granted_on: str, key: Key, role: str, granted_by: str) -> None:
        """OWNERSHIP has one holder: a transfer replaces it (the row is kept when it does not change)."""
        if self.owner(granted_on, key) == role:
            return
        self.cur().execute(
            f"DELETE FROM {GRANTS_TABLE} WHERE privilege = 'OWNERSHIP' AND granted_on = ? AND {_SAME_KEY}",
            [granted_on, *key],
        )
        self.grant("OWNERSHIP", granted_on, key, "ROLE", role, True, granted_by)

    def other_grants(self, granted_on: str, key: Key) -> list[tuple[str, str]]:
        """(privilege, grantee) of every grant on the object except its OWNERSHIP."""
        return (
            self.cur()
            .execute(
                f"SELECT privilege, grantee_name FROM {GRANTS_TABLE} WHERE privilege <> 'OWNERSHIP' AND granted_on = ? "
                f"AND {_SAME_KEY} ORDER BY created_on",
                [granted_on, *key],
            )
            .fetchall()
        )

    def forget_object(self, granted_on: str, key: Key) -> None:
        self.cur().execute(f"DELETE FROM {GRANTS_TABLE} WHERE granted_on = ? AND {_SAME_KEY}", [granted_on, *key])

    def forget_schema(self, database: str, schema: str) -> None:
        """A dropped (or replaced) schema: the grants on it and on everything in it go."""
        self.cur().execute(
            f"DELETE FROM {GRANTS_TABLE} WHERE database_name = ? AND schema_name = ?", [database, schema]
        )

    def forget_database(self, database: str) -> None:
        self.cur().execute(f"DELETE FROM {GRANTS_TABLE} WHERE database_name = ?", [database])

    def forget_role(self, role: str, dropped_by: str) -> None:
        """DROP ROLE: the grants to it and of it go; what it owned passes to the role that dropped it
        (https://docs.snowflake.com/en/sql-reference/sql/drop-role)."""
        self.cur().execute(
            f"DELETE FROM {GRANTS_TABLE} WHERE (granted_on = 'ROLE' AND object_name = ? AND database_name IS NULL) "
            "OR (granted_to = 'ROLE' AND grantee_name = ? AND privilege <> 'OWNERSHIP')",
            [role, role],
        )
        self.cur().execute(
            f"UPDATE {GRANTS_TABLE} SET grantee_name = ? WHERE granted_to = 'ROLE' AND grantee_name = ? "
            "AND privilege = 'OWNERSHIP'",
            [dropped_by, role],
        )

    def forget_user(self, user: str) -> None:
        self.cur().execute(
            f"DELETE FROM {GRANTS_TABLE} WHERE (granted_to = 'USER' AND grantee_name = ?) "
            "OR (granted_on = 'USER' AND object_name = ? AND database_name IS NULL)",
            [user, user],
        )

    # -- reading -------------------------------------------------------------------------------
    def _rows(self, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return (
            self.cur()
            .execute(
                f"SELECT created_on, privilege, granted_on, database_name, schema_name, object_name, granted_to, "
                f"grantee_name, grant_option, granted_by FROM {GRANTS_TABLE} WHERE {where} "
                "ORDER BY created_on, privilege, granted_on, database_name, schema_name, object_name, grantee_name",
                params,
            )
            .fetchall()
        )

    @staticmethod
    def _show_row(r: tuple[Any, ...]) -> tuple[Any, ...]:
        created_on, privilege, granted_on, database, schema, name, granted_to, grantee, option, granted_by = r
        return (
            created_on,
            privilege,
            granted_on,
            display_name(granted_on, (database, schema, name)),
            granted_to,
            grantee,
            "true" if option else "false",
            granted_by,
        )

    def to(self, granted_to: str, grantee: str) -> list[tuple[Any, ...]]:
        """SHOW GRANTS TO ROLE r: every privilege granted to the role, the roles granted to it included."""
        return [self._show_row(r) for r in self._rows("granted_to = ? AND grantee_name = ?", [granted_to, grantee])]

    def on(self, granted_on: str, key: Key) -> list[tuple[Any, ...]]:
        """SHOW GRANTS ON <object>."""
        return [self._show_row(r) for r in self._rows(f"granted_on = ? AND {_SAME_KEY}", [granted_on, *key])]

    def roles_of_grantee(self, granted_to: str, grantee: str) -> list[tuple[Any, ...]]:
        """SHOW GRANTS TO USER u: the roles granted to the user (created_on, role, granted_to, grantee, granted_by)."""
        rows = self._rows(
            "privilege = 'USAGE' AND granted_on = 'ROLE' AND granted_to = ? AND grantee_name = ?", [granted_to, grantee]
        )
        return [(r[0], r[5], r[6], r[7], r[9]) for r in rows]

    def grantees_of_role(self, role: str) -> list[tuple[Any, ...]]:
        """SHOW GRANTS OF ROLE r: the roles and users it is granted to."""
        rows = self._rows("privilege = 'USAGE' AND granted_on = 'ROLE' AND object_name = ?", [role])
        return [(r[0], r[5], r[6], r[7], r[9]) for r in rows]

    def roles_granted_to_role(self, role: str) -> set[str]:
        rows = (
            self.cur()
            .execute(
                f"SELECT object_name FROM {GRANTS_TABLE} WHERE privilege = 'USAGE' AND granted_on = 'ROLE' "
                "AND granted_to = 'ROLE' AND grantee_name = ?",
                [role],
            )
            .fetchall()
        )
        return {r[0] for r in rows}

    def count_role_grantees(self, role: str, granted_to: str) -> int:
        return (
            self.cur()
            .execute(
                f"SELECT COUNT(*) FROM {GRANTS_TABLE} WHERE privilege = 'USAGE' AND granted_on = 'ROLE' "
                "AND object_name = ? AND granted_to = ?",
                [role, granted_to],
            )
            .fetchone()[0]
        )
