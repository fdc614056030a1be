"""Access control the local AWS adds to moto 5.2.5, so that it refuses what AWS refuses.

Installed by `install()` in the moto server process (aws_server.py), before the app starts:

* Glue and CloudWatch Logs requests are authorised against the resource AWS authorises them
  against (moto uses `*` for both), with identity policies evaluated by iam_policy.py, and refused
  as those services refuse: HTTP 400 `AccessDeniedException` "User: <arn> is not authorized to
  perform: <action> on resource: <arn> because no identity-based policy allows the <action> action".
  Resource ARNs: Service Authorization Reference, AWS Glue
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsglue.html) and
  Amazon CloudWatch Logs (.../list_amazoncloudwatchlogs.html).
* Glue CreateJob/UpdateJob need `iam:PassRole` on the job's role, with `iam:PassedToService` =
  glue.amazonaws.com in the request context
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
* Optional IAM propagation delay (PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS=N, off by default): a role
  created, or whose trust policy was updated, less than N seconds ago cannot be assumed yet
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).

All checks apply only while moto's IAM enforcement is on (after the launcher's bootstrap).
"""

from __future__ import annotations

import os
import time
from typing import Any

from helpers.local_cloud.iam_policy import Decision, denial_message, evaluate, policy_documents

PROPAGATION_ENV = "PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS"
GLUE_SERVICE = "glue.amazonaws.com"

# Glue operations whose resource is one job (the rest, e.g. GetJobs/ListJobs, are authorised on "*").
_GLUE_JOB_PARAM = {
    "CreateJob": "Name",
    **{
        op: "JobName"
        for op in (
            "UpdateJob",
            "DeleteJob",
            "GetJob",
            "StartJobRun",
            "GetJobRun",
            "GetJobRuns",
            "BatchStopJobRun",
            "GetJobBookmark",
            "ResetJobBookmark",
        )
    },
}
# CloudWatch Logs operations by the resource type the Service Authorization Reference gives them.
_LOGS_GROUP_OPS = {
    "CreateLogGroup",
    "DeleteLogGroup",
    "CreateLogStream",
    "DescribeLogStreams",
    "FilterLogEvents",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "TagLogGroup",
    "UntagLogGroup",
    "ListTagsLogGroup",
    "PutSubscriptionFilter",
    "DeleteSubscriptionFilter",
    "DescribeSubscriptionFilters",
    "PutMetricFilter",
    "DeleteMetricFilter",
    "AssociateKmsKey",
    "DisassociateKmsKey",
    "StartQuery",
    "CreateExportTask",
}
_LOGS_STREAM_OPS = {"PutLogEvents", "GetLogEvents", "DeleteLogStream"}


def enforcement_on() -> bool:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def _json_denied(message: str) -> Any:
    from moto.core.exceptions import JsonRESTError

    err = JsonRESTError("AccessDeniedException", message)
    err.code = 400  # Glue and CloudWatch Logs answer AccessDeniedException with HTTP 400
    return err


def glue_job_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:glue:{region}:{account}:job/{name}"


def log_group_arn(region: str, account: str, group: str) -> str:
    # The ARN CloudWatch Logs authorises log-group actions on, in the form it reports a group's
    # `arn` (DescribeLogGroups) and AWS-generated policies grant (`log-group:<name>:*`).
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:*"


