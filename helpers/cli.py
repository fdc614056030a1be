"""`python -m helpers ...`: the pipeline's command line.

run       [--source-url URL] [--target dev|prod] [--force]   the whole pipeline, then a summary
summary   [--target dev|prod]                       what MART holds now, checked (read-only)
sql       "SELECT ..." [--target dev|prod]          a query's result as CSV
teardown  [--yes] [--json]                          delete everything the pipeline created
plan      [--target dev|prod] [--teardown] [--json]  what a run (or teardown) would do; read-only
account   setup | teardown [--execute] [--aws-account-id ID]   the administrator's Snowflake account setup
smoke     [--source-url URL]                        plan, dev, prod, validation, teardown, audit: one evidence report
local     up | down | status [--json]               the local cloud (moto + fakesnow)
notebooks [--update-committed]                      execute the walkthrough notebooks in order
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from helpers.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
local_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="The local cloud: moto + fakesnow on loopback."
)
app.add_typer(local_app, name="local")
account_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="The Snowflake account setup an administrator runs once (sql/00, sql/99).",
)
app.add_typer(account_app, name="account")
console = Console(stderr=True, highlight=False, soft_wrap=True)


def _settings() -> Settings:
    return Settings()


@app.command()
def run(
    source_url: str = typer.Option(
        None,
        help="https:// or s3:// URL of the countries JSON (locally also http:// and file://, which is uploaded to s3://<bucket>/incoming/ for the Glue job); default: the fixture locally, GitHub in cloud mode",
    ),
    target: str = typer.Option("dev", help="dbt target: dev or prod"),
    force: bool = typer.Option(False, "--force", help="reload and rebuild even if the source is unchanged"),
) -> None:
    """Run the whole pipeline: IAM -> Glue -> S3 -> Snowflake -> dbt -> validation."""
    from helpers.pipeline import Pipeline

    pipeline = Pipeline(_settings(), echo=lambda m: console.print(m, markup=False))
    try:
        report = pipeline.run(source_url=source_url, target=target, force=force)
    except Exception as e:  # noqa: BLE001 - the message names the cause; the report has the rest
        console.print(f"\nFAILED: {type(e).__name__}: {e}", style="bold red", markup=False)
        report_path = pipeline.settings.artifacts_dir / "run_report.json"
        if pipeline.last_report is not None:
            report_path = pipeline.settings.artifacts_dir / "runs" / f"{pipeline.last_report.run_id}.json"
        console.print(f"Run report: {report_path}", markup=False)
        raise typer.Exit(1) from None
    _print_continents(report.steps["snowflake"]["database"], report.steps["rows_per_continent"])
    layers = report.steps["rows_per_layer"]
    Console().print(
        f"run {report.run_id}: source {report.steps['source']['records']} records -> RAW {layers['raw']} -> "
        f"TRANSFORM {layers['transform_countries']} countries ({layers['transform']} rows) -> MART "
        f"{layers['mart_continent_rows']} continent rows; {len(report.steps['validation']['checks'])} checks passed "
        f"in {sum(report.seconds.values()):.1f}s"
        + ("; unchanged source: not reloaded (--force reloads)" if report.steps["dbt"].get("skipped") else ""),
        markup=False,
    )


def _print_continents(database: str, rows_per_continent: dict[str, int]) -> None:
    table = Table(title=f"Countries per continent ({database}.MART)")
    table.add_column("continent")
    table.add_column("countries", justify="right")
    for continent, count in rows_per_continent.items():
        table.add_row(continent, str(count))
    Console().print(table)


@app.command()
def summary(target: str = typer.Option("dev", help="dbt target: dev or prod")) -> None:
    """What the target's MART holds now, checked (read-only: the validation queries, no run)."""
    from helpers import validation

    settings = _settings()
    checks = validation.validate(settings, target)
    if not checks.rows_per_continent:
        console.print(
            f"{settings.database(target)} has no published MART yet: run `python -m helpers run`", markup=False
        )
        raise typer.Exit(1)
    _print_continents(checks.database, checks.rows_per_continent)
    failed = [c for c in checks.checks if not c.ok]
    Console().print(f"{len(checks.checks) - len(failed)} of {len(checks.checks)} checks passed", markup=False)
    if failed:
        console.print(checks.describe_failures(), style="bold red", markup=False)
        raise typer.Exit(1)


