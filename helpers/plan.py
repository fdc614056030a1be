"""`python -m helpers plan`: what exists, what a run would create or change, every statement it
would send, what it would cost - and, with `teardown=True`, exactly what teardown would delete.

Read-only, by construction: AWS is only asked Get/List/Describe/Head questions (and STS
GetCallerIdentity), Snowflake only SHOW/DESC statements. Nothing here creates "if not exists" or
COPYs. A missing object is "would create", never an error; a service that cannot be reached is
`PlanFailed` naming it and what to do.

The wanted state comes from the code a run uses (helpers/iam.py documents, glue_job.job_definition
as Pipeline.setup_glue_job builds it, the sql/ files rendered with Pipeline.sql_context, load.py and
publish.py statements), and the teardown part from helpers/teardown.py's own discovery functions, so
the plan cannot drift from what a run or a teardown really does.

Prices (module constants, overridable by environment variables or `Prices(...)` / CLI options):
* AWS Glue Python shell: $0.44 per DPU-hour, billed per second with a 1-minute minimum; our job runs
  at MaxCapacity 0.0625 (1/16 DPU). https://aws.amazon.com/glue/pricing/
* S3 Standard storage: $0.023 per GB-month (us-east-1, first 50 TB). https://aws.amazon.com/s3/pricing/
* Snowflake: an X-Small warehouse uses 1 credit per hour
  (https://docs.snowflake.com/en/user-guide/warehouses-overview), "billed per-second, with a 60-second
  (i.e. 1-minute) minimum: each time a warehouse is started or resumed"
  (https://docs.snowflake.com/en/user-guide/cost-understanding-compute); the price of a credit depends
  on edition and region, so it is a setting.
* Not counted: S3 requests, CloudWatch Logs ingestion and storage, Snowflake cloud services (free
  below 10% of the day's compute) and storage of the tables - each well under a cent for this data.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from helpers import glue_job, iam, publish, storage, teardown, warehouse
from helpers import load as loading
from helpers.errors import unreachable as _unreachable
from helpers.load_state import STATE_SCHEMA, STATE_TABLE
from helpers.pipeline import GLUE_SCRIPT, glue_job_definition
from helpers.settings import PROJECT_ROOT, TARGETS, Settings

FIXTURE = PROJECT_ROOT / "helpers" / "fixtures" / "countries_sample.json"
DBT_MODELS_DIR = PROJECT_ROOT / "dbt_project" / "models"
SCHEMAS = ("LANDING", *publish.LAYERS, *(f"{layer}{publish.BUILD_SUFFIX}" for layer in publish.LAYERS), STATE_SCHEMA)
STAGE, FILE_FORMAT = "COUNTRIES_STAGE", "COUNTRIES_JSON_FORMAT"
GONE = {
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "404",
    "EntityNotFoundException",
    "ResourceNotFoundException",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchTagSet",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchBucketPolicy",
}

# -- prices -------------------------------------------------------------------------------------
GLUE_DPU_HOUR_USD = 0.44  # Python shell, per DPU-hour (https://aws.amazon.com/glue/pricing/)
GLUE_MIN_BILLED_SECONDS = 60  # Python shell: billed per second, 1-minute minimum
GLUE_MAX_CAPACITY = 0.0625  # DPU: glue_job.job_definition's MaxCapacity
S3_GB_MONTH_USD = 0.023  # S3 Standard, first 50 TB/month, us-east-1 (https://aws.amazon.com/s3/pricing/)
SNOWFLAKE_CREDIT_USD = 3.00  # depends on edition and region: set PIPELINE_PRICE_SNOWFLAKE_CREDIT_USD
SNOWFLAKE_CREDITS_PER_HOUR = 1.0  # X-Small (https://docs.snowflake.com/en/user-guide/warehouses-overview)
SNOWFLAKE_MIN_BILLED_SECONDS = (
    60  # per start or resume (https://docs.snowflake.com/en/user-guide/cost-understanding-compute)
)
GLUE_RUN_SECONDS = 60.0  # estimated: the fixture lands in seconds; a 100 MB source takes longer
WAREHOUSE_SECONDS = 120.0  # estimated: COPY + dbt build + tests + publish + validation
ENV = {
    "glue_dpu_hour_usd": "PIPELINE_PRICE_GLUE_DPU_HOUR_USD",
    "s3_gb_month_usd": "PIPELINE_PRICE_S3_GB_MONTH_USD",
    "snowflake_credit_usd": "PIPELINE_PRICE_SNOWFLAKE_CREDIT_USD",
    "snowflake_credits_per_hour": "PIPELINE_PRICE_SNOWFLAKE_CREDITS_PER_HOUR",
    "glue_run_seconds": "PIPELINE_ESTIMATE_GLUE_SECONDS",
    "warehouse_seconds": "PIPELINE_ESTIMATE_WAREHOUSE_SECONDS",
}


class PlanFailed(RuntimeError):
    """A service could not be reached (or answered with something other than "not there")."""


@dataclass
class Prices:
    glue_dpu_hour_usd: float = GLUE_DPU_HOUR_USD
    s3_gb_month_usd: float = S3_GB_MONTH_USD
    snowflake_credit_usd: float = SNOWFLAKE_CREDIT_USD
    snowflake_credits_per_hour: float = SNOWFLAKE_CREDITS_PER_HOUR
    glue_run_seconds: float = GLUE_RUN_SECONDS
    warehouse_seconds: float = WAREHOUSE_SECONDS

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: float | None) -> Prices:
        """Defaults, then environment variables (ENV), then explicit overrides (CLI options)."""
        environ = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for name, var in ENV.items():
            if environ.get(var):
                try:
                    values[name] = float(environ[var])
                except ValueError:
                    raise ValueError(f"{var}={environ[var]!r} is not a number") from None
        values.update({k: float(v) for k, v in overrides.items() if v is not None})
        return cls(**values)


def estimate_cost(prices: Prices, source_bytes: int, source_of_size: str = "") -> dict[str, Any]:
    """One run's cost, line by line, with the arithmetic shown."""
    glue_billed = max(prices.glue_run_seconds, GLUE_MIN_BILLED_SECONDS)
    glue_usd = GLUE_MAX_CAPACITY * glue_billed / 3600 * prices.glue_dpu_hour_usd
    gb = source_bytes / 1024**3  # S3 bills GB as 2^30 bytes
    s3_usd = gb * prices.s3_gb_month_usd
    wh_billed = max(prices.warehouse_seconds, SNOWFLAKE_MIN_BILLED_SECONDS)
    credits = wh_billed / 3600 * prices.snowflake_credits_per_hour
    sf_usd = credits * prices.snowflake_credit_usd
    return {
        "prices": asdict(prices),
        "lines": [
            {
                "item": "Glue Python shell run",
                "usd": glue_usd,
                "how": f"{GLUE_MAX_CAPACITY} DPU x {glue_billed:g} s billed (estimated {prices.glue_run_seconds:g} s, "
                f"minimum {GLUE_MIN_BILLED_SECONDS} s) / 3600 x ${prices.glue_dpu_hour_usd}/DPU-hour",
            },
            {
                "item": "S3 storage of one landed version, per month",
                "usd": s3_usd,
                "how": f"{source_bytes} bytes ({source_of_size}) = {gb:.9f} GB x ${prices.s3_gb_month_usd}/GB-month",
            },
            {
                "item": "Snowflake X-Small warehouse",
                "usd": sf_usd,
                "how": f"{wh_billed:g} s billed (estimated {prices.warehouse_seconds:g} s, minimum "
                f"{SNOWFLAKE_MIN_BILLED_SECONDS} s per resume) / 3600 x {prices.snowflake_credits_per_hour:g} "
                f"credit/hour = {credits:.6f} credits x ${prices.snowflake_credit_usd}/credit",
            },
        ],
        "total_usd": glue_usd + s3_usd + sf_usd,
        "sources": [
            "https://aws.amazon.com/glue/pricing/",
            "https://aws.amazon.com/s3/pricing/",
            "https://docs.snowflake.com/en/user-guide/warehouses-overview",
            "https://docs.snowflake.com/en/user-guide/cost-understanding-compute",
        ],
        "overrides": {name: var for name, var in ENV.items()},
    }


