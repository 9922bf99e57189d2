"""The model of the manifest: what a store, a queue, a rule, a function... of the application is, and
how the whole (`Manifest`) checks itself and tells a function its environment.

`stacks/manifest.py` declares the application with it; `stacks/` renders that into CloudFormation
and `local/` into moto resources and a local gateway. It imports nothing heavier than the standard
library so the local runtime and the tests can load it without the CDK.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

APP_NAME = "ddgui"
API_PREFIX = "/service/gui"
METRICS_NAMESPACE = "DomainDetermine/GUI"
# The environment variable telling a function of a schedule's per-tenant work its cycle (seconds).
TENANT_WORK_CYCLE_ENV = "TENANT_WORK_CYCLE_S"


class Access(Enum):
    """What a function may do with a store; each level maps to a fixed list of IAM actions."""

    READ = "read"
    READ_SCAN = "read_scan"  # read, and Scan the whole table (the tenants table, by the schedules)
    READ_WRITE = "read_write"
    APPEND = "append"  # put only: no update, no delete (the audit store)
    READ_APPEND = "read_append"  # read, and put only (the audit store, for the admin who reads it)
    REDEEM = "redeem"  # delete only, returning what it deleted (the authorizer, spending a stream ticket)
    READ_UPDATE = "read_update"  # read, and update an item: no put, no delete (the index drift check)


STORE_ACTIONS: dict[Access, tuple[str, ...]] = {
    Access.READ: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
    ),
    Access.READ_SCAN: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
    ),
    Access.READ_WRITE: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ),
    Access.APPEND: ("dynamodb:PutItem", "dynamodb:DescribeTable"),
    Access.READ_APPEND: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:PutItem",
    ),
    Access.REDEEM: ("dynamodb:DeleteItem",),
    Access.READ_UPDATE: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateItem",
    ),
}

# The same levels on the bucket. Listed action by action, like STORE_ACTIONS, because the CDK's
# bucket grants use wildcard actions (`s3:GetObject*`, `s3:List*`).
BUCKET_ACTIONS: dict[Access, tuple[str, ...]] = {
    Access.READ: ("s3:GetObject", "s3:ListBucket"),
    Access.READ_SCAN: ("s3:GetObject", "s3:ListBucket"),
    Access.READ_WRITE: ("s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"),
    Access.APPEND: ("s3:PutObject",),
    Access.READ_APPEND: ("s3:GetObject", "s3:ListBucket", "s3:PutObject"),
}


@dataclass(frozen=True)
class Key:
    name: str
    type: str = "S"  # S or N, as DynamoDB spells attribute types


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: Key
    sort_key: Key | None = None


@dataclass(frozen=True)
class Store:
    """A DynamoDB table. Every partition key value begins with the tenant id, but the migrations
    ledger's: region-level operational data, keyed by the migration."""

    name: str
    purpose: str
    partition_key: Key = Key("pk")
    sort_key: Key | None = Key("sk")
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    stream: str | None = None  # a StreamViewType, or None for no stream

    @property
    def env_var(self) -> str:
        """Environment variable through which a function learns the table name."""
        return f"{self.name.upper()}_TABLE"

    def local_table_name(self) -> str:
        return f"{APP_NAME}-{self.name}"


@dataclass(frozen=True)
class Bucket:
    name: str
    purpose: str
    # Prefixes whose replaced or deleted objects (noncurrent versions) expire sooner than the
    # bucket's default: (prefix, days).
    short_lived_versions: tuple[tuple[str, int], ...] = ()

    @property
    def env_var(self) -> str:
        return f"{self.name.upper()}_BUCKET"

    def local_bucket_name(self, region: str) -> str:
        return f"{APP_NAME}-{self.name}-{region}"


@dataclass(frozen=True)
class Bus:
    name: str
    purpose: str

    @property
    def env_var(self) -> str:
        return f"{self.name.upper()}_BUS"

    def local_bus_name(self) -> str:
        return f"{APP_NAME}-{self.name}"


@dataclass(frozen=True)
class Stream:
    name: str
    purpose: str
    # The local runtime's and the default stage's; a stage sizes its own (`stream_capacity` in the
    # CDK context: shards, or on demand).
    shards: int = 1
    retention_hours: int = 24

    @property
    def env_var(self) -> str:
        return f"{self.name.upper()}_STREAM"

    def local_stream_name(self) -> str:
        return f"{APP_NAME}-{self.name}"


