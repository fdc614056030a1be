"""The local cloud behaves like Snowflake and AWS for every statement and call the pipeline uses.

Each test states the documented behaviour of the real service it reproduces. They exist because
plain fakesnow/moto get these wrong (see ../shared/docs/local-cloud-facts.md), often silently.
Buckets, roles and jobs of the tests' own are made with the local admin (`admin_client`), not the
operator the pipeline runs as.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import snowflake.connector.errors

from helpers import iam_policies, warehouse
from helpers.local_cloud.bootstrap import admin_client

pytestmark = pytest.mark.integration

ProgrammingError = snowflake.connector.errors.ProgrammingError


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def conn(settings):
    with warehouse.connect(settings, None) as c:
        warehouse.execute(c, "CREATE DATABASE IF NOT EXISTS FIDELITY")
        warehouse.execute(c, "CREATE SCHEMA IF NOT EXISTS FIDELITY.T")
        warehouse.execute(c, "USE SCHEMA FIDELITY.T")
        yield c


def q(conn, sql):
    return warehouse.execute(conn, sql)


@pytest.fixture
def s3_stage(settings, conn):
    """A bucket, a role Snowflake may assume (trust policy written from DESC INTEGRATION), an
    integration and a stage on s3://<bucket>/data/. Returns a dict of names and clients."""
    s3, iam_client = admin_client(settings, "s3"), admin_client(settings, "iam")
    bucket = _name("fid-")
    s3.create_bucket(Bucket=bucket)
    account = admin_client(settings, "sts").get_caller_identity()["Account"]
    names = iam_policies.Names(bucket, "data/", "scripts/", "quarantine/", settings.aws_region, account)
    role = _name("fid-role-")
    role_arn = iam_client.create_role(
        RoleName=role, AssumeRolePolicyDocument=json.dumps(iam_policies.snowflake_placeholder_trust_policy(account))
    )["Role"]["Arn"]
    iam_client.put_role_policy(
        RoleName=role, PolicyName="read", PolicyDocument=json.dumps(iam_policies.snowflake_role_policy(names))
    )
    integration = _name("FID_INT_").upper()
    q(
        conn,
        f"CREATE STORAGE INTEGRATION {integration} TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' ENABLED = TRUE "
        f"STORAGE_AWS_ROLE_ARN = '{role_arn}' STORAGE_ALLOWED_LOCATIONS = ('s3://{bucket}/data/')",
    )
    desc = {r["property"]: r["property_value"] for r in q(conn, f"DESC INTEGRATION {integration}").as_dicts()}
    stage = _name("STG_").upper()
    q(conn, f"CREATE STAGE {stage} URL = 's3://{bucket}/data/' STORAGE_INTEGRATION = {integration}")
    return {
        "bucket": bucket,
        "role": role,
        "role_arn": role_arn,
        "integration": integration,
        "desc": desc,
        "stage": stage,
        "s3": s3,
        "iam": iam_client,
        "trust": iam_policies.snowflake_trust_policy(desc["STORAGE_AWS_IAM_USER_ARN"], desc["STORAGE_AWS_EXTERNAL_ID"]),
    }


@pytest.fixture
def trusted_stage(s3_stage):
    s3_stage["iam"].update_assume_role_policy(RoleName=s3_stage["role"], PolicyDocument=json.dumps(s3_stage["trust"]))
    return s3_stage


# --- storage integrations -----------------------------------------------------------------------


def test_desc_integration_reports_an_existing_iam_user_and_an_external_id(settings, s3_stage):
    desc = s3_stage["desc"]
    user_arn = desc["STORAGE_AWS_IAM_USER_ARN"]
    user = admin_client(settings, "iam").get_user(UserName=user_arn.split("/")[-1])["User"]
    assert user["Arn"] == user_arn
    assert desc["STORAGE_AWS_ROLE_ARN"] == s3_stage["role_arn"]
    assert desc["STORAGE_AWS_EXTERNAL_ID"] and desc["STORAGE_AWS_EXTERNAL_ID"] != iam_policies.PLACEHOLDER_EXTERNAL_ID
    assert desc["STORAGE_ALLOWED_LOCATIONS"] == f"s3://{s3_stage['bucket']}/data/"


