"""One principal's S3 access, tried for real: each (prefix, action) cell is one S3 call made with that
principal's credentials, and its answer ("allowed" or the AWS error code) is the cell.

The same code runs in two places, so every principal is probed the same way:
* imported (helpers/access_matrix.py) with a client of the operator or of an assumed role;
* uploaded as a Glue Python-shell script and run by the pipeline's Glue job, so the calls carry the
  session credentials Glue gives the job's role (a service role cannot be assumed through STS by us).
Kept to Python 3.9 and boto3 (what a Glue Python-shell job has), with no import from helpers.

What each action does, so that a probe changes nothing that matters:
* s3:GetObject - reads an object that exists in the prefix (given by the caller): reading a missing
  key would answer AccessDenied to a principal without s3:ListBucket even when it may read;
* s3:PutObject - writes a small object under <prefix>_access_probe/; the caller removes every
  version of those keys afterwards (helpers/access_matrix.py, as the operator);
* s3:ListBucket - lists the prefix (one key at most);
* s3:DeleteObject - deletes the probe's own key (in a versioned bucket a delete marker, removed
  with the rest).
"""

from __future__ import annotations  # the | and dict[] annotations on Python 3.9 (Glue)

import json
import sys
from typing import Any
from collections.abc import Callable

ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject")
PROBE_FOLDER = "_access_probe/"
NO_OBJECT = "no object to read"


def probe_key(prefix: str, tag: str) -> str:
    return prefix + PROBE_FOLDER + tag + ".txt"


def attempt(call: Callable[[], Any]) -> str:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as e:
        return str(e.response["Error"]["Code"])
    return "allowed"


def probe_s3(
    s3: Any, bucket: str, prefixes: dict[str, str], readable: dict[str, str | None], tag: str
) -> dict[str, dict[str, str]]:
    """{prefix label: {action: "allowed" | error code}}: `prefixes` maps a label to its S3 prefix,
    `readable` a label to an existing key to read (None or absent: nothing to read there)."""
    return {
        label: _row(s3, bucket, prefix, probe_key(prefix, tag), readable.get(label))
        for label, prefix in prefixes.items()
    }


def _row(s3: Any, bucket: str, prefix: str, key: str, existing: str | None) -> dict[str, str]:
    return {
        "s3:GetObject": attempt(lambda: s3.get_object(Bucket=bucket, Key=existing)["Body"].read())
        if existing
        else NO_OBJECT,
        "s3:PutObject": attempt(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"access probe\n")),
        "s3:ListBucket": attempt(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)),
        "s3:DeleteObject": attempt(lambda: s3.delete_object(Bucket=bucket, Key=key)),
    }


def main(argv: Any) -> int:
    """As a Glue job: --bucket, --prefixes and --readable (JSON objects), --tag; prints one JSON line
    {"event": "access_probe", "results": ...} to stdout (the job's output log)."""
    import boto3

    args = dict(zip(argv[1::2], argv[2::2]))  # noqa: B905 - Python 3.9 (Glue) has no strict=
    results = probe_s3(
        boto3.client("s3"),
        args["--bucket"],
        json.loads(args["--prefixes"]),
        json.loads(args["--readable"]),
        args["--tag"],
    )
    print(json.dumps({"event": "access_probe", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
