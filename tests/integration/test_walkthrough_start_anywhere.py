"""Start the walkthrough anywhere (helpers/walkthrough.py): on a clean local cloud each notebook either
runs to the end or stops in its `open_notebook` cell with NotReady, one sentence naming the notebook
to run; `prepare(upto=<the notebook before>)` then makes it run to the end.

The notebooks are executed with papermill, as `python -m helpers notebooks` does, against this test
session's local cloud (the kernel inherits PIPELINE_STATE_DIR from the `local_cloud` fixture). One
cloud for the whole module, torn down before and after; the steps run in the walkthrough's order so
that each state is built once: 03 and 05 fully, the others' NotReady sentences on the way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import teardown
from helpers.notebooks import NOTEBOOKS_DIR, notebook_paths
from helpers.settings import Settings
from helpers.walkthrough import NOTEBOOKS, NotReady, check, prepare

OPEN_CELL = re.compile(r'open_notebook\("(\d\d)"')


@pytest.fixture(scope="module")
def clean(local_cloud: object, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # the kernels inherit the environment: their pictures go to a temporary folder, not screenshots/
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PIPELINE_SCREENSHOTS_DIR", str(tmp_path_factory.mktemp("screenshots")))
        env.setenv("PIPELINE_BROWSER", "none")
        teardown.teardown(Settings())
        yield Settings()
        teardown.teardown(Settings())  # the next module finds the clean cloud this one found


def execute(name: str, out_dir: Path) -> dict[str, Any]:
    """Run one notebook; {"ok": True} or its error: ename, evalue, and the source of the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = out_dir / name
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / name),
            str(out),
            cwd=str(NOTEBOOKS_DIR),
            kernel_name="python3",
            progress_bar=False,
            shutdown_kernel="immediate",  # as helpers.notebooks runs them
        )
    except PapermillExecutionError as e:
        cells = json.loads(out.read_text())["cells"]
        failed = next(c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        error = next(o for o in failed["outputs"] if o["output_type"] == "error")
        return {"ok": False, "ename": e.ename, "evalue": e.evalue, "cell": "".join(failed["source"]), **error}
    return {"ok": True}


def assert_not_ready(result: dict[str, Any], notebook: str, made_by: str, upto: str) -> None:
    assert not result["ok"], f"{notebook} ran to the end on a cloud without {NOTEBOOKS[made_by]}'s work"
    assert result["ename"] == "NotReady", result
    assert OPEN_CELL.search(result["cell"]), f"{notebook} stopped outside its open_notebook cell: {result['cell']}"
    sentence = result["evalue"]
    assert sentence.startswith(f"{notebook} needs ") and sentence.endswith("re-run this cell."), sentence
    assert f"made by {NOTEBOOKS[made_by]}" in sentence, sentence
    assert f'prepare(upto="{upto}", target="dev")' in sentence, sentence
    assert result["traceback"] == [sentence], "IPython shows the sentence, not a traceback"


def test_every_notebook_after_00_opens_with_open_notebook_or_needs_nothing():
    for path in notebook_paths()[1:]:
        cells = json.loads(path.read_text())["cells"]
        ids = [
            m.group(1) for c in cells if c["cell_type"] == "code" for m in [OPEN_CELL.search("".join(c["source"]))] if m
        ]
        if path.name == NOTEBOOKS["08"]:
            assert ids in ([], ["08"])  # 08 deletes what there is: it needs nothing
        else:
            assert ids == [path.name[:2]], (
                f"{path.name}: its setup cell should be open_notebook({path.name[:2]!r}, ...)"
            )


def test_a_stopped_local_cloud_says_how_to_start_it(tmp_path: Path):
    from helpers.pipeline import Pipeline

    s = Settings(state_dir=tmp_path)  # a state dir no cloud runs from
    with pytest.raises(NotReady) as raised:
        check("03", s, Pipeline(s), "dev")
    assert str(raised.value) == (
        "03 needs the local cloud, which is not running (aws, snowflake, source), made by 00_start_here.ipynb: "
        'run `python -m helpers local up` (make up), then prepare(upto="02", target="dev") if this is a clean '
        "cloud, and re-run this cell."
    )


def test_from_a_clean_cloud_each_notebook_stops_naming_the_one_to_run_until_prepare_builds_it(
    clean: Settings, tmp_path: Path
):
    from helpers.pipeline import Pipeline

    # a clean cloud: everything after 01 needs 01's roles (checked in-process; 02 in a kernel too)
    both = re.escape(f"the IAM roles ({clean.glue_role_name}, {clean.snowflake_role_name} missing)")
    for n in ("02", "03", "04", "05", "06", "07"):
        with pytest.raises(NotReady, match=f"^{n} needs {both}, made by 01_iam_setup.ipynb"):
            check(n, clean, Pipeline(clean), "prod" if n == "06" else "dev")
    assert_not_ready(execute(NOTEBOOKS["02"], tmp_path), "02", "01", "01")
    assert execute(NOTEBOOKS["08"], tmp_path)["ok"]  # nothing to delete, and it says so
    assert execute(NOTEBOOKS["01"], tmp_path)["ok"]  # 01 needs only the cloud

    # roles, no landed file: 03 stops naming 02; prepare(upto="02") lands it and 03 runs to the end
    assert_not_ready(execute(NOTEBOOKS["03"], tmp_path), "03", "02", "02")
    prepare(upto="02", target="dev")
    assert_not_ready(execute(NOTEBOOKS["04"], tmp_path), "04", "03", "03")  # no stage yet
    assert execute(NOTEBOOKS["03"], tmp_path)["ok"]

    # nothing built in dev yet: 06 (target prod) stops naming 05, with dev as prepare's target
    result = execute(NOTEBOOKS["06"], tmp_path)
    assert_not_ready(result, "06", "05", "05")
    assert "dev's dbt build (COUNTRIES_DEV.MART.CONTINENT_SUMMARY does not exist)" in result["evalue"]

    # a stage, no load: 05 stops naming 04 ("dev's raw load"); prepare(upto="04") loads and 05 runs
    result = execute(NOTEBOOKS["05"], tmp_path)
    assert_not_ready(result, "05", "04", "04")
    assert "dev's raw load (COUNTRIES_DEV.RAW_BUILD.COUNTRIES_COPY does not exist)" in result["evalue"]
    prepare(upto="04", target="dev")
    assert execute(NOTEBOOKS["05"], tmp_path)["ok"]

    # dev built, prod not: 07 (which reads both) stops naming 06
    result = execute(NOTEBOOKS["07"], tmp_path)
    assert_not_ready(result, "07", "06", "06")
    assert "prod's dbt build" in result["evalue"]
