"""IAM as AWS enforces it, in the local runtime: each function calls AWS with credentials of its
own role, whose permissions are exactly its deployed role's (stacks/grants.py, rendered here with
the local resources' ARNs), and a call its role does not allow fails as it would in AWS.

Two checks, because moto evaluates only half of IAM:
- moto's own enforcement (`enforce_in_moto`, in the server's process): every request must be signed
  by a known identity and its action allowed by that identity's policies. moto compares DynamoDB
  actions with the resource `*` (a statement naming a table never matches), so the role's policy in
  moto is the grants' actions on `*`, without conditions.
- `CallCheck`, a botocore hook in the runtime's process: before a function's client sends a request,
  the request's action, resource ARN and condition keys (the `s3:prefix` of a listing) are evaluated
  against the function's own statements, resources and conditions included. A refused call raises
  the `AccessDenied` error AWS would answer, and never reaches the endpoint.

Every call the hook sees is recorded (`CallCheck.calls`), so a suite can show what it exercised.
The operator (the runtime's own clients, the tests, the CLI) signs with the dummy key `testing`,
an IAM user allowed everything, as an account's administrator is.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stacks.grants import Target, grants, resolve_condition_value

if TYPE_CHECKING:
    from stacks.manifest import Function, Manifest

LOCAL_ACCOUNT = "123456789012"
OPERATOR_USER = "ddgui-local-operator"
OPERATOR_KEY_ID = "testing"
OPERATOR_SECRET = "testing"  # noqa: S105 - moto's dummy secret, never a real one
LOCAL_WEBSOCKET_API_ID = "localws"  # the API id of the local WebSocket API (local/apigw.py)
ROLE_PREFIX = "ddgui-local-"
# The six characters Secrets Manager appends to a secret's name in its ARN: fixed locally (moto's
# custom-id tag, local/aws.py), so a function's environment names a secret without asking moto.
LOCAL_SECRET_SUFFIX = "Xlocal"  # noqa: S105 - a fixed part of an ARN, no secret
SESSION_S = 12 * 3600  # IAM's longest role session; moto never expires one anyway
CALLS_KEPT = 50_000

ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# moto asks for these actions where IAM asks for others (a transaction's item actions, dynamodb:PutItem...
# per item; a batch's single action): they are added to the roles' policies in moto only; CallCheck
# evaluates the actions IAM asks for.
MOTO_ONLY_ACTIONS = {
    "dynamodb:PutItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:UpdateItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:DeleteItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:ConditionCheckItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:GetItem": ("dynamodb:TransactGetItems",),
    # IAM authorizes SendMessageBatch with sqs:SendMessage; moto asks for an action of its own.
    "sqs:SendMessage": ("sqs:SendMessageBatch",),
}


# -- moto's side (runs in the server's process) -------------------------------------------------


def enforce_in_moto(account_id: str = LOCAL_ACCOUNT) -> None:
    """Make the operator (key `testing`, allowed everything) and turn moto's IAM enforcement on for
    every later request. Called before the server serves its first request."""
    from moto import settings
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    backend.create_user(region_name="us-east-1", user_name=OPERATOR_USER)
    backend.put_user_policy(OPERATOR_USER, "administrator", json.dumps(ADMIN_POLICY))
    key = backend.create_access_key(OPERATOR_USER)
    del backend.access_keys[key.physical_resource_id]
    key.access_key_id, key.secret_access_key = OPERATOR_KEY_ID, OPERATOR_SECRET
    backend.access_keys[key.physical_resource_id] = key
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0


# -- the functions' roles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


def role_name(fn: Function) -> str:
    return f"{ROLE_PREFIX}{fn.name}"


def local_secret_arn(manifest: Manifest, name: str, *, region: str) -> str:
    """The ARN of a secret of the manifest in `region` of the local endpoint."""
    secret = manifest.secret(name).local_secret_name()
    return f"arn:aws:secretsmanager:{region}:{LOCAL_ACCOUNT}:secret:{secret}-{LOCAL_SECRET_SUFFIX}"


def local_file_system_arn(name: str, *, region: str, access_point: bool = False) -> str:
    """The ARN a file system of the manifest (or its access point) would have in `region`: nothing
    local calls EFS (a mounting function's folder is the region's shared folder, local/runtime.py),
    so these name the grants' resources only."""
    kind = "access-point" if access_point else "file-system"
    return f"arn:aws:elasticfilesystem:{region}:{LOCAL_ACCOUNT}:{kind}/{ROLE_PREFIX}{name}"