@app.command()
def sql(query: str = typer.Argument(..., help="SQL to run"), target: str = typer.Option("dev")) -> None:
    """Run one SQL statement and print its result as CSV."""
    from helpers import warehouse

    settings = _settings()
    try:
        with warehouse.connect(settings, target) as conn:
            result = warehouse.execute(conn, query)
    except Exception as e:  # noqa: BLE001
        console.print(f"ERROR: {e}", style="red", markup=False)
        raise typer.Exit(1) from None
    sys.stdout.write(warehouse.to_csv(result))


@app.command()
def teardown(
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation (cloud mode asks otherwise)"),
) -> None:
    """Delete every AWS and Snowflake object the pipeline created, then audit what remains.

    In cloud mode it first lists what it will delete and asks; without a terminal to ask on, it
    refuses unless --yes is given (a stray "Run All" or CI step cannot drop two databases)."""
    from helpers.run_lock import RunLocked
    from helpers.teardown import TeardownFailed, teardown as do_teardown, what_teardown_deletes

    from helpers.settings import ConfigurationError

    settings = _settings()
    try:
        settings.require_complete()
    except ConfigurationError as e:
        console.print(f"FAILED: {e}", style="bold red", markup=False)
        raise typer.Exit(1) from None
    if settings.mode == "cloud" and not yes:
        listing = "\n".join(f"  - {item}" for item in what_teardown_deletes(settings))
        console.print(f"teardown will delete, in {settings.mode} mode:\n{listing}", markup=False)
        if not sys.stdin.isatty():
            console.print(
                "REFUSED: no terminal to confirm on; run again with --yes to delete the above.",
                style="bold red",
                markup=False,
            )
            raise typer.Exit(2)
        if not typer.confirm("Delete all of this?", default=False):
            console.print("nothing was deleted", markup=False)
            raise typer.Exit(1)
    try:
        result = do_teardown(settings, echo=lambda m: console.print(m, markup=False))
    except (TeardownFailed, RunLocked) as e:
        console.print(f"FAILED: {e}", style="bold red", markup=False)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result, indent=2))
    for kept in result.get("kept", []):
        console.print(f"  kept (still used by something that is not ours): {kept}", markup=False)
    if any(result["remaining"].values()):
        raise typer.Exit(1)


@app.command()
def plan(
    target: str = typer.Option("dev", help="dbt target: dev or prod"),
    with_teardown: bool = typer.Option(False, "--teardown", help="also list exactly what teardown would delete"),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
    source_url: str = typer.Option(None, help="the source a run would read (default: as `run`)"),
    glue_dpu_hour_usd: float = typer.Option(None, help="price per DPU-hour (PIPELINE_PRICE_GLUE_DPU_HOUR_USD)"),
    s3_gb_month_usd: float = typer.Option(None, help="price per GB-month (PIPELINE_PRICE_S3_GB_MONTH_USD)"),
    snowflake_credit_usd: float = typer.Option(None, help="price per credit (PIPELINE_PRICE_SNOWFLAKE_CREDIT_USD)"),
    glue_seconds: float = typer.Option(None, help="estimated Glue run time (PIPELINE_ESTIMATE_GLUE_SECONDS)"),
    warehouse_seconds: float = typer.Option(
        None, help="estimated warehouse time (PIPELINE_ESTIMATE_WAREHOUSE_SECONDS)"
    ),
) -> None:
    """Show what exists, what a run would create or change (with diffs), every statement it would
    send and its estimated cost, without changing anything (only Get/List/Describe and SHOW/DESC)."""
    from helpers import plan as planning

    try:
        prices = planning.Prices.from_env(
            glue_dpu_hour_usd=glue_dpu_hour_usd,
            s3_gb_month_usd=s3_gb_month_usd,
            snowflake_credit_usd=snowflake_credit_usd,
            glue_run_seconds=glue_seconds,
            warehouse_seconds=warehouse_seconds,
        )
        result = planning.build_plan(
            _settings(), target, with_teardown=with_teardown, prices=prices, source_url=source_url
        )
    except (planning.PlanFailed, ValueError, RuntimeError) as e:
        console.print(f"FAILED: {e}", style="bold red", markup=False)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        sys.stdout.write(planning.render(result))