# -- diffs --------------------------------------------------------------------------------------
def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def json_diff(current: Any, wanted: Any, name: str) -> str:
    """A unified diff of pretty JSON, deployed -> wanted; "" when they are equal. `current=None`
    means "not deployed" (every line is an addition)."""
    before = [] if current is None else pretty(current).splitlines(keepends=True)
    after = pretty(wanted).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"deployed/{name}", f"wanted/{name}"))


# -- plan items ---------------------------------------------------------------------------------
EXISTS, CREATE, CHANGE, REPLACE = "exists", "would create", "would change", "would replace"
# made by an administrator (sql/00_account_setup.sql), never by a run: a run fails without it
MISSING, DIFFERS = "missing: account setup", "differs: account setup"
ACCOUNT_SETUP_HINT = "an administrator runs sql/00_account_setup.sql (python -m helpers account setup prints it)"


@dataclass
class Item:
    section: str
    resource: str  # "<kind> <name>"; a `*` stands for a name only the run knows (a run id)
    status: str  # exists | would create | would change | would replace
    detail: str = ""
    diff: str = ""
    current: Any = None


@dataclass
class Plan:
    target: str
    mode: str
    account: str
    items: list[Item] = field(default_factory=list)
    statements: dict[str, list[str]] = field(default_factory=dict)
    dbt: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    teardown: dict[str, Any] | None = None

    def add(self, *args: Any, **kwargs: Any) -> Item:
        item = Item(*args, **kwargs)
        self.items.append(item)
        return item

    def would(self, *statuses: str) -> list[Item]:
        return [i for i in self.items if i.status in statuses]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


