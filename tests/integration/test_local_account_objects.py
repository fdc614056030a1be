"""The local warehouse runs the administrator's account scripts (sql/00_account_setup.sql,
sql/99_account_teardown.sql) end to end and records roles, warehouses, resource monitors, users and grants
as Snowflake does, with Snowflake's errors (helpers/local_cloud/account_objects.py). Privileges are
recorded, not evaluated: these tests check what SHOW reports, never what a role may do.

The scripts run here with an ACCTTEST_ prefix on every name, so that they never touch the databases and
integration of the pipeline tests that share this local cloud.
"""

from __future__ import annotations

import pytest
import snowflake.connector.errors

from helpers import warehouse
from helpers.local_cloud.account_properties import rsa_fingerprint
from tests.unit.test_account_setup_sql import account_context, public_key_body

pytestmark = pytest.mark.integration

SETUP = warehouse.SQL_DIR / "00_account_setup.sql"
TEARDOWN = warehouse.SQL_DIR / "99_account_teardown.sql"
CTX = account_context("ACCTTEST")
Error = snowflake.connector.errors.ProgrammingError


def q(conn, sql: str) -> warehouse.StatementResult:
    return warehouse.execute(conn, sql)


def rows(conn, sql: str) -> list[dict]:
    return q(conn, sql).as_dicts()


def refused(conn, sql: str) -> Error:
    with pytest.raises(Error) as caught:
        q(conn, sql)
    return caught.value


@pytest.fixture
def conn(settings):
    with warehouse.connect(settings, None) as c:
        yield c


@pytest.fixture
def account(conn):
    """The account as sql/00 leaves it; sql/99 afterwards."""
    warehouse.apply_sql_file(conn, SETUP, CTX)
    yield CTX
    warehouse.apply_sql_file(conn, TEARDOWN, CTX)


def snapshot(conn) -> dict[str, list[dict]]:
    """What SHOW reports about the account objects, minus updated_on: Snowflake itself moves it on every
    ALTER ... SET, and sql/00 re-applies its settings with ALTER on each run."""
    out = {}
    for show in ("ROLES", "WAREHOUSES", "RESOURCE MONITORS", "USERS"):
        out[show] = [
            {k: v for k, v in r.items() if k != "updated_on"} for r in rows(conn, f"SHOW {show} LIKE 'ACCTTEST%'")
        ]
    for role in ("DEV_ROLE", "PROD_ROLE", "READER", "SYSADMIN", "USERADMIN"):
        name = role if role in ("SYSADMIN", "USERADMIN") else f"ACCTTEST_{role}"
        out[f"grants to {name}"] = rows(conn, f"SHOW GRANTS TO ROLE {name}")
    for user in (CTX["dev_user"], CTX["prod_user"]):
        out[f"grants to {user}"] = rows(conn, f"SHOW GRANTS TO USER {user}")
    for kind, name in (
        ("DATABASE", CTX["dev_database"]),
        ("WAREHOUSE", CTX["warehouse"]),
        ("INTEGRATION", CTX["integration"]),
    ):
        out[f"grants on {name}"] = rows(conn, f"SHOW GRANTS ON {kind} {name}")
    return out


def by_name(result: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in result}


