"""One settings object: the only seam between the local emulators and the real clouds.

Values come from environment variables, or a `.env` file in the project root (see `.env.example`).
`PIPELINE_MODE=local` (the default) takes endpoints and credentials from the running local cloud
(`python -m helpers local up` writes them to `.local/cloud.json`); `PIPELINE_MODE=cloud` uses
the standard AWS credential chain and standard Snowflake connection settings, and never reads
`.local/`. Nothing else in the pipeline knows which one it talks to.

Cloud mode has no defaults that could point at someone else's resources or a deprecated sign-in:
`Settings.require_complete()` names every missing or refused setting in one ConfigurationError
(the checks are helpers/settings_checks.py), and the pipeline calls it before it creates anything.
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from helpers import settings_checks
from helpers.settings_checks import SOURCE_SCHEMES, ConfigurationError, password_refused

# boto3.client() builds each client from boto3's default Session, which is not thread-safe
# (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients):
# clients are made one at a time; once made, a client may be used from any thread.
_CLIENT_CREATION = threading.Lock()

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GITHUB_SOURCE_URL = (
    "https://raw.githubusercontent.com/restcountries/restcountries/master/src/main/resources/countriesV3.1.json"
)


LOCAL_BUCKET = "countries-pipeline-local"
LOCAL_REGION = "us-east-1"
TARGETS = ("dev", "prod")


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    mode: Literal["local", "cloud"] = Field("local", validation_alias=_env("PIPELINE_MODE"))
    state_dir: Path = Field(PROJECT_ROOT / ".local", validation_alias=_env("PIPELINE_STATE_DIR"))
    artifacts_dir: Path = Field(PROJECT_ROOT / "artifacts", validation_alias=_env("PIPELINE_ARTIFACTS_DIR"))
    # dbt's target/ (manifest, compiled SQL, run_results) per dbt target: <dir>/dev, <dir>/prod
    dbt_target_dir: Path = Field(
        PROJECT_ROOT / "dbt_project" / "target", validation_alias=_env("PIPELINE_DBT_TARGET_DIR")
    )

    # --- AWS -----------------------------------------------------------------------------------
    # cloud mode: unset means boto3's own resolution (AWS_PROFILE's region, SSO config, ...);
    # local mode: us-east-1. Filled in by _resolve_mode_defaults; None only when nothing resolved.
    aws_region: str | None = Field(None, validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_endpoint_url: str | None = Field(None, validation_alias=_env("AWS_ENDPOINT_URL"))
    # bucket names are global: no default in cloud mode (local mode: countries-pipeline-local)
    bucket: str | None = Field(None, validation_alias=_env("PIPELINE_BUCKET"))
    data_prefix: str = Field("data/countries/", validation_alias=_env("PIPELINE_DATA_PREFIX"))
    scripts_prefix: str = Field("scripts/", validation_alias=_env("PIPELINE_SCRIPTS_PREFIX"))
    quarantine_prefix: str = Field("quarantine/", validation_alias=_env("PIPELINE_QUARANTINE_PREFIX"))
    # where a local file:// source is uploaded for the Glue job to read (the job role may read it)
    incoming_prefix: str = Field("incoming/", validation_alias=_env("PIPELINE_INCOMING_PREFIX"))
    data_file_name: str = "countries.ndjson"
    glue_job_name: str = Field("countries-ingest", validation_alias=_env("PIPELINE_GLUE_JOB"))
    glue_role_name: str = Field("countries-pipeline-glue-role", validation_alias=_env("PIPELINE_GLUE_ROLE"))
    snowflake_role_name: str = Field(
        "countries-pipeline-snowflake-role", validation_alias=_env("PIPELINE_SNOWFLAKE_AWS_ROLE")
    )
    source_url: str | None = Field(None, validation_alias=_env("PIPELINE_SOURCE_URL"))
    max_source_bytes: int = Field(100 * 1024 * 1024, validation_alias=_env("PIPELINE_MAX_SOURCE_BYTES"))
    # the Glue job's download: seconds per attempt (--timeout_seconds) and attempts (--max_attempts)
    source_timeout_seconds: float = Field(30, validation_alias=_env("PIPELINE_SOURCE_TIMEOUT_SECONDS"))
    source_max_attempts: int = Field(4, validation_alias=_env("PIPELINE_SOURCE_MAX_ATTEMPTS"))
    # a second run while one is in progress: 0 fails at once, N waits up to N seconds (helpers/run_lock.py)
    run_lock_wait_seconds: float = Field(0, validation_alias=_env("PIPELINE_RUN_LOCK_WAIT_SECONDS"))

    # --- Snowflake -----------------------------------------------------------------------------
    snowflake_account: str | None = Field(None, validation_alias=_env("SNOWFLAKE_ACCOUNT"))
    snowflake_user: str | None = Field(None, validation_alias=_env("SNOWFLAKE_USER"))
    snowflake_password: str | None = Field(None, validation_alias=_env("SNOWFLAKE_PASSWORD"))
    snowflake_private_key_path: str | None = Field(None, validation_alias=_env("SNOWFLAKE_PRIVATE_KEY_PATH"))
    snowflake_private_key_passphrase: str | None = Field(
        None, validation_alias=_env("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    )
    # a programmatic access token (PAT): connector authenticator=PROGRAMMATIC_ACCESS_TOKEN, dbt
    # authenticator: programmatic_access_token (https://docs.snowflake.com/en/user-guide/programmatic-access-tokens)
    snowflake_token: str | None = Field(None, validation_alias=_env("SNOWFLAKE_TOKEN"))
    # SNOWFLAKE_ROLE, when set, is used for both targets; otherwise each target signs in with its own
    # role from sql/00_account_setup.sql (an administrator role is refused: configuration_problems)
    snowflake_role: str | None = Field(None, validation_alias=_env("SNOWFLAKE_ROLE"))
    snowflake_warehouse: str = Field("COUNTRIES_WH", validation_alias=_env("SNOWFLAKE_WAREHOUSE"))
    snowflake_host: str | None = Field(None, validation_alias=_env("SNOWFLAKE_HOST"))
    snowflake_port: int | None = Field(None, validation_alias=_env("SNOWFLAKE_PORT"))
    snowflake_protocol: str | None = Field(None, validation_alias=_env("SNOWFLAKE_PROTOCOL"))
    # seconds a request to Snowflake is retried before failing (the connector's own default is
    # infinite: a warehouse gone mid-run would hang the pipeline and dbt; see helpers/dbt_entry.py)
    snowflake_network_timeout: int = Field(300, validation_alias=_env("SNOWFLAKE_NETWORK_TIMEOUT"))
    dev_database: str = Field("COUNTRIES_DEV", validation_alias=_env("PIPELINE_DEV_DATABASE"))
    prod_database: str = Field("COUNTRIES_PROD", validation_alias=_env("PIPELINE_PROD_DATABASE"))
    integration_name: str = Field("COUNTRIES_S3_INTEGRATION", validation_alias=_env("PIPELINE_INTEGRATION"))
    # --- the Snowflake account setup (sql/00_account_setup.sql, run once by an administrator) ---
    dev_role: str = Field("COUNTRIES_DEV_ROLE", validation_alias=_env("PIPELINE_DEV_ROLE"))
    prod_role: str = Field("COUNTRIES_PROD_ROLE", validation_alias=_env("PIPELINE_PROD_ROLE"))
    # what an analyst gets: USAGE on the databases, SELECT on each published MART (sql/05_publish.sql)
    reader_role: str = Field("COUNTRIES_READER", validation_alias=_env("PIPELINE_READER_ROLE"))
    dev_user: str = Field("COUNTRIES_DEV_SVC", validation_alias=_env("PIPELINE_DEV_USER"))
    prod_user: str = Field("COUNTRIES_PROD_SVC", validation_alias=_env("PIPELINE_PROD_USER"))
    # the service users' RSA public keys (PEM files; `openssl rsa -in key.p8 -pubout -out key.pub`)
    dev_public_key_path: str | None = Field(None, validation_alias=_env("PIPELINE_DEV_PUBLIC_KEY_PATH"))
    prod_public_key_path: str | None = Field(None, validation_alias=_env("PIPELINE_PROD_PUBLIC_KEY_PATH"))
    resource_monitor: str = Field("COUNTRIES_MONITOR", validation_alias=_env("PIPELINE_RESOURCE_MONITOR"))
    # credits per month before the monitor suspends the warehouse (an X-Small uses 1 credit per hour)
    credit_quota: int = Field(10, validation_alias=_env("PIPELINE_CREDIT_QUOTA"))

    _region_problem: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _resolve_mode_defaults(self) -> Settings:
        """Local mode keeps its fixed bucket and region; cloud mode resolves the region the way
        boto3 does and leaves the bucket unset (require_complete() then names both)."""
        if self.mode == "local":
            self.bucket = self.bucket or LOCAL_BUCKET
            self.aws_region = self.aws_region or LOCAL_REGION
        elif not self.aws_region:
            import boto3
            from botocore.exceptions import BotoCoreError

            try:
                self.aws_region = boto3.session.Session().region_name
            except BotoCoreError as e:  # e.g. AWS_PROFILE names a profile that does not exist
                self._region_problem = f"AWS region: {e}. Fix the profile or set AWS_REGION"
        return self

    # --- validation (helpers/settings_checks.py) --------------------------------------------------
    def configuration_problems(self) -> list[str]:
        """Every missing, invalid or refused setting, each naming the variable to set. Empty in local
        mode (the local cloud provides the rest) unless a local setting itself is invalid."""
        return settings_checks.configuration_problems(self, TARGETS, self._region_problem)

    def require_complete(self) -> Settings:
        """Raise one ConfigurationError naming every problem (cloud mode), before anything is
        created. Returns self, so `Settings().require_complete()` reads as one step."""
        if problems := self.configuration_problems():
            raise ConfigurationError(problems, heading=f"PIPELINE_MODE={self.mode}: the configuration is not usable")
        return self

    # --- sources ---------------------------------------------------------------------------------
    @property
    def allowed_source_schemes(self) -> tuple[str, ...]:
        """The --source-url schemes this mode accepts (cloud: https, s3; local also http, file)."""
        return SOURCE_SCHEMES[self.mode]

    def incoming_key(self, file_name: str) -> str:
        """The S3 key a local file:// source is uploaded to: <incoming_prefix><file name>."""
        return self.incoming_prefix + Path(file_name).name

    def check_source_url(self, url: str) -> str:
        """Return `url` if this mode may ingest it, else raise ConfigurationError naming the allowed
        schemes (and for file:// in cloud mode, how to upload the file and pass its s3:// URL)."""
        return settings_checks.check_source_url(self, url)

    # --- derived ---------------------------------------------------------------------------------
    @cached_property
    def local_cloud(self) -> dict[str, Any]:
        """What `local up` wrote: endpoints and the emulators' credentials. Local mode only: cloud
        mode never reads the file, even when it exists (a cloud-mode rehearsal against the emulators
        sets AWS_ENDPOINT_URL / SNOWFLAKE_HOST and uses the standard credential chain)."""
        if self.mode != "local":
            return {}
        path = self.state_dir / "cloud.json"
        if not path.exists():
            raise RuntimeError(
                f"The local cloud is not running ({path} is missing). Start it with: python -m helpers local up"
            )
        return json.loads(path.read_text())

    @property
    def resolved_aws_endpoint(self) -> str | None:
        return self.aws_endpoint_url or self.local_cloud.get("aws", {}).get("url")

    @property
    def resolved_source_url(self) -> str:
        if self.source_url:
            return self.source_url
        if self.mode == "local":
            return self.local_cloud["source"]["url"] + "/countries_sample.json"
        return GITHUB_SOURCE_URL

    def describe(self) -> list[dict[str, str]]:
        """The settings a reader should see: secrets masked, paths relative to the project."""
        secret = {"snowflake_password", "snowflake_private_key_passphrase", "snowflake_token"}
        rows = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Path):
                value = value.relative_to(PROJECT_ROOT) if value.is_relative_to(PROJECT_ROOT) else value
            shown = "(set, hidden)" if name in secret and value else ("" if value is None else str(value))
            rows.append({"setting": name, "value": shown})
        return rows

    def database(self, target: str) -> str:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: use dev or prod")
        return self.dev_database if target == "dev" else self.prod_database

    def role(self, target: str) -> str:
        """The Snowflake role a target's statements and dbt run as: SNOWFLAKE_ROLE if set, else the
        target's own role (it owns the target's database and nothing else)."""
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: use dev or prod")
        return self.snowflake_role or (self.dev_role if target == "dev" else self.prod_role)

    @property
    def data_key(self) -> str:
        return self.data_prefix + self.data_file_name

    def aws_client(self, service: str, **credentials: Any) -> Any:
        """A boto3 client. Local: the emulator endpoint and the operator's keys (the IAM user that
        holds exactly helpers.iam_operator.operator_policy, helpers/local_cloud/bootstrap.py); cloud: the
        default chain (and AWS_ENDPOINT_URL if set), nothing from .local/."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {"region_name": self.aws_region}
        if endpoint := self.resolved_aws_endpoint:
            kwargs["endpoint_url"] = endpoint
        if self.mode == "local" and not credentials:
            operator = self.local_cloud.get("aws", {}).get("operator")
            if not operator:  # a local cloud started before the operator existed
                raise RuntimeError(
                    f"{self.state_dir / 'cloud.json'} has no operator key. Run: python -m helpers local up"
                )
            credentials = {
                "aws_access_key_id": operator["access_key_id"],
                "aws_secret_access_key": operator["secret_access_key"],
            }
        kwargs.update(credentials)
        # fail fast instead of retrying for minutes when an endpoint is down
        kwargs["config"] = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        with _CLIENT_CREATION:
            return boto3.client(service, **kwargs)

    def snowflake_connect_args(self, target: str | None = "dev") -> dict[str, Any]:
        """Arguments for snowflake.connector.connect: the same keys dbt's profile uses."""
        local = self.local_cloud.get("snowflake", {})
        args: dict[str, Any] = {
            "account": self.snowflake_account or local.get("account"),
            "user": self.snowflake_user or local.get("user"),
            "role": self.role(target) if target else self.snowflake_role,
            "warehouse": self.snowflake_warehouse,
            "host": self.snowflake_host or local.get("host"),
            "port": self.snowflake_port or local.get("port"),
            "protocol": self.snowflake_protocol or local.get("protocol"),
            "login_timeout": 30,
            "network_timeout": self.snowflake_network_timeout,
        }
        if self.mode == "cloud" and not (self.snowflake_private_key_path or self.snowflake_token):
            # never fall back to a password against a real account (require_complete() says so first)
            raise ConfigurationError(
                [
                    password_refused()
                    if self.snowflake_password
                    else "Snowflake authentication: set SNOWFLAKE_PRIVATE_KEY_PATH or SNOWFLAKE_TOKEN"
                ],
                heading="Snowflake sign-in refused",
            )
        if self.snowflake_token and not self.snowflake_private_key_path:
            args["authenticator"] = "PROGRAMMATIC_ACCESS_TOKEN"
            args["token"] = self.snowflake_token
        elif self.snowflake_private_key_path:
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_pem_private_key(
                Path(self.snowflake_private_key_path).expanduser().read_bytes(),
                password=self.snowflake_private_key_passphrase.encode()
                if self.snowflake_private_key_passphrase
                else None,
            )
            args["private_key"] = key
        else:
            args["password"] = self.snowflake_password or local.get("password")
        if target:
            args["database"] = self.database(target)
        if not args["account"] or not args["user"]:
            raise RuntimeError(
                "Snowflake is not configured: set SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER (see .env.example)"
            )
        return {k: v for k, v in args.items() if v is not None}

    def dbt_env(self, target: str) -> dict[str, str]:
        """Environment for dbt: profiles.yml reads every connection setting from these variables."""
        conn = self.snowflake_connect_args(target)
        env = {
            "DBT_TARGET": target,
            "SNOWFLAKE_ACCOUNT": conn["account"],
            "SNOWFLAKE_USER": conn["user"],
            "SNOWFLAKE_PASSWORD": conn.get("password") or "",
            # absolute: dbt-snowflake opens the path as written (no ~, relative to dbt_project/)
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(Path(self.snowflake_private_key_path).expanduser().resolve())
            if self.snowflake_private_key_path
            else "",
            "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": self.snowflake_private_key_passphrase or "",
            # profiles.yml: authenticator/token are empty unless a programmatic access token is used
            "SNOWFLAKE_AUTHENTICATOR": "programmatic_access_token" if conn.get("token") else "",
            "SNOWFLAKE_TOKEN": conn.get("token", ""),
            "SNOWFLAKE_ROLE": conn.get("role", ""),
            "SNOWFLAKE_WAREHOUSE": conn.get("warehouse", ""),
            "SNOWFLAKE_HOST": conn.get("host", ""),
            "SNOWFLAKE_PORT": str(conn.get("port", 443)),
            "SNOWFLAKE_PROTOCOL": conn.get("protocol", "https"),
            "PIPELINE_DEV_DATABASE": self.dev_database,
            "PIPELINE_PROD_DATABASE": self.prod_database,
        }
        return env
