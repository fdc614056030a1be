"""What a dbt run did, shown step by step for a reader (notebook 05): the project's files, the
exact `dbt` command line, every test, the order dbt built and tested things, and - when a build
fails - which test failed and the rows it found.

Everything is read from what dbt itself writes (run_results.json, manifest.json in the run's
target path), so it shows what ran, whichever way dbt was started.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from helpers.settings import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
PASSED = {"success", "pass"}


def project_files(*paths: str) -> str:
    """The files (paths below dbt_project/), each whole, under a header naming it."""
    out = []
    for path in paths:
        file = (DBT_PROJECT_DIR / path).resolve()
        if DBT_PROJECT_DIR.resolve() not in file.parents:
            raise ValueError(f"{path}: not a file of the dbt project")
        out.append(f"── dbt_project/{path} " + "─" * max(3, 76 - len(path)) + "\n" + file.read_text().rstrip("\n"))
    return "\n\n".join(out)


def _read(target_path: Path, name: str) -> dict[str, Any]:
    return json.loads((Path(target_path) / name).read_text())


def _relative(path: str) -> str:
    """A path as the reader would type it from the project's root."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT.resolve())) or "."
    except ValueError:
        return path


def command_line(target_path: Path, env: dict[str, str] | None = None) -> str:
    """The dbt command the last invocation in `target_path` ran, from run_results.json's `args`
    (what dbt parsed, however it was started), with paths relative to the project's root.
    `env`: environment variables the caller passed (shown first, as a shell would take them)."""
    args = _read(target_path, "run_results.json")["args"]
    words = ["dbt", *str(args["which"]).split()]
    if words[-1] == "generate":  # `which` names the leaf command; its parent is `docs`
        words[-1:] = ["docs", "generate"]
    for flag in ("project_dir", "profiles_dir", "target", "target_path"):
        if args.get(flag):
            value = args[flag] if flag == "target" else _relative(args[flag])
            words += [f"--{flag.replace('_', '-')}", value]
    for flag in ("select", "exclude"):
        if args.get(flag):
            words += [f"--{flag}", *args[flag]]
    if args.get("vars"):
        words += ["--vars", json.dumps(args["vars"], sort_keys=True)]
    prefix = [f"{k}={v}" for k, v in (env or {}).items()]
    return " ".join(shlex.quote(w) for w in [*prefix, *words])


def _short(unique_id: str) -> str:
    return unique_id.split(".")[2] if unique_id.startswith("test.") else unique_id.split(".")[-1]


def _tested(node: dict[str, Any], manifest: dict[str, Any]) -> str:
    """What a test is attached to: `model <name>` or `source <source>.<table>` (a singular test:
    the models it reads)."""
    attached = node.get("attached_node")
    if attached:
        return f"model {attached.split('.')[-1]}"
    parents = node["depends_on"]["nodes"]
    sources = [p for p in parents if p.startswith("source.")]
    if sources and len(parents) == 1:
        source = manifest["sources"][sources[0]]
        return f"source {source['source_name']}.{source['name']}"
    return ", ".join(f"model {p.split('.')[-1]}" for p in parents)


def _test_detail(node: dict[str, Any]) -> tuple[str, str, str]:
    """(column, test, detail) of a test node."""
    meta = node.get("test_metadata") or {}
    kwargs = meta.get("kwargs", {})
    if not meta:
        return "", f"singular ({node['original_file_path']})", ""
    column = node.get("column_name") or kwargs.get("column_name") or ", ".join(kwargs.get("combination_of_columns", []))
    detail = ""
    if "expression" in kwargs:
        detail = kwargs["expression"]
    elif "values" in kwargs:
        detail = "{{ var('continents') }}" if isinstance(kwargs["values"], str) else ", ".join(kwargs["values"])
    elif "to" in kwargs:
        detail = f"{kwargs['to']}.{kwargs.get('field')}"
    return column, meta["name"], detail


LAYER_ORDER = {"raw": 0, "transform": 1, "mart": 2}


def tests_table(target_path: Path) -> Any:
    """Every test in manifest.json: layer, what it tests, column, test, detail (its expression,
    accepted values or the relationship's other side), in layer order."""
    import pandas as pd

    manifest = _read(target_path, "manifest.json")
    rows = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        column, test, detail = _test_detail(node)
        folder = Path(node["original_file_path"]).parts[1] if node["original_file_path"].startswith("models/") else ""
        tested = _tested(node, manifest)
        rows.append(
            {"layer": folder.upper() or "(singular)", "tests": tested, "column": column, "test": test, "detail": detail}
        )
    rows.sort(
        key=lambda r: (
            LAYER_ORDER.get(r["layer"].lower(), 3),
            not r["tests"].startswith("source "),  # a layer's input first
            r["tests"],
            r["column"],
            r["test"],
            r["detail"],
        )
    )
    return pd.DataFrame(rows)