def log_stream_arn(region: str, account: str, group: str, stream: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"


def _glue_resource(self: Any) -> str:
    param = _GLUE_JOB_PARAM.get(self._get_action())
    name = self._get_param(param) if param else None
    return glue_job_arn(self.region, self.current_account, name) if name else "*"


def _logs_resource(self: Any) -> str:
    op = self._get_action()
    group = self._get_param("logGroupName") or self._get_param("logGroupIdentifier")
    if not group:
        return "*"
    if group.startswith("arn:"):  # logGroupIdentifier may be an ARN
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    if op in _LOGS_STREAM_OPS:
        stream = self._get_param("logStreamName")
        return log_stream_arn(self.region, self.current_account, group, stream) if stream else "*"
    if op in _LOGS_GROUP_OPS:
        return log_group_arn(self.region, self.current_account, group)
    return "*"


def _iam_resource(self: Any) -> str:
    """The resource IAM authorises an IAM action on (Service Authorization Reference, IAM): the role,
    the managed policy or the user the request names - also when it does not exist yet (CreateRole,
    CreatePolicy). moto answers "*" unless the role already exists, so a policy scoped to the
    pipeline's roles and policies (the operator policy) was refused."""
    data, account = self.data, self.current_account
    if "RoleName" in data:  # role actions, Attach/DetachRolePolicy included (PolicyArn is a condition key)
        return f"arn:aws:iam::{account}:role/{data['RoleName'][0]}"
    if "PolicyArn" in data:
        return data["PolicyArn"][0]
    if self._get_action() in {"CreatePolicy"} and "PolicyName" in data:
        return f"arn:aws:iam::{account}:policy{data.get('Path', ['/'])[0]}{data['PolicyName'][0]}"
    if "UserName" in data:
        return f"arn:aws:iam::{account}:user/{data['UserName'][0]}"
    return "*"


def _caller(account_id: str, headers: Any) -> Any:
    """moto's access-key object (user or assumed-role session) of the request's signature."""
    from moto.iam.access_control import create_access_key

    auth = headers.get("Authorization", "")
    access_key_id = auth.partition("Credential=")[2].partition("/")[0]
    return create_access_key(account_id=account_id, partition="aws", access_key_id=access_key_id, headers=headers)


def _install_json_service_evaluation() -> None:
    """Glue and Logs: evaluate identity policies with iam_policy.py and deny as these services do."""
    from moto.iam import access_control

    original = access_control.IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._service not in {"glue", "logs", "iam"}:
            return original(self, resource)
        docs = policy_documents(self._access_key.collect_policies())
        context: dict[str, list[str]] = {}
        if self._service == "iam" and self._data.get("PolicyArn"):
            # AttachRolePolicy / DetachRolePolicy: the iam:PolicyARN condition key
            context["iam:PolicyARN"] = list(self._data["PolicyArn"])[:1]
        decision = evaluate(docs, self._action, resource, context)
        if decision != Decision.ALLOW:
            if self._service == "iam":  # IAM's query protocol: AccessDenied, HTTP 403
                from moto.core.exceptions import AccessDeniedError

                raise AccessDeniedError(user_arn=self._access_key.arn, action=self._action)
            raise _json_denied(denial_message(self._access_key.arn, self._action, resource, decision))

    access_control.IAMRequestBase.check_action_permitted = check_action_permitted


def check_pass_role(account_id: str, headers: Any, role: str | None) -> None:
    """Glue CreateJob/UpdateJob: the caller must be allowed iam:PassRole on the job's role."""
    if not role or not enforcement_on():
        return
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    if role.startswith("arn:"):
        role_arn = role
    else:
        try:
            role_arn = iam.get_role(role).arn
        except Exception:  # noqa: BLE001 - an unknown role name is authorised under its plain ARN
            role_arn = f"arn:aws:iam::{account_id}:role/{role}"
    caller = _caller(account_id, headers)
    docs = policy_documents(caller.collect_policies())
    decision = evaluate(docs, "iam:PassRole", role_arn, {"iam:PassedToService": [GLUE_SERVICE]})
    if decision != Decision.ALLOW:
        raise _json_denied(denial_message(caller.arn, "iam:PassRole", role_arn, decision))


def _install_glue_pass_role() -> None:
    from moto.glue import responses

    for op in ("create_job", "update_job"):
        original = getattr(responses.GlueResponse, op)

        def guarded(self: Any, _original: Any = original, _op: str = op) -> Any:
            role = self._get_param("Role") if _op == "create_job" else (self._get_param("JobUpdate") or {}).get("Role")
            check_pass_role(self.current_account, self.headers, role)
            return _original(self)

        setattr(responses.GlueResponse, op, guarded)


# -- IAM eventual consistency -----------------------------------------------------------------------
def propagation_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(PROPAGATION_ENV, "0") or 0))
    except ValueError as e:
        raise SystemExit(f"{PROPAGATION_ENV} must be a number of seconds, not {os.environ[PROPAGATION_ENV]!r}") from e


def role_not_yet_propagated(role: Any) -> bool:
    return time.time() < getattr(role, "local_visible_at", 0.0)