def _get(fn: Any, **kwargs: Any) -> Any:
    """A read call; None when the thing is not there."""
    try:
        return fn(**kwargs)
    except Exception as e:
        if _code(e) in GONE:
            return None
        raise


def _doc(doc: Any) -> Any:
    return json.loads(doc) if isinstance(doc, str) else doc


# -- AWS ----------------------------------------------------------------------------------------
def _plan_iam(plan: Plan, s: Settings, names: iam.Names, integration: dict[str, str] | None) -> dict[str, str]:
    client = s.aws_client("iam")
    account = names.account_id
    arns: dict[str, str] = {}
    if integration:  # what setup_integration writes once the integration exists
        sf_trust = iam.snowflake_trust_policy(
            integration["STORAGE_AWS_IAM_USER_ARN"], integration["STORAGE_AWS_EXTERNAL_ID"]
        )
        sf_trust_note = "from DESC INTEGRATION"
    else:
        sf_trust = iam.snowflake_placeholder_trust_policy(account)
        sf_trust_note = (
            "placeholder; replaced by Snowflake's principal and external id once the integration "
            "exists (known only after CREATE STORAGE INTEGRATION)"
        )
    roles = (
        (s.glue_role_name, iam.glue_trust_policy(), iam.glue_role_policy(names), "", True),
        (s.snowflake_role_name, sf_trust, iam.snowflake_role_policy(names), sf_trust_note, bool(integration)),
    )
    for role, trust, policy_doc, note, trust_enforced in roles:
        policy_name = f"{role}-policy"
        policy_arn = f"arn:aws:iam::{account}:policy/{policy_name}"
        got = _get(client.get_policy, PolicyArn=policy_arn)
        if got is None:
            plan.add(
                "iam",
                f"iam policy {policy_name}",
                CREATE,
                "managed policy, version v1",
                json_diff(None, policy_doc, policy_name),
            )
        else:
            version = got["Policy"]["DefaultVersionId"]
            deployed = _doc(
                client.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
            )
            diff = json_diff(deployed, policy_doc, policy_name)
            plan.add(
                "iam",
                f"iam policy {policy_name}",
                CHANGE if diff else EXISTS,
                f"default version {version}" + ("; a new default version would be created" if diff else ""),
                diff,
                deployed,
            )
        got_role = _get(client.get_role, RoleName=role)
        arns[role] = got_role["Role"]["Arn"] if got_role else f"arn:aws:iam::{account}:role/{role}"
        if got_role is None:
            plan.add(
                "iam",
                f"iam role {role}",
                CREATE,
                f"trust policy: {note or 'glue.amazonaws.com'}; attached: {policy_name}",
                json_diff(None, trust, f"{role}.trust"),
            )
            continue
        deployed_trust = _doc(got_role["Role"]["AssumeRolePolicyDocument"])
        attached = [p["PolicyArn"] for p in client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
        # an existing role's trust policy is only rewritten where the pipeline rewrites it:
        # the Snowflake role's, from DESC INTEGRATION (helpers/iam.py ensure_role leaves it alone)
        diff = json_diff(deployed_trust, trust, f"{role}.trust") if trust_enforced else ""
        changes = []
        if diff:
            changes.append("trust policy")
        if policy_arn not in attached:
            changes.append(f"attach {policy_name}")
        plan.add(
            "iam",
            f"iam role {role}",
            CHANGE if changes else EXISTS,
            f"attached: {', '.join(a.rsplit('/', 1)[-1] for a in attached) or 'none'}"
            + (f"; would: {', '.join(changes)}" if changes else ""),
            diff,
            {"trust": deployed_trust, "attached": attached},
        )
    return arns


WANTED_BUCKET = {
    "versioning": "Enabled",
    "encryption": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}],
    "public_access_block": {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
    "tags": [{"Key": "project", "Value": "countries-pipeline"}],
}


