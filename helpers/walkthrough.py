"""Start the walkthrough anywhere: each notebook's setup cell is one call.

    from helpers.walkthrough import open_notebook, prepare
    settings, pipeline = open_notebook("05", target)

`open_notebook` makes the notebook's settings and pipeline, then checks, with cheap read-only probes
(no dbt, no writes), that what the earlier notebooks build is there. When something is missing it
raises `NotReady`: one sentence naming what is missing, the notebook that makes it, and the one line
that builds it (`prepare(upto=..., target=...)`), instead of a traceback from deep inside a step.
`prepare` builds everything notebooks 00..upto build, through the same Pipeline steps, idempotently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from helpers.notebooks import notebook_echo
from helpers.pipeline import Pipeline
from helpers.settings import Settings

NOTEBOOKS = {
    "00": "00_start_here.ipynb",
    "01": "01_iam_setup.ipynb",
    "02": "02_glue_ingest.ipynb",
    "03": "03_snowflake_integration.ipynb",
    "04": "04_raw_load.ipynb",
    "05": "05_dbt_layers.ipynb",
    "06": "06_production_deploy.ipynb",
    "07": "07_validation.ipynb",
    "08": "08_teardown.ipynb",
}
STAGE = "COUNTRIES_STAGE"
COPY_TABLE = "COUNTRIES_COPY"
BUILT_TABLE = "MART.CONTINENT_SUMMARY"  # the last table dbt builds and publishes


class NotReady(RuntimeError):
    """An earlier notebook's work is missing; the message says which and how to build it."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the sentence is all a reader needs
        return [str(self)]


@dataclass(frozen=True)
class Need:
    made_by: str  # the notebook that builds it
    target: str | None  # the target whose state it is (None: not per target)
    probe: Callable[[Settings, Pipeline, str | None], str | None]  # None: there; else what is missing


# -- probes: read-only, cheap; each returns None when the thing is there, else what is missing --------
def _local_cloud(s: Settings, _p: Pipeline, _t: str | None) -> str | None:
    if s.mode != "local":
        return None  # cloud mode: nothing to start; the other probes reach the real services
    from helpers.local_cloud.launcher import LocalCloud

    status = LocalCloud(s).status()
    down = [name for name, st in status.items() if not st.get("healthy")]
    if down or not (s.state_dir / "cloud.json").exists():
        return f"the local cloud, which is not running ({', '.join(down) or 'no cloud.json'})"
    return None


def _roles(s: Settings, _p: Pipeline, _t: str | None) -> str | None:
    # GetRole on our two names, not ListRoles: a real account may hold thousands of roles (100 a page)
    from helpers.plan.model import read  # None when it is not there (NoSuchEntity)

    iam = s.aws_client("iam")
    missing = [name for name in (s.glue_role_name, s.snowflake_role_name) if read(iam.get_role, RoleName=name) is None]
    return f"the IAM roles ({', '.join(missing)} missing)" if missing else None


def _landed(s: Settings, p: Pipeline, _t: str | None) -> str | None:
    if p.landed_file() is None:
        return f"the landed file (s3://{s.bucket}/{s.data_key} is missing)"
    return None


def _query(s: Settings, target: str, sql: str) -> list[dict[str, Any]] | None:
    """Rows of `sql` as the target's role; None when the object it reads does not exist."""
    import snowflake.connector.errors

    from helpers import warehouse

    with warehouse.connect(s, target) as conn:
        try:
            return warehouse.execute(conn, sql).as_dicts()
        except snowflake.connector.errors.ProgrammingError:
            return None


def _stage(s: Settings, _p: Pipeline, target: str | None) -> str | None:
    assert target
    db = s.database(target)
    rows = _query(s, target, f"SHOW STAGES LIKE '{STAGE}' IN SCHEMA {db}.LANDING")
    return None if rows else f"{target}'s stage ({db}.LANDING.{STAGE} does not exist)"


def _rows(layer_table: str, what: str) -> Callable[[Settings, Pipeline, str | None], str | None]:
    def probe(s: Settings, _p: Pipeline, target: str | None) -> str | None:
        assert target
        table = f"{s.database(target)}.{layer_table}"
        rows = _query(s, target, f"SELECT COUNT(*) AS N FROM {table}")
        if rows is None:
            return f"{target}'s {what} ({table} does not exist)"
        return None if rows[0]["N"] else f"{target}'s {what} ({table} is empty)"

    return probe


_copy_rows = _rows(f"RAW_BUILD.{COPY_TABLE}", "raw load")
_built = _rows(BUILT_TABLE, "dbt build")


def needs(notebook_id: str, target: str | None = None) -> list[Need]:
    """What `notebook_id` needs from the earlier notebooks, earliest first."""
    if notebook_id not in NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook_id!r}: one of {', '.join(NOTEBOOKS)}")
    n = int(notebook_id)
    t = target or "dev"
    out: list[Need] = []
    if n == 0:
        return out  # 00 brings the cloud up itself
    out.append(Need("00", None, _local_cloud))
    if n in (1, 8):
        return out  # 01 needs only the cloud and the account setup `local up` ran; 08 deletes what there is
    out.append(Need("01", None, _roles))
    if n >= 3:
        out.append(Need("02", None, _landed))
    if n in (4, 5):
        out.append(Need("03", t, _stage))
    if n == 5:
        out.append(Need("04", t, _copy_rows))
    if n >= 6:
        out.append(Need("05", "dev", _built))
    if n == 7:
        out.append(Need("06", "prod", _built))
    return out


