"""`plan` is read-only (proven through the services' own APIs), complete (everything a run creates
was in its "would create" list) and agrees with teardown (everything `plan --teardown` found is gone
after a teardown, and teardown deleted exactly that).

Names of their own (bucket, job, roles, databases, integration), so other modules are not disturbed;
the local cloud is otherwise empty in a session that runs only this module. Plan, runs and teardown
run as the local operator, granted these names (tests/integration/operators.py); the account's state
is listed, and changed "by hand", with the local admin (`admin_client`).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import glue_job, warehouse
from helpers import plan as planning
from helpers import teardown as td
from helpers.pipeline import Pipeline, new_run_id
from helpers.local_cloud.bootstrap import admin_client
from helpers.settings import Settings
from tests.integration.operators import operating

pytestmark = pytest.mark.integration


def plan_settings() -> Settings:
    return Settings(
        dev_database="PLANTEST_DEV",
        prod_database="PLANTEST_PROD",
        bucket="plantest-bucket",
        glue_job_name="plantest-ingest",
        glue_role_name="plantest-glue-role",
        snowflake_role_name="plantest-snowflake-role",
        integration_name="PLANTEST_S3_INTEGRATION",
    )


def _pages(client: Any, op: str, key: str, **kw: Any) -> list[Any]:
    return [x for page in client.get_paginator(op).paginate(**kw) for x in page.get(key, [])]


def _maybe(fn: Any, **kw: Any) -> Any:
    try:
        answer = fn(**kw)
        answer.pop("ResponseMetadata", None)  # request id and date: per request, not state
        return answer
    except Exception as e:  # noqa: BLE001 - "not configured" answers are part of the state
        return f"error {getattr(e, 'response', {}).get('Error', {}).get('Code', type(e).__name__)}"


def account_state(s: Settings) -> dict[str, Any]:
    """Everything in the account, keyed like the plan's resources, with the details a change would
    touch (documents, settings, versions), listed by the services' own APIs."""
    state: dict[str, Any] = {}
    iam = admin_client(s, "iam")
    for role in _pages(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        state[f"iam role {name}"] = {
            "trust": role["AssumeRolePolicyDocument"],
            "attached": _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name),
            "inline": _pages(iam, "list_role_policies", "PolicyNames", RoleName=name),
        }
    for policy in _pages(iam, "list_policies", "Policies", Scope="Local"):
        arn = policy["Arn"]
        versions = _pages(iam, "list_policy_versions", "Versions", PolicyArn=arn)
        state[f"iam policy {policy['PolicyName']}"] = {
            "versions": [(v["VersionId"], v["IsDefaultVersion"]) for v in versions],
            "documents": [
                iam.get_policy_version(PolicyArn=arn, VersionId=v["VersionId"])["PolicyVersion"]["Document"]
                for v in versions
            ],
        }
    s3 = admin_client(s, "s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        b = bucket["Name"]
        state[f"s3 bucket {b}"] = {
            "versioning": _maybe(s3.get_bucket_versioning, Bucket=b).get("Status"),
            "encryption": _maybe(s3.get_bucket_encryption, Bucket=b),
            "public_access_block": _maybe(s3.get_public_access_block, Bucket=b),
            "tags": _maybe(s3.get_bucket_tagging, Bucket=b),
            "uploads": _pages(s3, "list_multipart_uploads", "Uploads", Bucket=b),
        }
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=b):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                state.setdefault(f"s3 object {b}/{v['Key']}", []).append((v["VersionId"], v.get("ETag"), v.get("Size")))
    glue = admin_client(s, "glue")
    for job in _pages(glue, "get_jobs", "Jobs"):
        runs = _pages(glue, "get_job_runs", "JobRuns", JobName=job["Name"])
        state[f"glue job {job['Name']}"] = {"job": job, "runs": sorted(r["Id"] for r in runs)}
    logs = admin_client(s, "logs")
    for group in _pages(logs, "describe_log_groups", "logGroups"):
        g = group["logGroupName"]
        # storedBytes grows with the streams in it; the streams are compared one by one below
        state[f"log group {g}"] = {k: v for k, v in group.items() if k != "storedBytes"}
        for stream in _pages(logs, "describe_log_streams", "logStreams", logGroupName=g):
            state[f"log stream {g}/{stream['logStreamName']}"] = stream
    with warehouse.connect(s, None) as conn:
        for db in warehouse.execute(conn, "SHOW DATABASES").as_dicts():
            name = str(db["name"]).upper()
            state[f"snowflake database {name}"] = db
            for schema in warehouse.execute(conn, f"SHOW SCHEMAS IN DATABASE {name}").as_dicts():
                if str(schema["name"]).upper() != "INFORMATION_SCHEMA":
                    state[f"snowflake schema {name}.{str(schema['name']).upper()}"] = schema
            for kind, sql in (("table", "SHOW TABLES"), ("stage", "SHOW STAGES"), ("file format", "SHOW FILE FORMATS")):
                for row in warehouse.execute(conn, f"{sql} IN DATABASE {name}").as_dicts():
                    key = f"snowflake {kind} {name}.{str(row['schema_name']).upper()}.{str(row['name']).upper()}"
                    state[key] = row
        for row in warehouse.execute(conn, "SHOW INTEGRATIONS").as_dicts():
            name = str(row["name"]).upper()
            desc = warehouse.execute(conn, f"DESC INTEGRATION {name}").rows
            state[f"snowflake integration {name}"] = {"show": row, "desc": desc}
    return json.loads(json.dumps(state, default=str, sort_keys=True))


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


