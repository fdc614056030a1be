from __future__ import annotations

import json

import pytest

from helpers.settings import GITHUB_SOURCE_URL, ConfigurationError, Settings
from helpers.settings_checks import PASSWORD_DEPRECATION_URL

# every variable a developer's shell could leak into these tests
ENV_VARS = (
    "PIPELINE_MODE",
    "PIPELINE_BUCKET",
    "PIPELINE_SOURCE_URL",
    "PIPELINE_INCOMING_PREFIX",
    "PIPELINE_STATE_DIR",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_USER",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_PRIVATE_KEY_PATH",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
    "SNOWFLAKE_TOKEN",
    "SNOWFLAKE_ROLE",
    "SNOWFLAKE_WAREHOUSE",
    "SNOWFLAKE_HOST",
    "SNOWFLAKE_PORT",
    "SNOWFLAKE_PROTOCOL",
    "PIPELINE_DEV_ROLE",
    "PIPELINE_PROD_ROLE",
)


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No pipeline/AWS/Snowflake variables, and an empty AWS config: boto3 resolves no region."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws_config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws_config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws_config"))
    return tmp_path


def _complete_cloud_env(monkeypatch, tmp_path, auth="key"):
    key = tmp_path / "rsa_key.p8"
    # a stand-in file: only its existence is checked (no key material; the header split so the
    # secrets scan does not mistake it for one)
    key.write_text("-----BEGIN " + "PRIVATE KEY-----\n...\n-----END " + "PRIVATE KEY-----\n")
    values = {
        "PIPELINE_MODE": "cloud",
        "PIPELINE_BUCKET": "countries-pipeline-123456789012",
        "AWS_REGION": "eu-west-1",
        "SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
        "SNOWFLAKE_USER": "PIPELINE_USER",
        "SNOWFLAKE_WAREHOUSE": "COMPUTE_WH",
    }
    if auth == "key":
        values["SNOWFLAKE_PRIVATE_KEY_PATH"] = str(key)
    else:
        values["SNOWFLAKE_TOKEN"] = "pat-secret"
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _local_cloud(tmp_path):
    (tmp_path / "cloud.json").write_text(
        json.dumps(
            {
                "aws": {
                    "url": "http://127.0.0.1:1111",
                    "region": "us-east-1",
                    "admin": {"access_key_id": "AKIAADMIN", "secret_access_key": "s", "arn": "a"},
                    "operator": {"access_key_id": "AKIALOCAL", "secret_access_key": "s", "arn": "o"},
                },
                "snowflake": {
                    "host": "127.0.0.1",
                    "port": 2222,
                    "protocol": "http",
                    "account": "fakesnow",
                    "user": "pipeline",
                    "password": "pw",
                },
                "source": {"url": "http://127.0.0.1:3333"},
            }
        )
    )
    return tmp_path


def test_local_mode_takes_endpoints_and_credentials_from_the_running_local_cloud(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    s = Settings(mode="local", state_dir=_local_cloud(tmp_path))
    assert s.resolved_aws_endpoint == "http://127.0.0.1:1111"
    assert s.resolved_source_url == "http://127.0.0.1:3333/countries_sample.json"
    args = s.snowflake_connect_args("prod")
    assert (args["host"], args["port"], args["protocol"], args["database"]) == (
        "127.0.0.1",
        2222,
        "http",
        "COUNTRIES_PROD",
    )
    env = s.dbt_env("dev")
    assert env["DBT_TARGET"] == "dev" and env["SNOWFLAKE_PORT"] == "2222" and env["SNOWFLAKE_PASSWORD"] == "pw"


def test_local_mode_without_a_running_local_cloud_says_how_to_start_it(tmp_path):
    s = Settings(mode="local", state_dir=tmp_path)
    with pytest.raises(RuntimeError, match="python -m helpers local up"):
        _ = s.resolved_aws_endpoint


def test_cloud_mode_uses_standard_settings_and_the_github_source(clean_env, monkeypatch):
    _complete_cloud_env(monkeypatch, clean_env, auth="token")
    s = Settings(_env_file=None, state_dir=clean_env)
    assert s.require_complete() is s
    assert s.resolved_aws_endpoint is None
    assert s.resolved_source_url == GITHUB_SOURCE_URL
    args = s.snowflake_connect_args("dev")
    assert args["account"] == "xy12345.eu-west-1" and "host" not in args and "port" not in args


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="dev or prod"):
        Settings(mode="cloud").database("staging")