def _not_ready(notebook_id: str, missing: str, need: Need, target: str | None) -> NotReady:
    previous = f"{int(notebook_id) - 1:02d}"
    # prepare's target is the one 03-05 build: 06 and 07 need dev built, whatever their own target
    target = "dev" if int(notebook_id) >= 6 else target
    made_by = NOTEBOOKS[need.made_by]
    run_it = "run it" if need.made_by == previous else f"run it and the notebooks after it up to {previous}"
    if need.made_by == "00":
        fix = "run `python -m helpers local up` (make up)"
        if previous != "00":
            fix += f', then prepare(upto="{previous}", target="{target or "dev"}") if this is a clean cloud,'
        return NotReady(f"{notebook_id} needs {missing}, made by {made_by}: {fix} and re-run this cell.")
    return NotReady(
        f"{notebook_id} needs {missing}, made by {made_by}: {run_it}, or run "
        f'prepare(upto="{previous}", target="{target or "dev"}") and re-run this cell.'
    )


def check(notebook_id: str, settings: Settings, pipeline: Pipeline, target: str | None = None) -> None:
    """Raise NotReady naming the earliest thing `notebook_id` needs that is missing."""
    for need in needs(notebook_id, target):
        missing = need.probe(settings, pipeline, need.target)
        if missing:
            raise _not_ready(notebook_id, missing, need, target) from None


def open_notebook(notebook_id: str, target: str | None = None) -> tuple[Settings, Pipeline]:
    """The setup cell of every notebook: settings, a pipeline printing its progress, pandas' display
    options, then the check that the earlier notebooks' work is there (NotReady if not)."""
    import pandas as pd

    pd.set_option("display.max_colwidth", 80)
    settings = Settings()
    pipeline = Pipeline(settings, echo=notebook_echo)
    check(notebook_id, settings, pipeline, target)
    return settings, pipeline


def prepare(upto: str, target: str = "dev", echo: Callable[[str], None] = print) -> Settings:
    """Build everything notebooks 00..`upto` build, through the same Pipeline steps (each idempotent):
    after it, notebook `upto`+1 finds what it needs. 03-05 build `target`; 06 builds prod."""
    from helpers.pipeline import new_run_id

    if upto not in NOTEBOOKS:
        raise ValueError(f"unknown notebook {upto!r}: one of {', '.join(NOTEBOOKS)}")
    n = int(upto)
    settings = Settings()
    pipeline = Pipeline(settings)  # quiet: one line per notebook below

    def step(notebook_id: str, what: str, fn: Callable[[], Any]) -> Any:
        echo(f"prepare {notebook_id}: {what} ...")
        return fn()

    if settings.mode == "local" and _local_cloud(settings, pipeline, None):
        # only when it is down: `up` on a running cloud re-runs its bootstrap (the operator's policies
        # reset to exactly the operator policy), which is `local up`'s job, not a notebook's
        from helpers.local_cloud.launcher import LocalCloud

        step("00", "local cloud up", LocalCloud(settings).up)
        settings = Settings()  # cloud.json may be new
        pipeline = Pipeline(settings)
    if n < 1:
        return settings
    roles = step("01", "IAM roles", pipeline.setup_iam)
    if n < 2:
        return settings

    def land() -> None:
        pipeline.setup_storage()
        pipeline.setup_glue_job(roles)
        if pipeline.landed_file() is None:  # a landed file stays: 02 re-lands it only when run itself
            pipeline.ingest(settings.resolved_source_url, new_run_id())

    step("02", "bucket, Glue job, landed file", land)
    # 03-05 build `target`; 06 builds prod the same way, on top of dev built by 03-05
    built = {target: n} if n < 6 else {"dev": 5, "prod": 5}
    for t, last in built.items() if n >= 3 else ():
        step("03", f"{t}: integration, trust policy, stage", lambda t=t: _integration_and_stage(pipeline, roles, t))
        if last >= 4:
            step("04", f"{t}: raw load", lambda t=t: pipeline.load(t))
        if last >= 5:
            step("05", f"{t}: dbt build and publish", lambda t=t: pipeline.transform(t, new_run_id()))
    echo(f"prepare: ready for {NOTEBOOKS.get(f'{n + 1:02d}', 'the end')}")
    return settings


def _integration_and_stage(pipeline: Pipeline, roles: Any, target: str) -> None:
    pipeline.setup_integration(roles, target)
    pipeline.setup_stage(target)


# -- small things the notebooks show ------------------------------------------------------------
def masked(document: Any, secrets: dict[str, str]) -> Any:
    """`document` (JSON) with each secret value replaced by its label, for display only."""
    import json

    text = json.dumps(document)
    for secret, label in secrets.items():
        if secret:
            text = text.replace(json.dumps(secret)[1:-1], label)
    return json.loads(text)


def sql_error(conn: Any, statement: str) -> Exception | None:
    """The SQL error the warehouse answers `statement` with, or None when it succeeds: for a cell
    that shows what breaks (other errors, e.g. a lost connection, are raised)."""
    import snowflake.connector.errors

    from helpers import warehouse

    try:
        warehouse.execute(conn, statement)
    except snowflake.connector.errors.ProgrammingError as e:
        return e
    return None