def test_create_or_replace_integration_regenerates_the_external_id_but_if_not_exists_keeps_it(conn, s3_stage):
    name, before = s3_stage["integration"], s3_stage["desc"]["STORAGE_AWS_EXTERNAL_ID"]
    body = (
        f"TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' STORAGE_AWS_ROLE_ARN = '{s3_stage['role_arn']}' "
        f"STORAGE_ALLOWED_LOCATIONS = ('s3://{s3_stage['bucket']}/data/')"
    )

    def external_id() -> str:
        return {r["property"]: r["property_value"] for r in q(conn, f"DESC INTEGRATION {name}").as_dicts()}[
            "STORAGE_AWS_EXTERNAL_ID"
        ]

    q(conn, f"CREATE STORAGE INTEGRATION IF NOT EXISTS {name} {body}")
    assert external_id() == before
    q(conn, f"CREATE OR REPLACE STORAGE INTEGRATION {name} {body}")
    assert external_id() != before


def test_show_and_drop_integration(conn, s3_stage):
    name = s3_stage["integration"]
    assert name in [r["name"] for r in q(conn, "SHOW INTEGRATIONS").as_dicts()]
    q(conn, f"DROP INTEGRATION {name}")
    assert name not in [r["name"] for r in q(conn, "SHOW INTEGRATIONS").as_dicts()]
    q(conn, f"DROP INTEGRATION IF EXISTS {name}")  # idempotent
    with pytest.raises(ProgrammingError, match="does not exist"):
        q(conn, f"DESC INTEGRATION {name}")


def test_stage_outside_the_allowed_locations_is_refused(conn, s3_stage):
    with pytest.raises(ProgrammingError, match="not allowed by integration"):
        q(
            conn,
            f"CREATE STAGE {_name('BAD_')} URL = 's3://{s3_stage['bucket']}/other/' "
            f"STORAGE_INTEGRATION = {s3_stage['integration']}",
        )


# --- stages read S3 through the integration's role --------------------------------------------


def test_stage_cannot_list_until_the_trust_policy_names_snowflakes_principal_and_external_id(conn, s3_stage):
    s3_stage["s3"].put_object(Bucket=s3_stage["bucket"], Key="data/a.ndjson", Body=b'{"a": 1}\n')
    # the placeholder trust policy (own account, external id 0000) does not let Snowflake in
    with pytest.raises(ProgrammingError, match="Error assuming AWS_ROLE"):
        q(conn, f"LIST @{s3_stage['stage']}")
    # the right principal with a wrong external id is refused too
    wrong = iam_policies.snowflake_trust_policy(s3_stage["desc"]["STORAGE_AWS_IAM_USER_ARN"], "not-the-external-id")
    s3_stage["iam"].update_assume_role_policy(RoleName=s3_stage["role"], PolicyDocument=json.dumps(wrong))
    with pytest.raises(ProgrammingError, match="Error assuming AWS_ROLE"):
        q(conn, f"LIST @{s3_stage['stage']}")
    s3_stage["iam"].update_assume_role_policy(RoleName=s3_stage["role"], PolicyDocument=json.dumps(s3_stage["trust"]))
    rows = q(conn, f"LIST @{s3_stage['stage']}").as_dicts()
    assert [r["name"] for r in rows] == [f"s3://{s3_stage['bucket']}/data/a.ndjson"]


def test_list_stage_lists_the_s3_objects_with_sizes(conn, trusted_stage):
    s3, bucket = trusted_stage["s3"], trusted_stage["bucket"]
    s3.put_object(Bucket=bucket, Key="data/one.json", Body=b"[1]")
    s3.put_object(Bucket=bucket, Key="data/sub/two.json", Body=b"[1, 2]")
    s3.put_object(Bucket=bucket, Key="elsewhere/three.json", Body=b"[]")
    rows = {r["name"]: r["size"] for r in q(conn, f"LIST @{trusted_stage['stage']}").as_dicts()}
    assert rows == {f"s3://{bucket}/data/one.json": 3, f"s3://{bucket}/data/sub/two.json": 6}
    sub = q(conn, f"LIST @{trusted_stage['stage']}/sub/").as_dicts()
    assert [r["name"] for r in sub] == [f"s3://{bucket}/data/sub/two.json"]