def _covered(resource: str, items: list[planning.Item]) -> bool:
    return any(fnmatch.fnmatchcase(resource, item.resource) for item in items)


@pytest.fixture
def s(local_cloud: object) -> Iterator[Settings]:
    with operating(plan_settings()) as settings:
        td.teardown(settings)  # a clean start even if an earlier test of this module failed half-way
        yield settings


def test_plan_on_an_empty_account_changes_nothing_and_would_create_everything(
    s: Settings, recorded: dict[str, list[str]]
) -> None:
    before = account_state(s)
    recorded["aws"].clear()
    recorded["sql"].clear()
    plan = planning.build_plan(s, "dev", with_teardown=True)
    planning.render(plan)
    plan_prod = planning.build_plan(s, "prod")
    sent = list(recorded["sql"])
    assert [
        c for c in recorded["aws"] if not c.split(":", 1)[1].startswith(READ_ONLY_AWS) and c != "sts:GetCallerIdentity"
    ] == []
    assert [q for q in sent if not q.lstrip().upper().startswith(READ_ONLY_SQL)] == []
    # the account setup made the databases, so the plan may look inside them (read-only, checked above)
    assert _changed(before, account_state(s)) == []
    # the Glue log groups are shared by every Python-shell job of the account: other test modules'
    # runs may have made them already; everything of our own does not exist yet
    # ... except what the administrator's account setup made (sql/00): the database and the integration
    setup = ("snowflake integration", "snowflake database")
    ours = [i for i in plan.items if not i.resource.startswith(("log group", *setup))]
    assert ours and {i.status for i in ours} == {planning.CREATE}
    assert {i.status for i in plan.items if i.resource.startswith(setup)} == {planning.EXISTS}
    assert {i.status for i in plan_prod.items if not i.resource.startswith(("log group", *setup))} == {planning.CREATE}
    assert plan.teardown is not None and plan.teardown["found"] == []
    assert plan.teardown["deletes"] == td.what_teardown_deletes(s)
    # the wanted documents are shown in full as additions
    glue_policy = next(i for i in plan.items if i.resource == "iam policy plantest-glue-role-policy")
    assert '+      "Sid": "WriteOwnLogs"' in glue_policy.diff
    job = next(i for i in plan.items if i.resource == "glue job plantest-ingest")
    assert '+  "MaxCapacity": 0.0625,' in job.diff


def run_up_to_the_load(s: Settings) -> tuple[Pipeline, object]:
    """A run's steps up to and including the load (the part of a run plan can see before dbt)."""
    p = Pipeline(s)
    roles = p.setup_iam()
    p.setup_storage()
    p.setup_glue_job(roles)
    p.ingest(s.resolved_source_url, new_run_id())
    p.setup_integration(roles, "dev")
    p.setup_stage("dev")
    p.load("dev")
    return p, roles