def build_steps(result_rows: list[dict[str, Any]], target_path: Path) -> dict[str, int]:
    """The step of each node of a `dbt build`: a node runs after everything it depends on, and a
    model also after every test whose inputs are all among the model's ancestors (dbt build's rule:
    a model is not built over an input that failed its tests). Nodes of one step may run at the
    same time (threads), in any order."""
    manifest = _read(target_path, "manifest.json")
    nodes = {**manifest["nodes"], **manifest["sources"]}
    ran = {r["unique_id"] for r in result_rows}
    tests = [uid for uid in ran if uid.startswith("test.")]

    def parents(uid: str) -> list[str]:
        return list(nodes.get(uid, {}).get("depends_on", {}).get("nodes", []))

    ancestors: dict[str, set[str]] = {}

    def ancestors_of(uid: str) -> set[str]:
        if uid not in ancestors:
            ancestors[uid] = set()
            for p in parents(uid):
                ancestors[uid] |= {p, *ancestors_of(p)}
        return ancestors[uid]

    steps: dict[str, int] = {}

    def step(uid: str) -> int:
        if uid not in steps:
            waits = [p for p in parents(uid) if p in ran]
            if uid.startswith("model."):
                waits += [t for t in tests if set(parents(t)) <= ancestors_of(uid)]
            steps[uid] = 1 + max((step(p) for p in waits), default=0)
        return steps[uid]

    for uid in sorted(ran):
        step(uid)
    return steps


def seconds(value: float) -> str:
    """A duration, one width for anything under 1000 s (so a table's layout does not change with it)."""
    return f"{value:6.2f}s"


def run_table(result_rows: list[dict[str, Any]], target_path: Path) -> Any:
    """The nodes of a `dbt build`, in the order dbt had to run them: step, kind, node, status and how
    long each took (`took` changes from run to run; everything else does not)."""
    import pandas as pd

    steps = build_steps(result_rows, target_path)
    rows = [
        {
            "step": steps[r["unique_id"]],
            "kind": r["unique_id"].split(".")[0],
            "node": _short(r["unique_id"]),
            "status": r["status"],
            "took": seconds(float(r.get("execution_time") or 0)),
        }
        for r in result_rows
    ]
    rows.sort(key=lambda r: (r["step"], r["kind"] != "model", r["node"]))
    return pd.DataFrame(rows)


def failed_tests(result_rows: list[dict[str, Any]], target_path: Path) -> Any:
    """The nodes that did not pass (skipped ones aside): what they test, how many rows failed, dbt's message."""
    import pandas as pd

    manifest = _read(target_path, "manifest.json")
    rows = []
    for r in result_rows:
        if r["status"] in PASSED or r["status"] == "skipped":
            continue
        node = manifest["nodes"].get(r["unique_id"], {})
        column, test, detail = _test_detail(node) if node.get("resource_type") == "test" else ("", "", "")
        rows.append(
            {
                "node": _short(r["unique_id"]),
                "tests": _tested(node, manifest) if node.get("resource_type") == "test" else "",
                "column": column,
                "test": f"{test}: {detail}" if detail else test,
                "status": r["status"],
                "failing rows": r.get("failures"),
            }
        )
    return pd.DataFrame(sorted(rows, key=lambda row: row["node"]))  # finish order varies with dbt's threads


def failing_rows_sql(result_rows: list[dict[str, Any]]) -> list[str]:
    """The compiled query of each failed test: dbt runs it, and a test fails when it returns rows;
    run it again to see them."""
    failed = sorted(result_rows, key=lambda r: r["unique_id"])  # finish order varies with dbt's threads
    return [r["compiled_code"].strip() for r in failed if r["status"] in {"fail", "error"} and r.get("compiled_code")]


def generate_docs(settings: Settings, target: str) -> Any:
    """`dbt docs generate` for `target`, in a target path of its own (<dbt target dir>/docs/<target>).
    dbt re-parses the whole project (seconds) whenever an invocation's --vars differ from the last one
    in its target path; the pipeline's build passes `schema_suffix` and the docs must not (they describe
    the published schemas), so sharing one path would make each of them re-parse every time."""
    from helpers import dbt

    own = settings.model_copy(update={"dbt_target_dir": settings.dbt_target_dir / "docs"})
    return dbt.run_dbt(own, ["docs", "generate"], target=target)