# --- cloud mode: nothing silently defaulted ---------------------------------------------------------


def test_local_mode_keeps_its_defaults_and_needs_nothing(clean_env):
    s = Settings(_env_file=None, mode="local", state_dir=clean_env)
    assert (s.bucket, s.aws_region) == ("countries-pipeline-local", "us-east-1")
    assert s.configuration_problems() == []
    assert s.require_complete() is s


def test_cloud_mode_names_every_missing_setting_in_one_error(clean_env):
    s = Settings(_env_file=None, mode="cloud", state_dir=clean_env)
    assert s.bucket is None and s.aws_region is None  # no local default leaks into cloud mode
    with pytest.raises(ConfigurationError) as caught:
        s.require_complete()
    message = str(caught.value)
    for var in (
        "PIPELINE_BUCKET",
        "AWS_REGION",
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_PRIVATE_KEY_PATH",
        "SNOWFLAKE_TOKEN",
    ):
        assert var in message, var
    # bucket, region, account, user, auth (warehouse and roles default to the account setup's names)
    assert len(caught.value.problems) == 5


@pytest.mark.parametrize("variable", ["SNOWFLAKE_ROLE", "PIPELINE_PROD_ROLE"])
@pytest.mark.parametrize("admin_role", ["ACCOUNTADMIN", "sysadmin", "SECURITYADMIN"])
def test_an_administrator_role_is_refused_for_the_pipeline(clean_env, monkeypatch, variable, admin_role):
    """The pipeline and dbt run as the environment's own role from sql/00_account_setup.sql; an
    administrator role would make every grant of that script pointless."""
    _complete_cloud_env(monkeypatch, clean_env)
    monkeypatch.setenv(variable, admin_role)
    s = Settings(_env_file=None, state_dir=clean_env)
    problems = s.configuration_problems()
    assert any(p.startswith(f"{variable}: {admin_role} is an administrator role") for p in problems), problems


def test_each_target_signs_in_with_its_own_role(clean_env, monkeypatch):
    _complete_cloud_env(monkeypatch, clean_env)
    s = Settings(_env_file=None, state_dir=clean_env)
    assert (s.role("dev"), s.role("prod")) == ("COUNTRIES_DEV_ROLE", "COUNTRIES_PROD_ROLE")
    monkeypatch.setenv("SNOWFLAKE_ROLE", "MY_ROLE")
    s = Settings(_env_file=None, state_dir=clean_env)
    assert (s.role("dev"), s.role("prod")) == ("MY_ROLE", "MY_ROLE")


def test_a_complete_cloud_configuration_with_a_key_pair_passes(clean_env, monkeypatch):
    _complete_cloud_env(monkeypatch, clean_env, auth="key")
    s = Settings(_env_file=None, state_dir=clean_env)
    assert s.configuration_problems() == []
    assert (s.bucket, s.aws_region) == ("countries-pipeline-123456789012", "eu-west-1")


def test_cloud_region_comes_from_the_profile_when_not_set(clean_env, monkeypatch):
    """boto3's own chain: the profile's `region` in the AWS config file (as SSO profiles have)."""
    _complete_cloud_env(monkeypatch, clean_env)
    monkeypatch.delenv("AWS_REGION")
    (clean_env / "aws_config").write_text("[profile pipeline]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_PROFILE", "pipeline")
    s = Settings(_env_file=None, state_dir=clean_env)
    assert s.aws_region == "ap-southeast-2" and s.configuration_problems() == []
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")  # the env beats the profile, as in boto3
    assert Settings(_env_file=None, state_dir=clean_env).aws_region == "eu-central-1"


