"""helpers/walkthrough.py without a cloud: what each notebook needs, and how NotReady reads."""

from __future__ import annotations

import pytest

from helpers import walkthrough
from helpers.walkthrough import NOTEBOOKS, NotReady, needs


def test_every_notebook_has_its_needs_earliest_first():
    made_by = {n: [need.made_by for need in needs(n)] for n in NOTEBOOKS}
    assert made_by == {
        "00": [],
        "01": ["00"],
        "02": ["00", "01"],
        "03": ["00", "01", "02"],
        "04": ["00", "01", "02", "03"],
        "05": ["00", "01", "02", "03", "04"],
        "06": ["00", "01", "02", "05"],
        "07": ["00", "01", "02", "05", "06"],
        "08": ["00"],
    }
    # 06 needs dev built whatever its own target; 07 needs dev and prod
    assert [need.target for need in needs("07", "dev")][-2:] == ["dev", "prod"]
    assert [need.target for need in needs("05", "prod")][-2:] == ["prod", "prod"]


def test_an_unknown_notebook_is_refused():
    with pytest.raises(ValueError, match="unknown notebook '09'"):
        needs("09")


def test_not_ready_is_one_sentence_naming_the_notebook_and_the_line_that_builds_it():
    need = needs("05", "dev")[-1]
    e = walkthrough._not_ready("05", "dev's raw load (COUNTRIES_DEV.RAW_BUILD.COUNTRIES_COPY is empty)", need, "dev")
    assert str(e) == (
        "05 needs dev's raw load (COUNTRIES_DEV.RAW_BUILD.COUNTRIES_COPY is empty), made by 04_raw_load.ipynb: "
        'run it, or run prepare(upto="04", target="dev") and re-run this cell.'
    )
    assert isinstance(e, NotReady) and isinstance(e, RuntimeError)
    assert e._render_traceback_() == [str(e)]  # IPython prints this instead of a traceback


def test_an_earlier_gap_names_the_earliest_notebook_and_the_run_up_to_the_previous_one():
    e = walkthrough._not_ready("05", "the IAM roles (x missing)", needs("05")[1], "dev")
    assert "made by 01_iam_setup.ipynb: run it and the notebooks after it up to 04" in str(e)
    assert 'prepare(upto="04", target="dev")' in str(e)


def test_a_stopped_local_cloud_says_how_to_start_it():
    e = walkthrough._not_ready("03", "the local cloud, which is not running (aws)", needs("03")[0], "dev")
    assert "python -m helpers local up" in str(e) and "(make up)" in str(e)
    assert str(e).count(". ") == 0 and str(e).endswith("re-run this cell.")


def test_masked_hides_each_secret_wherever_it_appears_and_leaves_the_rest():
    doc = {"Condition": {"StringEquals": {"sts:ExternalId": "AB_1=="}}, "Note": ["AB_1==", "keep"]}
    assert walkthrough.masked(doc, {"AB_1==": "<ID>"}) == {
        "Condition": {"StringEquals": {"sts:ExternalId": "<ID>"}},
        "Note": ["<ID>", "keep"],
    }
    assert doc["Note"][0] == "AB_1==", "the document itself is not changed"
    assert walkthrough.masked(doc, {"": "<nothing>"}) == doc  # an empty secret hides nothing


class _Cursor:
    def __init__(self, error: Exception | None):
        self.error, self.description = error, [("status",)]

    def execute(self, sql, params=None):
        if self.error:
            raise self.error

    def fetchall(self):
        return [("ok",)]

    def close(self):
        pass


class _Conn:
    def __init__(self, error: Exception | None = None):
        self.error = error

    def cursor(self):
        return _Cursor(self.error)


def test_sql_error_returns_the_sql_error_and_raises_anything_else():
    import snowflake.connector.errors

    refused = snowflake.connector.errors.ProgrammingError(msg="Error assuming AWS_ROLE", errno=91003)
    assert walkthrough.sql_error(_Conn(refused), "LIST @s") is refused
    assert walkthrough.sql_error(_Conn(), "LIST @s") is None
    lost = snowflake.connector.errors.OperationalError(msg="connection lost")
    with pytest.raises(snowflake.connector.errors.OperationalError):
        walkthrough.sql_error(_Conn(lost), "LIST @s")
