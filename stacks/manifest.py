"""The one description of the application.

`stacks/` renders it into CloudFormation and `local/` renders it into moto resources and a local
gateway. A resource, a route or a permission is written here and nowhere else; both renderings and
the tests read it. It imports nothing heavier than the standard library so the local runtime and
the tests can load it without the CDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

APP_NAME = "ddgui"
API_PREFIX = "/service/gui"
METRICS_NAMESPACE = "DomainDetermine/GUI"
DEFAULT_REGIONS = ("eu-west-1", "us-east-1")
LAMBDA_PYTHON_VERSION = "3.13"


class Access(Enum):
    """What a function may do with a store; each level maps to a fixed list of IAM actions."""

    READ = "read"
    READ_SCAN = "read_scan"  # read, and Scan the whole table (the tenants table, by the schedules)
    READ_WRITE = "read_write"
    APPEND = "append"  # put only: no update, no delete (the audit store)
    READ_APPEND = "read_append"  # read, and put only (the audit store, for the admin who reads it)
    REDEEM = "redeem"  # delete only, returning what it deleted (the authorizer, spending a stream ticket)


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

    def __post_init__(self) -> None:
        if not 1 <= self.parallelization_factor <= 10:
            raise ValueError(f"kinesis source {self.stream!r}: a parallelization factor is 1 to 10")


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


@dataclass(frozen=True)
class Function:
    name: str  # the Python package under functions/, also the logical name
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

    def __post_init__(self) -> None:
        if not 512 <= self.ephemeral_storage_mb <= 10240:
            raise ValueError(f"{self.name}: Lambda's /tmp is 512 to 10,240 MB")
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
    secrets: tuple[Secret, ...] = ()

    def __post_init__(self) -> None:
        names = {queue.name for queue in self.queues()}
        consumers: dict[str, str] = {}
        for fn in self.all_functions():
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
        return tuple(q for q in (self.quarantine, self.migration_queue) if q is not None)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues() if q.name == name)

    def queue_source(self, queue: str) -> tuple[Function, QueueSource] | None:
        """The function consuming `queue` through a mapping, with its mapping; None: no consumer."""
        return next(
            ((fn, source) for fn in self.functions for source in fn.queue_sources if source.queue == queue),
            None,
        )

    def secret(self, name: str) -> Secret:
        return next(s for s in self.secrets if s.name == name)

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
        return replace(self, functions=functions, rules=rules, websocket=websocket, schedules=schedules)

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
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment a function runs with, given the physical names of the resources.

        REST functions also learn every region's base URL (to send a tenant homed elsewhere to its
        region) and the origins a browser may call them from; functions that post to WebSocket
        connections learn the management API's URL (`GUI_CONNECTIONS_URL`); functions that quarantine
        poison records, the quarantine queue's URL (`QUARANTINE_QUEUE_URL`); functions that send to a
        queue (`sends_to`), its URL from `queue_urls` by queue name (`MIGRATION_WORK_QUEUE_URL`);
        functions that read a secret (`secrets`), its ARN from `secret_arns` by secret name
        (`CURSOR_KEY_SECRET_ARN`).
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
        for secret_name in fn.secrets:
            if secret_name not in (secret_arns or {}):
                raise ValueError(f"{fn.name} reads the secret {secret_name}: give its ARN")
            env[self.secret(secret_name).env_var] = (secret_arns or {})[secret_name]
        return env


# --- the application ---------------------------------------------------------------------------

TENANTS = Store(
    name="tenants",
    purpose="Tenant records: home region, plan limits, feature flags, license policy.",
)
PREFERENCES = Store(
    name="preferences",
    purpose="User preferences, saved views and their name guards, tenant defaults and policy, "
    "preference history (expires by TTL, archived).",
    ttl_attribute="expires_at",
    stream="NEW_AND_OLD_IMAGES",
)
AUDIT = Store(
    name="audit",
    purpose="Append-only audit trail of every mutation.",
    indexes=(Index("by_actor", Key("tenant_actor"), Key("sk")),),
)
LIMITS = Store(
    name="limits",
    purpose="Rate-limit counters per tenant, route class and minute; replay reservations of "
    "mutations. Both expire by TTL.",
    ttl_attribute="expires_at",
)

JOBS = Store(
    name="jobs",
    purpose="Jobs and their attempts (JOB#<id>), idempotency records of job commands (IDEM#..., "
    "expire by TTL).",
    ttl_attribute="expires_at",
)
INBOX = Store(
    name="inbox",
    purpose="Notifications per tenant: personal and tenant-wide items with status, snooze, "
    "assignee and version; expire by TTL and are archived. Each item carries its audience's key "
    "`tenant_audience` (<tenant>#<audience>), the partition of the `by_audience` index (migration "
    "0001_inbox_audience_key set it on the items written before it).",
    indexes=(Index("by_audience", Key("tenant_audience"), Key("sk")),),
    ttl_attribute="expires_at",
    stream="NEW_AND_OLD_IMAGES",
)

ARTIFACTS = Store(
    name="artifacts",
    purpose="Artifact registry (ART#<id>) and lineage edges in both directions (OUT#/IN#), fed by "
    "ArtifactPublished/ArtifactDeprecated events.",
)
METRICS = Store(
    name="metrics",
    purpose="Dashboard and module metrics cache per tenant, time range and bucket (expires by TTL).",
    ttl_attribute="expires_at",
)

EVENTS = Store(
    name="events",
    purpose="Replay log per tenant and channel (pk <tenant>#<channel>): events by cursor (C#<cursor>) "
    "and event-id guards (E#<event id>); both expire by TTL after the replay window.",
    ttl_attribute="expires_at",
)
CONNECTIONS = Store(
    name="connections",
    purpose="WebSocket connections per tenant (CONN#<id>) and their channel subscriptions "
    "(SUB#<channel>#<id>); expire by TTL after API Gateway's connection limit.",
    ttl_attribute="expires_at",
)

MIGRATIONS = Store(
    name="migrations",
    purpose="The region's ledger of schema migrations (gui_core.migrations): per migration (pk = its "
    "id) the run record (sk RUN: status, who, when, code version, counts, duration, error) and each "
    "tenant's checkpoint (sk TENANT#<tenant>: the page reached, counts). Region-level operational "
    "data, not a tenant's: the one store whose keys begin with the migration, not the tenant.",
)

# The key the paged routes sign their cursors with (gui_core.cursors): one per region, read once per
# container at the first cursor a function issues or reads.
CURSOR_KEY = Secret(
    "cursor-key",
    "The HMAC key of the page cursors the REST functions issue (gui_core.cursors): a cursor comes back "
    "only to the route, tenant and query that issued it.",
)
# What every REST function reaches through gui_core: the caller's tenant record (residency, flags,
# limits, license), the rate-limit and replay counters, and the audit trail.
PLATFORM_STORES: dict[str, Access] = {
    "tenants": Access.READ,
    "limits": Access.READ_WRITE,
    "audit": Access.APPEND,
}

PREFERENCES_SCOPE = "gui:preferences"
ADMIN_SCOPE = "gui:admin"

_PREFS_ROUTES = (
    Route("GET", "/preferences", PREFERENCES_SCOPE, "The caller's effective preferences."),
    Route("PUT", "/preferences", PREFERENCES_SCOPE, "Replace the caller's preferences."),
    Route("GET", "/preferences/views", PREFERENCES_SCOPE, "List saved views."),
    Route("POST", "/preferences/views", PREFERENCES_SCOPE, "Create a saved view."),
    Route("GET", "/preferences/views/{view_id}", PREFERENCES_SCOPE, "Read a saved view."),
    Route("PUT", "/preferences/views/{view_id}", PREFERENCES_SCOPE, "Replace a saved view."),
    Route("DELETE", "/preferences/views/{view_id}", PREFERENCES_SCOPE, "Delete a saved view."),
    Route("GET", "/preferences/tenant", ADMIN_SCOPE, "Tenant defaults and policy."),
    Route("PUT", "/preferences/tenant", ADMIN_SCOPE, "Replace tenant defaults and policy."),
    Route("DELETE", "/preferences/users/{subject}", ADMIN_SCOPE, "Reset one user's preferences."),
)

AUTHORIZER_FUNCTION = Function(
    name="gui_authorizer",
    handler="gui_authorizer.handler.handler",
    purpose="REST API REQUEST authorizer: bearer JWT -> IAM policy + tenant context.",
    memory_mb=256,
    timeout_s=5,
    # Spends stream tickets (gui_core.stream_tickets), which the SSE function issues there.
    stores={"limits": Access.REDEEM},
)

PREFERENCES_FUNCTION = Function(
    name="gui_preferences",
    handler="gui_preferences.handler.handler",
    purpose="Preferences group: user preferences, saved views, tenant defaults and policy.",
    stores={**PLATFORM_STORES, "preferences": Access.READ_WRITE},
    environment={"PREFERENCE_HISTORY_DAYS": "180"},
    secrets=(CURSOR_KEY.name,),
    routes=_PREFS_ROUTES,
)

ADMIN_FUNCTION = Function(
    name="gui_admin",
    handler="gui_admin.handler.handler",
    purpose="Tenant administration: the audit trail, the tenant's feature flags, and the region's "
    "schema migrations with the tenant's part of each.",
    stores={
        **PLATFORM_STORES,
        "tenants": Access.READ_WRITE,
        "audit": Access.READ_APPEND,
        "migrations": Access.READ,
    },
    secrets=(CURSOR_KEY.name,),
    routes=(
        Route("GET", "/audit", ADMIN_SCOPE, "The tenant's audit trail, newest first."),
        Route("GET", "/admin/tenant", ADMIN_SCOPE, "The caller's tenant: plan, flags, limits, license tag."),
        Route("PUT", "/admin/tenant/flags", ADMIN_SCOPE, "Replace the tenant's feature flags."),
        Route(
            "GET",
            "/admin/migrations",
            ADMIN_SCOPE,
            "The region's schema migrations (phase, status, when, code version) and the tenant's "
            "checkpoint of each.",
        ),
    ),
)

ARCHIVER_FUNCTION = Function(
    name="gui_archiver",
    handler="gui_archiver.handler.handler",
    purpose="Archives items removed by TTL (preference history, notifications) to S3.",
    memory_mb=256,
    timeout_s=60,
    bucket_access=Access.APPEND,
    bucket_prefixes=("archive/",),
    stream_sources=(
        StreamSource("preferences", ttl_removals_only=True),
        StreamSource("inbox", ttl_removals_only=True),
    ),
)

ARTIFACTS_SCOPE = "gui:artifacts"
DASHBOARD_SCOPE = "gui:dashboard"

ARTIFACTS_FUNCTION = Function(
    name="gui_artifacts",
    handler="gui_artifacts.handler.handler",
    purpose="Artifacts group: the registry, lineage graphs and structured artifact search.",
    stores={**PLATFORM_STORES, "artifacts": Access.READ},
    secrets=(CURSOR_KEY.name,),
    routes=(
        Route("GET", "/artifacts/search", ARTIFACTS_SCOPE, "Structured artifact search."),
        Route("GET", "/artifacts/{id}", ARTIFACTS_SCOPE, "One artifact."),
        Route("GET", "/artifacts/{id}/lineage", ARTIFACTS_SCOPE, "An artifact's lineage graph."),
    ),
)

ARTIFACT_EVENTS_FUNCTION = Function(
    name="gui_artifact_events",
    handler="gui_artifacts.events.handler",
    purpose="Applies ArtifactPublished/ArtifactDeprecated events to the artifact registry.",
    memory_mb=256,
    timeout_s=30,
    stores={"tenants": Access.READ, "artifacts": Access.READ_WRITE},
)

DASHBOARD_FUNCTION = Function(
    name="gui_dashboard",
    handler="gui_dashboard.handler.handler",
    purpose="Dashboard group: aggregated figures with trends, and per-module time series.",
    stores={
        **PLATFORM_STORES,
        "metrics": Access.READ_WRITE,
        "jobs": Access.READ,
        "inbox": Access.READ,
        "artifacts": Access.READ,
    },
    # Cache lifetime of a range ending now, and of a closed past range (gui_dashboard/cache.py).
    environment={"METRICS_CACHE_S": "60", "METRICS_CACHE_CLOSED_S": "3600"},
    routes=(
        Route("GET", "/dashboard", DASHBOARD_SCOPE, "Aggregated figures of every module with trends."),
        Route("GET", "/metrics/{module}", DASHBOARD_SCOPE, "Time series and breakdown of one module."),
    ),
)

JOBS_SCOPE = "gui:jobs"
NOTIFICATIONS_SCOPE = "gui:notifications"

JOBS_FUNCTION = Function(
    name="gui_jobs",
    handler="gui_jobs.handler.handler",
    purpose="Jobs group: start, retry and cancel the domain's operations; list and read jobs.",
    stores={**PLATFORM_STORES, "jobs": Access.READ_WRITE},
    secrets=(CURSOR_KEY.name,),
    publishes_to_bus=True,
    # API Gateway allows one variable name per level: {id} is the verb when POSTing a new job.
    routes=(
        Route("POST", "/jobs/{id}", JOBS_SCOPE, "Start a job; {id} is the verb (ingest, coverage, ...)."),
        Route("PATCH", "/jobs/{id}/retry", JOBS_SCOPE, "Retry a failed or cancelled job."),
        Route("PATCH", "/jobs/{id}/cancel", JOBS_SCOPE, "Cancel a queued or running job."),
        Route("GET", "/jobs", JOBS_SCOPE, "List jobs."),
        Route("GET", "/jobs/{id}", JOBS_SCOPE, "A job with its attempts, progress and audit trail."),
    ),
)

JOB_EVENTS_FUNCTION = Function(
    name="gui_job_events",
    handler="gui_jobs.events.handler",
    purpose="Applies JobStatusChanged events from the executors to the job records.",
    memory_mb=256,
    timeout_s=30,
    stores={"tenants": Access.READ, "jobs": Access.READ_WRITE},
)

NOTIFICATIONS_FUNCTION = Function(
    name="gui_notifications",
    handler="gui_notifications.handler.handler",
    purpose="Notification inbox: list with badge counts; read, acknowledge, snooze, assign, archive.",
    stores={**PLATFORM_STORES, "inbox": Access.READ_WRITE},
    secrets=(CURSOR_KEY.name,),
    environment={"NOTIFICATION_RETENTION_DAYS": "90"},
    routes=(
        Route("GET", "/notifications", NOTIFICATIONS_SCOPE, "The caller's inbox with badge counts."),
        Route("GET", "/notifications/{id}", NOTIFICATIONS_SCOPE, "One notification."),
        Route("POST", "/notifications/read-all", NOTIFICATIONS_SCOPE, "Mark every unread item read."),
        Route(
            "POST",
            "/notifications/{id}/{command}",
            NOTIFICATIONS_SCOPE,
            "read, acknowledge, snooze, unsnooze, assign or archive one notification.",
        ),
    ),
)

# Live channels. The replay window is how far back a client may resume; the connection TTL is API
# Gateway's 2 h connection limit.
LIVE_ENVIRONMENT = {"REPLAY_WINDOW_S": "86400", "CONNECTION_TTL_S": "7200"}

REALTIME_FUNCTION = Function(
    name="gui_realtime",
    handler="gui_realtime.handler.handler",
    purpose="WebSocket API: connect, subscribe, unsubscribe, resume from a cursor, acknowledge, ping.",
    memory_mb=512,
    timeout_s=15,
    stores={
        **PLATFORM_STORES,
        "connections": Access.READ_WRITE,
        "events": Access.READ,
        "inbox": Access.READ_WRITE,
    },
    manages_connections=True,
    shared_packages=("gui_notifications",),
    environment={**LIVE_ENVIRONMENT, "NOTIFICATION_RETENTION_DAYS": "90"},
    websocket_routes=(
        WebSocketRoute("$connect", "Open a connection: token, tenant and first channel checked."),
        WebSocketRoute("$disconnect", "Forget a connection and its subscriptions."),
        WebSocketRoute("subscribe", "Subscribe to channels."),
        WebSocketRoute("unsubscribe", "Unsubscribe from channels."),
        WebSocketRoute("resume", "Replay a channel from a cursor, then live; a gap when too old."),
        WebSocketRoute("ack", "Acknowledge a notification (the REST command's rules and audit)."),
        WebSocketRoute("ping", "Keep the connection alive; answers pong."),
        WebSocketRoute("$default", "Any other action: an error message."),
    ),
    concern="realtime",
)

FANOUT_FUNCTION = Function(
    name="gui_fanout",
    handler="gui_fanout.handler.handler",
    purpose="Notifications publisher: GUI events from the stream to the inbox, the replay log and "
    "the subscribed connections.",
    memory_mb=1024,
    timeout_s=60,
    stores={
        "tenants": Access.READ,
        "inbox": Access.READ_WRITE,
        "events": Access.READ_WRITE,
        "connections": Access.READ_WRITE,
    },
    manages_connections=True,
    shared_packages=("gui_notifications",),
    environment={**LIVE_ENVIRONMENT, "NOTIFICATION_RETENTION_DAYS": "90", "PUSH_CONCURRENCY": "16"},
    # Ten batches of each shard at once, the records dealt by partition key (the tenant), each
    # tenant's in order: a large tenant's backlog holds back the tenants of its own lane only.
    kinesis_sources=(
        KinesisSource(
            "gui-events", batch_size=100, batching_window_s=1, max_retries=3, parallelization_factor=10
        ),
    ),
    quarantines=True,
    concern="fanout",
)

STREAM_FUNCTION = Function(
    name="gui_stream",
    handler="gui_stream.handler.handler",
    purpose="Server-sent events: one channel's events after a cursor, held open for new ones.",
    memory_mb=256,
    timeout_s=28,
    # Each open stream holds an execution up to STREAM_HOLD_S: the cap keeps open tabs from taking
    # the region's whole concurrency (the authorizer and every other function with it).
    reserved_concurrency=200,
    stores={**PLATFORM_STORES, "events": Access.READ},
    # Held well under API Gateway's 29 s integration timeout; the log is read after POLL_S, then
    # after twice as long at each empty read, up to POLL_MAX_S.
    environment={
        **LIVE_ENVIRONMENT,
        "STREAM_HOLD_S": "20",
        "STREAM_POLL_S": "0.25",
        "STREAM_POLL_MAX_S": "2",
    },
    routes=(
        Route(
            "GET",
            "/stream/{channel}/{tenant}",
            NOTIFICATIONS_SCOPE,
            "Server-sent events of one channel, resumable with Last-Event-ID; the scope is the "
            "channel's (jobs: gui:jobs, notifications: gui:notifications, readiness and "
            "prompt-pack: gui:dashboard).",
            accepts_ticket=True,
        ),
        Route(
            "POST",
            "/live/tickets",
            NOTIFICATIONS_SCOPE,
            "A single-use ticket (60 s) for one live connection's URL (EventSource, WebSocket); the "
            "scopes are the channels'.",
        ),
    ),
    concern="realtime",
)

SEARCH_SCOPE = "gui:search"
ARTIFACT_EVENT_TYPES = ("ArtifactPublished", "ArtifactDeprecated")
# Where a tenant's index lives in the data bucket (gui_search/store.py): `search/<tenant>/manifest.json`
# and `search/<tenant>/versions/<version>.tar.gz`.
SEARCH_ENVIRONMENT = {"SEARCH_PREFIX": "search/"}

SEARCH_FUNCTION = Function(
    name="gui_search",
    handler="gui_search.handler.handler",
    purpose="Federated search over the tenant's artifacts: ranked hits with highlights, filters, "
    "facets and masking, from the tenant's tantivy index fetched from S3 into /tmp.",
    memory_mb=1024,
    timeout_s=10,
    # Up to SEARCH_MAX_TENANTS (8) open indexes plus a new version and its archive while fetching:
    # about 470 MB for 100,000-artifact tenants (48.2 MB folder, 34.5 MB archive), 4x that here.
    ephemeral_storage_mb=2048,
    stores=PLATFORM_STORES,
    secrets=(CURSOR_KEY.name,),
    bucket_access=Access.READ,
    bucket_prefixes=(SEARCH_ENVIRONMENT["SEARCH_PREFIX"],),
    layers=("deps", "search"),
    # The manifest of a tenant's index is checked at most every MANIFEST_CHECK_S; at most
    # MAX_TENANTS indexes are kept open per container (the least recently used leaves /tmp).
    environment={**SEARCH_ENVIRONMENT, "SEARCH_MANIFEST_CHECK_S": "2", "SEARCH_MAX_TENANTS": "8"},
    routes=(
        Route(
            "GET",
            "/search",
            SEARCH_SCOPE,
            "Search every artifact kind at once: ranked hits with highlights, filters, facets per kind.",
        ),
    ),
    concern="search",
)

INDEXER_FUNCTION = Function(
    name="gui_indexer",
    handler="gui_indexer.handler.handler",
    purpose="Applies artifact events to the tenants' search indexes and publishes new index versions.",
    memory_mb=2048,
    timeout_s=120,
    # A working copy of every tenant it touched (no eviction) plus one archive: 48.2 MB per 100,000
    # artifacts, so about 80 such tenants, or one of 1,000,000 with room for many more.
    ephemeral_storage_mb=4096,
    stores={"tenants": Access.READ},
    bucket_access=Access.READ_WRITE,
    bucket_prefixes=(SEARCH_ENVIRONMENT["SEARCH_PREFIX"],),
    layers=("deps", "search"),
    shared_packages=("gui_search", "gui_artifacts"),
    environment=SEARCH_ENVIRONMENT,
    kinesis_sources=(
        KinesisSource(
            "gui-events",
            batch_size=500,
            batching_window_s=2,
            max_retries=5,
            detail_types=ARTIFACT_EVENT_TYPES,
        ),
    ),
    quarantines=True,
    concern="search",
)

INDEX_REBUILD_FUNCTION = Function(
    name="gui_index_rebuild",
    handler="gui_indexer.rebuild.handler",
    purpose="Checks every tenant's search index against the artifact registry; rebuilds on drift.",
    memory_mb=2048,
    timeout_s=600,
    # Every tenant of the region in one container, and a drifted tenant's rebuilt copy and archive
    # beside its working copy: twice the indexer's.
    ephemeral_storage_mb=8192,
    stores={"tenants": Access.READ_SCAN, "artifacts": Access.READ},
    bucket_access=Access.READ_WRITE,
    bucket_prefixes=(SEARCH_ENVIRONMENT["SEARCH_PREFIX"],),
    layers=("deps", "search"),
    shared_packages=("gui_search", "gui_artifacts"),
    environment=SEARCH_ENVIRONMENT,
    concern="search",
)

TELEMETRY_FACTS_FUNCTION = Function(
    name="gui_telemetry_facts",
    handler="gui_telemetry.facts_handler.handler",
    purpose="Appends telemetry facts from the domain events to Parquet files per tenant and day in S3.",
    memory_mb=1024,
    timeout_s=60,
    # A batch's Parquet files are small (500 records); the room is for DuckDB spilling as much as
    # its whole memory under /tmp.
    ephemeral_storage_mb=1024,
    stores={"tenants": Access.READ},
    bucket_access=Access.APPEND,  # PutObject only: a redelivered batch overwrites its own file
    bucket_prefixes=("telemetry/",),
    layers=("deps", "analytics"),
    shared_packages=("gui_dashboard",),
    kinesis_sources=(KinesisSource("gui-events", batch_size=500, batching_window_s=5, max_retries=5),),
    quarantines=True,
    concern="telemetry",
)

TELEMETRY_FUNCTION = Function(
    name="gui_telemetry",
    handler="gui_telemetry.aggregate_handler.handler",
    purpose="Aggregates the telemetry facts with DuckDB (SLA, cost, queues, trends) into the metrics cache.",
    memory_mb=2048,
    timeout_s=300,
    # The homed tenants' last 62 days of facts (kept across runs) and DuckDB's spill: the runbook's
    # 400 MB threshold of the 512 MB default, with 8x the room (then raise it past about 3 GB).
    ephemeral_storage_mb=4096,
    stores={"tenants": Access.READ_SCAN, "metrics": Access.READ_WRITE},
    bucket_access=Access.READ_WRITE,
    bucket_prefixes=("telemetry/",),
    layers=("deps", "analytics"),
    shared_packages=("gui_dashboard",),
    # The cache outlives two schedule periods; compaction merges a closed day's files into one.
    environment={"TELEMETRY_CACHE_S": "900", "TELEMETRY_COMPACT": "true"},
    concern="telemetry",
)

# Schema migrations (gui_core.migrations, gui_migrate): every store a registered migration changes is
# here, for both functions (a unit test holds them to the registry); the tenants are scanned for those
# homed in the region.
MIGRATION_STORES: dict[str, Access] = {
    "tenants": Access.READ_SCAN,
    "migrations": Access.READ_WRITE,
    "inbox": Access.READ_WRITE,
}
MIGRATION_QUEUE = Queue(
    "migration-work",
    "Per-tenant work items of the schema migrations (migration, tenant), queued by the deploy step and "
    "consumed by the migration worker, which re-queues a tenant it could not finish in one run.",
    # Six times the worker's timeout (AWS's advice for a queue feeding a function).
    visibility_timeout_s=6 * 300,
)
# A migration whose plan holds at most this many items runs inside the deploy step; a larger one is
# queued per tenant for the worker. Each run stops this long before its function's timeout, leaving
# its checkpoint.
MIGRATION_ENVIRONMENT = {"MIGRATION_INLINE_MAX_ITEMS": "2000", "MIGRATION_RESERVE_S": "30"}

MIGRATE_FUNCTION = Function(
    name="gui_migrate",
    handler="gui_migrate.handler.handler",
    purpose="Schema migrations, run by each deploy (a CDK trigger): plans the pending migrations, runs "
    "a small one inline and queues per-tenant work for a larger one; fails the deploy on a failed "
    "migration. Also answers status and plan.",
    memory_mb=1024,
    timeout_s=900,
    stores=MIGRATION_STORES,
    sends_to=(MIGRATION_QUEUE.name,),
    # The deploy step's budget ends 180 s before its timeout: the stack's trigger stops waiting 120 s
    # before it (stacks/constructs/migrations.py), so the step answers first.
    environment={**MIGRATION_ENVIRONMENT, "MIGRATION_RESERVE_S": "180"},
    concern="migrations",
)

MIGRATE_WORKER_FUNCTION = Function(
    name="gui_migrate_worker",
    handler="gui_migrate.worker.handler",
    purpose="Schema migrations, asynchronously: one tenant's work item at a time, page by page with a "
    "checkpoint, re-queued when its time runs out; the migration is done when every tenant is.",
    memory_mb=1024,
    timeout_s=300,
    stores=MIGRATION_STORES,
    sends_to=(MIGRATION_QUEUE.name,),
    queue_sources=(QueueSource(MIGRATION_QUEUE.name, batch_size=1, max_receives=3),),
    environment=MIGRATION_ENVIRONMENT,
    concern="migrations",
)

MANIFEST = Manifest(
    stores=(
        TENANTS,
        PREFERENCES,
        AUDIT,
        LIMITS,
        JOBS,
        INBOX,
        ARTIFACTS,
        METRICS,
        EVENTS,
        CONNECTIONS,
        MIGRATIONS,
    ),
    bucket=Bucket(
        "data",
        "Search indexes, telemetry facts (DuckDB/Parquet), archives.",
        # A superseded search index version is deleted by the next publication but one; a day is
        # ample for a reader still fetching it.
        short_lived_versions=((SEARCH_ENVIRONMENT["SEARCH_PREFIX"], 1),),
    ),
    bus=Bus("domain", "Domain events of every source, per region."),
    stream=Stream("gui-events", "GUI-relevant domain events, partitioned by tenant."),
    quarantine=Queue(
        "quarantine",
        "Poison records of the stream's consumers, each with its raw data and why it was refused.",
    ),
    migration_queue=MIGRATION_QUEUE,
    secrets=(CURSOR_KEY,),
    rules=(
        Rule(
            name="gui-events-to-stream",
            bus="domain",
            sources=("domaindetermine.",),
            stream="gui-events",
            required_detail=("tenant",),
        ),
        Rule(
            name="artifact-events-to-registry",
            bus="domain",
            sources=("domaindetermine.",),
            detail_types=("ArtifactPublished", "ArtifactDeprecated"),
            function="gui_artifact_events",
        ),
        Rule(
            name="job-status-to-jobs",
            bus="domain",
            sources=("domaindetermine.",),
            detail_types=("JobStatusChanged",),
            function="gui_job_events",
        ),
    ),
    layers=(
        Layer("core", "Our shared library, gui_core.", source="core"),
        Layer(
            "deps",
            "Third-party libraries of the API functions, and the AWS SDK they are tested with.",
            source="requirements",
            requirements=(
                "aws-lambda-powertools",
                "fastapi",
                "mangum",
                "opentelemetry-api",
                "opentelemetry-sdk",
                "pydantic",
                "pydantic-settings",
                "pyjwt",
                # The SDK the suites run with, not the runtime's bundled one, which Lambda updates on
                # its own schedule: the code needs S3's conditional writes (IfMatch, IfNoneMatch on
                # PutObject). /opt/python comes before the runtime's copy on sys.path.
                "boto3",
                "botocore",
                "s3transfer",
            ),
        ),
        Layer(
            "search",
            "tantivy: the full-text search indexes.",
            source="requirements",
            requirements=("tantivy",),
        ),
        Layer(
            "analytics",
            "DuckDB: telemetry facts and their aggregates (offline: no extension is installed at run time).",
            source="requirements",
            requirements=("duckdb",),
        ),
    ),
    authorizer=Authorizer(function=AUTHORIZER_FUNCTION),
    functions=(
        PREFERENCES_FUNCTION,
        ADMIN_FUNCTION,
        ARCHIVER_FUNCTION,
        JOBS_FUNCTION,
        JOB_EVENTS_FUNCTION,
        NOTIFICATIONS_FUNCTION,
        ARTIFACTS_FUNCTION,
        ARTIFACT_EVENTS_FUNCTION,
        DASHBOARD_FUNCTION,
        REALTIME_FUNCTION,
        FANOUT_FUNCTION,
        STREAM_FUNCTION,
        SEARCH_FUNCTION,
        INDEXER_FUNCTION,
        INDEX_REBUILD_FUNCTION,
        TELEMETRY_FACTS_FUNCTION,
        TELEMETRY_FUNCTION,
        MIGRATE_FUNCTION,
        MIGRATE_WORKER_FUNCTION,
    ),
    schedules=(
        Schedule(
            "index-rebuild",
            function="gui_index_rebuild",
            every_s=6 * 3600,
            purpose="Drift check of every tenant's search index; a rebuild where it drifted.",
        ),
        Schedule(
            "telemetry-aggregate",
            function="gui_telemetry",
            every_s=300,
            purpose="DuckDB aggregates of the telemetry facts into the metrics cache.",
        ),
    ),
    websocket=WebSocketApi(function="gui_realtime"),
    # API Gateway's own answers (supported-gateway-response-types in its guide), each a problem
    # document with the stage's CORS headers besides the headers below.
    gateway_responses=(
        # The authorizer refused the token, or none came: RFC 6750 names the scheme to use.
        GatewayResponse(
            "UNAUTHORIZED", 401, "unauthorized", "Authentication required", (("WWW-Authenticate", "Bearer"),)
        ),
        GatewayResponse("ACCESS_DENIED", 403, "forbidden", "Access denied"),
        GatewayResponse("MISSING_AUTHENTICATION_TOKEN", 404, "route_not_found", "No such route"),
        # The stage's throttle (a token bucket refilled every second).
        GatewayResponse("THROTTLED", 429, "throttled", "Too many requests", (("Retry-After", "1"),)),
        GatewayResponse("REQUEST_TOO_LARGE", 413, "payload_too_large", "Request too large"),
        # The function did not answer within the 29 s integration timeout.
        GatewayResponse("INTEGRATION_TIMEOUT", 504, "upstream_timeout", "The request timed out"),
        # Lambda refused to run the function (throttled: the region's or the function's concurrency
        # is used up), so API Gateway could not invoke it: worth a retry shortly.
        GatewayResponse(
            "INTEGRATION_FAILURE",
            503,
            "service_unavailable",
            "Service temporarily unavailable",
            (("Retry-After", "2"),),
        ),
        # The authorizer raised instead of answering (the identity provider's JWKS unreachable, the
        # authorizer throttled) or could not be reached: no verdict on the token, so try again.
        GatewayResponse(
            "AUTHORIZER_FAILURE",
            503,
            "authorizer_unavailable",
            "Authorization unavailable",
            (("Retry-After", "5"),),
        ),
        GatewayResponse(
            "AUTHORIZER_CONFIGURATION_ERROR",
            503,
            "authorizer_unavailable",
            "Authorization unavailable",
            (("Retry-After", "5"),),
        ),
        GatewayResponse("DEFAULT_4XX", None, "bad_request", "Bad request"),
        GatewayResponse("DEFAULT_5XX", None, "gateway_error", "Gateway error"),
    ),
)