def test_cloud_mode_with_an_unknown_profile_names_it(clean_env, monkeypatch):
    _complete_cloud_env(monkeypatch, clean_env)
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    problems = Settings(_env_file=None, state_dir=clean_env).configuration_problems()
    assert len(problems) == 1 and "no-such-profile" in problems[0] and "AWS_REGION" in problems[0]


def test_cloud_mode_refuses_an_invalid_bucket_name(clean_env, monkeypatch):
    """https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html: 3-63 characters,
    lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit."""
    _complete_cloud_env(monkeypatch, clean_env)
    monkeypatch.setenv("PIPELINE_BUCKET", "Countries_Pipeline")
    problems = Settings(_env_file=None, state_dir=clean_env).configuration_problems()
    assert len(problems) == 1 and "PIPELINE_BUCKET" in problems[0] and "not a valid S3 bucket name" in problems[0]


def test_cloud_mode_refuses_password_sign_in(clean_env, monkeypatch):
    """Snowflake is deprecating single-factor password sign-ins and disallows passwords for service
    users (TYPE=SERVICE): https://docs.snowflake.com/en/user-guide/security-mfa-rollout
    ("Planning for the deprecation of single-factor password sign-ins"). The pipeline user is a
    service user, so cloud mode refuses SNOWFLAKE_PASSWORD and names key-pair and PAT instead, both in
    require_complete() and at connect time (no silent fallback to the password)."""
    _complete_cloud_env(monkeypatch, clean_env)
    monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_PATH")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "secret")
    s = Settings(_env_file=None, state_dir=clean_env)
    with pytest.raises(ConfigurationError) as caught:
        s.require_complete()
    (problem,) = caught.value.problems
    for text in (
        "SNOWFLAKE_PASSWORD",
        "single-factor password",
        PASSWORD_DEPRECATION_URL,
        "SNOWFLAKE_PRIVATE_KEY_PATH",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "SNOWFLAKE_TOKEN",
    ):
        assert text in problem, text
    with pytest.raises(ConfigurationError, match="single-factor password"):
        s.snowflake_connect_args("dev")
    # a password next to a key is refused too: it would be a secret carried around for nothing
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PATH", str(clean_env / "rsa_key.p8"))
    assert any(
        "SNOWFLAKE_PASSWORD" in p for p in Settings(_env_file=None, state_dir=clean_env).configuration_problems()
    )


def test_cloud_mode_auth_must_be_exactly_one_usable_method(clean_env, monkeypatch):
    _complete_cloud_env(monkeypatch, clean_env, auth="key")
    monkeypatch.setenv("SNOWFLAKE_TOKEN", "pat")
    assert any("set exactly one" in p for p in Settings(_env_file=None, state_dir=clean_env).configuration_problems())
    monkeypatch.delenv("SNOWFLAKE_TOKEN")
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PATH", str(clean_env / "missing.p8"))
    (problem,) = Settings(_env_file=None, state_dir=clean_env).configuration_problems()
    assert "SNOWFLAKE_PRIVATE_KEY_PATH" in problem and "missing.p8" in problem


