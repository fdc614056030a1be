"""Parsing in the local warehouse's extensions (no server needed)."""

from __future__ import annotations

import pytest
import snowflake.connector.errors
import sqlglot

from helpers.local_cloud import copy_json
from helpers.local_cloud import warehouse_sql as sql


def test_integration_properties_are_parsed_like_snowflake():
    props = sql.parse_properties(
        "TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = 'S3' ENABLED = TRUE "
        "STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::1:role/r' STORAGE_ALLOWED_LOCATIONS = ('s3://b/a/', 's3://b/c/') "
        "COMMENT = 'it''s here'"
    )
    assert props == {
        "TYPE": "EXTERNAL_STAGE",
        "STORAGE_PROVIDER": "S3",
        "ENABLED": "TRUE",
        "STORAGE_AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
        "STORAGE_ALLOWED_LOCATIONS": ["s3://b/a/", "s3://b/c/"],
        "COMMENT": "it's here",
    }


def test_garbage_in_properties_is_a_syntax_error():
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="syntax error"):
        sql.parse_properties("TYPE = EXTERNAL_STAGE )(")


def test_copy_options():
    expr = sqlglot.parse_one(
        "COPY INTO t FROM @s FILE_FORMAT = (TYPE = JSON STRIP_OUTER_ARRAY = TRUE) FORCE = TRUE FILES = ('a', 'b')",
        read="snowflake",
    )
    options = copy_json.copy_options(expr)
    assert options["FILE_FORMAT"] == {"TYPE": "JSON", "STRIP_OUTER_ARRAY": True}
    assert options["FORCE"] is True and options["FILES"] == ["a", "b"]
    assert (
        copy_json.copy_options(sqlglot.parse_one("COPY INTO t FROM @s FORCE = FALSE", read="snowflake"))["FORCE"]
        is False
    )


def test_unsupported_copy_option_is_named():
    expr = sqlglot.parse_one("COPY INTO t FROM @s PURGE = TRUE", read="snowflake")
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="PURGE"):
        copy_json.copy_options(expr)


def test_result_rows_are_returned_as_a_select():
    assert sql.values_sql(["a", "b"], [(1, "x'y"), (None, True)]) == (
        "SELECT * FROM (VALUES (1, 'x''y'), (NULL, TRUE)) AS t(\"a\", \"b\")"
    )
