"""The access matrix of notebook 02 (helpers/access_matrix.py) against the local cloud: after a run with
one bad record from a file:// source (so every pipeline prefix holds an object) and the trust policy
written by the integration step, each principal's cells are what its policy allows, the Glue job is
the ingest job again afterwards, and the probe leaves nothing behind. Names of this module's own, as
tests/integration/test_least_privilege.py does (whose approach the matrix reuses)."""

from __future__ import annotations

import uuid

import pytest

from helpers import access_matrix, ingest_view
from helpers import teardown as td
from helpers.access_probe import ACTIONS, NO_OBJECT, PROBE_FOLDER
from helpers.pipeline import Pipeline, new_run_id
from tests.integration.operators import operating
from tests.integration.test_least_privilege import namespaced

pytestmark = pytest.mark.integration

A, D = "allowed", "AccessDenied"
# (principal, prefix) -> GetObject, PutObject, ListBucket, DeleteObject, as the policies in helpers/iam.py say
EXPECTED = {
    ("glue role", "data/"): (A, A, D, D),
    ("glue role", "quarantine/"): (A, A, D, D),
    ("glue role", "scripts/"): (A, D, D, D),
    ("glue role", "incoming/"): (A, D, D, D),
    ("glue role", "other/"): (NO_OBJECT, D, D, D),
    ("snowflake role", "data/"): (A, D, A, D),
    # moto ignores the s3:prefix condition on ListBucket, which AWS enforces: the cell says so
    ("snowflake role", "quarantine/"): (D, D, access_matrix.NOT_CHECKED_LOCALLY, D),
    ("snowflake role", "scripts/"): (D, D, access_matrix.NOT_CHECKED_LOCALLY, D),
    ("snowflake role", "incoming/"): (D, D, access_matrix.NOT_CHECKED_LOCALLY, D),
    ("snowflake role", "other/"): (NO_OBJECT, D, access_matrix.NOT_CHECKED_LOCALLY, D),
    ("operator", "data/"): (A, D, A, A),
    ("operator", "quarantine/"): (D, D, A, A),
    ("operator", "scripts/"): (A, A, A, A),
    ("operator", "incoming/"): (A, A, A, A),
    ("operator", "other/"): (NO_OBJECT, D, A, D),
}


@pytest.fixture(scope="module")
def probed(local_cloud, tmp_path_factory):
    s = namespaced("am" + uuid.uuid4().hex[:4])
    pipeline = Pipeline(s)
    with operating(s):
        try:
            roles = pipeline.setup_iam()
            pipeline.setup_storage()
            pipeline.setup_glue_job(roles)
            url, _ = ingest_view.write_bad_source(tmp_path_factory.mktemp("bad"))
            run = pipeline.ingest(pipeline.stage_source(url), new_run_id())
            assert run.summary["quarantined"] == 1
            pipeline.setup_integration(roles, "dev")  # the trust policy: Snowflake's principal + external id
            matrix = access_matrix.probe(s, pipeline, roles, "dev")
            job = s.aws_client("glue").get_job(JobName=s.glue_job_name)["Job"]
            listing = s.aws_client("s3").list_object_versions(Bucket=s.bucket)
            left = [v["Key"] for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]
            yield {"s": s, "matrix": matrix, "job": job, "keys": left}
        finally:
            td.teardown(s)


@pytest.mark.parametrize(("principal", "prefix"), list(EXPECTED))
def test_each_cell_is_what_the_policy_allows(probed, principal, prefix):
    got = tuple(probed["matrix"].result(principal, prefix, action) for action in ACTIONS)
    assert got == EXPECTED[(principal, prefix)]


def test_the_glue_job_runs_the_ingest_script_again(probed):
    s = probed["s"]
    assert probed["job"]["Command"]["ScriptLocation"] == f"s3://{s.bucket}/{s.scripts_prefix}countries_ingest.py"


def test_the_probe_leaves_no_object_behind(probed):
    keys = probed["keys"]
    assert not [k for k in keys if PROBE_FOLDER in k or k.endswith(access_matrix.PROBE_SCRIPT_NAME)], keys
    assert any(k.endswith("countries_ingest.py") for k in keys)  # the rest is untouched
