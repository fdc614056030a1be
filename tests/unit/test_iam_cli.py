"""`python -m helpers.iam operator-policy` prints the policy for the names a run really uses."""

from __future__ import annotations

import json

import pytest

from helpers import iam


def test_the_printed_operator_policy_follows_a_custom_incoming_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIPELINE_MODE", "local")
    monkeypatch.setenv("PIPELINE_INCOMING_PREFIX", "dropbox/")
    assert iam._main(["operator-policy", "--account-id", "123456789012"]) == 0
    printed = json.dumps(json.loads(capsys.readouterr().out))
    assert "dropbox/" in printed
    assert "/incoming/" not in printed, "the default prefix was granted instead of the configured one"
