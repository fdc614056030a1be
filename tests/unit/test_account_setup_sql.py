"""sql/00_account_setup.sql and sql/99_account_teardown.sql, rendered and read as Snowflake SQL (no server).

Every statement must parse with sqlglot's Snowflake dialect (error level RAISE). sqlglot models some of
these statements (GRANT <privilege>, CREATE WAREHOUSE, USE) and keeps the others as a Command holding the
statement's text (CREATE ROLE / USER / RESOURCE MONITOR, GRANT ROLE, ALTER ...): the properties below are
read from the AST where there is one, from the normalised text otherwise. That the account objects really
run is tests/integration/test_local_account_objects.py.
"""

from __future__ import annotations

import base64
import re

import pytest
import sqlglot
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from helpers.warehouse import SQL_DIR, render_sql


def public_key_body() -> str:
    """An RSA public key as Snowflake's RSA_PUBLIC_KEY wants it: base64 DER SubjectPublicKeyInfo, no PEM
    header lines (https://docs.snowflake.com/en/user-guide/key-pair-auth)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def account_context(prefix: str = "COUNTRIES") -> dict[str, object]:
    return {
        "dev_role": f"{prefix}_DEV_ROLE",
        "prod_role": f"{prefix}_PROD_ROLE",
        "reader_role": f"{prefix}_READER",
        "warehouse": f"{prefix}_WH",
        "monitor": f"{prefix}_MONITOR",
        "credit_quota": 10,
        "dev_database": f"{prefix}_DEV",
        "prod_database": f"{prefix}_PROD",
        "integration": f"{prefix}_S3_INTEGRATION",
        "role_arn": "arn:aws:iam::123456789012:role/countries-pipeline-snowflake-role",
        "bucket": "countries-pipeline-123456789012",
        "data_prefix": "data/",
        "dev_user": f"{prefix}_DEV_SVC",
        "prod_user": f"{prefix}_PROD_SVC",
        "dev_public_key": public_key_body(),
        "prod_public_key": public_key_body(),
    }


CONTEXT = account_context()


def _norm(sql: str) -> str:
    return " ".join(sql.split()).upper()


@pytest.fixture(scope="module")
def setup() -> list[tuple[str, exp.Expression]]:
    return [
        (s, sqlglot.parse_one(s, read="snowflake", error_level=ErrorLevel.RAISE))
        for s in render_sql(SQL_DIR / "00_account_setup.sql", CONTEXT)
    ]


@pytest.fixture(scope="module")
def teardown() -> list[tuple[str, exp.Expression]]:
    return [
        (s, sqlglot.parse_one(s, read="snowflake", error_level=ErrorLevel.RAISE))
        for s in render_sql(SQL_DIR / "99_account_teardown.sql", CONTEXT)
    ]


def test_every_statement_renders_and_parses_as_snowflake_sql(setup, teardown):
    assert len(setup) > 30 and len(teardown) > 10
    for sql, tree in setup + teardown:
        assert "{{" not in sql and "}}" not in sql
        assert tree is not None, sql


def _grants(statements) -> list[tuple[list[str], str, str, str, str]]:
    """(privileges, object kind, object, grantee kind, grantee) of every GRANT, from the AST or the text."""
    out = []
    for sql, tree in statements:
        if isinstance(tree, exp.Grant):
            for principal in tree.args["principals"]:
                out.append(
                    (
                        [p.this.name.upper() for p in tree.args["privileges"]],
                        str(tree.args["kind"]).upper(),
                        tree.args["securable"].sql("snowflake").upper(),
                        str(principal.args.get("kind", "")).upper(),
                        principal.this.name.upper(),
                    )
                )
        elif m := re.fullmatch(
            r"GRANT (.+?) ON (\w+(?: \w+)?) (\S+) TO (ROLE|USER) (\S+)( COPY CURRENT GRANTS)?", _norm(sql)
        ):
            out.append(([p.strip() for p in m[1].split(",")], m[2], m[3], m[4], m[5]))
        elif m := re.fullmatch(r"GRANT ROLE (\S+) TO (ROLE|USER) (\S+)", _norm(sql)):
            out.append((["USAGE"], "ROLE", m[1], m[2], m[3]))
        else:
            assert not _norm(sql).startswith("GRANT"), f"a GRANT this test cannot read: {sql}"
    return out


def test_the_warehouse_is_extra_small_suspends_after_a_minute_resumes_and_starts_suspended(setup):
    """https://docs.snowflake.com/en/sql-reference/sql/create-warehouse"""
    creates = [t for _, t in setup if isinstance(t, exp.Create) and str(t.args["kind"]).upper() == "WAREHOUSE"]
    assert len(creates) == 1
    props = {
        p.this.name.upper(): p.args["value"].sql("snowflake").upper() for p in creates[0].args["properties"].expressions
    }
    assert props == {
        "WAREHOUSE_SIZE": "XSMALL",
        "AUTO_SUSPEND": "60",
        "AUTO_RESUME": "TRUE",
        "INITIALLY_SUSPENDED": "TRUE",
    }
    assert creates[0].args["exists"]  # IF NOT EXISTS: a re-run keeps the warehouse
    alters = [_norm(s) for s, _ in setup if _norm(s).startswith(f"ALTER WAREHOUSE {CONTEXT['warehouse']} SET")]
    assert (
        f"ALTER WAREHOUSE {CONTEXT['warehouse']} SET WAREHOUSE_SIZE = XSMALL AUTO_SUSPEND = 60 AUTO_RESUME = TRUE"
        in alters
    )