def local_arn(manifest: Manifest, fn: Function, target: Target, *, region: str, stage: str) -> str:
    """The ARN of a grant's target among the local resources of `region` (local/aws.py names them)."""
    prefix = f"arn:aws:{{}}:{region}:{LOCAL_ACCOUNT}:"
    bucket = f"arn:aws:s3:::{manifest.bucket.local_bucket_name(region)}"

    def table(suffix: str = "") -> str:
        return prefix.format("dynamodb") + f"table/{manifest.store(target.name).local_table_name()}{suffix}"

    def quarantine() -> str:
        if manifest.quarantine is None:
            raise ValueError("a grant on the quarantine queue of an app without one")
        return prefix.format("sqs") + manifest.quarantine.local_queue_name()

    def work_queue() -> str:
        return prefix.format("sqs") + manifest.queue(target.name).local_queue_name()

    arns: dict[str, Callable[[], str]] = {
        "any": lambda: "*",
        "log_group": lambda: prefix.format("logs") + f"log-group:/aws/lambda/{fn.name}",
        "table": lambda: table(""),
        "table_indexes": lambda: table("/index/*"),
        "table_stream": lambda: table("/stream/*"),
        "bucket": lambda: bucket,
        "bucket_objects": lambda: f"{bucket}/{target.name}*",
        "bus": lambda: prefix.format("events") + f"event-bus/{manifest.bus.local_bus_name()}",
        "stream": lambda: prefix.format("kinesis") + f"stream/{manifest.stream.local_stream_name()}",
        # moto's consumer ARN (AWS's ends with `:<creation time>`); the local poller registers it.
        "stream_consumer": lambda: (
            prefix.format("kinesis") + f"stream/{manifest.stream.local_stream_name()}/consumer/{target.name}"
        ),
        "connections": lambda: (
            prefix.format("execute-api") + f"{LOCAL_WEBSOCKET_API_ID}/{stage}/{target.name}/@connections/*"
        ),
        # Lambda's on-failure queues: the local runtime plays that service itself.
        "queue": lambda: prefix.format("sqs") + f"{ROLE_PREFIX}{fn.name}-{target.name}-failures",
        "quarantine": quarantine,
        "work_queue": work_queue,
        "secret": lambda: local_secret_arn(manifest, target.name, region=region),
        "file_system": lambda: local_file_system_arn(target.name, region=region),
    }
    if target.kind not in arns:
        raise ValueError(f"no local ARN for {target}")
    return arns[target.kind]()


def local_statements(manifest: Manifest, fn: Function, *, region: str, stage: str) -> tuple[Statement, ...]:
    """`fn`'s grants as statements on the local resources of `region`."""

    def access_point_arn(name: str) -> str:
        return local_file_system_arn(name, region=region, access_point=True)

    return tuple(
        Statement(
            grant.actions,
            tuple(local_arn(manifest, fn, t, region=region, stage=stage) for t in grant.targets),
            {
                op: {
                    k: tuple(resolve_condition_value(v, access_point_arn) for v in vs)
                    for k, vs in keys.items()
                }
                for op, keys in grant.conditions.items()
            },
        )
        for grant in grants(manifest, fn)
    )