@app.command()
def notebooks(
    update_committed: bool = typer.Option(
        False, help="write the outputs into notebooks/ (what GitHub shows) instead of artifacts/notebooks/"
    ),
    check_gallery: bool = typer.Option(
        False, help="fail unless the run produced every image of the committed screenshots/ gallery"
    ),
    confirm_teardown: bool = typer.Option(
        False, help="run 08_teardown with confirm=True: it deletes everything (by default it only lists it)"
    ),
) -> None:
    """Execute notebooks/NN_*.ipynb in order with papermill; stop at the first failure."""
    import time
    from concurrent.futures import Future, ThreadPoolExecutor

    from helpers import notebooks as nbs, screenshots

    started = time.monotonic()
    if update_committed:  # the committed outputs show the committed gallery: refresh it too
        os.environ.setdefault("PIPELINE_SCREENSHOTS_DIR", str(screenshots.GALLERY_DIR))
    shots = Path(os.environ.get("PIPELINE_SCREENSHOTS_DIR") or screenshots.SCREENSHOTS_DIR)
    captures: list[Future[Path]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="notebook-capture") as pool:

        def capture_validation_page(run: nbs.NotebookRun) -> None:
            # 07's page is captured while 08 runs: 08 does not change 07's executed copy. The exporter
            # is made on the capture thread while 06 runs, so that 08 (≈ 0.7 s) hides the capture itself.
            if run.name.startswith("05_") and screenshots.find_browser():
                pool.submit(screenshots.notebook_exporter)
            if run.name.startswith("07_") and screenshots.find_browser():
                out = shots / "notebook_validation.png"
                captures.append(pool.submit(screenshots.capture_notebook, run.output, out))

        try:
            runs = nbs.run_notebooks(
                update_committed=update_committed,
                parameters={"08_teardown.ipynb": {"confirm": True}} if confirm_teardown else None,
                echo=lambda m: console.print(m, markup=False),
                on_done=capture_validation_page,
            )
        except nbs.NotebookFailed as e:
            console.print(f"FAILED: {e}", style="bold red", markup=False)
            raise typer.Exit(1) from None
        for capture in captures:
            console.print(f"captured {capture.result()}", markup=False)
    if not captures and any(r.name.startswith("07_") for r in runs):
        console.print("no Chromium installed: notebook page capture skipped", markup=False)
    table = Table(title=f"walkthrough: {len(runs)} notebooks in {time.monotonic() - started:.1f}s")
    table.add_column("notebook")
    table.add_column("seconds", justify="right")
    table.add_column("executed copy")
    for r in runs:
        table.add_row(r.name, f"{r.seconds:.1f}", str(r.output.relative_to(nbs.PROJECT_ROOT)))
    Console().print(table)
    if check_gallery:
        committed = {p.name for p in screenshots.GALLERY_DIR.glob("*.png")}
        produced = {p.name for p in shots.glob("*.png")}
        if not screenshots.find_browser():
            console.print(
                f"SKIPPED browser captures {sorted(screenshots.BROWSER_CAPTURES)}: no Chromium installed "
                "(apt-get install chromium)",
                markup=False,
            )
            committed -= screenshots.BROWSER_CAPTURES
        if not committed or committed - produced:
            console.print(f"FAILED: the run did not produce {sorted(committed - produced)}", style="bold red")
            raise typer.Exit(1)
        console.print(f"gallery: all {len(committed)} committed images were produced by this run", markup=False)