def test_role_policy_limits_what_the_stage_can_read(conn, trusted_stage):
    """Take s3:GetObject away from the role: Snowflake's COPY then fails with S3's AccessDenied."""
    s3_stage = trusted_stage
    s3_stage["s3"].put_object(Bucket=s3_stage["bucket"], Key="data/a.ndjson", Body=b'{"a": 1}\n')
    s3_stage["iam"].delete_role_policy(RoleName=s3_stage["role"], PolicyName="read")
    s3_stage["iam"].put_role_policy(
        RoleName=s3_stage["role"],
        PolicyName="list-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{s3_stage['bucket']}"}
                ],
            }
        ),
    )
    q(conn, "CREATE OR REPLACE TABLE DENIED (V VARIANT)")
    with pytest.raises(ProgrammingError, match="(?i)403|denied|forbidden"):
        q(conn, f"COPY INTO DENIED FROM @{s3_stage['stage']} FILE_FORMAT = (TYPE = JSON)")


# --- COPY INTO from JSON ---------------------------------------------------------------------


def test_copy_json_loads_one_row_per_top_level_value(conn, trusted_stage):
    s3, bucket, stage = trusted_stage["s3"], trusted_stage["bucket"], trusted_stage["stage"]
    s3.put_object(Bucket=bucket, Key="data/lines.ndjson", Body=b'{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    s3.put_object(Bucket=bucket, Key="data/array.json", Body=b'[{"n": 1}, {"n": 2}]')
    q(conn, "CREATE OR REPLACE TABLE J (V VARIANT)")
    q(conn, f"COPY INTO J FROM @{stage} FILES = ('lines.ndjson') FILE_FORMAT = (TYPE = JSON)")
    assert q(conn, "SELECT COUNT(*) FROM J").rows == [(3,)]  # NDJSON: one row per line
    q(conn, "TRUNCATE TABLE J")
    q(conn, f"COPY INTO J FROM @{stage} FILES = ('array.json') FILE_FORMAT = (TYPE = JSON)")
    # without STRIP_OUTER_ARRAY the whole array is one VARIANT
    assert q(conn, "SELECT COUNT(*), MAX(ARRAY_SIZE(V)) FROM J").rows == [(1, 2)]
    q(conn, "TRUNCATE TABLE J")
    q(
        conn,
        f"COPY INTO J FROM @{stage} FILES = ('array.json') FILE_FORMAT = (TYPE = JSON STRIP_OUTER_ARRAY = TRUE) FORCE = TRUE",
    )
    assert sorted(q(conn, "SELECT V:n::INT FROM J").rows) == [(1,), (2,)]


def test_copy_skips_loaded_files_unless_forced_and_records_load_history(conn, trusted_stage):
    """https://docs.snowflake.com/en/user-guide/data-load-considerations-load#loading-older-files: COPY
    skips a file the table's load metadata holds (LOAD_SKIPPED) unless FORCE = TRUE; load history shows
    each load (https://docs.snowflake.com/en/sql-reference/info-schema/load_history)."""
    s3, bucket, stage = trusted_stage["s3"], trusted_stage["bucket"], trusted_stage["stage"]
    s3.put_object(Bucket=bucket, Key="data/lines.ndjson", Body=b'{"n": 1}\n{"n": 2}\n')
    q(conn, "CREATE OR REPLACE TABLE H (V VARIANT)")
    first = q(conn, f"COPY INTO H FROM @{stage} FILE_FORMAT = (TYPE = JSON)").as_dicts()
    assert [(r["status"], r["rows_loaded"]) for r in first] == [("LOADED", 2)]
    second = q(conn, f"COPY INTO H FROM @{stage} FILE_FORMAT = (TYPE = JSON)").as_dicts()
    assert [(r["status"], r["rows_loaded"]) for r in second] == [("LOAD_SKIPPED", 0)]
    forced = q(conn, f"COPY INTO H FROM @{stage} FILE_FORMAT = (TYPE = JSON) FORCE = TRUE").as_dicts()
    assert [r["status"] for r in forced] == ["LOADED"]
    assert q(conn, "SELECT COUNT(*) FROM H").rows == [(4,)]
    history = q(
        conn, "SELECT FILE_NAME, ROW_COUNT FROM FIDELITY.INFORMATION_SCHEMA.LOAD_HISTORY WHERE TABLE_NAME = 'H'"
    )
    assert history.rows and all(r[0] == f"s3://{bucket}/data/lines.ndjson" for r in history.rows)


def test_copy_with_transformation_records_file_name_and_row_number(conn, trusted_stage):
    """https://docs.snowflake.com/en/user-guide/querying-metadata: METADATA$FILENAME is the "name of the
    staged data file the current row belongs to. Includes the full path to the data file" - for an S3
    stage on s3://<bucket>/data/, the object's key data/countries/x.ndjson, not the part below the stage
    URL; METADATA$FILE_ROW_NUMBER numbers the records of each file from 1."""
    s3, bucket, stage = trusted_stage["s3"], trusted_stage["bucket"], trusted_stage["stage"]
    s3.put_object(Bucket=bucket, Key="data/countries/x.ndjson", Body=b'{"c": "A"}\n{"c": "B"}\n')
    q(conn, "CREATE OR REPLACE TABLE L (DATA VARIANT, F VARCHAR, R NUMBER, TS TIMESTAMP_LTZ)")
    q(conn, "CREATE FILE FORMAT IF NOT EXISTS JSONF TYPE = JSON")
    q(
        conn,
        f"COPY INTO L (DATA, F, R, TS) FROM (SELECT $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, "
        f"METADATA$START_SCAN_TIME FROM @{stage}) FILE_FORMAT = (FORMAT_NAME = 'FIDELITY.T.JSONF')",
    )
    rows = q(conn, "SELECT DATA:c::STRING, F, R FROM L ORDER BY R").rows
    assert rows == [("A", "data/countries/x.ndjson", 1), ("B", "data/countries/x.ndjson", 2)]
    assert q(conn, "SELECT COUNT(*) FROM L WHERE TS IS NULL").rows == [(0,)]


def test_load_metadata_is_the_file_name_and_checksum_and_belongs_to_the_table(conn, trusted_stage):
    """Snowflake decides LOAD_SKIPPED by file name + checksum (ETag), not by last-modified time
    (https://docs.snowflake.com/en/user-guide/data-load-considerations-load#loading-older-files): the
    same bytes uploaded again are skipped, changed bytes under the same name load. TRUNCATE TABLE
    deletes the table's load metadata (https://docs.snowflake.com/en/sql-reference/sql/truncate-table),
    DELETE does not; a table created anew (CREATE OR REPLACE) has none."""
    s3, bucket, stage = trusted_stage["s3"], trusted_stage["bucket"], trusted_stage["stage"]
    copy = f"COPY INTO M FROM @{stage} FILES = ('m.ndjson') FILE_FORMAT = (TYPE = JSON)"

    def statuses() -> list[tuple[str, int]]:
        return [(r["status"], r["rows_loaded"]) for r in q(conn, copy).as_dicts()]

    s3.put_object(Bucket=bucket, Key="data/m.ndjson", Body=b'{"n": 1}\n')
    q(conn, "CREATE OR REPLACE TABLE M (V VARIANT)")
    assert statuses() == [("LOADED", 1)]
    s3.put_object(Bucket=bucket, Key="data/m.ndjson", Body=b'{"n": 1}\n')  # same bytes, newer LastModified
    assert statuses() == [("LOAD_SKIPPED", 0)]
    s3.put_object(Bucket=bucket, Key="data/m.ndjson", Body=b'{"n": 2}\n')  # same name, new checksum
    assert statuses() == [("LOADED", 1)]
    q(conn, "DELETE FROM M")
    assert statuses() == [("LOAD_SKIPPED", 0)]  # DELETE keeps the load metadata
    q(conn, "TRUNCATE TABLE M")
    assert statuses() == [("LOADED", 1)]  # TRUNCATE forgets it
    q(conn, "CREATE OR REPLACE TABLE M (V VARIANT)")
    assert statuses() == [("LOADED", 1)]  # so does a table created anew


def test_copy_of_malformed_json_fails_with_a_sql_error_and_loads_nothing(conn, trusted_stage):
    s3, bucket, stage = trusted_stage["s3"], trusted_stage["bucket"], trusted_stage["stage"]
    s3.put_object(Bucket=bucket, Key="data/a_good.ndjson", Body=b'{"n": 1}\n')
    s3.put_object(Bucket=bucket, Key="data/b_bad.ndjson", Body=b'{"n": 2}\n{"n": \n')
    q(conn, "CREATE OR REPLACE TABLE M (V VARIANT)")
    started = time.monotonic()
    with pytest.raises(ProgrammingError, match="b_bad.ndjson"):
        q(conn, f"COPY INTO M FROM @{stage} FILE_FORMAT = (TYPE = JSON)")
    assert time.monotonic() - started < 5
    # ON_ERROR = ABORT_STATEMENT (the default): not even the good file's rows stay
    assert q(conn, "SELECT COUNT(*) FROM M").rows == [(0,)]


# --- FLATTEN ---------------------------------------------------------------------------------


def test_flatten_outer_keeps_a_row_for_empty_and_missing_input(conn):
    q(conn, "CREATE OR REPLACE TABLE F (ID INT, V VARIANT)")
    q(
        conn,
        """INSERT INTO F SELECT 1, PARSE_JSON('{"c": {"EUR": {}, "USD": {}}}')
               UNION ALL SELECT 2, PARSE_JSON('{"c": {}}')
               UNION ALL SELECT 3, PARSE_JSON('{"x": 1}')
               UNION ALL SELECT 4, PARSE_JSON('{"c": []}')""",
    )
    outer = q(conn, "SELECT F.ID, C.KEY FROM F, LATERAL FLATTEN(INPUT => F.V:c, OUTER => TRUE) C ORDER BY 1, 2").rows
    assert outer == [(1, "EUR"), (1, "USD"), (2, None), (3, None), (4, None)]
    inner = q(conn, "SELECT F.ID, C.KEY FROM F, LATERAL FLATTEN(INPUT => F.V:c) C ORDER BY 1, 2").rows
    assert inner == [(1, "EUR"), (1, "USD")]
    explicit_false = q(conn, "SELECT COUNT(*) FROM F, LATERAL FLATTEN(INPUT => F.V:c, OUTER => FALSE) C").rows
    assert explicit_false == [(2,)]


# --- errors and persistence ---------------------------------------------------------------------


def test_unsupported_sql_fails_at_once_with_a_sql_error(conn, trusted_stage):
    q(conn, "CREATE OR REPLACE TABLE U (V VARIANT)")
    started = time.monotonic()
    with pytest.raises(ProgrammingError):
        q(conn, "SELECT OBJECT_KEYS(PARSE_JSON('{\"a\": 1}'))")
    with pytest.raises(ProgrammingError, match="ON_ERROR"):
        q(conn, f"COPY INTO U FROM @{trusted_stage['stage']} FILE_FORMAT = (TYPE = JSON) ON_ERROR = CONTINUE")
    assert time.monotonic() - started < 5, "an HTTP 500 would have made the connector retry for many seconds"


def test_copy_options_the_local_warehouse_cannot_honour_are_refused_not_ignored(conn, trusted_stage):
    """COPY INTO <table> copy options and JSON format options
    (https://docs.snowflake.com/en/sql-reference/sql/copy-into-table,
    https://docs.snowflake.com/en/sql-reference/sql/create-file-format#type-json): Snowflake accepts
    ON_ERROR = CONTINUE, PURGE = TRUE, STRIP_NULL_VALUES, ...; silently ignoring one locally would load
    something else than Snowflake would. So each option the local warehouse does not implement is an
    immediate SQL error naming it (stricter than Snowflake, never kinder), and what it implements - FORCE,
    FILES, ON_ERROR = ABORT_STATEMENT (the default), STRIP_OUTER_ARRAY - is accepted."""
    s3, bucket, stage = trusted_stage["s3"], trusted_stage["bucket"], trusted_stage["stage"]
    s3.put_object(Bucket=bucket, Key="data/o.ndjson", Body=b'{"n": 1}\n')
    q(conn, "CREATE OR REPLACE TABLE O (V VARIANT)")
    for option, name in (
        ("PURGE = TRUE", "PURGE"),
        ("ON_ERROR = SKIP_FILE", "ON_ERROR"),
        ("MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE", "MATCH_BY_COLUMN_NAME"),
    ):
        with pytest.raises(ProgrammingError, match=name):
            q(conn, f"COPY INTO O FROM @{stage} FILE_FORMAT = (TYPE = JSON) {option}")
    with pytest.raises(ProgrammingError, match="STRIP_NULL_VALUES"):
        q(conn, f"COPY INTO O FROM @{stage} FILE_FORMAT = (TYPE = JSON STRIP_NULL_VALUES = TRUE)")
    assert q(conn, "SELECT COUNT(*) FROM O").rows == [(0,)]  # nothing was loaded by a refused COPY
    loaded = q(
        conn,
        f"COPY INTO O FROM @{stage} FILES = ('o.ndjson') FILE_FORMAT = (TYPE = JSON "
        "STRIP_OUTER_ARRAY = TRUE) ON_ERROR = ABORT_STATEMENT FORCE = TRUE",
    ).as_dicts()
    assert [(r["status"], r["rows_loaded"]) for r in loaded] == [("LOADED", 1)]


def test_tables_stages_and_integrations_survive_a_restart(settings, local_cloud, conn, trusted_stage):
    q(conn, "CREATE OR REPLACE TABLE KEEP (N INT)")
    q(conn, "INSERT INTO KEEP VALUES (1), (2)")
    local_cloud._stop("snowflake")
    local_cloud.up()
    from helpers.settings import Settings

    with warehouse.connect(Settings(), None) as fresh:
        assert q(fresh, "SELECT COUNT(*) FROM FIDELITY.T.KEEP").rows == [(2,)]
        stages = [r["name"] for r in q(fresh, "SHOW STAGES IN SCHEMA FIDELITY.T").as_dicts()]
        assert trusted_stage["stage"] in stages
        q(fresh, f"DESC INTEGRATION {trusted_stage['integration']}")
        q(fresh, f"LIST @FIDELITY.T.{trusted_stage['stage']}")  # still reads through the integration


# --- AWS side ------------------------------------------------------------------------------------


def test_a_closed_connection_ends_its_session_and_its_token_is_refused(settings):
    """Closing a connection logs its session out: snowflake-connector-python's close() POSTs
    /session?delete=true with the session token (network.py `delete_session`), which needs the master
    token Snowflake's login answer carries; a session logged out no longer runs queries. (The exact
    error code Snowflake sends for a deleted session's token is not documented; 390104 "User must login
    again" is fakesnow's, and the test pins only that the query is refused.) fakesnow's login answered no
    master token, so no session was ever deleted: a closed session's token still ran queries, and every
    session kept its DuckDB cursor."""
    import requests

    with warehouse.connect(settings, None) as c:
        assert c.rest.master_token, "the login answer carries a master token"
        token = c.rest.token
        assert warehouse.scalar(c, "SELECT 1") == 1
    local = settings.local_cloud["snowflake"]
    answer = requests.post(
        f"{local['protocol']}://{local['host']}:{local['port']}/queries/v1/query-request?requestId={uuid.uuid4()}",
        json={"sqlText": "SELECT 1"},
        headers={"Authorization": f'Snowflake Token="{token}"'},
        timeout=30,
    )
    assert answer.json()["success"] is False, answer.text


def test_iam_is_enforced_unknown_keys_are_refused(settings):
    unknown_key_id = "AKIA" + "X" * 16  # a well-formed key id that no IAM user has
    s3 = settings.aws_client("s3", aws_access_key_id=unknown_key_id, aws_secret_access_key="x" * 40)
    with pytest.raises(Exception, match="(?i)InvalidAccessKeyId|403|denied|security token"):
        s3.list_buckets()


def _glue_job(settings, role_arn: str, script: bytes) -> str:
    s3, glue = admin_client(settings, "s3"), admin_client(settings, "glue")
    bucket = _name("glue-")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="scripts/job.py", Body=script)
    name = _name("job-")
    glue.create_job(
        Name=name,
        Role=role_arn,
        Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/scripts/job.py", "PythonVersion": "3.9"},
        DefaultArguments={"--greeting": "hello"},
    )
    return name, bucket


