"""IAM applied: the pipeline's two roles and their least-privilege policies, created idempotently in AWS.

The documents are built elsewhere, without clients: the roles' in helpers/iam_policies.py, the
operator's and the GitHub deploy role's in helpers/iam_operator.py. Policies are customer-managed and
attached (not inline), so they can be listed, linted and detached.

`python -m helpers.iam operator-policy|github-deploy-role ...` prints the operator's documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from helpers.iam_operator import DEFAULT_DEPLOY_ROLE, github_deploy_role, operator_policy

# the notebooks read glue_role_policy and snowflake_role_policy as iam.X: keep them importable here
from helpers.iam_policies import (
    Names,
    glue_role_policy,
    glue_trust_policy,
    policy_arn,
    snowflake_placeholder_trust_policy,
    snowflake_role_policy,
)


def ensure_managed_policy(iam: Any, account_id: str, name: str, document: dict[str, Any], description: str) -> str:
    """Create the policy, or make `document` its default version (pruning old versions)."""
    arn = policy_arn(account_id, name)
    body = json.dumps(document)
    try:
        iam.create_policy(PolicyName=name, PolicyDocument=body, Description=description)
        return arn
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    current = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=current)["PolicyVersion"]["Document"]
    if (json.loads(doc) if isinstance(doc, str) else doc) == document:
        return arn  # unchanged: nothing to do
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=body, SetAsDefault=True)
    return arn


def ensure_role(
    iam: Any, name: str, trust_policy: dict[str, Any], policy_arn: str, description: str
) -> tuple[str, bool]:
    """Create the role (with `trust_policy`) if missing and attach `policy_arn`. An existing role's
    trust policy is left alone: it may already hold the real principal. Returns (arn, created)."""
    created = False
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy),
            Description=description,
            Tags=[{"Key": "project", "Value": "countries-pipeline"}],
        )["Role"]["Arn"]
        created = True
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    if policy_arn not in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn, created


def get_trust_policy(iam: Any, role_name: str) -> dict[str, Any]:
    doc = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def set_trust_policy(iam: Any, role_name: str, policy: dict[str, Any]) -> bool:
    """Replace the role's trust policy if it differs. Returns True when it changed."""
    if get_trust_policy(iam, role_name) == policy:
        return False
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(policy))
    return True


@dataclass
class PipelineRoles:
    glue_role_arn: str
    glue_policy_arn: str
    snowflake_role_arn: str
    snowflake_policy_arn: str


def ensure_pipeline_roles(iam: Any, names: Names, glue_role: str, snowflake_role: str) -> PipelineRoles:
    glue_policy = ensure_managed_policy(
        iam, names.account_id, f"{glue_role}-policy", glue_role_policy(names), "Glue ingest job: least privilege"
    )
    glue_arn, _ = ensure_role(iam, glue_role, glue_trust_policy(), glue_policy, "Runs the countries Glue job")
    sf_policy = ensure_managed_policy(
        iam,
        names.account_id,
        f"{snowflake_role}-policy",
        snowflake_role_policy(names),
        "Snowflake storage integration: read the landed data",
    )
    sf_arn, _ = ensure_role(
        iam,
        snowflake_role,
        snowflake_placeholder_trust_policy(names.account_id),
        sf_policy,
        "Assumed by Snowflake's storage integration",
    )
    return PipelineRoles(glue_arn, glue_policy, sf_arn, sf_policy)


def _main(argv: list[str] | None = None) -> int:
    """`python -m helpers.iam operator-policy|github-deploy-role ...`: print the documents as JSON.
    Names default to the Settings (PIPELINE_BUCKET, AWS_REGION, ...); the account id to --account-id,
    else STS GetCallerIdentity with the current credentials."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.iam", description=_main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    operator = sub.add_parser("operator-policy", help="the operator policy (run + teardown), as JSON")
    deploy = sub.add_parser("github-deploy-role", help="the GitHub OIDC deploy role's trust and permissions")
    deploy.add_argument("--repository", required=True, help="owner/repo")
    deploy.add_argument("--branch", default="main")
    deploy.add_argument("--role-name", default=DEFAULT_DEPLOY_ROLE)
    deploy.add_argument("--out-dir", help="also write trust.json and policy.json there (for the aws_cli lines)")
    for p in (operator, deploy):
        p.add_argument("--account-id", help="12-digit AWS account id (default: sts get-caller-identity)")
    args = parser.parse_args(argv)

    from helpers.settings import Settings

    s = Settings()
    account = args.account_id or s.aws_client("sts").get_caller_identity()["Account"]
    n = Names.of(s, account)  # the same names a run uses (incoming prefix included)
    if args.command == "operator-policy":
        print(json.dumps(operator_policy(n, s.glue_role_name, s.snowflake_role_name, s.glue_job_name), indent=2))
        return 0
    role = github_deploy_role(
        n, s.glue_role_name, s.snowflake_role_name, s.glue_job_name, args.repository, args.branch, args.role_name
    )
    if args.out_dir:
        from pathlib import Path

        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "trust.json").write_text(json.dumps(role["trust_policy"], indent=2) + "\n")
        (out / "policy.json").write_text(json.dumps(role["permissions_policy"], indent=2) + "\n")
    print(json.dumps(role, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