def test_a_resource_monitor_with_a_credit_quota_suspends_the_warehouse(setup):
    """https://docs.snowflake.com/en/sql-reference/sql/create-resource-monitor: a SUSPEND trigger at 100
    percent stops the warehouse when the quota is used; the monitor must be assigned to the warehouse."""
    monitor, quota = CONTEXT["monitor"], CONTEXT["credit_quota"]
    creates = [_norm(s) for s, _ in setup if _norm(s).startswith("CREATE RESOURCE MONITOR")]
    assert len(creates) == 1
    assert re.search(rf"CREATE RESOURCE MONITOR IF NOT EXISTS {monitor} WITH CREDIT_QUOTA = {quota}\b", creates[0])
    triggers = creates[0].split(" TRIGGERS ", 1)[1]
    assert re.search(r"ON 100 PERCENT DO SUSPEND\b", triggers)
    assert f"ALTER WAREHOUSE {CONTEXT['warehouse']} SET RESOURCE_MONITOR = {monitor}" in [_norm(s) for s, _ in setup]


def test_the_users_are_service_users_with_a_key_and_no_password(setup, teardown):
    """https://docs.snowflake.com/en/user-guide/admin-user-management#types-of-users: a TYPE = SERVICE user
    cannot sign in with a password (and cannot have one); it signs in with its key pair."""
    for user, key in (
        (CONTEXT["dev_user"], CONTEXT["dev_public_key"]),
        (CONTEXT["prod_user"], CONTEXT["prod_public_key"]),
    ):
        creates = [s for s, _ in setup if _norm(s).startswith(f"CREATE USER IF NOT EXISTS {user} ")]
        assert len(creates) == 1
        assert re.search(r"\bTYPE = SERVICE\b", _norm(creates[0]))
        assert f"RSA_PUBLIC_KEY = '{key}'" in creates[0]
        # a re-run installs the current key on an existing user
        assert f"ALTER USER {user} SET RSA_PUBLIC_KEY = '{key}'" in [" ".join(s.split()) for s, _ in setup]
    assert not [s for s, _ in setup + teardown if "PASSWORD" in _norm(s)]


def test_the_reader_role_gets_nothing_but_select_and_usage(setup):
    grants = [g for g in _grants(setup) if g[3] == "ROLE" and g[4] == CONTEXT["reader_role"]]
    assert grants, "the reader role is granted nothing"
    for privileges, kind, name, _, _ in grants:
        assert set(privileges) <= {"SELECT", "USAGE"}, (privileges, kind, name)
        assert kind != "ROLE", f"a role granted to the reader: {name}"


def test_no_pipeline_role_gets_an_account_level_privilege(setup):
    """Account-level privileges (GRANT ... ON ACCOUNT: CREATE INTEGRATION, CREATE DATABASE, MANAGE GRANTS
    ...) stay with the administrator's system roles
    (https://docs.snowflake.com/en/user-guide/security-access-control-privileges#global-privileges-account-level-privileges)."""
    pipeline_roles = {CONTEXT["dev_role"], CONTEXT["prod_role"], CONTEXT["reader_role"]}
    grants = _grants(setup)
    assert [g for g in grants if g[4] in pipeline_roles]
    assert not [g for g in grants if g[1] == "ACCOUNT" and g[4] in pipeline_roles]
    assert not [s for s, _ in setup if re.search(r"\bON ACCOUNT\b", _norm(s))]


def test_each_database_is_owned_by_its_environments_role(setup):
    grants = _grants(setup)
    for database, role in (
        (CONTEXT["dev_database"], CONTEXT["dev_role"]),
        (CONTEXT["prod_database"], CONTEXT["prod_role"]),
    ):
        assert (["OWNERSHIP"], "DATABASE", database, "ROLE", role) in grants


def _created(statements) -> set[tuple[str, str]]:
    out = set()
    for sql, _ in statements:
        if m := re.match(
            r"CREATE (?:OR REPLACE )?(ROLE|WAREHOUSE|RESOURCE MONITOR|USER|DATABASE|STORAGE INTEGRATION) "
            r"(?:IF NOT EXISTS )?(\S+)",
            _norm(sql),
        ):
            out.add((m[1], m[2]))
    return out


def _dropped(statements) -> set[tuple[str, str]]:
    out = set()
    for sql, _ in statements:
        if m := re.fullmatch(
            r"DROP (ROLE|WAREHOUSE|RESOURCE MONITOR|USER|DATABASE|STORAGE INTEGRATION) (?:IF EXISTS )?(\S+)", _norm(sql)
        ):
            out.add((m[1], m[2]))
    return out


def test_the_teardown_drops_exactly_what_the_setup_creates(setup, teardown):
    assert _created(setup) == _dropped(teardown)
    assert len(_created(setup)) == 10