@app.command()
def smoke(
    source_url: str = typer.Option(None, help="the source the two runs read (default: as `run`)"),
    keep: bool = typer.Option(False, "--keep", help="skip the teardown and the audit (leave the tables)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask before the teardown (cloud mode asks otherwise)"),
) -> None:
    """plan -> dev run -> prod run -> validation -> teardown -> audit; writes artifacts/smoke/report.md
    and report.json (versions, each step's result and time, counts; account identifiers masked)."""
    from helpers import smoke as smoke_test
    from helpers.settings import ConfigurationError

    settings = _settings()
    if settings.mode == "cloud" and not keep and not yes:
        if not sys.stdin.isatty():
            console.print(
                "REFUSED: the smoke test ends with a teardown; no terminal to confirm on: run again with "
                "--yes (or --keep to leave everything in place).",
                style="bold red",
                markup=False,
            )
            raise typer.Exit(2)
        if not typer.confirm("The smoke test ends by deleting everything the pipeline made. Go on?", default=False):
            raise typer.Exit(1)
    try:
        report = smoke_test.smoke(
            settings, source_url=source_url, keep=keep, echo=lambda m: console.print(m, markup=False)
        )
    except ConfigurationError as e:
        console.print(f"FAILED: {e}", style="bold red", markup=False)
        raise typer.Exit(1) from None
    for step in report.steps:
        console.print(f"  {step.status:<8} {step.name:<11} {step.seconds:6.1f}s  {step.error or ''}", markup=False)
    console.print(f"report: {settings.artifacts_dir / 'smoke' / 'report.md'}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


def _account_statements(kind: str, aws_account_id: str | None) -> list[str]:
    from helpers import account
    from helpers.settings import ConfigurationError

    settings = _settings()
    try:
        if kind == "teardown":
            return account.teardown_statements(settings)
        account_id = aws_account_id or settings.aws_client("sts").get_caller_identity()["Account"]
        return account.setup_statements(settings, account_id)
    except ConfigurationError as e:
        console.print(f"FAILED: {e}", style="bold red", markup=False)
        raise typer.Exit(1) from None


def _print_or_execute(statements: list[str], execute: bool) -> None:
    from helpers import account

    if not execute:
        print("\n".join(f"{sql};" for sql in statements))
        return
    try:
        account.execute(_settings(), statements)
    except Exception as e:  # noqa: BLE001 - the administrator sees the statement's own error
        console.print(f"FAILED: {e}", style="bold red", markup=False)
        raise typer.Exit(1) from None
    console.print(f"{len(statements)} statements run", markup=False)


@account_app.command("setup")
def account_setup(
    execute: bool = typer.Option(False, "--execute", help="run it over the configured connection (an administrator's)"),
    aws_account_id: str = typer.Option(None, help="the AWS account of the bucket (default: the caller's)"),
) -> None:
    """Print sql/00_account_setup.sql rendered for these settings (or --execute it as an administrator)."""
    _print_or_execute(_account_statements("setup", aws_account_id), execute)


@account_app.command("teardown")
def account_teardown(
    execute: bool = typer.Option(False, "--execute", help="run it over the configured connection (an administrator's)"),
) -> None:
    """Print sql/99_account_teardown.sql rendered for these settings (or --execute it as an administrator)."""
    _print_or_execute(_account_statements("teardown", None), execute)


@local_app.command("up")
def local_up(as_json: bool = typer.Option(False, "--json")) -> None:
    """Start moto, fakesnow and the fixture server (idempotent)."""
    from helpers.local_cloud.launcher import LocalCloud

    cloud = LocalCloud(_settings())
    cloud.up()
    _print_status(cloud.status(), as_json)


@local_app.command("down")
def local_down(wipe: bool = typer.Option(False, help="also delete the local warehouse's data")) -> None:
    """Stop the local cloud."""
    from helpers.local_cloud.launcher import LocalCloud

    stopped = LocalCloud(_settings()).down(wipe=wipe)
    for service, was_running in stopped.items():
        console.print(f"{service}: {'stopped' if was_running else 'was not running'}", markup=False)


@local_app.command("status")
def local_status(as_json: bool = typer.Option(False, "--json", help="print endpoints as JSON")) -> None:
    """What runs where."""
    from helpers.local_cloud.launcher import LocalCloud

    status = LocalCloud(_settings()).status()
    _print_status(status, as_json)
    if not all(s["healthy"] for s in status.values()):
        raise typer.Exit(1)


def _print_status(status: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, indent=2))
        return
    table = Table(title="local cloud")
    for col in ("service", "state", "endpoint", "pid", "log"):
        table.add_column(col)
    for service, s in status.items():
        state = "healthy" if s["healthy"] else ("running" if s["running"] else "stopped")
        table.add_row(service, state, s.get("url", ""), str(s.get("pid", "")), s.get("log", ""))
    Console().print(table)


def main() -> None:
    app()
