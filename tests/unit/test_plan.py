"""The plan's diff rendering and cost arithmetic (helpers/plan/), without any service."""

from __future__ import annotations

import pytest

from helpers import plan


def test_diff_is_empty_when_deployed_equals_wanted_whatever_the_key_order():
    a = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
    b = {"Statement": [{"Action": "s3:GetObject", "Effect": "Allow"}], "Version": "2012-10-17"}
    assert plan.json_diff(a, b, "p") == ""


def test_diff_shows_the_changed_line_as_removed_and_added():
    deployed = {"Statement": [{"Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]}
    wanted = {"Statement": [{"Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/data/*"]}]}
    diff = plan.json_diff(deployed, wanted, "pol")
    lines = diff.splitlines()
    assert lines[0] == "--- deployed/pol" and lines[1] == "+++ wanted/pol"
    assert '-        "arn:aws:s3:::b/*"' in lines
    assert '+        "arn:aws:s3:::b/data/*"' in lines
    # unchanged lines are context, not changes
    assert not any(line.startswith(("-", "+")) and "s3:GetObject" in line for line in lines[2:])


def test_diff_of_something_not_deployed_is_all_additions():
    diff = plan.json_diff(None, {"a": 1}, "x")
    body = diff.splitlines()[3:]
    assert body == ["+{", '+  "a": 1', "+}"]


def test_glue_cost_uses_one_sixteenth_dpu_and_the_one_minute_minimum():
    prices = plan.Prices(
        glue_dpu_hour_usd=1.0, glue_run_seconds=10, warehouse_seconds=0, s3_gb_month_usd=0, snowflake_credit_usd=0
    )
    cost = plan.estimate_cost(prices, 0)
    glue = cost["lines"][0]
    assert glue["usd"] == pytest.approx(0.0625 * 60 / 3600 * 1.0)  # 10 s is billed as 60 s
    prices.glue_run_seconds = 7200
    assert plan.estimate_cost(prices, 0)["lines"][0]["usd"] == pytest.approx(0.0625 * 2 * 1.0)


def test_s3_cost_is_bytes_in_gib_times_the_price():
    prices = plan.Prices(s3_gb_month_usd=0.5, glue_dpu_hour_usd=0, snowflake_credit_usd=0)
    assert plan.estimate_cost(prices, 3 * 1024**3)["lines"][1]["usd"] == pytest.approx(1.5)


def test_snowflake_cost_has_a_60_second_minimum_and_uses_credits_per_hour():
    prices = plan.Prices(
        snowflake_credit_usd=4.0,
        snowflake_credits_per_hour=1.0,
        warehouse_seconds=5,
        glue_dpu_hour_usd=0,
        s3_gb_month_usd=0,
    )
    assert plan.estimate_cost(prices, 0)["lines"][2]["usd"] == pytest.approx(60 / 3600 * 4.0)
    prices.warehouse_seconds, prices.snowflake_credits_per_hour = 1800, 2.0  # e.g. a Small warehouse
    cost = plan.estimate_cost(prices, 0)
    assert cost["lines"][2]["usd"] == pytest.approx(0.5 * 2.0 * 4.0)
    assert cost["total_usd"] == pytest.approx(sum(line["usd"] for line in cost["lines"]))


def test_prices_come_from_defaults_then_environment_then_explicit_overrides():
    default = plan.Prices.from_env({})
    assert default.glue_dpu_hour_usd == plan.GLUE_DPU_HOUR_USD == 0.44
    env = {"PIPELINE_PRICE_GLUE_DPU_HOUR_USD": "0.5", "PIPELINE_PRICE_SNOWFLAKE_CREDIT_USD": "2"}
    from_env = plan.Prices.from_env(env)
    assert (from_env.glue_dpu_hour_usd, from_env.snowflake_credit_usd) == (0.5, 2.0)
    explicit = plan.Prices.from_env(env, glue_dpu_hour_usd=0.25, snowflake_credit_usd=None)
    assert (explicit.glue_dpu_hour_usd, explicit.snowflake_credit_usd) == (0.25, 2.0)
    cost = plan.estimate_cost(explicit, 0)
    assert cost["prices"]["glue_dpu_hour_usd"] == 0.25 and "$0.25/DPU-hour" in cost["lines"][0]["how"]


def test_a_price_that_is_not_a_number_names_the_variable():
    with pytest.raises(ValueError, match="PIPELINE_PRICE_S3_GB_MONTH_USD"):
        plan.Prices.from_env({"PIPELINE_PRICE_S3_GB_MONTH_USD": "cheap"})


def test_the_plan_shows_the_load_state_statements_a_run_sends(monkeypatch):
    """The plan's "last load" and "record the load" statements are exactly what helpers/load_state.py
    sends when a run reads and writes LOAD_STATE, so the plan cannot show a stale copy of them."""
    from helpers import load_state, warehouse
    from helpers.settings import Settings

    s = Settings(_env_file=None, mode="local")
    shown = plan.rendered_statements(s, "dev", "arn:aws:iam::111122223333:role/sf-role")
    sent: list[str] = []

    class NoRows:
        def as_dicts(self):
            return []

    monkeypatch.setattr(warehouse, "scalar", lambda _conn, sql, *_a, **_k: sent.append(sql) or 1)
    monkeypatch.setattr(warehouse, "execute", lambda _conn, sql, *_a, **_k: sent.append(sql) or NoRows())
    assert load_state.read(None, s.database("dev")) is None  # the table exists, but holds no row
    assert shown["last load (Pipeline.load_state)"] == sent
    sent.clear()
    load_state.write(None, s.database("dev"), load_state.LoadState(run_id="run_1"))
    assert shown["record the load (Pipeline.record_load_state)"] == sent
