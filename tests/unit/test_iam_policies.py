"""The policies the pipeline creates, checked for what moto's enforcement cannot see."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from helpers import iam

NAMES = iam.Names("my-bucket", "data/countries/", "scripts/", "quarantine/", "eu-west-1", "111122223333")
IDENTITY_POLICIES = {
    "glue": iam.glue_role_policy(NAMES),
    "snowflake": iam.snowflake_role_policy(NAMES),
}


def _statements(policy):
    return policy["Statement"]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("name", sorted(IDENTITY_POLICIES))
def test_parliament_finds_nothing(name):
    findings = analyze_policy_string(json.dumps(IDENTITY_POLICIES[name])).findings
    assert findings == [], [f.issue for f in findings]


@pytest.mark.parametrize("name", sorted(IDENTITY_POLICIES))
def test_no_wildcard_actions_and_every_resource_names_our_bucket_or_log_group(name):
    for statement in _statements(IDENTITY_POLICIES[name]):
        assert all("*" not in a for a in _actions(statement)), statement
        for resource in statement["Resource"]:
            assert resource != "*"
            assert resource.startswith(("arn:aws:s3:::my-bucket", "arn:aws:logs:eu-west-1:111122223333:log-group:/aws-glue/"))


def test_snowflake_role_has_exactly_snowflakes_documented_minimum():
    granted = {(a, r) for s in _statements(IDENTITY_POLICIES["snowflake"]) for a in _actions(s) for r in s["Resource"]}
    assert granted == {
        ("s3:GetObject", "arn:aws:s3:::my-bucket/data/countries/*"),
        ("s3:GetObjectVersion", "arn:aws:s3:::my-bucket/data/countries/*"),
        ("s3:ListBucket", "arn:aws:s3:::my-bucket"),
        ("s3:GetBucketLocation", "arn:aws:s3:::my-bucket"),
    }
    listing = next(s for s in _statements(IDENTITY_POLICIES["snowflake"]) if "s3:ListBucket" in _actions(s))
    # moto ignores this condition, so only this test guards it
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["data/countries/*"]}}


def test_glue_role_cannot_write_its_own_script():
    writes = [s for s in _statements(IDENTITY_POLICIES["glue"]) if "s3:PutObject" in _actions(s)]
    resources = {r for s in writes for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::my-bucket/data/countries/*", "arn:aws:s3:::my-bucket/quarantine/*"}


def test_trust_policies_name_exactly_one_principal():
    glue = iam.glue_trust_policy()["Statement"]
    assert glue == [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    trust = iam.snowflake_trust_policy("arn:aws:iam::999:user/sf", "EXT_ID")["Statement"]
    assert trust == [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999:user/sf"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "EXT_ID"}},
    }]
    placeholder = iam.snowflake_placeholder_trust_policy("111122223333")["Statement"][0]
    assert placeholder["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert placeholder["Condition"]["StringEquals"]["sts:ExternalId"] == "0000"


@pytest.mark.parametrize("name", sorted(IDENTITY_POLICIES))
def test_only_allow_statements_and_no_delete_or_privilege_escalation(name):
    """A Deny, NotAction or NotResource would make the policy hard to read and, in moto, behave
    differently from AWS; delete, IAM and STS actions are never needed by the pipeline's roles."""
    for statement in _statements(IDENTITY_POLICIES[name]):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
        for action in _actions(statement):
            service, verb = action.split(":")
            assert service in {"s3", "logs"}, action
            assert not verb.startswith(("Delete", "Put") if name == "snowflake" else ("Delete",)), action
            assert "Acl" not in verb and "Policy" not in verb, action  # may not loosen the bucket


def test_snowflake_role_is_read_only():
    verbs = {a.split(":")[1] for s in _statements(IDENTITY_POLICIES["snowflake"]) for a in _actions(s)}
    assert all(v.startswith(("Get", "List")) for v in verbs), verbs
