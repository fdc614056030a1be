"""A small evaluator of IAM identity policies, for the checks moto 5.2.5 gets wrong or skips.

moto's own evaluator (moto/iam/access_control.py) matches only `Resource: "*"` for services that
do not compute a resource, knows no condition operator but the trust policies' StringEquals, and
turns an Allow whose condition fails into an explicit Deny. The local AWS uses this module instead
for Glue and CloudWatch Logs requests and for `iam:PassRole`, following the IAM policy evaluation
logic (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, otherwise an Allow is needed, otherwise the request is implicitly denied.

It fails closed: a condition operator it does not know never satisfies an Allow and always
satisfies a Deny, so an unknown condition can only make the local cloud stricter than AWS.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any


class Decision(str, Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    """IAM wildcards: `*` any run of characters (colons included), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL) is not None


def _matches_action(patterns: Any, action: str) -> bool:
    return any(_wildcard(p, action, ignore_case=True) for p in _as_list(patterns))  # actions: case-insensitive


def _matches_resource(patterns: Any, resource: str) -> bool:
    return any(_wildcard(p, resource, ignore_case=False) for p in _as_list(patterns))


_STRING_OPS = {
    "StringEquals": lambda pat, val: pat == val,
    "StringEqualsIgnoreCase": lambda pat, val: pat.lower() == val.lower(),
    "StringLike": lambda pat, val: _wildcard(pat, val, ignore_case=False),
    "ArnEquals": lambda pat, val: pat == val,
    "ArnLike": lambda pat, val: _wildcard(pat, val, ignore_case=False),
    "Bool": lambda pat, val: pat.lower() == val.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, list[str]], effect: str) -> bool:
    """One condition block entry. Keys are case-insensitive, as in IAM."""
    actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    op = operator
    if_exists = op.endswith("IfExists")
    if if_exists:
        op = op[: -len("IfExists")]
    qualifier = None
    if ":" in op:  # ForAnyValue:StringLike, ForAllValues:StringEquals
        qualifier, op = op.split(":", 1)
    if op != "Null" and _NEGATED.get(op, op) not in _STRING_OPS:
        return effect == "Deny"  # an operator this evaluator does not know: fail closed
    if actual is None:
        if if_exists:
            return True
        if op == "Null":
            return (
                str(expected).lower() == "true"
                if not isinstance(expected, list)
                else "true" in [str(e).lower() for e in expected]
            )
        # a missing key: positive operators do not match; negated ones do (IAM docs, "condition keys")
        return op in _NEGATED or qualifier == "ForAllValues"
    if op == "Null":
        return any(str(e).lower() == "false" for e in _as_list(expected))
    expected_values = [str(e) for e in _as_list(expected)]
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)
    compare = _STRING_OPS[base]

    def one(value: str) -> bool:
        hit = any(compare(pat, value) for pat in expected_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)


def _conditions_hold(conditions: dict[str, Any] | None, context: dict[str, list[str]], effect: str) -> bool:
    for operator, entries in (conditions or {}).items():
        for key, expected in entries.items():
            if not _condition_holds(operator, key, expected, context, effect):
                return False
    return True


def _statements(policy: Any) -> list[dict[str, Any]]:
    doc = json.loads(policy) if isinstance(policy, str) else policy
    return _as_list(doc.get("Statement"))


def evaluate(policies: list[Any], action: str, resource: str, context: dict[str, list[str]] | None = None) -> Decision:
    """The decision of a set of identity policies (JSON strings or dicts) on one request."""
    context = context or {}
    allowed = False
    for policy in policies:
        for st in _statements(policy):
            effect = st.get("Effect")
            if "NotAction" in st:
                if _matches_action(st["NotAction"], action):
                    continue
            elif not _matches_action(st.get("Action"), action):
                continue
            if "NotResource" in st:
                if _matches_resource(st["NotResource"], resource):
                    continue
            elif not _matches_resource(st.get("Resource"), resource):
                continue
            if not _conditions_hold(st.get("Condition"), context, effect):
                continue
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            if effect == "Allow":
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def denial_message(principal_arn: str, action: str, resource: str, decision: Decision) -> str:
    """AWS's access-denied text (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html)."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision == Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource} {why}"


def policy_documents(moto_policies: list[Any]) -> list[Any]:
    """The JSON documents of what moto's access keys' `collect_policies()` return (inline policy
    dicts or strings, managed-policy objects at their default version)."""
    docs: list[Any] = []
    for p in moto_policies:
        if isinstance(p, str):
            docs.append(p)
        elif isinstance(p, dict):
            docs.append(p["policy_document"])
        else:
            docs.append(next(v.document for v in p.versions if v.is_default))
    return docs


__all__ = ["Decision", "evaluate", "denial_message", "policy_documents"]