def test_the_setup_creates_what_show_reports(conn, account):
    """Columns as Snowflake documents them: https://docs.snowflake.com/en/sql-reference/sql/show-roles ,
    .../show-warehouses , .../show-resource-monitors , .../show-users , .../show-grants , .../desc-user."""
    roles = by_name(rows(conn, "SHOW ROLES LIKE 'ACCTTEST%'"))
    assert set(roles) == {CTX["dev_role"], CTX["prod_role"], CTX["reader_role"]}
    assert roles[CTX["reader_role"]]["owner"] == "USERADMIN"  # created after USE ROLE USERADMIN
    assert roles[CTX["dev_role"]]["comment"] == f"countries pipeline: owns {CTX['dev_database']}"
    assert list(rows(conn, "SHOW ROLES")[0])[:4] == ["created_on", "name", "is_default", "is_current"]

    (wh,) = rows(conn, f"SHOW WAREHOUSES LIKE '{CTX['warehouse']}'")
    assert (wh["size"], wh["auto_suspend"], wh["auto_resume"], wh["state"], wh["resource_monitor"], wh["owner"]) == (
        "X-Small",
        60,
        "true",
        "SUSPENDED",
        CTX["monitor"],
        "SYSADMIN",
    )
    (monitor,) = rows(conn, f"SHOW RESOURCE MONITORS LIKE '{CTX['monitor']}'")
    assert (
        monitor["credit_quota"],
        monitor["frequency"],
        monitor["notify_at"],
        monitor["suspend_at"],
        monitor["level"],
    ) == ("10.00", "MONTHLY", "80%", "100%", "WAREHOUSE")

    users = by_name(rows(conn, "SHOW USERS LIKE 'acctTEST%'"))  # LIKE is case-insensitive
    dev = users[CTX["dev_user"]]
    assert (
        dev["type"],
        dev["has_password"],
        dev["has_rsa_public_key"],
        dev["default_role"],
        dev["default_warehouse"],
    ) == ("SERVICE", "false", "true", CTX["dev_role"], CTX["warehouse"])
    described = {r["property"]: r["value"] for r in rows(conn, f"DESC USER {CTX['dev_user']}")}
    assert described["RSA_PUBLIC_KEY_FP"] == rsa_fingerprint(CTX["dev_public_key"])

    reader = rows(conn, f"SHOW GRANTS TO ROLE {CTX['reader_role']}")
    assert list(reader[0]) == [
        "created_on",
        "privilege",
        "granted_on",
        "name",
        "granted_to",
        "grantee_name",
        "grant_option",
        "granted_by",
    ]
    assert sorted((r["privilege"], r["granted_on"], r["name"]) for r in reader) == [
        ("USAGE", "DATABASE", CTX["dev_database"]),
        ("USAGE", "DATABASE", CTX["prod_database"]),
        ("USAGE", "WAREHOUSE", CTX["warehouse"]),
    ]
    on_db = {(r["privilege"], r["grantee_name"]) for r in rows(conn, f"SHOW GRANTS ON DATABASE {CTX['dev_database']}")}
    assert on_db == {("OWNERSHIP", CTX["dev_role"]), ("USAGE", CTX["reader_role"])}
    on_integration = rows(conn, f"SHOW GRANTS ON INTEGRATION {CTX['integration']}")
    assert {(r["privilege"], r["grantee_name"]) for r in on_integration} >= {
        ("USAGE", CTX["dev_role"]),
        ("USAGE", CTX["prod_role"]),
    }
    assert [(r["role"], r["granted_to"]) for r in rows(conn, f"SHOW GRANTS TO USER {CTX['prod_user']}")] == [
        (CTX["prod_role"], "USER")
    ]
    sysadmin = {r["name"] for r in rows(conn, "SHOW GRANTS TO ROLE SYSADMIN") if r["granted_on"] == "ROLE"}
    assert {CTX["dev_role"], CTX["prod_role"], CTX["reader_role"]} <= sysadmin
    of_dev = {(r["granted_to"], r["grantee_name"]) for r in rows(conn, f"SHOW GRANTS OF ROLE {CTX['dev_role']}")}
    assert of_dev == {("ROLE", "SYSADMIN"), ("USER", CTX["dev_user"])}


def test_running_the_setup_twice_gives_identical_show_output(conn, account):
    """The script is idempotent (IF NOT EXISTS, then ALTER ... SET), and so is a repeated GRANT
    (https://docs.snowflake.com/en/sql-reference/sql/grant-privilege: granting a privilege a role already
    holds changes nothing) - down to each grant's created_on."""
    first = snapshot(conn)
    warehouse.apply_sql_file(conn, SETUP, CTX)
    assert snapshot(conn) == first


def test_the_account_objects_survive_a_restart(local_cloud, settings):
    """Kept in the _fs_global catalog file, like the integrations (tests/integration/test_local_cloud_fidelity.py).
    Its own connections: a session does not survive the restart."""
    with warehouse.connect(settings, None) as before_restart:
        warehouse.apply_sql_file(before_restart, SETUP, CTX)
        before = snapshot(before_restart)
    local_cloud._stop("snowflake")
    local_cloud.up()
    from helpers.settings import Settings

    with warehouse.connect(Settings(), None) as fresh:  # the restarted server listens on a new port
        q(fresh, "USE ROLE USERADMIN")  # the session role shows in SHOW ROLES' is_current, as sql/00 left it
        assert snapshot(fresh) == before
        warehouse.apply_sql_file(fresh, TEARDOWN, CTX)


