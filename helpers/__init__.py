"""The countries pipeline: IAM -> Glue -> S3 -> Snowflake -> dbt, as a tested Python package.

Notebooks and the CLI (`python -m helpers ...`) call into these modules; nothing here knows whether
it talks to the local emulators or the real clouds (see helpers.settings).
"""
