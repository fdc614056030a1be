"""Who may do what where, probed: principal x S3 action x prefix -> the answer of a real call.

The principals, each with the credentials it really has (the approach of
tests/integration/test_least_privilege.py):
* the operator - the caller's own client (`Settings.aws_client`);
* the Glue role - helpers/access_probe.py run as the pipeline's Glue job, so its calls carry the
  session Glue gives the job; the job is pointed back at the ingest script right after;
* the Snowflake role - sts:AssumeRole as Snowflake's principal with the integration's external id
  (DESC INTEGRATION). Only Snowflake holds that principal's keys: the local cloud keeps them in
  <state_dir>/snowflake_principal.json; in cloud mode the row says it was not probed. Until notebook
  03 writes the trust policy the role trusts nobody outside the account, and the row says so.

Every write the probe makes is under <prefix>_access_probe/ and is deleted, every version, by the
operator afterwards. Where the local cloud does not check a rule AWS checks (moto ignores the
`s3:prefix` condition of the Snowflake role's ListBucket), the cell says so instead of "allowed".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import access_probe, glue_job
from helpers.access_probe import ACTIONS, NO_OBJECT, PROBE_FOLDER
from helpers.settings import Settings

OPERATOR, GLUE, SNOWFLAKE = "operator", "glue role", "snowflake role"
PRINCIPALS = (GLUE, SNOWFLAKE, OPERATOR)
OTHER_PREFIX = "other/"  # outside every pipeline prefix: nobody of the pipeline may touch it
PROBE_SCRIPT_NAME = "access_probe.py"
NOT_CHECKED_LOCALLY = "not checked locally"


def prefixes(settings: Settings) -> dict[str, str]:
    """The matrix's columns: label -> S3 prefix."""
    s = settings
    return {
        "data/": s.data_prefix,
        "quarantine/": s.quarantine_prefix,
        "scripts/": s.scripts_prefix,
        "incoming/": s.incoming_prefix,
        "other/": OTHER_PREFIX,
    }


@dataclass
class AccessMatrix:
    cells: list[dict[str, str]] = field(default_factory=list)  # principal, prefix, action, result

    def add(self, principal: str, results: dict[str, dict[str, str]]) -> None:
        for label, row in results.items():
            for action in ACTIONS:
                self.cells.append({"principal": principal, "prefix": label, "action": action, "result": row[action]})

    def result(self, principal: str, prefix: str, action: str) -> str:
        return next(
            c["result"] for c in self.cells if (c["principal"], c["prefix"], c["action"]) == (principal, prefix, action)
        )

    def table(self) -> Any:
        """A DataFrame: one row per (principal, action), one column per prefix, short words in the cells."""
        import pandas as pd

        frame = pd.DataFrame(self.cells)
        frame["result"] = frame["result"].map(short)
        order = {p: i for i, p in enumerate(PRINCIPALS)}
        columns = list(dict.fromkeys(frame["prefix"]))
        table = frame.pivot_table(index=["principal", "action"], columns="prefix", values="result", aggfunc="first")
        table = table[columns].reset_index()
        table["_p"], table["_a"] = table["principal"].map(order), table["action"].map(ACTIONS.index)
        table = table.sort_values(["_p", "_a"]).drop(columns=["_p", "_a"]).set_index(["principal", "action"])
        table.columns.name = None
        return table


def short(result: str) -> str:
    """What a reader needs from an answer: allowed, denied, or why the cell has no answer."""
    if result == "allowed":
        return "allowed"
    if result in {"AccessDenied", "AccessDeniedException"}:
        return "denied"
    if result == NO_OBJECT:
        return "n/a (nothing there)"
    if result.startswith("cannot assume"):
        return "cannot assume: " + short(result[result.find("(") + 1 : -1])
    return result


# -- the principals ---------------------------------------------------------------------------------
def readable_keys(settings: Settings) -> dict[str, str | None]:
    """An existing key in each prefix (the operator lists; the probe's own keys excluded)."""
    s3, out = settings.aws_client("s3"), {}
    for label, prefix in prefixes(settings).items():
        try:
            listing = s3.list_objects_v2(Bucket=settings.bucket, Prefix=prefix)
        except s3.exceptions.ClientError:
            listing = {}
        keys = sorted(o["Key"] for o in listing.get("Contents", []) if PROBE_FOLDER not in o["Key"])
        out[label] = keys[0] if keys else None
    return out


def probe_operator(settings: Settings, readable: dict[str, str | None]) -> dict[str, dict[str, str]]:
    return access_probe.probe_s3(settings.aws_client("s3"), settings.bucket, prefixes(settings), readable, "operator")


def _every_cell(settings: Settings, answer: str) -> dict[str, dict[str, str]]:
    return {label: dict.fromkeys(ACTIONS, answer) for label in prefixes(settings)}


def integration_external_id(settings: Settings, target: str) -> str | None:
    """STORAGE_AWS_EXTERNAL_ID of DESC INTEGRATION, as the target's role (it has USAGE on it)."""
    from helpers import warehouse

    with warehouse.connect(settings, target) as conn:
        rows = warehouse.execute(conn, f"DESC INTEGRATION {settings.integration_name}").as_dicts()
    return next((r["property_value"] for r in rows if r["property"] == "STORAGE_AWS_EXTERNAL_ID"), None)


