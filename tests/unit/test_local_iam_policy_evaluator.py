"""The local AWS's identity-policy evaluator (helpers/local_cloud/iam_policy.py) against the IAM
policy evaluation logic: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
and the condition operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import json

import pytest

from helpers.local_cloud.iam_policy import Decision, denial_message, evaluate

ROLE = "arn:aws:iam::123456789012:role/glue-role"
GLUE = {"iam:PassedToService": ["glue.amazonaws.com"]}


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_no_statement_means_implicit_deny():
    assert evaluate([], "iam:PassRole", ROLE, GLUE) == Decision.IMPLICIT_DENY


def test_explicit_deny_wins_over_allow():
    docs = [policy(allow("*", "*")), policy({"Effect": "Deny", "Action": "iam:PassRole", "Resource": ROLE})]
    assert evaluate(docs, "iam:PassRole", ROLE, GLUE) == Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    "condition, decision",
    [
        ({"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, Decision.ALLOW),
        ({"StringLike": {"iam:PassedToService": ["glue.*", "ec2.*"]}}, Decision.ALLOW),
        ({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}, Decision.IMPLICIT_DENY),
        ({"StringNotEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, Decision.IMPLICIT_DENY),
        ({"StringEquals": {"iam:passedtoservice": "glue.amazonaws.com"}}, Decision.ALLOW),  # keys: case-insensitive
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, Decision.IMPLICIT_DENY),  # key not in the request
        ({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}, Decision.ALLOW),
        ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, Decision.IMPLICIT_DENY),  # unknown: fail closed
    ],
)
def test_conditions_on_an_allow(condition, decision):
    assert evaluate([policy(allow("iam:PassRole", ROLE, Condition=condition))], "iam:PassRole", ROLE, GLUE) == decision


def test_a_deny_with_an_unknown_operator_still_denies():
    docs = [
        policy(
            allow("*", "*"),
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "1"}},
            },
        )
    ]
    assert evaluate(docs, "glue:GetJob", "arn:aws:glue:us-east-1:1:job/a") == Decision.EXPLICIT_DENY


def test_an_allow_whose_condition_fails_is_not_a_deny():
    """moto turns it into an explicit Deny; IAM just does not apply the statement."""
    docs = [
        policy(
            allow("iam:PassRole", ROLE, Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
            allow("iam:PassRole", ROLE),
        )
    ]
    assert evaluate(docs, "iam:PassRole", ROLE, GLUE) == Decision.ALLOW


def test_wildcards_in_actions_and_resources():
    doc = [policy(allow("Glue:Get*", "arn:aws:glue:us-east-1:1:job/team-?-*"))]
    assert evaluate(doc, "glue:GetJob", "arn:aws:glue:us-east-1:1:job/team-a-ingest") == Decision.ALLOW
    assert evaluate(doc, "glue:GetJob", "arn:aws:glue:us-east-1:1:job/team-ab-ingest") == Decision.IMPLICIT_DENY
    assert evaluate(doc, "glue:DeleteJob", "arn:aws:glue:us-east-1:1:job/team-a-ingest") == Decision.IMPLICIT_DENY
    # a dot in a pattern is a dot, not "any character" (moto's matcher treats it as a regex)
    assert (
        evaluate(
            [policy(allow("logs:*", "arn:aws:logs:us-east-1:1:log-group:a.b:*"))],
            "logs:CreateLogStream",
            "arn:aws:logs:us-east-1:1:log-group:aXb:*",
        )
        == Decision.IMPLICIT_DENY
    )


def test_not_action_and_not_resource():
    doc = [policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:glue:us-east-1:1:job/secret"})]
    assert evaluate(doc, "glue:GetJob", "arn:aws:glue:us-east-1:1:job/open") == Decision.ALLOW
    assert evaluate(doc, "glue:GetJob", "arn:aws:glue:us-east-1:1:job/secret") == Decision.IMPLICIT_DENY
    assert evaluate(doc, "iam:PassRole", ROLE) == Decision.IMPLICIT_DENY


def test_the_pipelines_log_statement_covers_group_and_stream_arns():
    log_group = "arn:aws:logs:us-east-1:1:log-group:/aws-glue/python-jobs/*"
    doc = [
        policy(
            allow(
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                [log_group, f"{log_group}:log-stream:*"],
            )
        )
    ]
    assert (
        evaluate(doc, "logs:CreateLogStream", "arn:aws:logs:us-east-1:1:log-group:/aws-glue/python-jobs/output:*")
        == Decision.ALLOW
    )
    assert (
        evaluate(
            doc, "logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:/aws-glue/python-jobs/error:log-stream:jr_1"
        )
        == Decision.ALLOW
    )
    assert (
        evaluate(doc, "logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/x:log-stream:s")
        == Decision.IMPLICIT_DENY
    )


def test_denial_messages_are_awss():
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html"""
    user = "arn:aws:iam::1:user/u"
    assert denial_message(user, "iam:PassRole", ROLE, Decision.IMPLICIT_DENY) == (
        f"User: {user} is not authorized to perform: iam:PassRole on resource: {ROLE} "
        "because no identity-based policy allows the iam:PassRole action"
    )
    assert denial_message(user, "iam:PassRole", ROLE, Decision.EXPLICIT_DENY) == (
        f"User: {user} is not authorized to perform: iam:PassRole on resource: {ROLE} "
        "with an explicit deny in an identity-based policy"
    )