def moto_policy(manifest: Manifest, fn: Function) -> dict[str, Any]:
    """The role's policy as moto can evaluate it: the grants' actions on `*` (see the module doc)."""
    actions = {action for grant in grants(manifest, fn) for action in grant.actions}
    actions |= {extra for action in actions for extra in MOTO_ONLY_ACTIONS.get(action, ())}
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}],
    }


def trust_policy() -> dict[str, Any]:
    """Lambda may assume the role in AWS; locally the operator does, playing Lambda."""
    operator = f"arn:aws:iam::{LOCAL_ACCOUNT}:user/{OPERATOR_USER}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": operator}, "Action": "sts:AssumeRole"},
        ],
    }


def ensure_role(iam_client: Any, manifest: Manifest, fn: Function) -> str:
    """Create (or update) `fn`'s role and its policy in the endpoint; its ARN."""
    name = role_name(fn)
    try:
        arn: str = iam_client.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy()),
            Description=f"Runs {fn.name} (local runtime).",
            MaxSessionDuration=SESSION_S,
        )["Role"]["Arn"]
    except iam_client.exceptions.EntityAlreadyExistsException:
        arn = iam_client.get_role(RoleName=name)["Role"]["Arn"]
    iam_client.put_role_policy(
        RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(moto_policy(manifest, fn))
    )
    return arn