def test_plan_lists_everything_a_run_creates_and_stays_read_only_after_it(s: Settings) -> None:
    before = account_state(s)
    first = planning.build_plan(s, "dev")
    would_create = first.would(planning.CREATE)

    p, roles = run_up_to_the_load(s)
    after_run = account_state(s)
    created = sorted(set(after_run) - set(before))
    assert created, "the run created nothing?"
    missed = [r for r in created if not _covered(r, would_create)]
    assert missed == [], f"created by the run but not in the plan's 'would create': {missed}"

    # read-only after a run too, with --teardown as well
    second = planning.build_plan(s, "dev", with_teardown=True)
    planning.build_plan(s, "prod")
    assert _changed(after_run, account_state(s)) == []
    status = {i.resource: i.status for i in second.items}
    # converged: what the run set up is as wanted (no diff), including the trust policy from DESC INTEGRATION
    for resource in (
        "iam role plantest-glue-role",
        "iam role plantest-snowflake-role",
        "iam policy plantest-glue-role-policy",
        "iam policy plantest-snowflake-role-policy",
        "s3 bucket plantest-bucket",
        "glue job plantest-ingest",
        "snowflake integration PLANTEST_S3_INTEGRATION",
        "snowflake database PLANTEST_DEV",
        "snowflake schema PLANTEST_DEV.LANDING",
        "snowflake file format PLANTEST_DEV.LANDING.COUNTRIES_JSON_FORMAT",
    ):
        assert status[resource] == planning.EXISTS, (resource, status[resource])
    assert status["snowflake table PLANTEST_DEV.RAW_BUILD.COUNTRIES_COPY"] == planning.REPLACE
    cost = second.cost["lines"][1]
    landed = s.aws_client("s3").head_object(Bucket=s.bucket, Key=s.data_key)["ContentLength"]
    assert f"{landed} bytes (the landed object" in cost["how"]

    # a second run changes only what the plan said it would create, change or replace
    p.ingest(s.resolved_source_url, new_run_id())
    p.setup_integration(roles, "dev")
    p.setup_stage("dev")
    p.load("dev")
    after_rerun = account_state(s)
    job_key = f"glue job {s.glue_job_name}"
    for snapshot in (after_run, after_rerun):
        snapshot[job_key].pop("runs")  # the job's run history grows with every run (the plan says so)
    not_exists = [i for i in second.items if i.status != planning.EXISTS]
    touched = _changed(after_run, after_rerun)
    assert f"s3 object {s.bucket}/{s.data_key}" in touched  # a new version of the landed file
    unexpected = [r for r in touched if not _covered(r, not_exists)]
    assert unexpected == [], f"changed by the re-run but the plan said 'exists': {unexpected}"

    # a change made by hand shows up as a diff against what a run would put back
    iam = admin_client(s, "iam")
    iam.update_assume_role_policy(
        RoleName=s.snowflake_role_name,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    changed = {i.resource: i for i in planning.build_plan(s, "dev").items}["iam role plantest-snowflake-role"]
    assert changed.status == planning.CHANGE
    assert '+          "sts:ExternalId":' in changed.diff
    p.setup_integration(roles, "dev")  # put it back

    # teardown deletes exactly what plan --teardown found
    listed = planning.build_plan(s, "dev", with_teardown=True).teardown
    assert listed is not None
    found = listed["found"]
    assert listed["run_ids"] == td.our_run_ids(s) and listed["run_ids"]
    result = td.teardown(s)
    assert not any(result["remaining"].values())
    gone = account_state(s)
    for line in found:
        for key in _state_keys(line, s):
            assert key not in gone, f"plan --teardown listed {line!r} but {key!r} is still there"
    deleted = [x.split(" (", 1)[0] for x in result["deleted"]]
    found = [x.split(" (", 1)[0] for x in found]
    for kind in ("log stream", "log group", "glue job", "iam role", "snowflake database", "snowflake integration"):
        assert sorted(x for x in found if x.startswith(kind)) == sorted(x for x in deleted if x.startswith(kind)), kind
    versions = sum(1 for x in found if x.startswith(("object version", "delete marker")))
    assert versions == sum(int(x.split()[0]) for x in deleted if x.endswith(f"object versions in s3://{s.bucket}"))
    for stream in glue_job.OUTPUT_LOG_GROUP, glue_job.ERROR_LOG_GROUP:
        assert not [
            k for k in gone if k.startswith(f"log stream {stream}/") and k.rsplit("/", 1)[-1] in listed["run_ids"]
        ]


def _state_keys(line: str, s: Settings) -> list[str]:
    """The account_state keys a `plan --teardown` line names."""
    if line.startswith(("object version s3://", "delete marker s3://")):
        return [f"s3 object {line.split('s3://', 1)[1].rsplit('#', 1)[0]}"]
    if line.startswith("bucket s3://"):
        return [f"s3 bucket {line.split('s3://', 1)[1]}"]
    if line.startswith("iam policy arn:"):
        return [f"iam policy {line.rsplit('/', 1)[-1]}"]
    if line.startswith("snowflake integration "):
        return [line.upper().replace("SNOWFLAKE INTEGRATION ", "snowflake integration ")]
    if line.startswith("log group "):
        return [line.split(" (", 1)[0]]  # listed only when nothing but our streams is in it (teardown's rule)
    if line.startswith(("detach ", "inline policy ", "remove ", "policy version ")):
        return []  # parts of a role / policy that is itself checked
    return [line]


READ_ONLY_AWS = ("Get", "List", "Describe", "Head")
READ_ONLY_SQL = ("SHOW ", "DESC ", "DESCRIBE ", "SELECT ")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Every AWS operation (botocore's own event, so no call can slip past) and every SQL statement
    `plan` sends."""
    calls: dict[str, list[str]] = {"aws": [], "sql": []}
    original_client, original_execute = Settings.aws_client, warehouse.execute

    def aws_client(self: Settings, service: str, **kw: Any) -> Any:
        client = original_client(self, service, **kw)
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: calls["aws"].append(f"{service}:{model.name}")
        )
        return client

    def execute(conn: Any, sql: str, params: Any = None) -> Any:
        calls["sql"].append(sql)
        return original_execute(conn, sql, params)

    monkeypatch.setattr(Settings, "aws_client", aws_client)
    monkeypatch.setattr(warehouse, "execute", execute)
    return calls


def test_plan_sends_only_read_calls_and_read_statements(s: Settings, recorded: dict[str, list[str]]) -> None:
    """A write that changes nothing (e.g. re-enabling versioning that is already on) would not show
    in a before/after listing; the calls themselves are therefore checked too."""
    run_up_to_the_load(s)
    recorded["aws"].clear()
    recorded["sql"].clear()
    for target in ("dev", "prod"):
        planning.build_plan(s, target, with_teardown=True)
    aws, sql = recorded["aws"], recorded["sql"]
    assert aws and sql
    writes = [c for c in aws if not c.split(":", 1)[1].startswith(READ_ONLY_AWS) and c != "sts:GetCallerIdentity"]
    assert writes == []
    assert [q for q in sql if not q.lstrip().upper().startswith(READ_ONLY_SQL)] == []
    # it did ask about the things it reports on
    for op in (
        "iam:GetPolicyVersion",
        "s3:GetBucketEncryption",
        "s3:ListObjectVersions",
        "glue:GetJob",
        "glue:GetJobRuns",
        "logs:DescribeLogStreams",
    ):
        assert op in aws, op
    assert any(q.upper().startswith("DESC INTEGRATION") for q in sql)
    td.teardown(s)


def test_an_unreachable_aws_is_a_clear_error_not_a_plan(local_cloud: object) -> None:
    closed = plan_settings().model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})  # nothing listens on 9
    with pytest.raises(planning.PlanFailed, match=r"AWS \(http://127.0.0.1:9\) could not be reached") as e:
        planning.build_plan(closed, "dev")
    assert "Nothing was changed" in str(e.value)


def test_cli_plan_prints_the_plan_and_its_json(s: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from helpers import cli

    monkeypatch.setattr(cli, "_settings", plan_settings)
    runner = CliRunner()
    text = runner.invoke(cli.app, ["plan", "--teardown", "--snowflake-credit-usd", "2.5"])
    assert text.exit_code == 0, text.output
    assert re.search(r"\[would create *\] glue job plantest-ingest", text.stdout), text.stdout
    assert "== teardown would delete" in text.stdout and "$2.5/credit" in text.stdout
    as_json = runner.invoke(cli.app, ["plan", "--json", "--target", "prod"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["target"] == "prod" and data["cost"]["prices"]["snowflake_credit_usd"] == planning.SNOWFLAKE_CREDIT_USD
    assert any(i["resource"] == "snowflake database PLANTEST_PROD" for i in data["items"])
    bad = runner.invoke(cli.app, ["plan", "--target", "qa"])
    assert bad.exit_code == 1 and "unknown target" in bad.output


def test_a_refused_read_is_a_clear_error_naming_the_call(s: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS answers 403 to HeadBucket for a bucket of another account (or without s3:ListBucket):
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html - the plan must not call that
    "would create"."""
    from botocore.exceptions import ClientError

    original = Settings.aws_client

    def aws_client(self: Settings, service: str, **kw: Any) -> Any:
        client = original(self, service, **kw)
        if service == "s3":

            def refuse(**_: Any) -> None:
                raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")

            client.head_bucket = refuse
        return client

    monkeypatch.setattr(Settings, "aws_client", aws_client)
    with pytest.raises(
        planning.PlanFailed, match=r"(?s)AWS refused HeadBucket \(403\).*PIPELINE_BUCKET=plantest-bucket"
    ):
        planning.build_plan(s, "dev")
