"""The Snowflake account setup: what an administrator runs once, before the pipeline's first run.

`sql/00_account_setup.sql` makes a role, a database and a service user per environment, the X-Small
warehouse and its resource monitor, the storage integration (USAGE granted to the two roles) and the
read-only role analysts get; `sql/99_account_teardown.sql` removes them. The pipeline itself never runs
either file and never needs an administrator role: it checks, before it relies on them, that what it
needs is there (`check_integration`), and says which file to run when it is not.

`python -m helpers account setup` prints the script rendered for your settings (paste it into a
Snowsight worksheet as an administrator); `--execute` runs it over the configured connection, which
must then be an administrator's. The local cloud's bootstrap executes it as the local administrator,
so every local run exercises the same script.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from helpers import warehouse
from helpers.settings import ConfigurationError, Settings

SETUP_SQL = warehouse.SQL_DIR / "00_account_setup.sql"
TEARDOWN_SQL = warehouse.SQL_DIR / "99_account_teardown.sql"


class AccountSetupMissing(RuntimeError):
    """Something sql/00_account_setup.sql makes is missing or set up for other values."""


def public_key_body(pem: str) -> str:
    """An RSA public key as Snowflake's RSA_PUBLIC_KEY wants it: the PEM's base64 body, one line,
    without the BEGIN/END lines (https://docs.snowflake.com/en/user-guide/key-pair-auth)."""
    body = "".join(line.strip() for line in pem.strip().splitlines() if not line.startswith("-----"))
    base64.b64decode(body, validate=True)  # a file that is not a PEM key fails here, not in Snowflake
    return body


def _public_key(settings: Settings, target: str, given: dict[str, str] | None) -> str:
    if given and target in given:
        return given[target]
    path = settings.dev_public_key_path if target == "dev" else settings.prod_public_key_path
    var = f"PIPELINE_{target.upper()}_PUBLIC_KEY_PATH"
    user = settings.dev_user if target == "dev" else settings.prod_user
    if not path:
        raise ConfigurationError(
            [
                f"{var}: not set. The {target} service user {user} signs in with a key pair: make one "
                "(https://docs.snowflake.com/en/user-guide/key-pair-auth: openssl genrsa 2048 | openssl pkcs8 "
                "-topk8 -inform PEM -out rsa_key.p8 -nocrypt; openssl rsa -in rsa_key.p8 -pubout -out rsa_key.pub) "
                f"and set {var} to the .pub file"
            ],
            heading="The account setup needs the service users' public keys",
        )
    try:
        return public_key_body(Path(path).expanduser().read_text())
    except (OSError, ValueError) as e:
        raise ConfigurationError(
            [f"{var}: {path} is not a readable PEM public key ({e})"],
            heading="The account setup needs the service users' public keys",
        ) from e


def snowflake_aws_role_arn(settings: Settings, aws_account_id: str) -> str:
    """The IAM role the integration assumes; it may not exist yet (Snowflake checks it at first read)."""
    return f"arn:aws:iam::{aws_account_id}:role/{settings.snowflake_role_name}"


def context(settings: Settings, aws_account_id: str, public_keys: dict[str, str] | None = None) -> dict[str, Any]:
    """The values sql/00 and sql/99 are rendered with. `public_keys` (target -> key body) overrides the
    PIPELINE_<TARGET>_PUBLIC_KEY_PATH files."""
    s = settings
    keys, problems = {}, []
    for target in ("dev", "prod"):
        try:
            keys[target] = _public_key(s, target, public_keys)
        except ConfigurationError as e:
            problems += e.problems
    if problems:  # both named at once
        raise ConfigurationError(problems, heading="The account setup needs the service users' public keys")
    return {
        "dev_role": s.dev_role,
        "prod_role": s.prod_role,
        "reader_role": s.reader_role,
        "warehouse": s.snowflake_warehouse,
        "monitor": s.resource_monitor,
        "credit_quota": s.credit_quota,
        "dev_database": s.dev_database,
        "prod_database": s.prod_database,
        "integration": s.integration_name,
        "role_arn": snowflake_aws_role_arn(s, aws_account_id),
        "bucket": s.bucket,
        "data_prefix": s.data_prefix,
        "dev_user": s.dev_user,
        "prod_user": s.prod_user,
        "dev_public_key": keys["dev"],
        "prod_public_key": keys["prod"],
    }


def setup_statements(settings: Settings, aws_account_id: str, public_keys: dict[str, str] | None = None) -> list[str]:
    return warehouse.render_sql(SETUP_SQL, context(settings, aws_account_id, public_keys))


def teardown_statements(settings: Settings) -> list[str]:
    placeholders = {"dev": "-", "prod": "-"}  # dropping a user needs no key
    return warehouse.render_sql(TEARDOWN_SQL, context(settings, "000000000000", placeholders))


def execute(settings: Settings, statements: list[str]) -> list[warehouse.StatementResult]:
    """Run the statements over the configured connection, without a target (the script switches roles
    itself with USE ROLE): the connection must be an administrator's."""
    with warehouse.connect(settings, None) as conn:
        return [warehouse.execute(conn, sql) for sql in statements]


def check_integration(described: dict[str, str], settings: Settings, role_arn: str) -> None:
    """Fail with the fix when the integration (DESC INTEGRATION's properties) does not point at this
    pipeline's role and data prefix: the administrator re-runs sql/00_account_setup.sql."""
    location = f"s3://{settings.bucket}/{settings.data_prefix}"
    allowed = [
        x.strip() for x in str(described.get("STORAGE_ALLOWED_LOCATIONS", "")).strip("[]").split(",") if x.strip()
    ]
    problems = []
    if described.get("STORAGE_AWS_ROLE_ARN") != role_arn:
        problems.append(
            f"its STORAGE_AWS_ROLE_ARN is {described.get('STORAGE_AWS_ROLE_ARN')!r}, the pipeline's role is {role_arn!r}"
        )
    if not any(location.startswith(a.rstrip("/") + "/") or location == a for a in allowed):
        problems.append(f"its STORAGE_ALLOWED_LOCATIONS {allowed} do not include {location}")
    if problems:
        raise AccountSetupMissing(
            f"The storage integration {settings.integration_name} was set up for other values: "
            + "; ".join(problems)
            + ". An administrator re-runs sql/00_account_setup.sql for these settings "
            "(python -m helpers account setup prints it)."
        )
