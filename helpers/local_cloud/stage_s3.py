"""S3 access for the local warehouse's external stages, as Snowflake's principal.

Snowflake reads a stage WITH STORAGE_INTEGRATION through sts:AssumeRole on the integration's role, as its
own AWS principal, with the integration's external id: a wrong trust policy fails here as it does in
Snowflake (091003 "Error assuming AWS_ROLE"). fakesnow ignores the clause and uses whatever S3 secret it
has. LIST @s3_stage lists the S3 objects (fakesnow lists a local folder: 0 rows); for CSV/Parquet COPY
the role's session is installed as a DuckDB S3 secret scoped to exactly the stage location.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from helpers.local_cloud.warehouse_sql import ProgrammingError, sql_literal, values_sql


@dataclass
class Principal:
    """The IAM user standing for Snowflake's AWS principal, with its access keys."""

    arn: str
    access_key_id: str
    secret_access_key: str


class StageS3:
    def __init__(self, duck: Any, aws_endpoint: str, region: str, principal: Principal, catalog: Any):
        self.duck = duck
        self.aws_endpoint = aws_endpoint
        self.region = region
        self.principal = principal
        self.catalog = catalog  # stage_catalog.StageCatalog: the stages and their integrations

    def credentials(self, integration_name: str | None, fq_stage: str) -> dict[str, str] | None:
        """Credentials for reading a stage's S3 location: assume the integration's role as Snowflake's
        principal, with the integration's external id, exactly as Snowflake does."""
        if not integration_name:
            return None
        integration = self.catalog.require_integration(integration_name)
        if str(integration["props"].get("ENABLED", "TRUE")).upper() != "TRUE":
            raise ProgrammingError(msg=f"Integration '{integration_name}' is disabled.", errno=91002, sqlstate="22000")
        sts = boto3.client(
            "sts",
            endpoint_url=self.aws_endpoint,
            region_name=self.region,
            aws_access_key_id=self.principal.access_key_id,
            aws_secret_access_key=self.principal.secret_access_key,
        )
        try:
            creds = sts.assume_role(
                RoleArn=integration["props"].get("STORAGE_AWS_ROLE_ARN", ""),
                RoleSessionName="snowflake",
                ExternalId=integration["external_id"],
            )["Credentials"]
        except botocore.exceptions.ClientError as e:
            raise ProgrammingError(
                msg=(
                    "SQL execution error:\nError assuming AWS_ROLE. Please verify the role and externalId are "
                    f"configured correctly in your AWS policy. (stage {fq_stage}, integration {integration_name}: "
                    f"{e.response['Error'].get('Code')}: {e.response['Error'].get('Message')})"
                ),
                errno=91003,
                sqlstate="22000",
            ) from None
        return {"key": creds["AccessKeyId"], "secret": creds["SecretAccessKey"], "token": creds["SessionToken"]}

    def s3_client(self, creds: dict[str, str] | None) -> Any:
        kwargs: dict[str, Any] = {"endpoint_url": self.aws_endpoint, "region_name": self.region}
        if creds:
            kwargs.update(
                aws_access_key_id=creds["key"], aws_secret_access_key=creds["secret"], aws_session_token=creds["token"]
            )
        else:
            # no integration: an anonymous request, which a private bucket refuses
            kwargs["config"] = botocore.config.Config(signature_version=botocore.UNSIGNED)
        return boto3.client("s3", **kwargs)

    def list_objects(self, fq_stage: str, url: str, creds: dict[str, str] | None) -> list[dict[str, Any]]:
        parsed = urlparse(url)
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        try:
            pages = self.s3_client(creds).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            objects = [o for page in pages for o in page.get("Contents", [])]
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            raise ProgrammingError(
                msg=(
                    f"Failure using stage area. Cause: [{err.get('Message')} (Status Code: "
                    f"{e.response['ResponseMetadata'].get('HTTPStatusCode')}; Error Code: {err.get('Code')})] "
                    f"stage {fq_stage} url {url}"
                ),
                errno=91016,
                sqlstate="22000",
            ) from None
        return [{**o, "Url": f"s3://{bucket}/{o['Key']}"} for o in objects if not o["Key"].endswith("/")]

    def list_stage(self, conn: Any, var: str) -> str | None:
        fq, url, sub_path, integration = self.catalog.stage(conn, var)
        if not url.startswith("s3://"):
            return None  # an internal stage: fakesnow lists its local folder correctly
        creds = self.credentials(integration, fq)
        location = url.rstrip("/") + "/" + sub_path if sub_path else url
        rows = [
            (o["Url"], o["Size"], o["ETag"].strip('"'), o["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT"))
            for o in self.list_objects(fq, location, creds)
        ]
        return values_sql(["name", "size", "md5", "last_modified"], rows)

    def install_secret(self, url: str, creds: dict[str, str] | None) -> None:
        """A DuckDB S3 secret scoped to exactly this stage location, holding the role's session."""
        if not creds:
            return
        endpoint = urlparse(self.aws_endpoint)
        name = "stage_" + hashlib.sha256(url.encode()).hexdigest()[:16]
        self.duck.cursor().execute(
            f"""CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID {sql_literal(creds["key"])},
                SECRET {sql_literal(creds["secret"])}, SESSION_TOKEN {sql_literal(creds["token"])},
                REGION {sql_literal(self.region)}, ENDPOINT {sql_literal(endpoint.netloc)},
                URL_STYLE 'path', USE_SSL {str(endpoint.scheme == "https").lower()},
                SCOPE {sql_literal(url if url.endswith("/") else url + "/")})"""
        )