def bucket_settings(s3: Any, bucket: str) -> dict[str, Any]:
    """The bucket's settings as deployed (None for one that is not set)."""
    enc = _get(s3.get_bucket_encryption, Bucket=bucket)
    pab = _get(s3.get_public_access_block, Bucket=bucket)
    tags = _get(s3.get_bucket_tagging, Bucket=bucket)
    return {
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "encryption": enc["ServerSideEncryptionConfiguration"]["Rules"] if enc else None,
        "public_access_block": pab["PublicAccessBlockConfiguration"] if pab else None,
        "tags": tags["TagSet"] if tags else None,
    }


def _plan_s3(plan: Plan, s: Settings, source_url: str) -> dict[str, Any] | None:
    s3 = s.aws_client("s3")
    bucket = s.bucket
    exists = _get(s3.head_bucket, Bucket=bucket) is not None
    if not exists:
        plan.add(
            "s3",
            f"s3 bucket {bucket}",
            CREATE,
            f"in {s.aws_region}; then versioning, encryption, public access block and tags",
            json_diff(None, WANTED_BUCKET, f"{bucket}.settings"),
        )
    else:
        current = bucket_settings(s3, bucket)
        diff = json_diff(current, WANTED_BUCKET, f"{bucket}.settings")
        plan.add(
            "s3", f"s3 bucket {bucket}", CHANGE if diff else EXISTS, "settings re-applied by every run", diff, current
        )
    script_key = s.scripts_prefix + GLUE_SCRIPT.name
    digest = hashlib.sha256(GLUE_SCRIPT.read_bytes()).hexdigest()
    head = _get(s3.head_object, Bucket=bucket, Key=script_key) if exists else None
    if head is None:
        plan.add("s3", f"s3 object {bucket}/{script_key}", CREATE, f"the Glue job's script (sha256 {digest[:12]})")
    elif head.get("Metadata", {}).get("sha256") != digest:
        plan.add("s3", f"s3 object {bucket}/{script_key}", CHANGE, "a new version: the local script changed")
    else:
        plan.add("s3", f"s3 object {bucket}/{script_key}", EXISTS, "unchanged: not uploaded again")
    if source_url.startswith("file://"):
        from pathlib import Path
        from urllib.parse import unquote, urlparse

        path = Path(unquote(urlparse(source_url).path))
        if path.is_file():
            key, _sha256 = storage.incoming_key(path, s.incoming_prefix)
            head_in = _get(s3.head_object, Bucket=bucket, Key=key) if exists else None
            plan.add(
                "s3",
                f"s3 object {bucket}/{key}",
                EXISTS if head_in else CREATE,
                f"the local source uploaded for the Glue job ({source_url})",
            )
    landed = _get(s3.head_object, Bucket=bucket, Key=s.data_key) if exists else None
    plan.add(
        "s3",
        f"s3 object {bucket}/{s.data_key}",
        REPLACE if landed else CREATE,
        "the landed NDJSON; the Glue job writes a new version unless the source is unchanged"
        + (f" (now version {landed.get('VersionId')}, {landed.get('ContentLength')} bytes)" if landed else ""),
    )
    plan.add(
        "s3",
        f"s3 object {bucket}/{s.quarantine_prefix}*",
        CREATE,
        "the run's quarantined records, only if there are any (quarantine/<run id>/...)",
    )
    return landed


