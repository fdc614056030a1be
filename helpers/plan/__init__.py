"""`python -m helpers plan`: what exists, what a run would create or change, every statement it would
send, what it would cost - and, with `teardown=True`, exactly what teardown would delete.

Read-only, by construction: AWS is only asked Get/List/Describe/Head questions (and STS
GetCallerIdentity), Snowflake only SHOW/DESC statements. Nothing here creates "if not exists" or
COPYs. A missing object is "would create", never an error; a service that cannot be reached is
`PlanFailed` naming it and what to do.

The wanted state comes from the code a run uses (helpers/iam_policies.py documents, glue_job.job_definition
as Pipeline.setup_glue_job builds it, the sql/ files rendered with Pipeline.sql_context, load.py,
publish.py and load_state.py statements), and the teardown part from helpers/teardown.py's own
discovery functions, so the plan cannot drift from what a run or a teardown really does.

One module per part: model.py (items, statuses, diffs), aws.py, snowflake.py, statements.py (what a
run sends, and dbt), cost.py (prices and the estimate), deletions.py (`--teardown`); this one builds
and renders the whole plan.
"""

from __future__ import annotations

from helpers import iam_policies, warehouse
from helpers.errors import unreachable as _unreachable
from helpers.plan.aws import plan_glue, plan_iam, plan_s3
from helpers.plan.cost import GLUE_DPU_HOUR_USD, SNOWFLAKE_CREDIT_USD, Prices, estimate_cost
from helpers.plan.deletions import teardown_plan
from helpers.plan.model import (
    ACCOUNT_SETUP_HINT,
    CHANGE,
    CREATE,
    DIFFERS,
    EXISTS,
    MISSING,
    REPLACE,
    Item,
    Plan,
    PlanFailed,
    error_code,
    json_diff,
)
from helpers.plan.snowflake import describe_integration, plan_snowflake
from helpers.plan.statements import dbt_plan, rendered_statements
from helpers.settings import PROJECT_ROOT, Settings

# what callers use as helpers.plan.X (helpers/cli.py, helpers/smoke.py, tests)
__all__ = [
    "ACCOUNT_SETUP_HINT",
    "CHANGE",
    "CREATE",
    "DIFFERS",
    "EXISTS",
    "GLUE_DPU_HOUR_USD",
    "MISSING",
    "REPLACE",
    "SNOWFLAKE_CREDIT_USD",
    "Item",
    "Plan",
    "PlanFailed",
    "Prices",
    "build_plan",
    "dbt_plan",
    "estimate_cost",
    "json_diff",
    "render",
    "rendered_statements",
    "teardown_plan",
]

FIXTURE = PROJECT_ROOT / "helpers" / "fixtures" / "countries_sample.json"


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
            if error_code(e) in {"AccessDenied", "AccessDeniedException", "403", "UnauthorizedOperation"}:
                op = getattr(e, "operation_name", "a read call")
                raise PlanFailed(
                    f"AWS refused {op} ({error_code(e)}): {e}\nNothing was changed. hint: the plan needs read access "
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
    names = iam_policies.Names.of(s, account)
    source_url = source_url or s.resolved_source_url
    with warehouse.connect(s, target) as conn:
        integration = describe_integration(conn, s.integration_name)
        arns = plan_iam(plan, s, names, integration)
        landed = plan_s3(plan, s, source_url)
        plan_glue(plan, s, arns[s.glue_role_name])
        plan_snowflake(plan, s, conn, target, integration, arns[s.snowflake_role_name])
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