def test_the_teardown_removes_everything_the_setup_made(conn):
    warehouse.apply_sql_file(conn, SETUP, CTX)
    warehouse.apply_sql_file(conn, TEARDOWN, CTX)
    for show in ("ROLES", "WAREHOUSES", "RESOURCE MONITORS", "USERS", "INTEGRATIONS"):
        assert rows(conn, f"SHOW {show} LIKE 'ACCTTEST%'") == [], show
    assert not [r for r in rows(conn, "SHOW DATABASES") if r["name"].startswith("ACCTTEST")]
    for role in ("ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "PUBLIC"):
        left = [r for r in rows(conn, f"SHOW GRANTS TO ROLE {role}") if "ACCTTEST" in r["name"]]
        assert left == [], role
    # and it can run again on a clean account: everything is IF EXISTS
    warehouse.apply_sql_file(conn, TEARDOWN, CTX)


def test_a_key_rotation_and_a_role_revocation_show_at_once(conn, account):
    """ALTER USER ... SET RSA_PUBLIC_KEY replaces the key (DESC USER's RSA_PUBLIC_KEY_FP follows:
    https://docs.snowflake.com/en/user-guide/key-pair-auth#configuring-key-pair-rotation); REVOKE ROLE takes
    a role back (https://docs.snowflake.com/en/sql-reference/sql/revoke-role); a role granted to a role that
    it holds would be a cycle, which Snowflake refuses (https://docs.snowflake.com/en/sql-reference/sql/grant-role)."""
    user, role = CTX["dev_user"], CTX["dev_role"]
    rotated = public_key_body()
    q(conn, f"ALTER USER {user} SET RSA_PUBLIC_KEY = '{rotated}'")
    described = {r["property"]: r["value"] for r in rows(conn, f"DESC USER {user}")}
    assert described["RSA_PUBLIC_KEY_FP"] == rsa_fingerprint(rotated) != rsa_fingerprint(CTX["dev_public_key"])
    q(conn, f"REVOKE ROLE {role} FROM USER {user}")
    assert rows(conn, f"SHOW GRANTS TO USER {user}") == []
    q(conn, f"GRANT ROLE {CTX['reader_role']} TO ROLE {role}")
    assert refused(conn, f"GRANT ROLE {role} TO ROLE {CTX['reader_role']}").errno == 3096
    q(conn, f"REVOKE ROLE {CTX['reader_role']} FROM ROLE {role}")


# --- strict where Snowflake is strict ------------------------------------------------------------


def test_grants_naming_a_missing_role_user_or_object_fail(conn, account):
    """Snowflake answers 002003 "<Kind> '<name>' does not exist or not authorized." for every name in a GRANT
    or REVOKE it cannot resolve (https://docs.snowflake.com/en/sql-reference/sql/grant-privilege)."""
    reader, db = CTX["reader_role"], CTX["dev_database"]
    cases = {
        f"GRANT USAGE ON WAREHOUSE {CTX['warehouse']} TO ROLE ACCTTEST_NOBODY": "Role 'ACCTTEST_NOBODY'",
        f"GRANT ROLE ACCTTEST_NOBODY TO ROLE {reader}": "Role 'ACCTTEST_NOBODY'",
        f"GRANT ROLE {reader} TO USER ACCTTEST_NOBODY": "User 'ACCTTEST_NOBODY'",
        f"GRANT USAGE ON WAREHOUSE ACCTTEST_NO_WH TO ROLE {reader}": "Warehouse 'ACCTTEST_NO_WH'",
        f"GRANT USAGE ON DATABASE ACCTTEST_NO_DB TO ROLE {reader}": "Database 'ACCTTEST_NO_DB'",
        f"GRANT USAGE ON SCHEMA {db}.NO_SCHEMA TO ROLE {reader}": f"Schema '{db}.NO_SCHEMA'",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.NO_SCHEMA TO ROLE {reader}": f"Schema '{db}.NO_SCHEMA'",
        f"GRANT USAGE ON INTEGRATION ACCTTEST_NO_INT TO ROLE {reader}": "Integration 'ACCTTEST_NO_INT'",
        f"REVOKE USAGE ON DATABASE {db} FROM ROLE ACCTTEST_NOBODY": "Role 'ACCTTEST_NOBODY'",
        "SHOW GRANTS TO ROLE ACCTTEST_NOBODY": "Role 'ACCTTEST_NOBODY'",
        "USE ROLE ACCTTEST_NOBODY": "Role 'ACCTTEST_NOBODY'",
    }
    for sql, named in cases.items():
        error = refused(conn, sql)
        assert error.errno == 2003 and f"{named} does not exist or not authorized." in error.msg, sql


def test_altering_a_missing_warehouse_monitor_or_user_fails(conn, account):
    """https://docs.snowflake.com/en/sql-reference/sql/alter-warehouse (and alter-resource-monitor,
    alter-user): the object must exist, unless IF EXISTS."""
    for sql, named in (
        ("ALTER WAREHOUSE ACCTTEST_NO_WH SET AUTO_SUSPEND = 60", "Warehouse 'ACCTTEST_NO_WH'"),
        ("ALTER RESOURCE MONITOR ACCTTEST_NO_MON SET CREDIT_QUOTA = 1", "Resource monitor 'ACCTTEST_NO_MON'"),
        (f"ALTER USER ACCTTEST_NOBODY SET RSA_PUBLIC_KEY = '{CTX['dev_public_key']}'", "User 'ACCTTEST_NOBODY'"),
        (
            f"ALTER WAREHOUSE {CTX['warehouse']} SET RESOURCE_MONITOR = ACCTTEST_NO_MON",
            "Resource monitor 'ACCTTEST_NO_MON'",
        ),
    ):
        error = refused(conn, sql)
        assert error.errno == 2003 and f"{named} does not exist or not authorized." in error.msg, sql
    assert q(conn, "ALTER WAREHOUSE IF EXISTS ACCTTEST_NO_WH SET AUTO_SUSPEND = 60").rows == [
        ("Statement executed successfully.",)
    ]


def test_a_service_user_cannot_have_a_password(conn, account):
    """https://docs.snowflake.com/en/user-guide/admin-user-management#types-of-users: users with TYPE =
    SERVICE "cannot log in using a password" and "cannot have the following properties: ... PASSWORD"."""
    error = refused(conn, "CREATE USER ACCTTEST_PW_SVC TYPE = SERVICE PASSWORD = 'Secret-123'")
    assert "PASSWORD" in error.msg and "SERVICE" in error.msg
    error = refused(conn, f"ALTER USER {CTX['dev_user']} SET PASSWORD = 'Secret-123'")
    assert "PASSWORD" in error.msg
    assert rows(conn, "SHOW USERS LIKE 'ACCTTEST_PW_SVC'") == []
    (dev,) = rows(conn, f"SHOW USERS LIKE '{CTX['dev_user']}'")
    assert dev["has_password"] == "false"
    error = refused(conn, "CREATE USER ACCTTEST_BAD_KEY TYPE = SERVICE RSA_PUBLIC_KEY = 'not a key'")
    assert "RSA_PUBLIC_KEY" in error.msg


def test_creating_an_existing_object_without_if_not_exists_fails(conn, account):
    """002002 "Object '<name>' already exists." (CREATE without OR REPLACE / IF NOT EXISTS:
    https://docs.snowflake.com/en/sql-reference/sql/create-role and the other CREATE pages)."""
    for sql in (
        f"CREATE ROLE {CTX['reader_role']}",
        f"CREATE WAREHOUSE {CTX['warehouse']}",
        f"CREATE RESOURCE MONITOR {CTX['monitor']} WITH CREDIT_QUOTA = 1",
        f"CREATE USER {CTX['dev_user']} TYPE = SERVICE",
    ):
        error = refused(conn, sql)
        assert error.errno == 2002 and "already exists" in error.msg, sql


def test_ownership_is_transferred_never_revoked(conn, account):
    """https://docs.snowflake.com/en/sql-reference/sql/grant-ownership: OWNERSHIP "cannot be revoked"
    (003937 "OWNERSHIP can only be transferred."), and a transfer of an object others hold privileges on
    needs COPY or REVOKE CURRENT GRANTS (003036 "Dependent grant of privilege ... exists", as reported in
    https://github.com/snowflakedb/terraform-provider-snowflake/issues/152)."""
    db, dev, prod = CTX["dev_database"], CTX["dev_role"], CTX["prod_role"]
    assert refused(conn, f"REVOKE OWNERSHIP ON DATABASE {db} FROM ROLE {dev}").errno == 3937
    error = refused(conn, f"GRANT OWNERSHIP ON DATABASE {db} TO ROLE {prod}")
    assert error.errno == 3036 and "Dependent grant of privilege 'USAGE'" in error.msg
    q(conn, f"GRANT OWNERSHIP ON DATABASE {db} TO ROLE {prod} REVOKE CURRENT GRANTS")
    assert [(r["privilege"], r["grantee_name"]) for r in rows(conn, f"SHOW GRANTS ON DATABASE {db}")] == [
        ("OWNERSHIP", prod)
    ]


def test_statements_the_local_warehouse_does_not_implement_fail_loudly(conn, account):
    db = CTX["dev_database"]
    for sql in (
        f"GRANT ALL PRIVILEGES ON WAREHOUSE {CTX['warehouse']} TO ROLE {CTX['reader_role']}",
        f"GRANT SELECT ON FUTURE TABLES IN DATABASE {db} TO ROLE {CTX['reader_role']}",
        f"SHOW FUTURE GRANTS IN DATABASE {db}",
        f"ALTER WAREHOUSE {CTX['warehouse']} SUSPEND",
        f"ALTER WAREHOUSE {CTX['warehouse']} SET MAX_CONCURRENCY_LEVEL = 4",
        f"CREATE DATABASE ROLE {db}.ACCTTEST_DBROLE",
        f"GRANT CREATE INTEGRATION ON ACCOUNT TO ROLE {CTX['dev_role']}",
    ):
        assert refused(conn, sql).errno == 2016, sql
    error = refused(conn, f"GRANT SELECT ON WAREHOUSE {CTX['warehouse']} TO ROLE {CTX['reader_role']}")
    assert "Invalid privilege SELECT" in error.msg


# --- grants follow their objects -----------------------------------------------------------------


@pytest.fixture
def published(conn, account):
    """A database with MART (live) and MART_BUILD (the next build), as the pipeline's publish finds them."""
    db = CTX["dev_database"]
    for schema in ("MART", "MART_BUILD"):
        q(conn, f"CREATE SCHEMA IF NOT EXISTS {db}.{schema}")
    q(conn, f"CREATE OR REPLACE TABLE {db}.MART.COUNTRIES AS SELECT 'old' AS V")
    q(conn, f"CREATE OR REPLACE TABLE {db}.MART_BUILD.COUNTRIES AS SELECT 'new' AS V")
    q(conn, f"CREATE OR REPLACE TABLE {db}.MART_BUILD.REGIONS AS SELECT 'new' AS V")
    return db


def _reader_grants(conn) -> set[tuple[str, str, str]]:
    return {
        (r["privilege"], r["granted_on"], r["name"])
        for r in rows(conn, f"SHOW GRANTS TO ROLE {CTX['reader_role']}")
        if r["granted_on"] in ("SCHEMA", "TABLE")
    }


def test_swap_with_moves_the_grants_with_the_schemas_and_their_tables(conn, published):
    """https://docs.snowflake.com/en/sql-reference/sql/alter-schema: SWAP WITH "also swaps all access
    control privileges granted on the schemas and objects they contain". This is the publish: grant on the
    build, swap, revoke from what is now the old build."""
    db, reader = published, CTX["reader_role"]
    q(conn, f"GRANT USAGE ON SCHEMA {db}.MART TO ROLE {reader}")
    q(conn, f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.MART TO ROLE {reader}")  # the live MART, as published before
    q(conn, f"GRANT USAGE ON SCHEMA {db}.MART_BUILD TO ROLE {reader}")
    q(conn, f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.MART_BUILD TO ROLE {reader}")
    q(conn, f"ALTER SCHEMA {db}.MART SWAP WITH {db}.MART_BUILD")
    assert {(r["privilege"], r["grantee_name"]) for r in rows(conn, f"SHOW GRANTS ON TABLE {db}.MART.REGIONS")} == {
        ("SELECT", reader)
    }
    q(conn, f"REVOKE SELECT ON ALL TABLES IN SCHEMA {db}.MART_BUILD FROM ROLE {reader}")
    q(conn, f"REVOKE USAGE ON SCHEMA {db}.MART_BUILD FROM ROLE {reader}")
    assert _reader_grants(conn) == {
        ("USAGE", "SCHEMA", f"{db}.MART"),
        ("SELECT", "TABLE", f"{db}.MART.COUNTRIES"),
        ("SELECT", "TABLE", f"{db}.MART.REGIONS"),
    }
    assert q(conn, f"SELECT V FROM {db}.MART.REGIONS").rows == [("new",)]


def test_select_on_all_tables_grants_the_tables_that_exist_now(conn, published):
    """https://docs.snowflake.com/en/sql-reference/sql/grant-privilege: ON ALL <objects> IN SCHEMA grants
    on the existing objects; only ON FUTURE covers objects created later."""
    db, reader = published, CTX["reader_role"]
    q(conn, f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.MART_BUILD TO ROLE {reader}")
    q(conn, f"CREATE TABLE {db}.MART_BUILD.LATER AS SELECT 1 AS X")
    assert rows(conn, f"SHOW GRANTS ON TABLE {db}.MART_BUILD.LATER") == []
    assert ("SELECT", "TABLE", f"{db}.MART_BUILD.REGIONS") in _reader_grants(conn)


def test_dropping_or_replacing_an_object_forgets_the_grants_on_it(conn, published):
    """A dropped object's privileges go with it; CREATE OR REPLACE makes a new object without them unless
    COPY GRANTS (https://docs.snowflake.com/en/sql-reference/sql/create-table , drop-table, drop-schema,
    drop-database); DROP ROLE drops the grants to and of the role
    (https://docs.snowflake.com/en/sql-reference/sql/drop-role)."""
    db, reader = published, CTX["reader_role"]
    q(conn, f"GRANT USAGE ON SCHEMA {db}.MART_BUILD TO ROLE {reader}")
    q(conn, f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.MART_BUILD TO ROLE {reader}")
    q(conn, f"GRANT SELECT ON ALL TABLES IN SCHEMA {db}.MART TO ROLE {reader}")
    q(conn, f"DROP TABLE {db}.MART_BUILD.REGIONS")
    q(conn, f"CREATE TABLE {db}.MART_BUILD.REGIONS AS SELECT 1 AS X")
    assert rows(conn, f"SHOW GRANTS ON TABLE {db}.MART_BUILD.REGIONS") == []
    q(conn, f"CREATE OR REPLACE TABLE {db}.MART.COUNTRIES AS SELECT 'again' AS V")
    assert rows(conn, f"SHOW GRANTS ON TABLE {db}.MART.COUNTRIES") == []
    q(conn, f"DROP SCHEMA {db}.MART_BUILD")
    assert _reader_grants(conn) == set()

    q(conn, "CREATE ROLE ACCTTEST_TEMP")
    q(conn, f"GRANT USAGE ON WAREHOUSE {CTX['warehouse']} TO ROLE ACCTTEST_TEMP")
    q(conn, f"GRANT ROLE ACCTTEST_TEMP TO USER {CTX['dev_user']}")
    q(conn, "DROP ROLE ACCTTEST_TEMP")
    assert "ACCTTEST_TEMP" not in {
        r["grantee_name"] for r in rows(conn, f"SHOW GRANTS ON WAREHOUSE {CTX['warehouse']}")
    }
    assert "ACCTTEST_TEMP" not in {r["role"] for r in rows(conn, f"SHOW GRANTS TO USER {CTX['dev_user']}")}
    q(conn, "CREATE ROLE ACCTTEST_TEMP")  # a new role of the same name starts with nothing
    assert (
        rows(conn, "SHOW GRANTS TO ROLE ACCTTEST_TEMP") == [] and rows(conn, "SHOW GRANTS OF ROLE ACCTTEST_TEMP") == []
    )
    q(conn, "DROP ROLE ACCTTEST_TEMP")

    q(conn, f"DROP DATABASE {db}")
    assert not [r for r in rows(conn, f"SHOW GRANTS TO ROLE {reader}") if r["name"].startswith(db)]
    q(conn, f"CREATE DATABASE {db}")  # for the teardown's DROP DATABASE