def _plan_glue(plan: Plan, s: Settings, role_arn: str) -> None:
    definition = glue_job_definition(s, role_arn)  # exactly as Pipeline.setup_glue_job deploys it
    glue = s.aws_client("glue")
    got = _get(glue.get_job, JobName=s.glue_job_name)
    if got is None:
        plan.add(
            "glue",
            f"glue job {s.glue_job_name}",
            CREATE,
            "Python shell, 1/16 DPU",
            json_diff(None, definition, s.glue_job_name),
        )
    else:
        current = {k: got["Job"].get(k) for k in definition}
        diff = json_diff(current, definition, s.glue_job_name)
        plan.add(
            "glue",
            f"glue job {s.glue_job_name}",
            CHANGE if diff else EXISTS,
            "UpdateJob with the wanted definition" if diff else "definition as wanted",
            diff,
            current,
        )
    logs = s.aws_client("logs")
    groups = {
        g["logGroupName"]
        for g in teardown._pages(logs, "describe_log_groups", "logGroups", logGroupNamePrefix="/aws-glue/python-jobs/")
    }
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        plan.add(
            "glue",
            f"log group {group}",
            EXISTS if group in groups else CREATE,
            "shared by every Glue Python-shell job of the account; Glue creates it",
        )
        plan.add("glue", f"log stream {group}/*", CREATE, "one stream per job run, named by the run id")


# -- Snowflake ----------------------------------------------------------------------------------
def _integration(conn: Any, name: str) -> dict[str, str] | None:
    names = {str(r[0]).upper() for r in warehouse.execute(conn, "SHOW INTEGRATIONS").rows}
    if name.upper() not in names:
        return None
    return {r["property"]: r["property_value"] for r in warehouse.execute(conn, f"DESC INTEGRATION {name}").as_dicts()}


def _dbt_models() -> dict[str, list[str]]:
    """The dbt models per layer, as the tables dbt builds (models/<layer>/<name>.sql)."""
    out: dict[str, list[str]] = {}
    for path in sorted(DBT_MODELS_DIR.rglob("*.sql")):
        layer = path.relative_to(DBT_MODELS_DIR).parts[0].upper()
        out.setdefault(layer, []).append(path.stem.upper())
    return out