@dataclass(frozen=True)
class Queue:
    """An SQS queue the functions themselves send to (the services' dead-letter queues are the
    stacks' own): the quarantine of the stream's poison records, kept for an operator to inspect,
    replay or discard (`ddgui quarantine`)."""

    name: str
    purpose: str
    retention_days: int = 14  # SQS's maximum
    # How long a message received stays hidden from other receivers (SQS's default: 30 s). A queue
    # feeding a function must hold it at least the function's timeout (Lambda refuses the mapping
    # otherwise); AWS advises six times it, so a throttled or retried batch is not redelivered early.
    visibility_timeout_s: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= 14:
            raise ValueError(f"queue {self.name!r}: SQS keeps a message 1 minute to 14 days")
        if not 0 <= self.visibility_timeout_s <= 12 * 3600:
            raise ValueError(f"queue {self.name!r}: SQS hides a message 0 s to 12 h")

    @property
    def env_var(self) -> str:
        """Environment variable through which a function learns the queue's URL."""
        return f"{self.name.upper().replace('-', '_')}_QUEUE_URL"

    def local_queue_name(self) -> str:
        return f"{APP_NAME}-{self.name}"


@dataclass(frozen=True)
class Secret:
    """A Secrets Manager secret of the region, its value generated at its creation (the stacks:
    `generate_secret_string`; locally: random bytes in moto) and never written anywhere else. A
    function reading it (`Function.secrets`) learns its ARN (`Secret.env_var`) and may
    secretsmanager:GetSecretValue on it alone."""

    name: str
    purpose: str
    length: int = 64  # characters of the generated value (letters and digits)

    @property
    def env_var(self) -> str:
        """Environment variable through which a function learns the secret's ARN."""
        return f"{self.name.upper().replace('-', '_')}_SECRET_ARN"

    def local_secret_name(self) -> str:
        return f"{APP_NAME}-{self.name}"


# Lambda's rule for where a function sees a file system: `/mnt/<name>`.
_LAMBDA_MOUNT_PATH = re.compile(r"^/mnt/[a-zA-Z0-9-_.]+$")


@dataclass(frozen=True)
class FileSystem:
    """A file system of the region that functions mount (`Function.file_system`): Amazon EFS in the
    stacks, reached through one access point (`root`, owned by `uid`/`gid` with `permissions`), with
    the region's network the mount needs; locally, a folder per region that every mounting function's
    containers share. A mounting function sees it at `mount_path` and learns that path from its
    environment (`FileSystem.env_var`).

    A cache, never a source of truth: what it holds can be fetched again from the bucket."""

    name: str
    purpose: str
    mount_path: str  # where Lambda mounts it in the function, `/mnt/<name>`
    root: str = "/"  # the access point's folder in the file system, made on the first mount
    uid: int = 1000  # the POSIX user and group the functions act as on it (the access point's)
    gid: int = 1000
    permissions: str = "750"  # of `root` when the access point makes it

    def __post_init__(self) -> None:
        if not _LAMBDA_MOUNT_PATH.match(self.mount_path) or len(self.mount_path) > 160:
            raise ValueError(f"file system {self.name!r}: Lambda mounts at /mnt/<name> (160 characters)")
        if not self.root.startswith("/"):
            raise ValueError(f"file system {self.name!r}: the access point's root is an absolute path")
        if not re.fullmatch(r"[0-7]{3,4}", self.permissions):
            raise ValueError(f"file system {self.name!r}: permissions are octal, such as 750")

    @property
    def env_var(self) -> str:
        """Environment variable through which a mounting function learns where the file system is."""
        return f"{self.name.upper().replace('-', '_')}_SHARED_DIR"


