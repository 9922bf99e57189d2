"""The application, declared once: its stores, bucket, bus, stream, queues, rules, layers and functions,
in the terms of the model (`stacks.manifest_model`).

`stacks/` renders it into CloudFormation and `local/` renders it into moto resources and a local
gateway. A resource, a route or a permission is written here and nowhere else; both renderings and
the tests read it. Like the model, it imports nothing heavier than the standard library, so the local
runtime and the tests can load it without the CDK.
"""

from __future__ import annotations

from gui_core import rbac
from stacks.manifest_model import (
    API_PREFIX,
    APP_NAME,
    BUCKET_ACTIONS,
    METRICS_NAMESPACE,
    STORE_ACTIONS,
    TENANT_WORK_CYCLE_ENV,
    Access,
    Authorizer,
    Bucket,
    Bus,
    FileSystem,
    Function,
    GatewayResponse,
    Index,
    Key,
    KinesisSource,
    Layer,
    Manifest,
    Queue,
    QueueSource,
    Route,
    Rule,
    Schedule,
    Secret,
    Store,
    Stream,
    StreamSource,
    WebSocketApi,
    WebSocketRoute,
)

# The model's names, re-exported for the importers that read them beside the declarations.
__all__ = [
    "API_PREFIX",
    "APP_NAME",
    "BUCKET_ACTIONS",
    "METRICS_NAMESPACE",
    "STORE_ACTIONS",
    "TENANT_WORK_CYCLE_ENV",
    "Access",
    "Authorizer",
    "Bucket",
    "Bus",
    "FileSystem",
    "Function",
    "GatewayResponse",
    "Index",
    "Key",
    "KinesisSource",
    "Layer",
    "Manifest",
    "Queue",
    "QueueSource",
    "Route",
    "Rule",
    "Schedule",
    "Secret",
    "Store",
    "Stream",
    "StreamSource",
    "WebSocketApi",
    "WebSocketRoute",
]

DEFAULT_REGIONS = ("eu-west-1", "us-east-1")
LAMBDA_PYTHON_VERSION = "3.13"


TENANTS = Store(
    name="tenants",
    purpose="Tenant records: home region, plan limits, feature flags, license policy.",
)
PREFERENCES = Store(
    name="preferences",
    purpose="User preferences, saved views and their name guards, tenant defaults and policy, "
    "preference history (expires by TTL, archived), and the key items of the views' lists "
    "(VK#<list>#<values>#<view id>, written with each view; migration 0011_view_list_keys wrote them "
    "for the views stored before).",
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
    "expire by TTL), and the key items of the list's filters (JF#<filter>#<values>#<id>, written with "
    "each job; migration 0010_jobs_filter_keys wrote them for the jobs stored before).",
    ttl_attribute="expires_at",
    # Every change feeds the dashboard's rollups (gui_dashboard_rollups).
    stream="NEW_AND_OLD_IMAGES",
)
INBOX = Store(
    name="inbox",
    purpose="Notifications per tenant: personal and tenant-wide items with status, snooze, "
    "assignee and version; expire by TTL and are archived. Each item carries its audience's key "
    "`tenant_audience` (<tenant>#<audience>), the partition of the `by_audience` index (migration "
    "0001_inbox_audience_key set it on the items written before it), and its status's "
    "`tenant_audience_status` (<tenant>#<audience>#<status>), the partition of the `by_status` index. "
    "Counters per audience (COUNT#<audience>[#<assignee>]), due snoozes (DUE#...) and the copies of "
    "assigned items (ASG#<id>, in the same indexes under <tenant>#<audience>#<assignee>[#<status>]) are "
    "written with each change (migrations 0003_inbox_counters and 0004_inbox_assignee_copies wrote "
    "them for the items stored before).",
    # One index added per deploy: CloudFormation creates or deletes at most one GSI of a table in one
    # update.
    indexes=(
        Index("by_audience", Key("tenant_audience"), Key("sk")),
        Index("by_status", Key("tenant_audience_status"), Key("sk")),
    ),
    ttl_attribute="expires_at",
    stream="NEW_AND_OLD_IMAGES",
)

