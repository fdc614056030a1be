"""Whether a configuration is usable: every missing, invalid or refused setting, each naming the
variable to set (`Settings.configuration_problems`, `Settings.require_complete`), and which source
URLs a mode may ingest (`Settings.check_source_url`).

Cloud mode has no defaults that could point at someone else's resources or a deprecated sign-in, so
its problems are named here, all at once, before the pipeline creates anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from helpers.settings import Settings

# https://docs.snowflake.com/en/user-guide/security-mfa-rollout
PASSWORD_DEPRECATION_URL = "https://docs.snowflake.com/en/user-guide/security-mfa-rollout"
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Snowflake's system roles: an administrator runs sql/00_account_setup.sql with them; the pipeline never does
ADMIN_ROLES = frozenset({"ACCOUNTADMIN", "SECURITYADMIN", "SYSADMIN", "USERADMIN", "ORGADMIN"})
# which --source-url schemes each mode accepts: a Glue worker reads https/http/s3, never the
# caller's disk; cloud mode refuses plain http (no integrity on the way in) and file:// (the
# pipeline uploads local files to incoming/ only in local mode; in cloud mode the user does it)
SOURCE_SCHEMES = {"cloud": ("https", "s3"), "local": ("https", "s3", "http", "file")}


class ConfigurationError(ValueError):
    """Settings that are missing, invalid or refused. `problems` lists each one with the variable to
    set; the message lists them all, so one run shows everything to fix."""

    def __init__(self, problems: list[str], heading: str = "The configuration is incomplete"):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{heading} ({len(self.problems)} problem(s); see .env.example):\n{lines}")


def password_refused() -> str:
    return (
        "SNOWFLAKE_PASSWORD: password sign-in is refused in cloud mode. Snowflake is deprecating "
        "single-factor password sign-ins and does not allow passwords for service users (TYPE=SERVICE), "
        f"see {PASSWORD_DEPRECATION_URL}. Unset SNOWFLAKE_PASSWORD and use key-pair authentication "
        "(SNOWFLAKE_PRIVATE_KEY_PATH, plus SNOWFLAKE_PRIVATE_KEY_PASSPHRASE if the key is encrypted) "
        "or a programmatic access token (SNOWFLAKE_TOKEN)"
    )


def configuration_problems(s: Settings, targets: Iterable[str], region_problem: str | None) -> list[str]:
    """Every missing, invalid or refused setting, each naming the variable to set. Empty in local
    mode (the local cloud provides the rest) unless a local setting itself is invalid. `targets` are
    the dbt targets (settings.TARGETS); `region_problem` is what resolving the AWS region said."""
    problems: list[str] = []
    if s.source_url:
        try:
            check_source_url(s, s.source_url)
        except ConfigurationError as e:
            problems.extend(f"PIPELINE_SOURCE_URL: {p}" for p in e.problems)
    if s.mode != "cloud":
        return problems

    if not s.bucket:
        problems.append(
            "PIPELINE_BUCKET: not set. Bucket names are global, so cloud mode has no default: "
            "set a name of your own, e.g. countries-pipeline-<account-id>"
        )
    elif not _BUCKET_NAME.match(s.bucket) or ".." in s.bucket:
        problems.append(
            f"PIPELINE_BUCKET: {s.bucket!r} is not a valid S3 bucket name (3-63 characters: "
            "lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
        )
    if region_problem:
        problems.append(region_problem)
    elif not s.aws_region:
        problems.append(
            "AWS region: none resolved. Set AWS_REGION (or AWS_DEFAULT_REGION), or a region in "
            "the AWS_PROFILE's config (aws configure set region <region>)"
        )

    for var, value in (("SNOWFLAKE_ACCOUNT", s.snowflake_account), ("SNOWFLAKE_USER", s.snowflake_user)):
        if not value:
            problems.append(f"{var}: not set (cloud mode has no default)")
    for target in targets:
        if s.role(target).upper() in ADMIN_ROLES and not (s.snowflake_role and target == "prod"):
            problems.append(
                f"{'SNOWFLAKE_ROLE' if s.snowflake_role else f'PIPELINE_{target.upper()}_ROLE'}: "
                f"{s.role(target)} is an administrator role; the pipeline and dbt run as the "
                f"environment's own role ({s.dev_role if target == 'dev' else s.prod_role}, made by "
                "sql/00_account_setup.sql). Unset SNOWFLAKE_ROLE or set it to that role"
            )

    key, token = s.snowflake_private_key_path, s.snowflake_token
    if s.snowflake_password:
        problems.append(password_refused())
    if key and token:
        problems.append(
            "Snowflake authentication: both SNOWFLAKE_PRIVATE_KEY_PATH and SNOWFLAKE_TOKEN are set; set exactly one"
        )
    elif key:
        path = Path(key).expanduser()
        if not path.is_file():
            problems.append(f"SNOWFLAKE_PRIVATE_KEY_PATH: {path} is not a file (the PKCS#8 .p8 private key)")
    elif not token and not s.snowflake_password:  # the password problem names the alternatives
        problems.append(
            "Snowflake authentication: not set. Set SNOWFLAKE_PRIVATE_KEY_PATH (key-pair, plus "
            "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE if the key is encrypted) or SNOWFLAKE_TOKEN "
            "(a programmatic access token)"
        )
    if s.snowflake_protocol and s.snowflake_protocol not in ("https", "http"):
        problems.append(f"SNOWFLAKE_PROTOCOL: {s.snowflake_protocol!r} must be https or http")
    if s.snowflake_port is not None and not 0 < s.snowflake_port < 65536:
        problems.append(f"SNOWFLAKE_PORT: {s.snowflake_port} is not a TCP port")
    return problems


def check_source_url(s: Settings, url: str) -> str:
    """Return `url` if this mode may ingest it, else raise ConfigurationError naming the allowed
    schemes (and for file:// in cloud mode, how to upload the file and pass its s3:// URL)."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    allowed = s.allowed_source_schemes
    shown = ", ".join(f"{a}://" for a in allowed)
    if scheme not in allowed:
        problem = (
            f"{url!r}: scheme {scheme + '://' if scheme else '(none)'} is not allowed in {s.mode} mode; use {shown}"
        )
        if scheme == "file":
            name = Path(unquote(parsed.path)).name or "FILE"
            target = f"s3://{s.bucket or '<bucket>'}/{s.incoming_key(name)}"
            problem += (
                f". A Glue worker cannot read your disk: upload the file first "
                f"(aws s3 cp {unquote(parsed.path) or 'FILE'} {target}) and pass --source-url {target}"
            )
        elif scheme == "http":
            problem += ". Use the https:// address of the source"
        raise ConfigurationError([problem], heading="Source URL refused")
    if scheme in ("http", "https") and not parsed.netloc:
        raise ConfigurationError([f"{url!r}: no host"], heading="Source URL refused")
    if scheme == "s3" and (not parsed.netloc or not parsed.path.strip("/")):
        raise ConfigurationError([f"{url!r}: an s3:// source needs s3://<bucket>/<key>"], heading="Source URL refused")
    if scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise ConfigurationError([f"{url!r}: {path} is not a file"], heading="Source URL refused")
    return url
