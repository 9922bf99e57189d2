"""Each function's IAM permissions, from the manifest: the one list both renderings read.

The stacks turn these grants into the statements of each function's role; the local runtime turns
them into the policy of a role per function in its AWS endpoint, and checks every call a function
makes against them (local/iam.py). `tests/stacks/test_grants.py` proves that the synthesized
template's role policies hold exactly these grants, so a call the local runtime allows is a call
the deployed role allows, and an action or resource missing here fails locally as it would in AWS.

A grant names its resources abstractly (`Target`): a store's table, the bucket's objects under a
prefix, the stream... Each rendering resolves a target to an ARN of its own (a CloudFormation
reference in the stacks, the local endpoint's ARN locally). Imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stacks.manifest_model import BUCKET_ACTIONS, STORE_ACTIONS, Function, Manifest, stream_consumer_name

# What Lambda's poller needs of a DynamoDB stream, granted on that one stream (AWS documents the
# same list on the stream ARN; the CDK's grantStreamRead would add ListStreams on '*').
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
# What Lambda's poller needs of a Kinesis stream (shared-throughput consumer), on that one stream.
# The stream is encrypted with the AWS-managed key, which needs no grant.
KINESIS_READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
# What Lambda's poller needs of an enhanced fan-out consumer it reads through (the stream's own list
# above too, on the stream), on that one consumer: the CDK's StreamConsumer.grantRead grants the same.
CONSUMER_READ_ACTIONS = ("kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard")
# The management API of the WebSocket stage (`@connections`): post, read and close a connection.
MANAGE_CONNECTIONS_ACTION = "execute-api:ManageConnections"
CONNECTION_METHODS = ("DELETE", "GET", "POST")
PUT_EVENTS_ACTION = "events:PutEvents"
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# Active tracing: neither action supports resource-level permissions.
TRACE_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
# What Lambda needs of an on-failure destination queue (the CDK grants the same list).
FAILURE_QUEUE_ACTIONS = ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
# A consumer's poison records, one message each, into the region's quarantine queue (its URL comes
# from the environment, so no GetQueueUrl; its SQS-managed key needs no KMS grant).
QUARANTINE_ACTIONS = ("sqs:SendMessage",)
# A function sending to a queue of the manifest (`Function.sends_to`: the migrations' work items); the
# queue's SQS-managed key needs no KMS grant.
QUEUE_SEND_ACTIONS = ("sqs:SendMessage",)
# What Lambda's poller needs of a queue feeding a function (`Function.queue_sources`), on that one
# queue: AWS's AWSLambdaSQSQueueExecutionRole lists the same three.
QUEUE_SOURCE_ACTIONS = ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")
# A secret of the manifest a function reads (`Function.secrets`: the cursor key), on that one secret. It
# is encrypted with the AWS-managed key aws/secretsmanager, which needs no KMS grant.
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue",)
# Mounting a file system of the manifest (`Function.file_system`) and writing to it, on that one file
# system and only through its access point (the condition): Lambda mounts it with the role's
# permissions (IAM authorization), the function's code never calls EFS. The CDK's
# `FileSystem.fromEfsAccessPoint` grants ClientMount on Resource '*' instead.
FILE_SYSTEM_ACTIONS = ("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite")
ACCESS_POINT_CONDITION_KEY = "elasticfilesystem:AccessPointArn"
# What Lambda needs of a function in a VPC (a file system's function is in the region's network):
# the network interfaces it makes in the function's subnets, on Resource '*' as AWS documents them
# (ec2:DescribeNetworkInterfaces works on '*' only; AWSLambdaVPCAccessExecutionRole has the same
# six). Not the managed policy: the roles carry none.
VPC_ACCESS_ACTIONS = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
)


def access_point(file_system: str) -> str:
    """A condition value standing for the ARN of `file_system`'s access point: each rendering puts
    the ARN in its place (`resolve_condition_value`)."""
    return f"<access-point:{file_system}>"


def resolve_condition_value(value: str, access_point_arn: Callable[[str], str]) -> str:
    """`value`, or the ARN `access_point_arn` gives for the file system it stands for."""
    if value.startswith("<access-point:") and value.endswith(">"):
        return access_point_arn(value.removeprefix("<access-point:").removesuffix(">"))
    return value


@dataclass(frozen=True, order=True)
class Target:
    """A resource a grant names, resolved by each rendering.

    kinds: `any` (`*`), `log_group` (the function's own), `table` / `table_indexes` /
    `table_stream` (`name`: the store), `bucket`, `bucket_objects` (`name`: the prefix), `bus`,
    `stream`, `stream_consumer` (`name`: an enhanced fan-out consumer of the stream, as
    `stream_consumer_name` names it), `connections` (`name`: the HTTP method of the management
    API), `queue` (`name`: which on-failure queue: `<source>` of an event source mapping, or
    `async`), `quarantine` (the manifest's quarantine queue), `work_queue` (`name`: another
    queue of the manifest, such as `migration-work`), `secret` (`name`: a secret of the manifest,
    such as `cursor-key`), `file_system` (`name`: a file system of the manifest, such as `search`).
    """

    kind: str
    name: str = ""


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    targets: tuple[Target, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # Made by the Lambda service with the role, never by the function's code (the event source
    # mappings' pollers, on-failure destinations, log delivery, tracing): the local runtime plays
    # those services itself and leaves these out of the functions' local policies.
    service_only: bool = False


def grants(manifest: Manifest, fn: Function) -> tuple[Grant, ...]:
    """Every permission `fn`'s role holds, in a stable order."""
    found: list[Grant] = [
        Grant(TRACE_ACTIONS, (Target("any"),), service_only=True),
        Grant(LOG_WRITE_ACTIONS, (Target("log_group"),), service_only=True),
    ]
    for store_name, access in fn.stores.items():
        targets = [Target("table", store_name)]
        if manifest.store(store_name).indexes:
            targets.append(Target("table_indexes", store_name))
        found.append(Grant(STORE_ACTIONS[access], tuple(targets)))
    if fn.bucket_access is not None:
        actions = BUCKET_ACTIONS[fn.bucket_access]
        object_actions = tuple(a for a in actions if a != "s3:ListBucket")
        if object_actions:
            found.append(
                Grant(object_actions, tuple(Target("bucket_objects", p) for p in fn.bucket_prefixes))
            )
        if "s3:ListBucket" in actions:
            found.append(
                Grant(
                    ("s3:ListBucket",),
                    (Target("bucket"),),
                    {"StringLike": {"s3:prefix": tuple(f"{p}*" for p in fn.bucket_prefixes)}},
                )
            )
    if fn.publishes_to_bus:
        found.append(Grant((PUT_EVENTS_ACTION,), (Target("bus"),)))
    if fn.manages_connections:
        found.append(
            Grant((MANAGE_CONNECTIONS_ACTION,), tuple(Target("connections", m) for m in CONNECTION_METHODS))
        )
    if fn.quarantines:
        found.append(Grant(QUARANTINE_ACTIONS, (Target("quarantine"),)))
    found += [Grant(SECRET_READ_ACTIONS, (Target("secret", secret),)) for secret in fn.secrets]
    found += _file_system_grants(fn)
    found += _queue_grants(fn)
    for source in fn.stream_sources:
        found.append(Grant(STREAM_READ_ACTIONS, (Target("table_stream", source.store),), service_only=True))
        found.append(Grant(FAILURE_QUEUE_ACTIONS, (Target("queue", source.store),), service_only=True))
    for kinesis_source in fn.kinesis_sources:
        found.append(Grant(KINESIS_READ_ACTIONS, (Target("stream"),), service_only=True))
        if kinesis_source.enhanced_fan_out:
            consumer = stream_consumer_name(fn.name, kinesis_source.stream)
            found.append(
                Grant(CONSUMER_READ_ACTIONS, (Target("stream_consumer", consumer),), service_only=True)
            )
        found.append(
            Grant(FAILURE_QUEUE_ACTIONS, (Target("queue", kinesis_source.stream),), service_only=True)
        )
    invoked_async = any(rule.function == fn.name for rule in manifest.rules) or any(
        schedule.function == fn.name for schedule in manifest.schedules
    )
    if invoked_async:
        found.append(Grant(FAILURE_QUEUE_ACTIONS, (Target("queue", "async"),), service_only=True))
    return tuple(found)


def _file_system_grants(fn: Function) -> list[Grant]:
    """Mounting the function's file system through its access point, and the network interfaces of
    the VPC it runs in for that: both Lambda's doing, with the role."""
    if fn.file_system is None:
        return []
    return [
        Grant(
            FILE_SYSTEM_ACTIONS,
            (Target("file_system", fn.file_system),),
            {"StringEquals": {ACCESS_POINT_CONDITION_KEY: (access_point(fn.file_system),)}},
            service_only=True,
        ),
        Grant(VPC_ACCESS_ACTIONS, (Target("any"),), service_only=True),
    ]


def _queue_grants(fn: Function) -> list[Grant]:
    """Sending to the manifest's work queues, and what Lambda's poller needs of a queue source."""
    found = [Grant(QUEUE_SEND_ACTIONS, (Target("work_queue", queue),)) for queue in fn.sends_to]
    found += [
        Grant(QUEUE_SOURCE_ACTIONS, (Target("work_queue", source.queue),), service_only=True)
        for source in fn.queue_sources
    ]
    return found


def permissions(manifest: Manifest, fn: Function) -> set[tuple[str, Target, str]]:
    """`fn`'s grants as (action, target, conditions as text) triples: the shape to compare two
    renderings in, whatever statements each merged or split."""
    return {
        (action, target, _conditions_text(grant.conditions))
        for grant in grants(manifest, fn)
        for action in grant.actions
        for target in grant.targets
    }


def _conditions_text(conditions: Mapping[str, Mapping[str, tuple[str, ...]]]) -> str:
    return repr(
        sorted(
            (op, sorted((key, sorted(values)) for key, values in keys.items()))
            for op, keys in conditions.items()
        )
    )