@dataclass(frozen=True)
class Rule:
    """An EventBridge rule on the bus: matching events go to the stream or to a function.

    `sources` are prefixes (`domaindetermine.jobs` matches `domaindetermine.jobs` and
    `domaindetermine.jobs.executor`); every domain event's source is `domaindetermine.<module>`.
    """

    name: str
    bus: str
    sources: tuple[str, ...]
    detail_types: tuple[str, ...] = ()
    stream: str | None = None
    function: str | None = None
    partition_key_path: str = "$.detail.tenant"  # for a stream target
    # Keys the event's detail must have (`{"exists": true}` in the pattern): an event without its
    # tenant cannot be partitioned by tenant, and EventBridge would fail to put it on the stream.
    required_detail: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.stream is None) == (self.function is None):
            raise ValueError(f"rule {self.name!r} needs exactly one target: a stream or a function")

    def event_pattern(self) -> dict[str, object]:
        """The rule's EventBridge pattern (sources are prefixes), as the stack and the local bus
        both render it."""
        pattern: dict[str, object] = {"source": [{"prefix": prefix} for prefix in self.sources]}
        if self.detail_types:
            pattern["detail-type"] = list(self.detail_types)
        if self.required_detail:
            pattern["detail"] = {key: [{"exists": True}] for key in self.required_detail}
        return pattern

    def matches(self, source: str, detail_type: str, detail: Mapping[str, object] | None = None) -> bool:
        return (
            any(source.startswith(prefix) for prefix in self.sources)
            and (not self.detail_types or detail_type in self.detail_types)
            and all(key in (detail or {}) for key in self.required_detail)
        )


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path with {parameters}
    scope: str | None  # the scope the route demands (enforced in the function); None: public
    summary: str
    # Besides the Authorization header, the route takes a single-use stream ticket as `?ticket=`
    # (`Authorizer.ticket_parameter`; EventSource cannot set headers, and no long-lived credential
    # rides in a URL). API Gateway requires every identity source of an authorizer, so such a route
    # has an authorizer of its own with none, uncached: it is invoked on every request.
    accepts_ticket: bool = False
    # The route's document names what it reads and changes (GraphQL): each field demands its own
    # scope (an error of that field), so the route demands none of its own.
    field_scopes: bool = False

    @property
    def full_path(self) -> str:
        return f"{API_PREFIX}{self.path}" if self.path else API_PREFIX


@dataclass(frozen=True)
class StreamSource:
    """A store's DynamoDB stream feeding a function through an event source mapping."""

    store: str
    ttl_removals_only: bool = False  # only the REMOVE records DynamoDB's TTL makes
    batch_size: int = 100
    max_retries: int = 5


@dataclass(frozen=True)
class KinesisSource:
    """The stream feeding a function through an event source mapping, with Lambda's batch
    semantics: batch size and window, partial batch failures reported by the function, a failing
    batch split in halves, bounded retries, then an on-failure destination."""

    stream: str
    batch_size: int = 100
    # How long Lambda gathers records before it invokes with less than a full batch (0 to 300 s; 0:
    # as soon as records are there).
    batching_window_s: int = 1
    max_retries: int = 3
    max_record_age_s: int = 3600
    # Concurrent batches per shard (1 to 10): Lambda deals a shard's records to them by partition
    # key, each key's records in order.
    parallelization_factor: int = 1
    # Where a new mapping starts: the oldest record kept (a mapping created or replaced while events
    # arrive must not skip them; handlers are idempotent on event ids, so a replay is harmless).
    starting_position: str = "TRIM_HORIZON"
    # Only records whose EventBridge envelope has one of these `detail-type`s reach the function (the
    # mapping's filter criteria on the record's JSON data; Lambda drops the others); empty: every one.
    detail_types: tuple[str, ...] = ()
    # Read through an enhanced fan-out consumer of its own (`AWS::Kinesis::StreamConsumer`, named
    # `stream_consumer_name`): Kinesis pushes each shard's records to the mapping over HTTP/2 (about
    # 70 ms after a put) with 2 MB/s per shard of its own, instead of Lambda polling each shard about
    # once a second with the stream's other consumers (a per consumer-shard hour and per GB charge).
    enhanced_fan_out: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.parallelization_factor <= 10:
            raise ValueError(f"kinesis source {self.stream!r}: a parallelization factor is 1 to 10")
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"kinesis source {self.stream!r}: a batch is 1 to 10,000 records")
        if not 0 <= self.batching_window_s <= 300:
            raise ValueError(f"kinesis source {self.stream!r}: a batching window is 0 to 300 s")


def stream_consumer_name(function: str, stream: str) -> str:
    """The name of the enhanced fan-out consumer that `function`'s mapping of `stream` reads through
    (unique among the stream's consumers: one mapping per function and stream)."""
    return f"{function}-{stream}"