def _plan_snowflake(
    plan: Plan, s: Settings, conn: Any, target: str, integration: dict[str, str] | None, sf_role_arn: str
) -> None:
    name = s.integration_name
    locations = f"s3://{s.bucket}/{s.data_prefix}"
    wanted = {"STORAGE_AWS_ROLE_ARN": sf_role_arn, "STORAGE_ALLOWED_LOCATIONS": locations, "ENABLED": "true"}
    if integration is None:
        plan.add(
            "snowflake",
            f"snowflake integration {name.upper()}",
            MISSING,
            f"the run fails without it: {ACCOUNT_SETUP_HINT}",
            json_diff(None, wanted, name),
        )
    else:
        current = {k: str(integration.get(k, "")) for k in wanted}
        diff = json_diff(current, wanted, name)
        plan.add(
            "snowflake",
            f"snowflake integration {name.upper()}",
            DIFFERS if diff else EXISTS,
            f"the run fails until {ACCOUNT_SETUP_HINT}" if diff else "role and locations as wanted",
            diff,
            current,
        )
    db = s.database(target).upper()
    databases = {str(r[1]).upper() for r in warehouse.execute(conn, "SHOW DATABASES").rows}
    have_db = db in databases
    plan.add(
        "snowflake",
        f"snowflake database {db}",
        EXISTS if have_db else MISSING,
        f"target {target}, owned by role {s.role(target)}" + ("" if have_db else f": {ACCOUNT_SETUP_HINT}"),
    )
    schemas: set[str] = set()
    tables: set[str] = set()
    stages: set[str] = set()
    formats: set[str] = set()
    if have_db:  # SHOW ... IN DATABASE of a missing database is an error on Snowflake
        schemas = {str(r["name"]).upper() for r in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {db}").as_dicts()}
        tables = {
            f"{str(r['schema_name']).upper()}.{str(r['name']).upper()}"
            for r in warehouse.execute(conn, f"SHOW TABLES IN DATABASE {db}").as_dicts()
        }
        stages = {
            f"{str(r['schema_name']).upper()}.{str(r['name']).upper()}"
            for r in warehouse.execute(conn, f"SHOW STAGES IN DATABASE {db}").as_dicts()
        }
        formats = {
            f"{str(r['schema_name']).upper()}.{str(r['name']).upper()}"
            for r in warehouse.execute(conn, f"SHOW FILE FORMATS IN DATABASE {db}").as_dicts()
        }
    why = {"LANDING": "the stage and file format (never swapped)", STATE_SCHEMA: "the last load (LOAD_STATE)"}
    for schema in SCHEMAS:
        if schema.endswith(publish.BUILD_SUFFIX):
            status, note = (REPLACE if schema in schemas else CREATE), "dropped and re-created by every load"
        else:
            status = EXISTS if schema in schemas else CREATE
            note = why.get(schema, "published by ALTER SCHEMA ... SWAP WITH its _BUILD twin")
        plan.add("snowflake", f"snowflake schema {db}.{schema}", status, note)
    plan.add(
        "snowflake",
        f"snowflake file format {db}.LANDING.{FILE_FORMAT}",
        EXISTS if f"LANDING.{FILE_FORMAT}" in formats else CREATE,
        "JSON, CREATE ... IF NOT EXISTS",
    )
    plan.add(
        "snowflake",
        f"snowflake stage {db}.LANDING.{STAGE}",
        REPLACE if f"LANDING.{STAGE}" in stages else CREATE,
        f"CREATE OR REPLACE: URL {locations}, integration {name.upper()}",
    )
    wanted_tables = {f"RAW.{loading.COPY_TABLE}": "the load's COPY target"}
    for layer, models in _dbt_models().items():
        for model in models:
            wanted_tables[f"{layer}.{model}"] = "dbt model"
    for table, note in wanted_tables.items():
        layer, tname = table.split(".")
        build = f"{layer}{publish.BUILD_SUFFIX}.{tname}"
        plan.add(
            "snowflake",
            f"snowflake table {db}.{build}",
            REPLACE if build in tables else CREATE,
            f"{note}, built by this run",
        )
        plan.add(
            "snowflake",
            f"snowflake table {db}.{table}",
            REPLACE if table in tables else CREATE,
            f"{note}, published by the swap",
        )
    plan.add(
        "snowflake",
        f"snowflake table {db}.{STATE_SCHEMA}.{STATE_TABLE}",
        REPLACE if f"{STATE_SCHEMA}.{STATE_TABLE}" in tables else CREATE,
        "one row: what built the tables",
    )
    for extra in sorted(
        tables
        - {t for t in wanted_tables}
        - {f"{t.split('.')[0]}{publish.BUILD_SUFFIX}.{t.split('.')[1]}" for t in wanted_tables}
        - {f"{STATE_SCHEMA}.{STATE_TABLE}"}
    ):
        plan.add("snowflake", f"snowflake table {db}.{extra}", EXISTS, "not the pipeline's; left alone")


# -- statements ---------------------------------------------------------------------------------
def rendered_statements(s: Settings, target: str, sf_role_arn: str) -> dict[str, list[str]]:
    """Every statement a run sends itself, rendered as the run renders it (Pipeline.sql_context)."""
    db = s.database(target)
    ctx = {
        "database": db,
        "integration": s.integration_name,
        "role_arn": sf_role_arn,
        "bucket": s.bucket,
        "data_prefix": s.data_prefix,
    }
    sql = warehouse.SQL_DIR
    return {
        "01_landing_schema.sql": warehouse.render_sql(sql / "01_landing_schema.sql", ctx),
        "02_storage_integration.sql": warehouse.render_sql(sql / "02_storage_integration.sql", ctx),
        "03_stage.sql": warehouse.render_sql(sql / "03_stage.sql", ctx),
        "last load (Pipeline.load_state)": [
            f"select count(*) from {db}.information_schema.tables where table_schema = '{STATE_SCHEMA}' "
            f"and table_name = '{STATE_TABLE}'",
            f"select * from {db}.{STATE_SCHEMA}.{STATE_TABLE}",
        ],
        "04_load.sql (helpers/load.py)": loading.load_statements(db),
        "05_publish.sql (helpers/publish.py)": publish.publish_statements(db, s.reader_role),
        "record the load (Pipeline.record_load_state)": [
            f"create schema if not exists {db}.{STATE_SCHEMA}",
            f"create or replace table {db}.{STATE_SCHEMA}.{STATE_TABLE} as select %(run_id)s::varchar as RUN_ID, "
            "... (one varchar column per LOAD_STATE field)",
        ],
    }


def dbt_plan(s: Settings, target: str) -> dict[str, Any]:
    from helpers.dbt import DBT_PROJECT_DIR, dbt_command

    cmd = [
        *dbt_command(),
        "build",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        target,
        "--target-path",
        str(s.dbt_target_dir / target),
        "--vars",
        json.dumps({"schema_suffix": publish.BUILD_SUFFIX}),
    ]
    return {
        "command": cmd,
        "note": "dbt sends the models' DDL itself (CREATE OR REPLACE TRANSIENT TABLE ... AS SELECT, in the _BUILD "
        "schemas) and runs the tests; see `dbt compile` for the SQL",
        "models": {layer: [m.lower() for m in models] for layer, models in _dbt_models().items()},
    }


# -- teardown -----------------------------------------------------------------------------------
def teardown_plan(s: Settings) -> dict[str, Any]:
    """What teardown would delete, found the way teardown finds it (helpers/teardown.py)."""
    found: list[str] = []
    run_ids = teardown.our_run_ids(s)
    logs = s.aws_client("logs")
    for group in (glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP):
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            streams = {
                st["logStreamName"]
                for st in teardown._pages(logs, "describe_log_streams", "logStreams", logGroupName=group)
            }
            found += [f"log stream {group}/{r}" for r in run_ids if r in streams]
            if streams and streams <= set(run_ids):
                found.append(f"log group {group} (empty once our streams are gone)")
    glue = s.aws_client("glue")
    if _get(glue.get_job, JobName=s.glue_job_name):
        found.append(f"glue job {s.glue_job_name}")
    iam_client = s.aws_client("iam")
    account = s.aws_client("sts").get_caller_identity()["Account"]
    for role in teardown.our_roles(s):
        if _get(iam_client.get_role, RoleName=role) is None:
            continue
        for p in teardown._pages(iam_client, "list_attached_role_policies", "AttachedPolicies", RoleName=role):
            found.append(f"detach {p['PolicyArn']} from {role}")
        for n in teardown._pages(iam_client, "list_role_policies", "PolicyNames", RoleName=role):
            found.append(f"inline policy {n} of {role}")
        for prof in teardown._pages(iam_client, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role):
            found.append(f"remove {role} from instance profile {prof['InstanceProfileName']}")
        found.append(f"iam role {role}")
    for name in teardown.our_policy_names(s):
        arn = f"arn:aws:iam::{account}:policy/{name}"
        if _get(iam_client.get_policy, PolicyArn=arn) is None:
            continue
        for v in teardown._pages(iam_client, "list_policy_versions", "Versions", PolicyArn=arn):
            if not v["IsDefaultVersion"]:
                found.append(f"policy version {arn}#{v['VersionId']}")
        found.append(f"iam policy {arn}")
    s3 = s.aws_client("s3")
    if _get(s3.head_bucket, Bucket=s.bucket) is not None:
        for u in teardown._pages(s3, "list_multipart_uploads", "Uploads", Bucket=s.bucket):
            found.append(f"unfinished upload s3://{s.bucket}/{u['Key']}")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=s.bucket):
            for v in page.get("Versions", []):
                found.append(f"object version s3://{s.bucket}/{v['Key']}#{v['VersionId']}")
            for v in page.get("DeleteMarkers", []):
                found.append(f"delete marker s3://{s.bucket}/{v['Key']}#{v['VersionId']}")
        found.append(f"bucket s3://{s.bucket}")
    for target in TARGETS:
        db = s.database(target).upper()
        with warehouse.connect(s, target) as conn:
            databases = {str(r[1]).upper() for r in warehouse.execute(conn, "SHOW DATABASES").rows}
            if db in databases:  # SHOW ... IN DATABASE of a missing database is an error on Snowflake
                found += [f"snowflake schema {db}.{schema}" for schema in teardown._existing_schemas(conn, db)]
    return {
        "deletes": teardown.what_teardown_deletes(s),
        "keeps": teardown.what_teardown_keeps(s),
        "found": found,
        "run_ids": run_ids,
    }