def assume(sts_client: Any, role_arn: str, session_name: str) -> dict[str, str]:
    """Credentials of a session of the role, as the environment variables Lambda sets."""
    answer = sts_client.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=SESSION_S)
    credentials = answer["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


# -- the check of every call ------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who signs with one access key: a session of a function's role in one region."""

    function: str
    region: str
    statements: tuple[Statement, ...]

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{ROLE_PREFIX}{self.function}/{self.function}"


@dataclass(frozen=True)
class Request:
    """One action of a call, on one resource, with the condition keys IAM would give it."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    function: str
    region: str
    operation: str
    action: str
    resource: str
    allowed: bool


class AccessDenied(Exception):
    """Raised for a call that has no model here: the check refuses what it cannot evaluate."""


def requests_of(
    service: str, operation: str, params: Mapping[str, Any], *, region: str, url: str | None
) -> list[Request]:
    """The IAM requests one API call makes (an action and a resource each), from the call's
    parameters and, for the management API, its URL (`<endpoint>/<stage>/@connections/<id>`). A
    call this does not model raises `AccessDenied`: the check refuses what it cannot evaluate
    rather than let it pass."""
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # AWS allows it to every identity
    model = _SERVICES.get(service)
    if model is None:
        raise AccessDenied(f"the local IAM check has no model of {service}:{operation}")
    return model(operation, params, f"{region}:{LOCAL_ACCOUNT}", url or "")


def _events_requests(operation: str, params: Mapping[str, Any], where: str, url: str) -> list[Request]:
    if operation != "PutEvents":
        raise AccessDenied(f"the local IAM check has no model of events:{operation}")
    buses = sorted({str(e.get("EventBusName") or "default") for e in params.get("Entries", [])})
    return [
        Request(
            "events:PutEvents", bus if bus.startswith("arn:") else f"arn:aws:events:{where}:event-bus/{bus}"
        )
        for bus in buses
    ]


def _kinesis_requests(operation: str, params: Mapping[str, Any], where: str, url: str) -> list[Request]:
    if operation not in ("PutRecord", "PutRecords"):
        raise AccessDenied(f"the local IAM check has no model of kinesis:{operation}")
    stream = params.get("StreamARN") or f"arn:aws:kinesis:{where}:stream/{params.get('StreamName')}"
    return [Request(f"kinesis:{operation}", str(stream))]


def _sqs_requests(operation: str, params: Mapping[str, Any], where: str, url: str) -> list[Request]:
    if operation not in ("SendMessage", "SendMessageBatch"):
        raise AccessDenied(f"the local IAM check has no model of sqs:{operation}")
    name = str(params.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
    return [Request("sqs:SendMessage", f"arn:aws:sqs:{where}:{name}")]


def _secretsmanager_requests(
    operation: str, params: Mapping[str, Any], where: str, url: str
) -> list[Request]:
    """A secret read by its ARN, as the functions read theirs (the ARN is in their environment). A
    name or a partial ARN would need the secret's full ARN, which only the endpoint knows: refused
    here rather than guessed."""
    secret = str(params.get("SecretId", ""))
    if operation != "GetSecretValue" or not secret.startswith(f"arn:aws:secretsmanager:{where}:secret:"):
        raise AccessDenied(f"the local IAM check has no model of secretsmanager:{operation} of {secret!r}")
    return [Request("secretsmanager:GetSecretValue", secret)]


def _connections_requests(operation: str, params: Mapping[str, Any], where: str, url: str) -> list[Request]:
    if operation not in _CONNECTION_METHODS:
        raise AccessDenied(f"the local IAM check has no model of execute-api:{operation}")
    stage = urlsplit(url).path.strip("/").split("/")[0]
    resource = (
        f"arn:aws:execute-api:{where}:{LOCAL_WEBSOCKET_API_ID}/{stage}/{_CONNECTION_METHODS[operation]}/"
        f"@connections/{params.get('ConnectionId', '')}"
    )
    return [Request("execute-api:ManageConnections", resource)]


_CONNECTION_METHODS = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}
_DYNAMODB_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _dynamodb_requests(operation: str, params: Mapping[str, Any], where: str, url: str) -> list[Request]:
    tables = f"arn:aws:dynamodb:{where}:table/"
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [
            Request(f"dynamodb:{operation}", f"{tables}{name}") for name in sorted(params["RequestItems"])
        ]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for item in params["TransactItems"]:
            (kind, body), *_ = item.items()
            found.append(Request(_DYNAMODB_TRANSACT_ACTIONS[kind], f"{tables}{body['TableName']}"))
        return found
    resource = f"{tables}{params['TableName']}"
    if params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    return [Request(f"dynamodb:{operation}", resource)]


def _s3_requests(operation: str, params: Mapping[str, Any], where: str, url: str) -> list[Request]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
    if operation in ("ListObjectsV2", "ListObjects"):
        return [Request("s3:ListBucket", bucket, {"s3:prefix": str(params.get("Prefix") or "")})]
    if operation == "ListObjectVersions":
        return [Request("s3:ListBucketVersions", bucket, {"s3:prefix": str(params.get("Prefix") or "")})]
    if operation == "DeleteObjects":
        keys = [str(o["Key"]) for o in params.get("Delete", {}).get("Objects", [])]
        return [Request("s3:DeleteObject", f"{bucket}/{key}") for key in keys]
    single = {
        "GetObject": "s3:GetObject",
        "HeadObject": "s3:GetObject",
        "PutObject": "s3:PutObject",
        "DeleteObject": "s3:DeleteObject",
        "CreateMultipartUpload": "s3:PutObject",
        "UploadPart": "s3:PutObject",
        "CompleteMultipartUpload": "s3:PutObject",
        "AbortMultipartUpload": "s3:AbortMultipartUpload",
    }
    if operation in single:
        action = single[operation]
        if params.get("VersionId") and action in ("s3:GetObject", "s3:DeleteObject"):
            action += "Version"
        return [Request(action, f"{bucket}/{params.get('Key', '')}")]
    raise AccessDenied(f"the local IAM check has no model of s3:{operation}")


_SERVICES = {
    "dynamodb": _dynamodb_requests,
    "s3": _s3_requests,
    "events": _events_requests,
    "kinesis": _kinesis_requests,
    "sqs": _sqs_requests,
    "secretsmanager": _secretsmanager_requests,
    "execute-api": _connections_requests,
}


def allows(statements: Iterable[Statement], request: Request) -> bool:
    """IAM's evaluation of identity-based Allow statements: some statement names the action (case
    insensitive, `*` and `?` wildcards) and the resource, and its every condition holds."""
    return any(
        any(_glob(pattern, request.action, ignore_case=True) for pattern in statement.actions)
        and any(_glob(pattern, request.resource) for pattern in statement.resources)
        and _conditions_hold(statement.conditions, request.context)
        for statement in statements
    )


def _conditions_hold(
    conditions: Mapping[str, Mapping[str, Sequence[str]]], context: Mapping[str, str]
) -> bool:
    for operator, keys in conditions.items():
        for key, patterns in keys.items():
            value = context.get(key)
            if value is None:
                return False  # IAM: a condition on a key the request lacks does not hold
            if operator == "StringLike":
                matched = any(_glob(p, value) for p in patterns)
            elif operator == "StringEquals":
                matched = value in patterns
            else:
                raise ValueError(f"the local IAM check has no model of the condition {operator}")
            if not matched:
                return False
    return True


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


class CallCheck:
    """The botocore hook refusing what a function's role does not allow (see the module doc).

    Installed once per process on boto3's default session, which every function's clients come
    from; an access key it does not know (the operator's, a test's) passes unchecked."""

    _installed: CallCheck | None = None
    _install_lock = threading.Lock()

    def __init__(self) -> None:
        self._identities: dict[str, Identity] = {}
        self._lock = threading.Lock()
        self.calls: deque[Call] = deque(maxlen=CALLS_KEPT)

    @classmethod
    def installed(cls) -> CallCheck:
        """The process's check, registered on boto3's default session the first time."""
        with cls._install_lock:
            if cls._installed is None:
                import boto3

                check = cls()
                session = boto3._get_default_session()  # where boto3.client() makes its clients
                session.events.register(
                    "before-parameter-build", _keep_params, unique_id="ddgui-local-iam-params"
                )
                session.events.register("before-call", check._before_call, unique_id="ddgui-local-iam")
                cls._installed = check
            return cls._installed

    def register(self, access_key_id: str, identity: Identity) -> None:
        with self._lock:
            self._identities[access_key_id] = identity

    def forget(self, access_key_ids: Iterable[str]) -> None:
        with self._lock:
            for key in access_key_ids:
                self._identities.pop(key, None)

    def calls_of(self, function: str) -> list[Call]:
        return [call for call in list(self.calls) if call.function == function]

    def _before_call(
        self,
        *,
        model: Any,
        params: Mapping[str, Any],
        request_signer: Any,
        context: Mapping[str, Any],
        **_: Any,
    ) -> None:
        """`params` is the serialized request here; the call's own parameters were kept in its
        context by `_keep_params` when botocore began to build it."""
        credentials = getattr(request_signer, "_credentials", None)
        key = credentials.access_key if credentials is not None else None
        identity = self._identities.get(key) if key else None
        if identity is None:
            return
        service = model.service_model.signing_name
        operation = model.name
        api_params = context.get(_PARAMS_KEY) or {}
        try:
            wanted = requests_of(
                service, operation, api_params, region=identity.region, url=params.get("url")
            )
        except AccessDenied as exc:
            self.calls.append(
                Call(identity.function, identity.region, operation, f"{service}:{operation}", "", False)
            )
            raise _denied(operation, str(exc)) from None
        for request in wanted:
            allowed = allows(identity.statements, request)
            self.calls.append(
                Call(identity.function, identity.region, operation, request.action, request.resource, allowed)
            )
            if not allowed:
                raise _denied(
                    operation,
                    f"User: {identity.arn} is not authorized to perform: {request.action} on resource: "
                    f"{request.resource} because no identity-based policy allows the {request.action} action",
                )


_PARAMS_KEY = "ddgui.iam.params"


def _keep_params(*, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS_KEY] = dict(params)


def _denied(operation: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {
            "Error": {"Code": "AccessDeniedException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        operation,
    )
    return error