@dataclass(frozen=True)
class QueueSource:
    """A queue of the manifest feeding a function through an SQS event source mapping: at most
    `batch_size` messages per invocation, the failed ones reported by the function
    (ReportBatchItemFailures) and received again after the queue's visibility timeout; a message
    received `max_receives` times goes to the queue's dead-letter queue (the queue's redrive policy,
    rendered with the queue). At most `max_concurrency` invocations run at once (the mapping's
    scaling limit): a backfill of many tenants must not take the region's concurrency from the API."""

    queue: str
    batch_size: int = 1
    max_receives: int = 3
    max_concurrency: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"queue source {self.queue!r}: Lambda takes 1 to 10,000 messages a batch")
        if not 2 <= self.max_concurrency <= 1000:
            raise ValueError(f"queue source {self.queue!r}: an SQS mapping's concurrency is 2 to 1,000")
        if not 1 <= self.max_receives <= 1000:
            raise ValueError(f"queue source {self.queue!r}: SQS redrives after 1 to 1,000 receives")


@dataclass(frozen=True)
class WebSocketRoute:
    """A route of the WebSocket API (route selection `$request.body.action`)."""

    route_key: str
    summary: str


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule invoking a function with a `Scheduled Event` every `every_s` seconds
    (`rate(...)`, in whole minutes in AWS; the local runtime fires it on its own interval)."""

    name: str
    function: str
    every_s: int
    purpose: str

    def __post_init__(self) -> None:
        if self.every_s < 60 or self.every_s % 60:
            raise ValueError(f"schedule {self.name!r}: EventBridge rates are whole minutes")

    @property
    def rate_minutes(self) -> int:
        return self.every_s // 60


SNAP_START_MAX_TMP_MB = 512  # Lambda's limit for a SnapStart function's /tmp


@dataclass(frozen=True)
class Function:
    # The logical name (CloudFormation's, Lambda's). Its entry module is named after it:
    # `functions/<name>/handler.py` for a function named like its package, else
    # `functions/<package>/<name>.py` (tests/unit/test_entry_points.py holds every function to it).
    name: str
    handler: str  # import path, identical in Lambda, the local runtime and tests
    purpose: str
    memory_mb: int = 512
    timeout_s: int = 15
    # Lambda's /tmp of the function (512 MB to 10,240 MB); the local runtime holds each container to it.
    ephemeral_storage_mb: int = 512
    # Concurrent executions reserved for (and capped at) the function; None: the region's unreserved
    # pool. A stage may change or drop it (`reserved_concurrency` in the CDK context); the local
    # runtime throttles past it as Lambda does.
    reserved_concurrency: int | None = None
    stores: dict[str, Access] = field(default_factory=dict)
    bucket_access: Access | None = None
    # The key prefixes of the data bucket the function may reach (its IAM policy names them: object
    # ARNs under them, ListBucket conditioned on them); required with `bucket_access`.
    bucket_prefixes: tuple[str, ...] = ()
    publishes_to_bus: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    layers: tuple[str, ...] = ("deps",)
    stream_sources: tuple[StreamSource, ...] = ()
    kinesis_sources: tuple[KinesisSource, ...] = ()
    websocket_routes: tuple[WebSocketRoute, ...] = ()
    # Posts to WebSocket connections through the management API (`@connections`).
    manages_connections: bool = False
    # A consumer of the stream that sends each poison record (undecodable, unknown schema version,
    # invalid, a tenant not homed here) to the quarantine queue instead of dropping it.
    quarantines: bool = False
    # The manifest's queues the function consumes through an SQS event source mapping, and those it
    # sends messages to (it learns each one's URL, `Queue.env_var`, and may sqs:SendMessage on it).
    queue_sources: tuple[QueueSource, ...] = ()
    sends_to: tuple[str, ...] = ()
    # The manifest's secrets the function reads (it learns each one's ARN, `Secret.env_var`).
    secrets: tuple[str, ...] = ()
    # Other packages of functions/ shipped with this one (their pure modules: models, rules,
    # repositories), so two functions apply one set of rules without copying it.
    shared_packages: tuple[str, ...] = ()
    # The part of the regional stack the function belongs to (one construct per concern): `api`
    # (REST groups, their authorizer and the consumers that keep their records), `realtime`,
    # `fanout`, `search`, `telemetry`, `migrations`.
    concern: str = "api"
    # Lambda SnapStart where the stage turns it on (`snap_start` in the CDK context, on for the
    # production stages): the functions of the request and live paths, whose cold start a user waits
    # for. Each deployment publishes a version, snapshotted after its init and gui_core.snapstart's
    # before-snapshot hook; API Gateway and the event source mappings invoke the `live` alias.
    # Lambda refuses SnapStart with more than 512 MB of /tmp, with EFS (`file_system`: the model refuses
    # both combinations) and with provisioned concurrency.
    snap_start: bool = False
    # The manifest's file system the function mounts (`Manifest.file_systems`; Lambda mounts one at
    # most). The stacks put the function in the region's network (the file system's VPC) to reach it.
    file_system: str | None = None

    def __post_init__(self) -> None:
        if not 512 <= self.ephemeral_storage_mb <= 10240:
            raise ValueError(f"{self.name}: Lambda's /tmp is 512 to 10,240 MB")
        if self.snap_start and self.ephemeral_storage_mb > SNAP_START_MAX_TMP_MB:
            raise ValueError(f"{self.name}: Lambda refuses SnapStart with more than 512 MB of /tmp")
        if self.snap_start and self.file_system is not None:
            raise ValueError(f"{self.name}: Lambda refuses SnapStart for a function that mounts EFS")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise ValueError(f"{self.name}: a reserved concurrency is at least 1 (0 would disable it)")
        if (self.bucket_access is None) != (not self.bucket_prefixes):
            raise ValueError(f"{self.name}: bucket access and bucket prefixes go together")
        if any(not p or not p.endswith("/") or p.startswith("/") for p in self.bucket_prefixes):
            raise ValueError(f"{self.name}: a bucket prefix is a folder such as 'search/'")

    @property
    def package(self) -> str:
        return self.handler.split(".", 1)[0]

    @property
    def packages(self) -> tuple[str, ...]:
        return (self.package, *self.shared_packages)


@dataclass(frozen=True)
class Authorizer:
    """API Gateway REQUEST authorizer: verifies the bearer token, answers policy + context.

    Two REST authorizers of the same function: the routes' one, identity source the Authorization
    header, cached per header for `cache_ttl_s`; and the one of the `accepts_ticket` routes, with no
    identity source (a request may present either the header or a ticket) and so no cache. The
    same function authorizes the WebSocket API's `$connect` (token in `Sec-WebSocket-Protocol`, or
    a ticket as `?ticket=`), with no identity source either."""

    function: Function
    identity_source: str = "Authorization"
    ticket_parameter: str = "ticket"  # gui_authorizer.identity.TICKET_PARAMETER
    cache_ttl_s: int = 300


@dataclass(frozen=True)
class WebSocketApi:
    """The regional WebSocket API: channels given at `$connect`, routes by `$request.body.action`."""

    function: str  # the function behind every route
    route_selection_expression: str = "$request.body.action"
    stage: str = "live"
    # API Gateway's quotas for WebSocket APIs: 32 KB per frame, 128 KB per message, 2 h per
    # connection, 10 min idle.
    frame_limit_bytes: int = 32 * 1024
    message_limit_bytes: int = 128 * 1024
    connection_limit_s: int = 2 * 3600
    idle_limit_s: int = 600


@dataclass(frozen=True)
class GatewayResponse:
    """A customised API Gateway response, rendered as RFC 9457 problem details."""

    type: str  # API Gateway ResponseType name
    status: int | None  # None keeps the status API Gateway chose (the DEFAULT_* types)
    code: str
    title: str
    # Literal headers of this response besides the CORS ones every response carries
    # (stacks.cors.gateway_response_headers): `Retry-After` of a throttle, `WWW-Authenticate` of a 401.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layer:
    name: str
    purpose: str
    source: str  # "core": our gui_core package; "requirements": third-party from pyproject
    requirements: tuple[str, ...] = ()  # distribution names taken from pyproject dependencies
    # Distributions that the requirements pull in but the Lambda runtime already ships: left out
    # of the layer, because a copy in /opt/python would shadow the runtime's and pair the runtime's
    # boto3 with a botocore of another version.
    runtime_provided: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    stores: tuple[Store, ...]
    bucket: Bucket
    bus: Bus
    stream: Stream
    rules: tuple[Rule, ...]
    layers: tuple[Layer, ...]
    authorizer: Authorizer
    functions: tuple[Function, ...]
    gateway_responses: tuple[GatewayResponse, ...]
    websocket: WebSocketApi | None = None
    schedules: tuple[Schedule, ...] = ()
    quarantine: Queue | None = None
    # The per-tenant work items of the schema migrations (gui_migrate): the deploy step queues them,
    # the migration worker consumes them.
    migration_queue: Queue | None = None
    # The per-tenant work items of region-wide batch work (gui_core.tenant_work): a schedule's
    # function queues one per homed tenant each cycle, and consumes them (its `queue_sources`).
    work_queues: tuple[Queue, ...] = ()
    secrets: tuple[Secret, ...] = ()
    # The region's shared file systems (EFS), mounted by the functions that name one.
    file_systems: tuple[FileSystem, ...] = ()

    def __post_init__(self) -> None:
        names = {queue.name for queue in self.queues()}
        consumers: dict[str, str] = {}
        for fn in self.all_functions():
            if fn.file_system is not None and fn.file_system not in {f.name for f in self.file_systems}:
                raise ValueError(f"{fn.name}: no file system {fn.file_system!r} in the manifest")
            for secret in fn.secrets:
                if secret not in {s.name for s in self.secrets}:
                    raise ValueError(f"{fn.name}: no secret {secret!r} in the manifest")
            for queue in (*fn.sends_to, *(source.queue for source in fn.queue_sources)):
                if queue not in names:
                    raise ValueError(f"{fn.name}: no queue {queue!r} in the manifest")
            for source in fn.queue_sources:
                if source.queue in consumers:
                    raise ValueError(f"queue {source.queue!r}: one consumer ({consumers[source.queue]})")
                consumers[source.queue] = fn.name
                if self.queue(source.queue).visibility_timeout_s < fn.timeout_s:
                    raise ValueError(
                        f"queue {source.queue!r}: its visibility timeout is shorter than the timeout "
                        f"of {fn.name}, which Lambda refuses for an event source mapping"
                    )

    def store(self, name: str) -> Store:
        return next(s for s in self.stores if s.name == name)

    def queues(self) -> tuple[Queue, ...]:
        """The queues the functions send to or consume (the services' dead-letter queues are the
        stacks' own)."""
        return tuple(q for q in (self.quarantine, self.migration_queue, *self.work_queues) if q is not None)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues() if q.name == name)

    def queue_source(self, queue: str) -> tuple[Function, QueueSource] | None:
        """The function consuming `queue` through a mapping, with its mapping; None: no consumer."""
        return next(
            ((fn, source) for fn in self.functions for source in fn.queue_sources if source.queue == queue),
            None,
        )

    def cycle_s(self, queue: str) -> int:
        """How often a tenant's work item of `queue` (one of `work_queues`) is queued: the rate of the
        schedule whose function sends to it."""
        senders = {fn.name for fn in self.all_functions() if queue in fn.sends_to}
        rates = [s.every_s for s in self.schedules if s.function in senders]
        if not rates:
            raise ValueError(f"work queue {queue!r}: no schedule's function sends to it")
        return min(rates)

    def secret(self, name: str) -> Secret:
        return next(s for s in self.secrets if s.name == name)

    def file_system(self, name: str) -> FileSystem:
        return next(f for f in self.file_systems if f.name == name)

    def mounting(self, file_system: str) -> tuple[Function, ...]:
        """The functions that mount `file_system`."""
        return tuple(fn for fn in self.all_functions() if fn.file_system == file_system)

    def function(self, name: str) -> Function:
        return next(f for f in self.all_functions() if f.name == name)

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def all_functions(self) -> tuple[Function, ...]:
        return (self.authorizer.function, *self.functions)

    def only(self, *function_names: str) -> Manifest:
        """This app with only the named functions and the rules that feed them (for tests that
        start a backend for one group)."""
        functions = tuple(fn for fn in self.functions if fn.name in function_names)
        rules = tuple(r for r in self.rules if r.function is None or r.function in function_names)
        websocket = self.websocket if self.websocket and self.websocket.function in function_names else None
        schedules = tuple(s for s in self.schedules if s.function in function_names)
        # A schedule's per-tenant work queue goes with the function that queues and takes its items.
        work_queues = tuple(q for q in self.work_queues if any(q.name in fn.sends_to for fn in functions))
        return replace(
            self,
            functions=functions,
            rules=rules,
            websocket=websocket,
            schedules=schedules,
            work_queues=work_queues,
        )

    def without(self, *function_names: str) -> Manifest:
        """This app without the named functions (and the rules and API that need them)."""
        return self.only(*(fn.name for fn in self.functions if fn.name not in function_names))

    def websocket_routes(self) -> list[tuple[WebSocketRoute, Function]]:
        return [(route, fn) for fn in self.functions for route in fn.websocket_routes]

    def routes(self) -> list[tuple[Route, Function]]:
        return [(route, fn) for fn in self.functions for route in fn.routes]

    def environment_for(
        self,
        fn: Function,
        *,
        table_names: dict[str, str],
        bucket_name: str,
        bus_name: str,
        region: str,
        stage: str,
        region_urls: Mapping[str, str] | None = None,
        cors_origins: Sequence[str] = (),
        connections_url: str | None = None,
        quarantine_url: str | None = None,
        queue_urls: Mapping[str, str] | None = None,
        secret_arns: Mapping[str, str] | None = None,
        file_system_paths: Mapping[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment a function runs with, given the physical names of the resources.

        REST functions also learn every region's base URL (to send a tenant homed elsewhere to its
        region) and the origins a browser may call them from; functions that post to WebSocket
        connections learn the management API's URL (`GUI_CONNECTIONS_URL`); functions that quarantine
        poison records, the quarantine queue's URL (`QUARANTINE_QUEUE_URL`); functions that send to a
        queue (`sends_to`), its URL from `queue_urls` by queue name (`MIGRATION_WORK_QUEUE_URL`);
        functions that read a secret (`secrets`), its ARN from `secret_arns` by secret name
        (`CURSOR_KEY_SECRET_ARN`); functions that mount a file system, where they see it
        (`SEARCH_SHARED_DIR`): its `mount_path` in Lambda, or the path `file_system_paths` gives by
        file system name (the local runtime's folder of the region).
        """
        env = {
            "POWERTOOLS_SERVICE_NAME": fn.name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "GUI_REGION": region,
            "GUI_STAGE": stage,
            **fn.environment,
            **(extra or {}),
        }
        if fn.routes:
            env["GUI_REGION_URLS"] = json.dumps(dict(region_urls or {}), sort_keys=True)
            env["GUI_CORS_ORIGINS"] = ",".join(cors_origins)
        for store_name in fn.stores:
            env[self.store(store_name).env_var] = table_names[store_name]
        if fn.bucket_access is not None:
            env[self.bucket.env_var] = bucket_name
        if fn.publishes_to_bus:
            env[self.bus.env_var] = bus_name
        if fn.manages_connections:
            if connections_url is None:
                raise ValueError(f"{fn.name} posts to connections: give the management API's URL")
            env["GUI_CONNECTIONS_URL"] = connections_url
        if fn.quarantines:
            if self.quarantine is None or quarantine_url is None:
                raise ValueError(f"{fn.name} quarantines poison records: give the quarantine queue's URL")
            env[self.quarantine.env_var] = quarantine_url
        for queue_name in fn.sends_to:
            if queue_name not in (queue_urls or {}):
                raise ValueError(f"{fn.name} sends to {queue_name}: give the queue's URL")
            env[self.queue(queue_name).env_var] = (queue_urls or {})[queue_name]
        env.update(self._work_cycle(fn))
        for secret_name in fn.secrets:
            if secret_name not in (secret_arns or {}):
                raise ValueError(f"{fn.name} reads the secret {secret_name}: give its ARN")
            env[self.secret(secret_name).env_var] = (secret_arns or {})[secret_name]
        env.update(self._mount(fn, file_system_paths or {}))
        return env

    def _mount(self, fn: Function, paths: Mapping[str, str]) -> dict[str, str]:
        """For a function that mounts a file system: where it sees it (`FileSystem.env_var`)."""
        if fn.file_system is None:
            return {}
        mounted = self.file_system(fn.file_system)
        return {mounted.env_var: paths.get(mounted.name, mounted.mount_path)}

    def _work_cycle(self, fn: Function) -> dict[str, str]:
        """For a function that queues per-tenant work (it sends to one of `work_queues`): how long a
        cycle of it lasts, its schedule's rate (`TENANT_WORK_CYCLE_ENV`)."""
        cycles = [self.cycle_s(queue.name) for queue in self.work_queues if queue.name in fn.sends_to]
        return {TENANT_WORK_CYCLE_ENV: str(min(cycles))} if cycles else {}