def test_a_programmatic_access_token_reaches_the_connector_and_dbt(clean_env, monkeypatch):
    """PATs: https://docs.snowflake.com/en/user-guide/programmatic-access-tokens. The connector
    (4.8.1) takes authenticator=PROGRAMMATIC_ACCESS_TOKEN + token; dbt-snowflake (1.12) takes
    `authenticator: programmatic_access_token` + `token` and passes the token on unchanged."""
    _complete_cloud_env(monkeypatch, clean_env, auth="token")
    s = Settings(_env_file=None, state_dir=clean_env)
    args = s.snowflake_connect_args("dev")
    assert (args["authenticator"], args["token"]) == ("PROGRAMMATIC_ACCESS_TOKEN", "pat-secret")
    assert "password" not in args and "private_key" not in args
    env = s.dbt_env("dev")
    assert (env["SNOWFLAKE_AUTHENTICATOR"], env["SNOWFLAKE_TOKEN"], env["SNOWFLAKE_PASSWORD"]) == (
        "programmatic_access_token",
        "pat-secret",
        "",
    )
    # dbt-snowflake's own credentials object turns these into the connector's arguments
    from dbt.adapters.snowflake.connections import SnowflakeCredentials

    creds = SnowflakeCredentials(
        account=env["SNOWFLAKE_ACCOUNT"],
        user=env["SNOWFLAKE_USER"],
        database="D",
        schema="RAW",
        authenticator=env["SNOWFLAKE_AUTHENTICATOR"],
        token=env["SNOWFLAKE_TOKEN"],
    )
    assert (
        creds.auth_args()["authenticator"] == "programmatic_access_token" and creds.auth_args()["token"] == "pat-secret"
    )
    assert "(set, hidden)" in {r["value"] for r in s.describe() if r["setting"] == "snowflake_token"}


def test_the_profile_passes_authenticator_and_token_to_dbt():
    import yaml

    from helpers.settings import PROJECT_ROOT

    dev = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())["countries"]["outputs"]["dev"]
    assert "SNOWFLAKE_AUTHENTICATOR" in dev["authenticator"] and "SNOWFLAKE_TOKEN" in dev["token"]


def test_cloud_mode_ignores_the_local_bootstrap_file_and_honours_endpoint_overrides(clean_env, monkeypatch):
    """A cloud-mode rehearsal against the emulators: endpoints from the standard variables,
    credentials from the standard chain, nothing from .local/cloud.json even when it exists."""
    _local_cloud(clean_env)
    _complete_cloud_env(monkeypatch, clean_env, auth="key")
    monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_PATH")
    monkeypatch.setenv("SNOWFLAKE_TOKEN", "pat")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    import boto3

    # a default session of this test's own: botocore caches the chain's credentials on a session,
    # and later tests in the same process must not sign with this test's stand-in key
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    monkeypatch.setenv("SNOWFLAKE_HOST", "127.0.0.1")
    monkeypatch.setenv("SNOWFLAKE_PORT", "8085")
    monkeypatch.setenv("SNOWFLAKE_PROTOCOL", "http")
    s = Settings(_env_file=None, state_dir=clean_env)
    assert s.local_cloud == {}
    client = s.aws_client("s3")
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert client._request_signer._credentials.access_key == "AKIACHAIN"  # the chain, not cloud.json's AKIALOCAL
    assert client.meta.region_name == "eu-west-1"
    args = s.snowflake_connect_args("dev")
    assert (args["host"], args["port"], args["protocol"]) == ("127.0.0.1", 8085, "http")
    assert args["user"] == "PIPELINE_USER" and "password" not in args  # not cloud.json's user/password
    assert s.resolved_source_url == GITHUB_SOURCE_URL  # not the local fixture server


def test_local_mode_aws_client_signs_as_the_operator_not_the_admin(clean_env, monkeypatch):
    _local_cloud(clean_env)
    client = Settings(_env_file=None, mode="local", state_dir=clean_env).aws_client("s3")
    assert client._request_signer._credentials.access_key == "AKIALOCAL"  # the operator's, not AKIAADMIN
    assert client.meta.endpoint_url == "http://127.0.0.1:1111"


