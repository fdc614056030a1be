"""The local cloud's Snowflake account setup: sql/00_account_setup.sql run as the local administrator.

On a real account an administrator runs that script once (helpers/account.py). Locally the bootstrap
does, so every local run - and every test - goes through the same roles, warehouse, databases,
integration and users. The local warehouse records roles and grants but does not evaluate them
(docs/parity.md): what this proves is that the script runs and makes what the pipeline needs.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import account
from helpers.settings import TARGETS, Settings


def throwaway_public_key() -> str:
    """A real RSA public key (the local warehouse does not check sign-ins, but the script is the same)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return account.public_key_body(pem.decode())


def setup_snowflake_account(settings: Settings) -> list[str]:
    """Run the account setup for `settings` (idempotent); returns the statements run."""
    aws_account_id = settings.aws_client("sts").get_caller_identity()["Account"]
    statements = account.setup_statements(settings, aws_account_id, {t: throwaway_public_key() for t in TARGETS})
    account.execute(settings, statements)
    return statements


def teardown_snowflake_account(settings: Settings) -> list[str]:
    statements = account.teardown_statements(settings)
    account.execute(settings, statements)
    return statements