def assume_role_denial(principal_arn: str, role_arn: str) -> str:
    """STS's AccessDenied text for a role the caller may not (yet) assume."""
    return f"User: {principal_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def _install_propagation_delay() -> None:
    from moto.core.exceptions import AccessDeniedError
    from moto.iam import access_control, models

    delay = propagation_seconds()

    def stamp(role: Any) -> None:
        role.local_visible_at = time.time() + delay

    original_create = models.IAMBackend.create_role
    original_update = models.IAMBackend.update_assume_role_policy

    def create_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        role = original_create(self, *args, **kwargs)
        stamp(role)
        return role

    def update_assume_role_policy(self: Any, role_name: str, policy_document: str) -> None:
        original_update(self, role_name, policy_document)
        stamp(self.get_role(role_name))

    models.IAMBackend.create_role = create_role
    models.IAMBackend.update_assume_role_policy = update_assume_role_policy

    original_trust = access_control.IAMRequestBase._check_role_trust_relationship

    def check_trust(self: Any, role_arn: str) -> bool:
        if role_not_yet_propagated(self.backend.get_role_by_arn(role_arn)):
            return False
        return original_trust(self, role_arn)

    access_control.IAMRequestBase._check_role_trust_relationship = check_trust

    # AssumeRole denials name the role, as STS's do (moto's message stops at the action).
    original_denied = access_control.IAMRequest._raise_access_denied

    def raise_access_denied(self: Any) -> None:
        if self._action == "sts:AssumeRole":
            value = self._data.get("RoleArn")
            role_arn = value[0] if isinstance(value, list) else value
            action = f"{self._action} on resource: {role_arn}" if role_arn else self._action
            raise AccessDeniedError(user_arn=self._access_key.arn, action=action)
        original_denied(self)

    access_control.IAMRequest._raise_access_denied = raise_access_denied


def _install_s3_action_names() -> None:
    """moto authorises HeadBucket as an action "s3:HeadBucket", which IAM does not have: AWS
    authorises it with s3:ListBucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html),
    so a correct least-privilege policy was refused here."""
    import moto.s3.responses

    moto.s3.responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"


def _install_s3_delete_objects_per_object() -> None:
    """DeleteObjects is authorised per object: s3:DeleteObject (s3:DeleteObjectVersion for a version)
    on each key's ARN, each refusal an <Error> entry of the answer
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html). moto checks
    s3:DeleteObject on the bucket ARN and refuses every key when that fails, so a policy granting deletes
    by prefix (the operator policy) could not empty the bucket."""
    from moto.s3 import responses

    original_post = responses.S3Response._bucket_response_post

    def post(self: Any, request: Any, bucket_name: str) -> Any:
        if request.headers.get("Content-Length"):
            self.path = self._get_path(request)
            if self.is_delete_keys():
                return delete_keys(self, bucket_name)
        return original_post(self, request, bucket_name)

    def delete_keys(self: Any, bucket_name: str) -> Any:
        import xmltodict

        objects = xmltodict.parse(self.body, strip_whitespace=False)["Delete"].get("Object", [])
        objects = objects if isinstance(objects, list) else [objects]
        allowed, denied = [], []
        for obj in objects:
            self.data["Action"] = "DeleteObjectVersion" if obj.get("VersionId") else "DeleteObject"
            try:
                self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=obj["Key"])
                allowed.append(obj)
            except Exception as e:  # noqa: BLE001 - moto's access-denied errors have no common base
                if getattr(e, "code", None) != 403:
                    raise
                denied.append(obj)
        if not allowed:
            self.body = xmltodict.unparse({"Delete": {"Object": objects}}).encode()
            return self._bucket_response_delete_keys(bucket_name, authenticated=False)
        self.body = xmltodict.unparse({"Delete": {"Object": allowed}}).encode()
        status, headers, body = self._bucket_response_delete_keys(bucket_name)
        if denied:  # one <Error> per refused key, as S3 answers
            errors = "".join(
                f"<Error><Key>{o['Key']}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                for o in denied
            )
            text = body.decode() if isinstance(body, bytes) else body
            body = text.replace("</DeleteResult>", errors + "</DeleteResult>")
        return status, headers, body

    responses.S3Response._bucket_response_post = post


def install() -> None:
    from moto.glue.responses import GlueResponse
    from moto.logs.responses import LogsResponse

    _install_s3_action_names()
    _install_s3_delete_objects_per_object()

    from moto.iam.responses import IamResponse

    GlueResponse._determine_resource = _glue_resource
    LogsResponse._determine_resource = _logs_resource
    IamResponse._determine_resource = _iam_resource
    _install_json_service_evaluation()
    _install_glue_pass_role()
    _install_propagation_delay()