def test_aws_clients_are_made_one_at_a_time_whatever_thread_asks(clean_env, monkeypatch):
    """boto3.client() builds on boto3's default Session, which is not thread-safe; the access matrix
    probes the Glue role on a thread of its own while the main thread makes clients too."""
    import threading
    import time

    import boto3

    _local_cloud(clean_env)
    s = Settings(_env_file=None, mode="local", state_dir=clean_env)
    inside, most = [0], [0]
    guard = threading.Lock()

    def client(service, **kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)  # long enough for another thread to come in, if nothing stops it
        with guard:
            inside[0] -= 1
        return service

    monkeypatch.setattr(boto3, "client", client)
    threads = [threading.Thread(target=s.aws_client, args=("s3",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_local_mode_without_an_operator_key_says_to_run_local_up(clean_env):
    cloud = json.loads((_local_cloud(clean_env) / "cloud.json").read_text())
    del cloud["aws"]["operator"]
    (clean_env / "cloud.json").write_text(json.dumps(cloud))
    with pytest.raises(RuntimeError, match="no operator key.*python -m helpers local up"):
        Settings(_env_file=None, mode="local", state_dir=clean_env).aws_client("s3")


# --- source URLs ------------------------------------------------------------------------------


def test_allowed_source_schemes_per_mode(clean_env):
    assert Settings(_env_file=None, mode="cloud").allowed_source_schemes == ("https", "s3")
    assert Settings(_env_file=None, mode="local").allowed_source_schemes == ("https", "s3", "http", "file")


def test_cloud_mode_accepts_https_and_s3_sources(clean_env):
    s = Settings(_env_file=None, mode="cloud", bucket="b-123")
    for url in (GITHUB_SOURCE_URL, "s3://b-123/incoming/countries.json"):
        assert s.check_source_url(url) == url


def test_cloud_mode_refuses_a_file_source_and_says_how_to_upload_it(clean_env):
    s = Settings(_env_file=None, mode="cloud", bucket="my-bucket")
    with pytest.raises(ConfigurationError) as caught:
        s.check_source_url("file:///data/countries.json")
    message = str(caught.value)
    assert "https://, s3://" in message
    assert "aws s3 cp /data/countries.json s3://my-bucket/incoming/countries.json" in message
    assert "--source-url s3://my-bucket/incoming/countries.json" in message


def test_cloud_mode_refuses_plain_http_and_unknown_schemes(clean_env):
    s = Settings(_env_file=None, mode="cloud", bucket="my-bucket")
    for url in ("http://example.com/countries.json", "ftp://example.com/x.json", "countries.json"):
        with pytest.raises(ConfigurationError, match="https://, s3://"):
            s.check_source_url(url)


def test_local_mode_accepts_http_and_existing_files_only(clean_env):
    s = Settings(_env_file=None, mode="local")
    f = clean_env / "countries.json"
    f.write_text("[]")
    assert s.check_source_url("http://127.0.0.1:3333/countries_sample.json")
    assert s.check_source_url(f.as_uri()) == f.as_uri()
    with pytest.raises(ConfigurationError, match="is not a file"):
        s.check_source_url((clean_env / "nope.json").as_uri())
    with pytest.raises(ConfigurationError, match="s3://<bucket>/<key>"):
        s.check_source_url("s3://bucket-only")
    with pytest.raises(ConfigurationError, match="https://, s3://, http://, file://"):
        s.check_source_url("ftp://example.com/x.json")


def test_incoming_prefix_setting(clean_env, monkeypatch):
    assert Settings(_env_file=None, mode="local").incoming_key("/tmp/a/countries.json") == "incoming/countries.json"
    monkeypatch.setenv("PIPELINE_INCOMING_PREFIX", "uploads/")
    assert Settings(_env_file=None, mode="local").incoming_key("countries.json") == "uploads/countries.json"


def test_a_refused_pipeline_source_url_is_one_of_the_configuration_problems(clean_env, monkeypatch):
    _complete_cloud_env(monkeypatch, clean_env)
    monkeypatch.setenv("PIPELINE_SOURCE_URL", "file:///data/countries.json")
    (problem,) = Settings(_env_file=None, state_dir=clean_env).configuration_problems()
    assert problem.startswith("PIPELINE_SOURCE_URL:") and "aws s3 cp" in problem
