"""tests/conftest.py's isolation: whatever the developer's shell or ~/.aws holds, no test finds it."""

from __future__ import annotations

import os

import boto3

from tests.conftest import AWS_CREDENTIAL_VARS


def test_no_credential_variable_reaches_a_test():
    leaked = sorted(k for k in os.environ if k in AWS_CREDENTIAL_VARS or k.startswith("SNOWFLAKE_"))
    assert leaked == []


def test_boto3s_default_chain_finds_no_credentials():
    """Environment, shared files, container and instance metadata: nothing to sign with
    (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html)."""
    assert not os.path.exists(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    assert not os.path.exists(os.environ["AWS_CONFIG_FILE"])
    assert boto3.Session().get_credentials() is None
