"""What one run costs, line by line, with the arithmetic shown.

Prices (module constants, overridable by environment variables or `Prices(...)` / CLI options):
* AWS Glue Python shell: $0.44 per DPU-hour, billed per second with a 1-minute minimum; our job runs
  at MaxCapacity 0.0625 (1/16 DPU). https://aws.amazon.com/glue/pricing/
* S3 Standard storage: $0.023 per GB-month (us-east-1, first 50 TB). https://aws.amazon.com/s3/pricing/
* Snowflake: an X-Small warehouse uses 1 credit per hour
  (https://docs.snowflake.com/en/user-guide/warehouses-overview), "billed per-second, with a 60-second
  (i.e. 1-minute) minimum: each time a warehouse is started or resumed"
  (https://docs.snowflake.com/en/user-guide/cost-understanding-compute); the price of a credit depends
  on edition and region, so it is a setting.
* Not counted: S3 requests, CloudWatch Logs ingestion and storage, Snowflake cloud services (free
  below 10% of the day's compute) and storage of the tables - each well under a cent for this data.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

GLUE_DPU_HOUR_USD = 0.44  # Python shell, per DPU-hour (https://aws.amazon.com/glue/pricing/)
GLUE_MIN_BILLED_SECONDS = 60  # Python shell: billed per second, 1-minute minimum
GLUE_MAX_CAPACITY = 0.0625  # DPU: glue_job.job_definition's MaxCapacity
S3_GB_MONTH_USD = 0.023  # S3 Standard, first 50 TB/month, us-east-1 (https://aws.amazon.com/s3/pricing/)
SNOWFLAKE_CREDIT_USD = 3.00  # depends on edition and region: set PIPELINE_PRICE_SNOWFLAKE_CREDIT_USD
SNOWFLAKE_CREDITS_PER_HOUR = 1.0  # X-Small (https://docs.snowflake.com/en/user-guide/warehouses-overview)
SNOWFLAKE_MIN_BILLED_SECONDS = (
    60  # per start or resume (https://docs.snowflake.com/en/user-guide/cost-understanding-compute)
)
GLUE_RUN_SECONDS = 60.0  # estimated: the fixture lands in seconds; a 100 MB source takes longer
WAREHOUSE_SECONDS = 120.0  # estimated: COPY + dbt build + tests + publish + validation
ENV = {
    "glue_dpu_hour_usd": "PIPELINE_PRICE_GLUE_DPU_HOUR_USD",
    "s3_gb_month_usd": "PIPELINE_PRICE_S3_GB_MONTH_USD",
    "snowflake_credit_usd": "PIPELINE_PRICE_SNOWFLAKE_CREDIT_USD",
    "snowflake_credits_per_hour": "PIPELINE_PRICE_SNOWFLAKE_CREDITS_PER_HOUR",
    "glue_run_seconds": "PIPELINE_ESTIMATE_GLUE_SECONDS",
    "warehouse_seconds": "PIPELINE_ESTIMATE_WAREHOUSE_SECONDS",
}


@dataclass
class Prices:
    glue_dpu_hour_usd: float = GLUE_DPU_HOUR_USD
    s3_gb_month_usd: float = S3_GB_MONTH_USD
    snowflake_credit_usd: float = SNOWFLAKE_CREDIT_USD
    snowflake_credits_per_hour: float = SNOWFLAKE_CREDITS_PER_HOUR
    glue_run_seconds: float = GLUE_RUN_SECONDS
    warehouse_seconds: float = WAREHOUSE_SECONDS

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: float | None) -> Prices:
        """Defaults, then environment variables (ENV), then explicit overrides (CLI options)."""
        environ = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for name, var in ENV.items():
            if environ.get(var):
                try:
                    values[name] = float(environ[var])
                except ValueError:
                    raise ValueError(f"{var}={environ[var]!r} is not a number") from None
        values.update({k: float(v) for k, v in overrides.items() if v is not None})
        return cls(**values)


def estimate_cost(prices: Prices, source_bytes: int, source_of_size: str = "") -> dict[str, Any]:
    """One run's cost, line by line, with the arithmetic shown."""
    glue_billed = max(prices.glue_run_seconds, GLUE_MIN_BILLED_SECONDS)
    glue_usd = GLUE_MAX_CAPACITY * glue_billed / 3600 * prices.glue_dpu_hour_usd
    gb = source_bytes / 1024**3  # S3 bills GB as 2^30 bytes
    s3_usd = gb * prices.s3_gb_month_usd
    wh_billed = max(prices.warehouse_seconds, SNOWFLAKE_MIN_BILLED_SECONDS)
    credits = wh_billed / 3600 * prices.snowflake_credits_per_hour
    sf_usd = credits * prices.snowflake_credit_usd
    return {
        "prices": asdict(prices),
        "lines": [
            {
                "item": "Glue Python shell run",
                "usd": glue_usd,
                "how": f"{GLUE_MAX_CAPACITY} DPU x {glue_billed:g} s billed (estimated {prices.glue_run_seconds:g} s, "
                f"minimum {GLUE_MIN_BILLED_SECONDS} s) / 3600 x ${prices.glue_dpu_hour_usd}/DPU-hour",
            },
            {
                "item": "S3 storage of one landed version, per month",
                "usd": s3_usd,
                "how": f"{source_bytes} bytes ({source_of_size}) = {gb:.9f} GB x ${prices.s3_gb_month_usd}/GB-month",
            },
            {
                "item": "Snowflake X-Small warehouse",
                "usd": sf_usd,
                "how": f"{wh_billed:g} s billed (estimated {prices.warehouse_seconds:g} s, minimum "
                f"{SNOWFLAKE_MIN_BILLED_SECONDS} s per resume) / 3600 x {prices.snowflake_credits_per_hour:g} "
                f"credit/hour = {credits:.6f} credits x ${prices.snowflake_credit_usd}/credit",
            },
        ],
        "total_usd": glue_usd + s3_usd + sf_usd,
        "sources": [
            "https://aws.amazon.com/glue/pricing/",
            "https://aws.amazon.com/s3/pricing/",
            "https://docs.snowflake.com/en/user-guide/warehouses-overview",
            "https://docs.snowflake.com/en/user-guide/cost-understanding-compute",
        ],
        "overrides": {name: var for name, var in ENV.items()},
    }
