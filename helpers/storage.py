"""S3: the pipeline's bucket, kept versioned, encrypted and private; and the Glue script upload."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def ensure_bucket(s3: Any, bucket: str, region: str) -> dict[str, Any]:
    """Create the bucket if missing; (re)apply versioning, default encryption and the public access
    block every time, so a bucket someone loosened by hand is put right again."""
    created = False
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # us-east-1 is the one region that refuses a LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        created = True
    # every ingest overwrites the same key; versioning keeps each one's history
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "project", "Value": "countries-pipeline"}]})
    return {"bucket": bucket, "created": created}


def upload_file_if_changed(s3: Any, path: Path, bucket: str, key: str) -> dict[str, Any]:
    """Upload `path` unless the object already holds the same bytes (compared by sha256 metadata)."""
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        if head.get("Metadata", {}).get("sha256") == digest:
            return {"key": key, "sha256": digest, "version_id": head.get("VersionId"), "uploaded": False}
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in {"404", "NoSuchKey", "NotFound"}:
            raise
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"sha256": digest})
    return {"key": key, "sha256": digest, "version_id": put.get("VersionId"), "uploaded": True}


def incoming_key(path: Path, prefix: str) -> tuple[str, str]:
    """(the key a local source file is uploaded to, its sha256): `<prefix><sha256[:16]>-<name>`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return f"{prefix}{digest.hexdigest()[:16]}-{path.name}", digest.hexdigest()


def upload_source_file(s3: Any, path: Path, bucket: str, prefix: str) -> dict[str, Any]:
    """Upload a local source file to `s3://<bucket>/<prefix><sha256[:16]>-<name>` for the Glue job
    to read (a Glue worker cannot read the caller's disk). Named by content, so the same file is
    uploaded once and a changed one never overwrites what an earlier run read."""
    key, digest = incoming_key(path, prefix)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return {"key": key, "uploaded": False}
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in {"404", "NoSuchKey", "NotFound"}:
            raise
    s3.upload_file(str(path), bucket, key, ExtraArgs={"Metadata": {"sha256": digest}})
    return {"key": key, "uploaded": True}