# -- all of it ----------------------------------------------------------------------------------
def build_plan(
    settings: Settings | None = None,
    target: str = "dev",
    with_teardown: bool = False,
    prices: Prices | None = None,
    source_url: str | None = None,
) -> Plan:
    s = settings or Settings()
    s.database(target)  # an unknown target fails here, before anything is asked
    try:
        return _build_plan(s, target, with_teardown, prices or Prices.from_env(), source_url)
    except PlanFailed:
        raise
    except Exception as e:
        service = _unreachable(e)
        if service is None:
            if _code(e) in {"AccessDenied", "AccessDeniedException", "403", "UnauthorizedOperation"}:
                op = getattr(e, "operation_name", "a read call")
                raise PlanFailed(
                    f"AWS refused {op} ({_code(e)}): {e}\nNothing was changed. hint: the plan needs read access "
                    "(iam:Get*/List*, s3:GetBucket*/ListBucket*/GetObject metadata, glue:GetJob*/GetJobRuns, "
                    "logs:Describe*); a 403 on HeadBucket can also mean the bucket name belongs to another account "
                    f"(PIPELINE_BUCKET={s.bucket})."
                ) from e
            raise
        where = (s.resolved_aws_endpoint or "the AWS endpoint") if service == "AWS" else "Snowflake"
        raise PlanFailed(
            f"{service} ({where}) could not be reached: {type(e).__name__}: {e}\nNothing was changed. hint: check "
            f"that {service} is up and configured (locally: python -m helpers local status / local up), then plan again."
        ) from e