def _glue_role(settings, bucket_pattern: str, trusted_service: str = "glue.amazonaws.com") -> str:
    iam_client = admin_client(settings, "iam")
    role = _name("glue-role-")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": trusted_service}, "Action": "sts:AssumeRole"}],
    }
    arn = iam_client.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam_client.put_role_policy(
        RoleName=role,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket_pattern}"},
                    # Glue writes the run's logs with the job role (the local AWS enforces it, as AWS does)
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": "arn:aws:logs:*:*:log-group:/aws-glue/python-jobs/*",
                    },
                ],
            }
        ),
    )
    return arn


def test_glue_job_run_really_runs_the_script_and_ships_its_logs(settings):
    from helpers import glue_job

    script = b"import sys\nprint('args', ' '.join(sys.argv[1:]))\nprint('to stderr', file=sys.stderr)\n"
    role_arn = _glue_role(settings, "glue-*/scripts/*")
    name, _ = _glue_job(settings, role_arn, script)
    glue, logs = admin_client(settings, "glue"), admin_client(settings, "logs")
    run_id = glue_job.start_run(glue, name, {"--who": "world"})
    run = glue_job.wait_for_run(glue, name, run_id, timeout_s=60)
    assert run["JobRunState"] == "SUCCEEDED"
    out = glue_job.read_log(logs, glue_job.OUTPUT_LOG_GROUP, run_id)
    assert len(out) == 1 and "--greeting hello" in out[0] and "--who world" in out[0]
    assert f"--JOB_RUN_ID {run_id}" in out[0]
    assert glue_job.read_log(logs, glue_job.ERROR_LOG_GROUP, run_id) == ["to stderr"]


def test_glue_job_run_fails_with_the_scripts_error(settings):
    from helpers import glue_job

    role_arn = _glue_role(settings, "glue-*/scripts/*")
    name, _ = _glue_job(settings, role_arn, b"import sys\nsys.exit('ERROR: source answered HTTP 404')\n")
    glue = admin_client(settings, "glue")
    run = glue_job.wait_for_run(glue, name, glue_job.start_run(glue, name, {}), timeout_s=60)
    assert run["JobRunState"] == "FAILED"
    assert "HTTP 404" in run["ErrorMessage"]


FRESH_RUN_SCRIPT = b"""import json, os, sys
print(json.dumps({
    "name": __name__,
    "argv": sys.argv[1:],
    "env": sorted(os.environ),
    "boto3_in_namespace": "boto3" in globals(),
    "from_an_earlier_run": getattr(json, "set_by_an_earlier_run", None),
    "cwd": sorted(os.listdir(".")),
}))
json.set_by_an_earlier_run = True
"""


def test_each_glue_job_run_is_a_fresh_python_with_only_the_runs_environment(settings):
    """The local Glue forks each run from a warm process (glue_worker.py); the script must still see
    what `python script.py` shows it on Glue: __main__, its own argv, its own environment (nothing of
    the server's, e.g. MOTO_PORT), no name it did not import, nothing left by an earlier run, and a
    working directory holding only the script."""
    from helpers import glue_job

    role_arn = _glue_role(settings, "glue-*/scripts/*")
    name, _ = _glue_job(settings, role_arn, FRESH_RUN_SCRIPT)
    glue, logs = admin_client(settings, "glue"), admin_client(settings, "logs")
    seen = []
    for _ in range(2):
        run_id = glue_job.start_run(glue, name, {"--who": "world"})
        assert glue_job.wait_for_run(glue, name, run_id, timeout_s=60)["JobRunState"] == "SUCCEEDED"
        seen.append(json.loads(glue_job.read_log(logs, glue_job.OUTPUT_LOG_GROUP, run_id)[0]))
    for run in seen:
        assert run["name"] == "__main__"
        assert "--who" in run["argv"] and "world" in run["argv"] and "--JOB_RUN_ID" in run["argv"]
        assert {"AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "HOME", "PATH"} <= set(run["env"])
        assert "MOTO_PORT" not in run["env"] and not any(k.startswith("PIPELINE_") for k in run["env"])
        assert run["boto3_in_namespace"] is False
        assert run["from_an_earlier_run"] is None
        assert run["cwd"] == ["job.py"]


def test_an_uncaught_exception_fails_the_run_with_its_last_line_and_the_scripts_traceback(settings):
    """As `python script.py`: the traceback on stderr (the error log) starts at the script, and the
    run's ErrorMessage is its last line."""
    from helpers import glue_job

    role_arn = _glue_role(settings, "glue-*/scripts/*")
    script = b"print('before')\n\ndef load():\n    raise ValueError('record 7 has no cca3')\n\nload()\n"
    name, _ = _glue_job(settings, role_arn, script)
    glue, logs = admin_client(settings, "glue"), admin_client(settings, "logs")
    run_id = glue_job.start_run(glue, name, {})
    run = glue_job.wait_for_run(glue, name, run_id, timeout_s=60)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: record 7 has no cca3"
    assert glue_job.read_log(logs, glue_job.OUTPUT_LOG_GROUP, run_id) == ["before"]
    err = glue_job.read_log(logs, glue_job.ERROR_LOG_GROUP, run_id)
    assert err[0] == "Traceback (most recent call last):"
    assert not any("runpy" in line or "glue_worker" in line or "multiprocessing" in line for line in err), err
    assert any("job.py" in line and "load" in line for line in err), err


def test_glue_cannot_run_a_job_whose_role_does_not_trust_glue(settings):
    from helpers import glue_job

    role_arn = _glue_role(settings, "glue-*/scripts/*", trusted_service="lambda.amazonaws.com")
    name, _ = _glue_job(settings, role_arn, b"print('never')\n")
    glue = admin_client(settings, "glue")
    run = glue_job.wait_for_run(glue, name, glue_job.start_run(glue, name, {}), timeout_s=60)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == f"Service is unable to assume role {role_arn}. Please verify role's TrustPolicy"


def test_glue_job_reads_its_script_with_the_roles_permissions(settings):
    """A role that may not read the script: the run fails on S3's AccessDenied, as in AWS."""
    from helpers import glue_job

    role_arn = _glue_role(settings, "some-other-bucket/*")
    name, _ = _glue_job(settings, role_arn, b"print('never')\n")
    glue = admin_client(settings, "glue")
    run = glue_job.wait_for_run(glue, name, glue_job.start_run(glue, name, {}), timeout_s=60)
    assert run["JobRunState"] == "FAILED" and "AccessDenied" in run["ErrorMessage"]


def test_local_up_is_idempotent_a_running_healthy_cloud_is_left_alone(local_cloud):
    before = local_cloud.status()
    local_cloud.up()
    after = local_cloud.status()
    assert all(s["healthy"] for s in after.values())
    assert {k: (v["pid"], v["url"]) for k, v in after.items()} == {k: (v["pid"], v["url"]) for k, v in before.items()}