ARTIFACTS = Store(
    name="artifacts",
    purpose="Artifact registry (ART#<id>), its search orders (ORD#<sort>#<id>, the partitions "
    "`order_pk` = <tenant>#<sort> of the `by_order` index), lineage edges (OUT#<from>#<to>; the IN# "
    "items of releases before are no longer read), the edges' counts per upstream artifact (DEG#<id>) "
    "and the tenant's count (STAT#artifacts), fed by ArtifactPublished/ArtifactDeprecated events "
    "(migrations 0030_artifact_order_keys and 0031_artifact_edge_counts wrote them for what was "
    "stored before).",
    indexes=(Index("by_order", Key("order_pk"), Key("order_sk")),),
    # Every change feeds the dashboard's rollups (gui_dashboard_rollups).
    stream="NEW_AND_OLD_IMAGES",
)
METRICS = Store(
    name="metrics",
    purpose="Dashboard and module metrics cache per tenant, time range (or preset) and bucket, with "
    "its recompute leases (LEASE#..., expire by TTL); the dashboard's rollups (ROLLUP#<h|d|m>#<start>, "
    "ROLLUP#total) and each counted record's contribution to them (ROLLREC#<store>#<sk>).",
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


_PREFS_ROUTES = (
    Route("GET", "/preferences", rbac.PREFERENCES, "The caller's effective preferences."),
    Route("PUT", "/preferences", rbac.PREFERENCES, "Replace the caller's preferences."),
    Route("GET", "/preferences/views", rbac.PREFERENCES, "List saved views."),
    Route("POST", "/preferences/views", rbac.PREFERENCES, "Create a saved view."),
    Route("GET", "/preferences/views/{view_id}", rbac.PREFERENCES, "Read a saved view."),
    Route("PUT", "/preferences/views/{view_id}", rbac.PREFERENCES, "Replace a saved view."),
    Route("DELETE", "/preferences/views/{view_id}", rbac.PREFERENCES, "Delete a saved view."),
    Route("GET", "/preferences/tenant", rbac.ADMIN, "Tenant defaults and policy."),
    Route("PUT", "/preferences/tenant", rbac.ADMIN, "Replace tenant defaults and policy."),
    Route("DELETE", "/preferences/users/{subject}", rbac.ADMIN, "Reset one user's preferences."),
)

AUTHORIZER_FUNCTION = Function(
    name="gui_authorizer",
    handler="gui_authorizer.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="REST API REQUEST authorizer: bearer JWT -> IAM policy + tenant context.",
    memory_mb=256,
    timeout_s=5,
    # Spends stream tickets (gui_core.stream_tickets), which the SSE function issues there.
    stores={"limits": Access.REDEEM},
)

PREFERENCES_FUNCTION = Function(
    name="gui_preferences",
    handler="gui_preferences.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="Preferences group: user preferences, saved views, tenant defaults and policy.",
    # The ledger of migrations, read: the views' lists use their keys once their migration is done
    # for the tenant (gui_core.migrations.gate).
    stores={**PLATFORM_STORES, "preferences": Access.READ_WRITE, "migrations": Access.READ},
    environment={"PREFERENCE_HISTORY_DAYS": "180"},
    secrets=(CURSOR_KEY.name,),
    routes=_PREFS_ROUTES,
)

ADMIN_FUNCTION = Function(
    name="gui_admin",
    handler="gui_admin.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
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
        Route("GET", "/audit", rbac.ADMIN, "The tenant's audit trail, newest first."),
        Route("GET", "/admin/tenant", rbac.ADMIN, "The caller's tenant: plan, flags, limits, license tag."),
        Route("PUT", "/admin/tenant/flags", rbac.ADMIN, "Replace the tenant's feature flags."),
        Route(
            "GET",
            "/admin/migrations",
            rbac.ADMIN,
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
    # The inbox's counters learn here of the notifications TTL removes (gui_notifications.repository).
    stores={"inbox": Access.READ_WRITE},
    shared_packages=("gui_notifications",),
    stream_sources=(
        StreamSource("preferences", ttl_removals_only=True),
        StreamSource("inbox", ttl_removals_only=True),
    ),
)


ARTIFACTS_FUNCTION = Function(
    name="gui_artifacts",
    handler="gui_artifacts.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="Artifacts group: the registry, lineage graphs and structured artifact search.",
    # The ledger of migrations, read: the search uses the order index and degrees their counts once
    # 0030 and 0031 are done for the tenant (gui_core.migrations.gate).
    stores={**PLATFORM_STORES, "artifacts": Access.READ, "migrations": Access.READ},
    secrets=(CURSOR_KEY.name,),
    routes=(
        Route("GET", "/artifacts/search", rbac.ARTIFACTS, "Structured artifact search."),
        Route("GET", "/artifacts/{id}", rbac.ARTIFACTS, "One artifact."),
        Route("GET", "/artifacts/{id}/lineage", rbac.ARTIFACTS, "An artifact's lineage graph."),
    ),
)

ARTIFACT_EVENTS_FUNCTION = Function(
    name="gui_artifact_events",
    handler="gui_artifacts.gui_artifact_events.handler",
    purpose="Applies ArtifactPublished/ArtifactDeprecated events to the artifact registry.",
    memory_mb=256,
    timeout_s=30,
    stores={"tenants": Access.READ, "artifacts": Access.READ_WRITE},
)

DASHBOARD_FUNCTION = Function(
    name="gui_dashboard",
    handler="gui_dashboard.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="Dashboard group: aggregated figures with trends, and per-module time series.",
    stores={
        **PLATFORM_STORES,
        "metrics": Access.READ_WRITE,
        "jobs": Access.READ,
        "inbox": Access.READ,
        "artifacts": Access.READ,
        # The ledger of migrations, read: a tenant is served from the rollups once their backfill
        # (0020-0022) is done for it (gui_core.migrations.gate).
        "migrations": Access.READ,
    },
    # Cache lifetime of a range ending now, and of a closed past range (gui_dashboard/cache.py).
    environment={"METRICS_CACHE_S": "60", "METRICS_CACHE_CLOSED_S": "3600"},
    routes=(
        Route("GET", "/dashboard", rbac.DASHBOARD, "Aggregated figures of every module with trends."),
        Route("GET", "/metrics/{module}", rbac.DASHBOARD, "Time series and breakdown of one module."),
    ),
)

DASHBOARD_ROLLUPS_FUNCTION = Function(
    name="gui_dashboard_rollups",
    handler="gui_dashboard.gui_dashboard_rollups.handler",
    purpose="Keeps the dashboard's rollups (counters per tenant and hour, day and month) as the jobs, "
    "inbox and artifacts stores change: each changed record's contribution, once per change.",
    memory_mb=256,
    timeout_s=60,
    stores={"metrics": Access.READ_WRITE},
    stream_sources=(StreamSource("jobs"), StreamSource("inbox"), StreamSource("artifacts")),
)


JOBS_FUNCTION = Function(
    name="gui_jobs",
    handler="gui_jobs.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="Jobs group: start, retry and cancel the domain's operations; list and read jobs.",
    # The ledger of migrations, read: a filtered list uses the filters' keys once their migration is
    # done for the tenant (gui_core.migrations.gate).
    stores={**PLATFORM_STORES, "jobs": Access.READ_WRITE, "migrations": Access.READ},
    secrets=(CURSOR_KEY.name,),
    publishes_to_bus=True,
    # API Gateway allows one variable name per level: {id} is the verb when POSTing a new job.
    routes=(
        Route("POST", "/jobs/{id}", rbac.JOBS, "Start a job; {id} is the verb (ingest, coverage, ...)."),
        Route("PATCH", "/jobs/{id}/retry", rbac.JOBS, "Retry a failed or cancelled job."),
        Route("PATCH", "/jobs/{id}/cancel", rbac.JOBS, "Cancel a queued or running job."),
        Route("GET", "/jobs", rbac.JOBS, "List jobs."),
        Route("GET", "/jobs/{id}", rbac.JOBS, "A job with its attempts, progress and audit trail."),
    ),
)

JOB_EVENTS_FUNCTION = Function(
    name="gui_job_events",
    handler="gui_jobs.gui_job_events.handler",
    purpose="Applies JobStatusChanged events from the executors to the job records.",
    memory_mb=256,
    timeout_s=30,
    stores={"tenants": Access.READ, "jobs": Access.READ_WRITE},
)

NOTIFICATIONS_FUNCTION = Function(
    name="gui_notifications",
    handler="gui_notifications.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="Notification inbox: list with badge counts; read, acknowledge, snooze, assign, archive.",
    # The ledger of migrations, read: counts are complete and the status filter uses its index once
    # 0003_inbox_counters is done for the tenant (gui_core.migrations.gate).
    stores={**PLATFORM_STORES, "inbox": Access.READ_WRITE, "migrations": Access.READ},
    secrets=(CURSOR_KEY.name,),
    environment={"NOTIFICATION_RETENTION_DAYS": "90"},
    routes=(
        Route("GET", "/notifications", rbac.NOTIFICATIONS, "The caller's inbox with badge counts."),
        Route("GET", "/notifications/{id}", rbac.NOTIFICATIONS, "One notification."),
        Route("POST", "/notifications/read-all", rbac.NOTIFICATIONS, "Mark every unread item read."),
        Route(
            "POST",
            "/notifications/{id}/{command}",
            rbac.NOTIFICATIONS,
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
    snap_start=True,  # on the request or live path: see Function.snap_start
    purpose="WebSocket API: connect, subscribe, unsubscribe, resume from a cursor, acknowledge, ping;"
    " GraphQL subscriptions (graphql-transport-ws) on the same channels.",
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
        WebSocketRoute(
            "$default",
            "graphql-transport-ws messages (no `action`: connection_init, subscribe, complete, ping);"
            " any other action: an error message.",
        ),
    ),
    # graphql-core, imported on a connection's first graphql-transport-ws subscribe only.
    layers=("deps", "graphql"),
    concern="realtime",
)

FANOUT_FUNCTION = Function(
    name="gui_fanout",
    handler="gui_fanout.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
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
    # The live path (issue 17): records pushed through an enhanced fan-out consumer of its own and
    # handed over at once, no batching window (a 1 s window and the shared poll, about once a second,
    # could alone spend the 250 ms budget from PutEvents to a WebSocket client several times over).
    kinesis_sources=(
        KinesisSource(
            "gui-events",
            batch_size=100,
            batching_window_s=0,
            max_retries=3,
            parallelization_factor=10,
            enhanced_fan_out=True,
        ),
    ),
    quarantines=True,
    concern="fanout",
)

STREAM_FUNCTION = Function(
    name="gui_stream",
    handler="gui_stream.handler.handler",
    snap_start=True,  # on the request or live path: see Function.snap_start
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
            rbac.NOTIFICATIONS,
            "Server-sent events of one channel, resumable with Last-Event-ID; the scope is the "
            "channel's (jobs: gui:jobs, notifications: gui:notifications, readiness and "
            "prompt-pack: gui:dashboard).",
            accepts_ticket=True,
        ),
        Route(
            "POST",
            "/live/tickets",
            rbac.NOTIFICATIONS,
            "A single-use ticket (60 s) for one live connection's URL (EventSource, WebSocket); the "
            "scopes are the channels'.",
        ),
    ),
    concern="realtime",
)

ARTIFACT_EVENT_TYPES = ("ArtifactPublished", "ArtifactDeprecated")
# Where a tenant's index lives in the data bucket (gui_search/store.py): `search/<tenant>/manifest.json`
# and its files, `search/<tenant>/files/<sha256>` (before: `search/<tenant>/versions/<version>.tar.gz`).
SEARCH_ENVIRONMENT = {"SEARCH_PREFIX": "search/"}
# The file system the region's search containers and indexers share (Amazon EFS; locally a folder per
# region): the indexers write each version they publish there, and a search container opens the
# tenant's current version where it lies, reading only the pages a query touches, instead of
# downloading the whole index into its /tmp (gui_search.shared). A cache: the bucket stays the source
# of truth, and a version missing there is fetched from it once. Lambda refuses SnapStart with EFS.
SEARCH_FILE_SYSTEM = FileSystem(
    "search",
    "Search index versions per tenant, shared by the region's search containers and indexers: a "
    "cache of the bucket's search/ prefix.",
    mount_path="/mnt/search",
    root="/search",
    uid=1000,
    gid=1000,
    permissions="750",
)

SEARCH_FUNCTION = Function(
    name="gui_search",
    handler="gui_search.handler.handler",
    purpose="Federated search over the tenant's artifacts: ranked hits with highlights, filters, "
    "facets and masking, from the tenant's tantivy index opened in place on the region's shared file system.",
    memory_mb=1024,
    timeout_s=10,
    # The indexes are opened on the shared file system, not copied: Lambda's default /tmp. (Without
    # SEARCH_SHARED_DIR, as in unit tests, gui_search keeps copies in /tmp up to SEARCH_CACHE_MB.)
    file_system=SEARCH_FILE_SYSTEM.name,
    stores=PLATFORM_STORES,
    secrets=(CURSOR_KEY.name,),
    bucket_access=Access.READ,
    bucket_prefixes=(SEARCH_ENVIRONMENT["SEARCH_PREFIX"],),
    layers=("deps", "search"),
    # The manifest of a tenant's index is checked at most every MANIFEST_CHECK_S.
    environment={**SEARCH_ENVIRONMENT, "SEARCH_MANIFEST_CHECK_S": "2"},
    routes=(
        Route(
            "GET",
            "/search",
            rbac.SEARCH,
            "Search every artifact kind at once: ranked hits with highlights, filters, facets per kind.",
        ),
    ),
    concern="search",
)

GRAPHQL_FUNCTION = Function(
    name="gui_graphql",
    handler="gui_graphql.handler.handler",
    purpose="GraphQL API over the groups' use cases (gui_graphql.fields: a module per group).",
    # Each field calls its group's use cases (gui_graphql.fields): the stores, bus, ledger and settings
    # of the groups it serves, as their own functions reach them.
    stores={
        **PLATFORM_STORES,
        "tenants": Access.READ_WRITE,
        "audit": Access.READ_APPEND,
        "jobs": Access.READ_WRITE,
        "inbox": Access.READ_WRITE,
        "metrics": Access.READ_WRITE,
        "artifacts": Access.READ,
        "preferences": Access.READ_WRITE,
        "migrations": Access.READ,
    },
    secrets=(CURSOR_KEY.name,),
    publishes_to_bus=True,
    # The search field opens the tenants' indexes as the search function does (gui_search.ports):
    # in place on the shared file system, the bucket's search prefix read for what it lacks.
    bucket_access=Access.READ,
    bucket_prefixes=(SEARCH_ENVIRONMENT["SEARCH_PREFIX"],),
    file_system=SEARCH_FILE_SYSTEM.name,
    layers=("deps", "graphql", "search"),
    shared_packages=(
        "gui_jobs",
        "gui_notifications",
        "gui_dashboard",
        "gui_artifacts",
        "gui_preferences",
        "gui_admin",
        "gui_search",
    ),
    environment={
        "NOTIFICATION_RETENTION_DAYS": "90",
        **DASHBOARD_FUNCTION.environment,
        **PREFERENCES_FUNCTION.environment,
        **SEARCH_FUNCTION.environment,
    },
    routes=(
        Route("POST", "/graphql", None, "A GraphQL request: a query or a mutation.", field_scopes=True),
        Route("GET", "/graphql", None, "A GraphQL query.", field_scopes=True),
    ),
)

INDEXER_FUNCTION = Function(
    name="gui_indexer",
    handler="gui_indexer.handler.handler",
    purpose="Applies artifact events to the tenants' search indexes and publishes new index versions.",
    memory_mb=2048,
    timeout_s=120,
    # A batch works on the tenants' indexes on the shared file system (new segments and merges are
    # written there, and published from there), so /tmp holds no copies: 1,024 MB is room for what
    # a batch keeps beside them (decoded records, tantivy's and Python's scratch files).
    ephemeral_storage_mb=1024,
    file_system=SEARCH_FILE_SYSTEM.name,
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

# Region-wide batch work, fanned out per tenant (gui_core.tenant_work): each schedule's function
# queues one work item per homed tenant on its queue every cycle and takes them back through the
# queue's mapping, one tenant an invocation, at most `max_concurrency` at once. A work item not taken
# within its cycle is dropped (the next cycle queued the tenant again) and counted. Visibility: six
# times the worker's timeout (AWS's advice for a queue feeding a function).
INDEX_REBUILD_QUEUE = Queue(
    "index-rebuild-work",
    "Per-tenant work items of the search index drift check (tenant, cycle), queued every 6 hours by "
    "gui_index_rebuild's schedule and taken back by its mapping.",
    visibility_timeout_s=6 * 600,
)
TELEMETRY_QUEUE = Queue(
    "telemetry-work",
    "Per-tenant work items of the telemetry aggregation (tenant, cycle), queued every 5 minutes by "
    "gui_telemetry's schedule and taken back by its mapping.",
    visibility_timeout_s=6 * 300,
)

INDEX_REBUILD_FUNCTION = Function(
    name="gui_index_rebuild",
    handler="gui_indexer.gui_index_rebuild.handler",
    purpose="Checks each tenant's search index against the artifact registry and rebuilds it on drift: "
    "its schedule queues one work item per homed tenant, its queue's mapping brings each back.",
    memory_mb=2048,
    timeout_s=600,
    # One tenant an invocation, rebuilt on the shared file system as the indexer works there: /tmp
    # holds no copy, the indexer's 1,024 MB of room.
    ephemeral_storage_mb=1024,
    file_system=SEARCH_FILE_SYSTEM.name,
    # Its one write to the registry: the fingerprint of the tenant's pairs on their count item, set
    # by a full read (gui_artifacts.repository.ArtifactsRepository.set_pairs).
    stores={"tenants": Access.READ_SCAN, "artifacts": Access.READ_UPDATE},
    sends_to=(INDEX_REBUILD_QUEUE.name,),
    # 1,000 tenants of up to a minute each (a full rebuild and publication of 100,000 artifacts takes
    # about 20 s: docs/performance.md) take 5 at once 3.3 hours of the 6-hour cycle.
    queue_sources=(QueueSource(INDEX_REBUILD_QUEUE.name, batch_size=1, max_receives=3, max_concurrency=5),),
    bucket_access=Access.READ_WRITE,
    bucket_prefixes=(SEARCH_ENVIRONMENT["SEARCH_PREFIX"],),
    layers=("deps", "search"),
    shared_packages=("gui_search", "gui_artifacts"),
    environment=SEARCH_ENVIRONMENT,
    concern="search",
)

TELEMETRY_FACTS_FUNCTION = Function(
    name="gui_telemetry_facts",
    handler="gui_telemetry.gui_telemetry_facts.handler",
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
    handler="gui_telemetry.handler.handler",
    purpose="Aggregates the telemetry facts with DuckDB (SLA, cost, queues, trends) into the metrics "
    "cache, a tenant at a time: its schedule queues one work item per homed tenant, its queue's "
    "mapping brings each back.",
    memory_mb=2048,
    timeout_s=300,
    # The last 62 days of facts of the tenants the container aggregated (kept across invocations, the
    # least recently used let go past TELEMETRY_FACT_CACHE_MB) and DuckDB's spill.
    ephemeral_storage_mb=4096,
    stores={"tenants": Access.READ_SCAN, "metrics": Access.READ_WRITE},
    sends_to=(TELEMETRY_QUEUE.name,),
    # Every homed tenant each 5-minute cycle: 1,000 tenants of 4 s each (docs/performance.md) take 20
    # at once 200 s of it.
    queue_sources=(QueueSource(TELEMETRY_QUEUE.name, batch_size=1, max_receives=3, max_concurrency=20),),
    bucket_access=Access.READ_WRITE,
    bucket_prefixes=("telemetry/",),
    layers=("deps", "analytics"),
    shared_packages=("gui_dashboard",),
    # The cache outlives two schedule periods; compaction merges a closed day's files into one.
    environment={"TELEMETRY_CACHE_S": "900", "TELEMETRY_COMPACT": "true", "TELEMETRY_FACT_CACHE_MB": "2048"},
    concern="telemetry",
)

# Schema migrations (gui_core.migrations, gui_migrate): every store a registered migration changes is
# here, for both functions (a unit test holds them to the registry); the tenants are scanned for those
# homed in the region.
MIGRATION_STORES: dict[str, Access] = {
    "tenants": Access.READ_SCAN,
    "migrations": Access.READ_WRITE,
    "inbox": Access.READ_WRITE,
    "jobs": Access.READ_WRITE,
    "preferences": Access.READ_WRITE,
    # 0020-0022 (the dashboard's rollups) read jobs, inbox and artifacts and write to metrics.
    "metrics": Access.READ_WRITE,
    "artifacts": Access.READ_WRITE,
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
    shared_packages=("gui_dashboard",),  # the rollups' backfill (0020-0022) writes as the dashboard does
    # The deploy step's budget ends 180 s before its timeout: the stack's trigger stops waiting 120 s
    # before it (stacks/constructs/migrations.py), so the step answers first.
    environment={**MIGRATION_ENVIRONMENT, "MIGRATION_RESERVE_S": "180"},
    concern="migrations",
)

MIGRATE_WORKER_FUNCTION = Function(
    name="gui_migrate_worker",
    handler="gui_migrate.gui_migrate_worker.handler",
    purpose="Schema migrations, asynchronously: one tenant's work item at a time, page by page with a "
    "checkpoint, re-queued when its time runs out; the migration is done when every tenant is.",
    memory_mb=1024,
    timeout_s=300,
    stores=MIGRATION_STORES,
    sends_to=(MIGRATION_QUEUE.name,),
    shared_packages=("gui_dashboard",),  # the rollups' backfill (0020-0022) writes as the dashboard does
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
    work_queues=(TELEMETRY_QUEUE, INDEX_REBUILD_QUEUE),
    secrets=(CURSOR_KEY,),
    file_systems=(SEARCH_FILE_SYSTEM,),
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
                # Not pydantic-settings: gui_core.settings reads the environment itself (issue 17);
                # the project keeps it for the test that compares the two readers.
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
            "graphql",
            "graphql-core: the GraphQL API's parser, validation and execution.",
            source="requirements",
            requirements=("graphql-core",),
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
        GRAPHQL_FUNCTION,
        ARTIFACTS_FUNCTION,
        ARTIFACT_EVENTS_FUNCTION,
        DASHBOARD_FUNCTION,
        DASHBOARD_ROLLUPS_FUNCTION,
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
            purpose="Queues the drift check of every homed tenant's search index (a rebuild where it "
            "drifted).",
        ),
        Schedule(
            "telemetry-aggregate",
            function="gui_telemetry",
            every_s=300,
            purpose="Queues every homed tenant's DuckDB aggregates of the telemetry facts into the "
            "metrics cache.",
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