def snowflake_client(settings: Settings, role_arn: str, external_id: str) -> Any:
    """S3 as Snowflake's storage integration sees it, or a ClientError from STS (e.g. AccessDenied)."""
    from helpers.local_cloud.launcher import snowflake_principal_keys  # callers probe it in local mode only

    keys = snowflake_principal_keys(settings)
    creds = settings.aws_client("sts", **keys).assume_role(
        RoleArn=role_arn, RoleSessionName="access-matrix", ExternalId=external_id
    )["Credentials"]
    return settings.aws_client(
        "s3",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def probe_snowflake(
    settings: Settings, role_arn: str, external_id: str | None, readable: dict[str, str | None]
) -> dict[str, dict[str, str]]:
    from botocore.exceptions import ClientError

    if settings.mode != "local":
        return _every_cell(settings, "not probed: only Snowflake holds its principal's keys")
    if not external_id:
        return _every_cell(settings, "not probed: no integration")
    try:
        s3 = snowflake_client(settings, role_arn, external_id)
    except ClientError as e:
        return _every_cell(settings, f"cannot assume the role ({e.response['Error']['Code']})")
    results = access_probe.probe_s3(s3, settings.bucket, prefixes(settings), readable, "snowflake")
    # moto lists every prefix: it ignores the role's s3:prefix condition, which AWS enforces
    for label, row in results.items():
        if label != "data/" and row["s3:ListBucket"] == "allowed":
            row["s3:ListBucket"] = NOT_CHECKED_LOCALLY
    return results


def probe_glue(settings: Settings, pipeline: Any, roles: Any, readable: dict[str, str | None]) -> dict[str, Any]:
    """Run the probe as the pipeline's Glue job (the operator may manage that one job only), then
    point the job back at the ingest script, whatever happened."""
    s = settings
    glue, logs, s3 = s.aws_client("glue"), s.aws_client("logs"), s.aws_client("s3")
    script_key = s.scripts_prefix + PROBE_SCRIPT_NAME
    s3.put_object(Bucket=s.bucket, Key=script_key, Body=Path(access_probe.__file__).read_bytes())
    definition = glue_job.job_definition(roles.glue_role_arn, f"s3://{s.bucket}/{script_key}", {})
    try:
        glue_job.ensure_job(glue, s.glue_job_name, definition)
        arguments = {
            "--bucket": s.bucket,
            "--prefixes": json.dumps(prefixes(s)),
            "--readable": json.dumps(readable),
            "--tag": "glue",
        }
        run_id = glue_job.start_run(glue, s.glue_job_name, arguments)
        run = glue_job.wait_for_run(glue, s.glue_job_name, run_id, timeout_s=300)
        lines = glue_job.read_log(logs, glue_job.OUTPUT_LOG_GROUP, run_id)
    finally:
        pipeline.setup_glue_job(roles)
    for line in lines:
        doc = json.loads(line) if line.startswith("{") else {}
        if doc.get("event") == "access_probe":
            return doc["results"]
    raise RuntimeError(f"the access probe printed no result (run {run['JobRunState']}: {run.get('ErrorMessage')})")


def remove_probe_objects(settings: Settings) -> list[str]:
    """Every version and delete marker under <prefix>_access_probe/, and the probe's Glue script,
    deleted as the operator; returns
    the keys of what was there. other/ is left alone: the operator may not touch it (nor could anyone
    of the pipeline write there)."""
    s3, removed = settings.aws_client("s3"), []
    where = [p + PROBE_FOLDER for label, p in prefixes(settings).items() if label != "other/"]
    for prefix in [*where, settings.scripts_prefix + PROBE_SCRIPT_NAME]:
        listing = s3.list_object_versions(Bucket=settings.bucket, Prefix=prefix)
        for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            s3.delete_object(Bucket=settings.bucket, Key=v["Key"], VersionId=v["VersionId"])
            removed.append(v["Key"])
    return sorted(set(removed))


def probe(settings: Settings, pipeline: Any, roles: Any, target: str = "dev") -> AccessMatrix:
    """The whole matrix, each cell a real call, then the probe's writes removed. The Glue role's row
    comes from a Glue job run, which mostly waits (a minute or more on AWS): the Snowflake role's and
    the operator's rows are probed meanwhile. Each principal writes keys of its own (access_probe.probe_key)."""
    from concurrent.futures import ThreadPoolExecutor, wait

    readable = readable_keys(settings)
    matrix = AccessMatrix()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="glue-probe") as pool:
        glue = pool.submit(probe_glue, settings, pipeline, roles, readable)
        try:
            # only Snowflake holds its principal's keys: in cloud mode there is nothing to assume it with
            external_id = integration_external_id(settings, target) if settings.mode == "local" else None
            snowflake = probe_snowflake(settings, roles.snowflake_role_arn, external_id, readable)
            operator = probe_operator(settings, readable)
            matrix.add(GLUE, glue.result())
            matrix.add(SNOWFLAKE, snowflake)
            matrix.add(OPERATOR, operator)
        finally:
            wait([glue])  # the job has put the Glue job back before anything is removed
            remove_probe_objects(settings)
    return matrix
