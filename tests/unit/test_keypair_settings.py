"""Key-pair authentication for a real Snowflake account (cloud mode), and secrets kept out of git.

The Snowflake connector gets the private key as a key object (decrypted with the passphrase) and no
password; dbt gets the key's path and passphrase (profiles.yml reads them) but never the key itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers.settings import PROJECT_ROOT, Settings

PASSPHRASE = "correct horse battery staple"
ENV_VARS = (
    "PIPELINE_MODE",
    "PIPELINE_STATE_DIR",
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_USER",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_PRIVATE_KEY_PATH",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
    "SNOWFLAKE_ROLE",
    "SNOWFLAKE_WAREHOUSE",
    "SNOWFLAKE_HOST",
    "SNOWFLAKE_PORT",
    "SNOWFLAKE_PROTOCOL",
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """An encrypted PKCS#8 key, as Snowflake's guide makes it (openssl genrsa | pkcs8 -v2 aes256)."""
    path = tmp_path / "rsa_key.p8"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def cloud_settings(key_path: str, **extra: str) -> Settings:
    return Settings(
        _env_file=None,
        mode="cloud",
        snowflake_account="xy12345.eu-west-1",
        snowflake_user="PIPELINE_USER",
        snowflake_private_key_path=key_path,
        snowflake_private_key_passphrase=PASSPHRASE,
        **extra,
    )


def _key_material(rsa_key: rsa.RSAPrivateKey) -> list[str]:
    """Recognisable pieces of the key, in the encodings it could be passed around in."""
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = "".join(pem.splitlines()[1:-1])
    return ["PRIVATE KEY", body[:40], body[-40:], str(rsa_key.private_numbers().d)[:40]]


def test_connector_gets_a_decrypted_key_object_and_no_password(clean_env, key_file, rsa_key):
    # a password set as well must not be sent: the key wins
    args = cloud_settings(str(key_file), snowflake_password="not-to-be-sent").snowflake_connect_args("dev")
    assert "password" not in args
    key = args["private_key"]
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.private_numbers() == rsa_key.private_numbers()
    assert args["account"] == "xy12345.eu-west-1" and args["user"] == "PIPELINE_USER"


def test_a_wrong_passphrase_fails_loudly(clean_env, key_file):
    settings = cloud_settings(str(key_file))
    settings.snowflake_private_key_passphrase = "wrong"
    with pytest.raises(ValueError):
        settings.snowflake_connect_args("dev")


def test_dbt_gets_the_key_path_and_passphrase_but_not_the_key(clean_env, key_file, rsa_key):
    env = cloud_settings(str(key_file), snowflake_password="not-to-be-sent").dbt_env("dev")
    assert env["SNOWFLAKE_PRIVATE_KEY_PATH"] == str(key_file)
    assert env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] == PASSPHRASE
    assert env["SNOWFLAKE_PASSWORD"] == ""
    for value in env.values():
        for piece in _key_material(rsa_key):
            assert piece not in value
    # and dbt-snowflake's own loader opens that path with that passphrase: the same key
    from dbt.adapters.snowflake.auth import private_key_from_file

    loaded = private_key_from_file(env["SNOWFLAKE_PRIVATE_KEY_PATH"], env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"])
    assert loaded.private_numbers() == rsa_key.private_numbers()


def test_profiles_yml_passes_the_key_path_and_passphrase_to_dbt():
    profile = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())
    dev = profile["countries"]["outputs"]["dev"]
    assert "SNOWFLAKE_PRIVATE_KEY_PATH" in dev["private_key_path"]
    assert "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE" in dev["private_key_passphrase"]
    assert "private_key" not in dev  # the key material itself is never in the profile


def test_a_key_path_with_tilde_reaches_dbt_as_a_path_it_can_open(clean_env, key_file, rsa_key, monkeypatch):
    monkeypatch.setenv("HOME", str(key_file.parent))
    settings = cloud_settings("~/" + key_file.name)
    assert settings.snowflake_connect_args("dev")["private_key"].private_numbers() == rsa_key.private_numbers()
    from dbt.adapters.snowflake.auth import private_key_from_file

    env = settings.dbt_env("dev")
    loaded = private_key_from_file(env["SNOWFLAKE_PRIVATE_KEY_PATH"], env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"])
    assert loaded.private_numbers() == rsa_key.private_numbers()


@pytest.mark.skipif(
    shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists(), reason="needs git and the repo"
)
@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "rsa_key.p8",
        "keys/pipeline_user.p8",
        ".local/cloud.json",
        ".local/aws_admin.json",
        "artifacts/run_report.json",
    ],
)
def test_git_ignores_secrets_and_local_state(path):
    # read-only: `git check-ignore` answers 0 when the path is ignored, 1 when it is not
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=PROJECT_ROOT, capture_output=True)
    assert proc.returncode == 0, f"{path} is not git-ignored: {proc.stderr.decode()}"


@pytest.mark.skipif(
    shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists(), reason="needs git and the repo"
)
def test_git_check_ignore_is_not_trivially_true():
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", "helpers/settings.py"], cwd=PROJECT_ROOT)
    assert proc.returncode == 1
