"""One settings object: the only seam between the local emulators and the real clouds.

Values come from environment variables, or a `.env` file in the project root (see `.env.example`).
`PIPELINE_MODE=local` (the default) takes endpoints and credentials from the running local cloud
(`python -m helpers local up` writes them to `.local/cloud.json`); `PIPELINE_MODE=cloud` uses
the standard AWS credential chain and standard Snowflake connection settings. Nothing else in the
pipeline knows which one it talks to.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GITHUB_SOURCE_URL = (
    "https://raw.githubusercontent.com/restcountries/restcountries/master/src/main/resources/countriesV3.1.json"
)


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
    dbt_target_dir: Path = Field(PROJECT_ROOT / "dbt_project" / "target", validation_alias=_env("PIPELINE_DBT_TARGET_DIR"))

    # --- AWS -----------------------------------------------------------------------------------
    aws_region: str = Field("us-east-1", validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_endpoint_url: str | None = Field(None, validation_alias=_env("AWS_ENDPOINT_URL"))
    bucket: str = Field("countries-pipeline-local", validation_alias=_env("PIPELINE_BUCKET"))
    data_prefix: str = Field("data/countries/", validation_alias=_env("PIPELINE_DATA_PREFIX"))
    scripts_prefix: str = Field("scripts/", validation_alias=_env("PIPELINE_SCRIPTS_PREFIX"))
    quarantine_prefix: str = Field("quarantine/", validation_alias=_env("PIPELINE_QUARANTINE_PREFIX"))
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
    snowflake_role: str | None = Field(None, validation_alias=_env("SNOWFLAKE_ROLE"))
    snowflake_warehouse: str | None = Field(None, validation_alias=_env("SNOWFLAKE_WAREHOUSE"))
    snowflake_host: str | None = Field(None, validation_alias=_env("SNOWFLAKE_HOST"))
    snowflake_port: int | None = Field(None, validation_alias=_env("SNOWFLAKE_PORT"))
    snowflake_protocol: str | None = Field(None, validation_alias=_env("SNOWFLAKE_PROTOCOL"))
    # seconds a request to Snowflake is retried before failing (the connector's own default is
    # infinite: a warehouse gone mid-run would hang the pipeline and dbt; see helpers/dbt_entry.py)
    snowflake_network_timeout: int = Field(300, validation_alias=_env("SNOWFLAKE_NETWORK_TIMEOUT"))
    dev_database: str = Field("COUNTRIES_DEV", validation_alias=_env("PIPELINE_DEV_DATABASE"))
    prod_database: str = Field("COUNTRIES_PROD", validation_alias=_env("PIPELINE_PROD_DATABASE"))
    integration_name: str = Field("COUNTRIES_S3_INTEGRATION", validation_alias=_env("PIPELINE_INTEGRATION"))

    # --- derived ---------------------------------------------------------------------------------
    @cached_property
    def local_cloud(self) -> dict[str, Any]:
        """What `local up` wrote: endpoints and the emulators' credentials. Local mode only."""
        path = self.state_dir / "cloud.json"
        if self.mode != "local":
            return {}
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
        secret = {"snowflake_password", "snowflake_private_key_passphrase"}
        rows = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Path):
                value = value.relative_to(PROJECT_ROOT) if value.is_relative_to(PROJECT_ROOT) else value
            shown = "(set, hidden)" if name in secret and value else ("" if value is None else str(value))
            rows.append({"setting": name, "value": shown})
        return rows

    def database(self, target: str) -> str:
        if target not in ("dev", "prod"):
            raise ValueError(f"unknown target {target!r}: use dev or prod")
        return self.dev_database if target == "dev" else self.prod_database

    @property
    def data_key(self) -> str:
        return self.data_prefix + self.data_file_name

    def aws_client(self, service: str, **credentials: Any) -> Any:
        """A boto3 client. Local: the emulator endpoint and its admin keys; cloud: the default chain."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {"region_name": self.aws_region}
        if endpoint := self.resolved_aws_endpoint:
            kwargs["endpoint_url"] = endpoint
        admin = self.local_cloud.get("aws", {}).get("admin")
        if admin and not credentials:
            credentials = {
                "aws_access_key_id": admin["access_key_id"],
                "aws_secret_access_key": admin["secret_access_key"],
            }
        kwargs.update(credentials)
        # fail fast instead of retrying for minutes when an endpoint is down
        kwargs["config"] = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        return boto3.client(service, **kwargs)

    def snowflake_connect_args(self, target: str | None = "dev") -> dict[str, Any]:
        """Arguments for snowflake.connector.connect: the same keys dbt's profile uses."""
        local = self.local_cloud.get("snowflake", {})
        args: dict[str, Any] = {
            "account": self.snowflake_account or local.get("account"),
            "user": self.snowflake_user or local.get("user"),
            "role": self.snowflake_role,
            "warehouse": self.snowflake_warehouse,
            "host": self.snowflake_host or local.get("host"),
            "port": self.snowflake_port or local.get("port"),
            "protocol": self.snowflake_protocol or local.get("protocol"),
            "login_timeout": 30,
            "network_timeout": self.snowflake_network_timeout,
        }
        if self.snowflake_private_key_path:
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
            raise RuntimeError("Snowflake is not configured: set SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER (see .env.example)")
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
            "SNOWFLAKE_ROLE": conn.get("role", ""),
            "SNOWFLAKE_WAREHOUSE": conn.get("warehouse", ""),
            "SNOWFLAKE_HOST": conn.get("host", ""),
            "SNOWFLAKE_PORT": str(conn.get("port", 443)),
            "SNOWFLAKE_PROTOCOL": conn.get("protocol", "https"),
            "PIPELINE_DEV_DATABASE": self.dev_database,
            "PIPELINE_PROD_DATABASE": self.prod_database,
        }
        return env