def _build_plan(s: Settings, target: str, with_teardown: bool, prices: Prices, source_url: str | None) -> Plan:
    account = s.aws_client("sts").get_caller_identity()["Account"]
    plan = Plan(target=target, mode=s.mode, account=account)
    names = iam.Names(
        s.bucket,
        s.data_prefix,
        s.scripts_prefix,
        s.quarantine_prefix,
        s.aws_region,
        account,
        incoming_prefix=s.incoming_prefix,
    )
    source_url = source_url or s.resolved_source_url
    with warehouse.connect(s, target) as conn:
        integration = _integration(conn, s.integration_name)
        arns = _plan_iam(plan, s, names, integration)
        landed = _plan_s3(plan, s, source_url)
        _plan_glue(plan, s, arns[s.glue_role_name])
        _plan_snowflake(plan, s, conn, target, integration, arns[s.snowflake_role_name])
    plan.statements = rendered_statements(s, target, arns[s.snowflake_role_name])
    plan.dbt = dbt_plan(s, target)
    if landed and landed.get("ContentLength") is not None:
        size, of = int(landed["ContentLength"]), f"the landed object s3://{s.bucket}/{s.data_key}"
    else:
        size, of = FIXTURE.stat().st_size, f"the fixture {FIXTURE.relative_to(PROJECT_ROOT)}: nothing landed yet"
    plan.cost = estimate_cost(prices, size, of)
    if with_teardown:
        plan.teardown = teardown_plan(s)
    return plan


def render(plan: Plan) -> str:
    """The plan as text: resources by section (with diffs), statements, dbt, cost, teardown."""
    out = [f"plan for target {plan.target} ({plan.mode} mode, AWS account {plan.account}) - nothing was changed", ""]
    width = max(len(i.status) for i in plan.items) if plan.items else 0
    section = None
    for item in plan.items:
        if item.section != section:
            section = item.section
            out.append(f"== {section}")
        out.append(f"  [{item.status:<{width}}] {item.resource}" + (f"  - {item.detail}" if item.detail else ""))
        out += [f"      {line}" for line in item.diff.splitlines()]
    counts = {st: len(plan.would(st)) for st in (EXISTS, CREATE, CHANGE, REPLACE, MISSING, DIFFERS)}
    out.append("  " + ", ".join(f"{n} {st}" for st, n in counts.items()))
    out += ["", "== statements a run sends (rendered)"]
    for source, statements in plan.statements.items():
        out.append(f"  -- {source}")
        out += ["  " + f"{st};".replace("\n", "\n    ") for st in statements]
    out += ["", "== dbt", f"  {plan.dbt['note']}", f"  command: {' '.join(plan.dbt['command'])}"]
    out += [f"  {layer}: {', '.join(models)}" for layer, models in plan.dbt["models"].items()]
    out += ["", "== estimated cost of one run (USD)"]
    for line in plan.cost["lines"]:
        out.append(f"  {line['usd']:.6f}  {line['item']}: {line['how']}")
    out.append(f"  {plan.cost['total_usd']:.6f}  total")
    out.append("  prices: " + ", ".join(plan.cost["sources"]))
    out.append("  override with " + ", ".join(plan.cost["overrides"].values()))
    if plan.teardown is not None:
        out += ["", "== teardown would delete (helpers/teardown.py)"]
        out += [f"  - {line}" for line in plan.teardown["deletes"]]
        out.append(f"  found now ({len(plan.teardown['found'])}):")
        out += [f"    {line}" for line in plan.teardown["found"]]
        out.append("  and keeps (the account setup's):")
        out += [f"    {line}" for line in plan.teardown["keeps"]]
    return "\n".join(out) + "\n"
