"""The names of the application metrics (EMF, namespace `DomainDetermine/GUI`, dimension `service`):
one StrEnum per emitter, and which function emits which (`EMITTED_BY`, by the function's manifest
name, its Powertools service).

The functions count through `add` with these members and the stacks' dashboards and alarms name
the same members, so a metric renamed or removed fails the type check and the import on both
sides. No CDK and no Powertools here: the functions import it at cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol


class ApiMetric(StrEnum):
    """Every request of a REST function (gui_core.api's middleware)."""

    REQUESTS = "Requests"
    LATENCY = "Latency"  # milliseconds
    ERRORS_4XX = "Errors4xx"
    ERRORS_5XX = "Errors5xx"
    AUDIT_WRITE_FAILURES = "AuditWriteFailures"


class GuardMetric(StrEnum):
    """The tenancy guard's refusals (gui_core.guard, rate_limit, tenancy), REST and WebSocket."""

    RATE_LIMIT_BREACHES = "RateLimitBreaches"
    RESIDENCY_REFUSALS = "ResidencyRefusals"
    REPLAYS_REFUSED = "ReplaysRefused"


class AuthorizerMetric(StrEnum):
    UNAVAILABLE = "AuthorizerUnavailable"
    JWKS_FETCH_FAILURES = "JwksFetchFailures"


class DashboardMetric(StrEnum):
    """The dashboard's metrics cache: the hit rate's terms, stale answers, waits for a lease."""

    CACHE_HITS = "CacheHits"
    CACHE_MISSES = "CacheMisses"
    CACHE_STALE = "CacheStale"
    CACHE_WAITS = "CacheWaits"


class RealtimeMetric(StrEnum):
    CONNECTS = "Connects"
    DISCONNECTS = "Disconnects"
    REFUSALS = "Refusals"
    MESSAGES = "Messages"
    MESSAGE_FAILURES = "MessageFailures"
    AUDIT_WRITE_FAILURES = "AuditWriteFailures"


class QuarantineMetric(StrEnum):
    """A consumer's poison records (gui_core.quarantine)."""

    RECORDS_QUARANTINED = "RecordsQuarantined"
    QUARANTINE_FAILURES = "QuarantineFailures"


class TenantWorkMetric(StrEnum):
    """A schedule's per-tenant work items (gui_core.tenant_work)."""

    QUEUED = "TenantWorkQueued"
    DONE = "TenantWorkDone"
    EXPIRED = "WorkItemsExpired"


class MigrationMetric(StrEnum):
    """Schema migrations (gui_core.migrations), in the deploy step and the worker."""

    FAILURES = "MigrationFailures"
    ITEMS_SCANNED = "MigrationItemsScanned"
    ITEMS_CHANGED = "MigrationItemsChanged"
    TENANTS_DONE = "MigrationTenantsDone"
    WORK_ITEMS_QUEUED = "MigrationWorkItemsQueued"


class FanoutMetric(StrEnum):
    RECORDS = "Records"
    RECORDS_DEFERRED = "RecordsDeferred"
    RECORDS_FAILED = "RecordsFailed"
    SUBSCRIBER_READS = "SubscriberReads"
    INBOX_WRITTEN = "InboxWritten"
    INBOX_REPEATS = "InboxRepeats"
    ALREADY_PUSHED = "AlreadyPushed"
    PUSHED = "Pushed"
    GONE = "Gone"
    PUSH_FAILED = "PushFailed"
    LAG_MS = "FanoutLagMs"
    INVALID_EVENT = "InvalidEvent"
    NOT_FOR_GUI = "NotForGui"
    UNKNOWN_SCHEMA_VERSION = "UnknownSchemaVersion"
    RESIDENCY_REFUSED = "ResidencyRefused"
    CURSOR_UNREPRESENTABLE = "CursorUnrepresentable"


class IndexerMetric(StrEnum):
    EVENTS_APPLIED = "IndexEventsApplied"
    EVENTS_SKIPPED = "IndexEventsSkipped"
    EVENTS_IGNORED = "IndexEventsIgnored"
    EVENTS_INVALID = "IndexEventsInvalid"
    EVENTS_UNKNOWN_TENANT = "IndexEventsUnknownTenant"
    EVENTS_OTHER_REGION = "IndexEventsOtherRegion"
    VERSIONS_PUBLISHED = "IndexVersionsPublished"
    TENANT_FAILURES = "IndexTenantFailures"


class IndexCheckMetric(StrEnum):
    """The search indexes' drift check (gui_index_rebuild)."""

    CHECKED = "SearchIndexChecked"
    DRIFT = "SearchIndexDrift"
    REBUILT = "SearchIndexRebuilt"
    CHECK_FAILURES = "SearchIndexCheckFailures"


class TelemetryMetric(StrEnum):
    """The telemetry aggregation (gui_telemetry): its schedule and its per-tenant runs."""

    TENANTS = "TelemetryTenants"
    TENANTS_FAILED = "TelemetryTenantsFailed"
    RUN_MS = "TelemetryRunMs"
    ITEMS_WRITTEN = "TelemetryItemsWritten"
    COPIES_OF_GONE_TENANTS_DELETED = "CopiesOfGoneTenantsDeleted"
    FACT_FILES_DOWNLOADED = "FactFilesDownloaded"
    FACT_FILES_REUSED = "FactFilesReused"
    FACT_FILES_EVICTED = "FactFilesEvicted"
    FACT_COPIES_DROPPED = "FactCopiesDropped"
    DAYS_COMPACTED = "DaysCompacted"
    COMPACTIONS_SUPERSEDED = "CompactionsSuperseded"
    COMPACTIONS_FAILED = "CompactionsFailed"


class TelemetryFactsMetric(StrEnum):
    """The telemetry's fact writer (gui_telemetry_facts)."""

    RECORDS = "Records"
    RECORDS_FAILED = "RecordsFailed"
    FACTS = "Facts"
    FACT_FILES = "FactFiles"
    FACT_WRITES_DEFERRED = "FactWritesDeferred"
    FACT_WRITES_FAILED = "FactWritesFailed"
    INVALID_EVENT = "InvalidEvent"
    UNKNOWN_SCHEMA_VERSION = "UnknownSchemaVersion"
    NOT_FOR_TELEMETRY = "NotForTelemetry"
    EVENTS_WITHOUT_FACTS = "EventsWithoutFacts"
    RESIDENCY_REFUSED = "ResidencyRefused"


class JobEventsMetric(StrEnum):
    """The jobs' status events (gui_job_events)."""

    APPLIED = "StatusEventsApplied"
    IGNORED = "StatusEventsIgnored"
    INVALID = "InvalidStatusEvents"
    UNKNOWN_JOB = "UnknownJobEvents"
    RESIDENCY_REFUSALS = "ResidencyRefusals"


class ArtifactEventsMetric(StrEnum):
    """The registry's artifact events (gui_artifact_events)."""

    APPLIED = "ArtifactEventsApplied"
    IGNORED = "ArtifactEventsIgnored"
    INVALID = "InvalidArtifactEvents"
    UNKNOWN = "UnknownArtifactEvents"
    VERSION_CONFLICTS = "ArtifactVersionConflicts"
    UNSUPPORTED_SCHEMA_VERSIONS = "UnsupportedSchemaVersions"
    RESIDENCY_REFUSALS = "ResidencyRefusals"


class ArchiverMetric(StrEnum):
    ITEMS_ARCHIVED = "ItemsArchived"
    STREAM_RECORDS_IGNORED = "StreamRecordsIgnored"
    ARCHIVE_UNKNOWN_STORE = "ArchiveUnknownStore"
    INBOX_COUNTERS_FORGOTTEN = "InboxCountersForgotten"


MetricName = (
    ApiMetric
    | GuardMetric
    | AuthorizerMetric
    | DashboardMetric
    | RealtimeMetric
    | QuarantineMetric
    | TenantWorkMetric
    | MigrationMetric
    | FanoutMetric
    | IndexerMetric
    | IndexCheckMetric
    | TelemetryMetric
    | TelemetryFactsMetric
    | JobEventsMetric
    | ArtifactEventsMetric
    | ArchiverMetric
)
METRIC_NAMES: tuple[type[StrEnum], ...] = MetricName.__args__

_REST = (ApiMetric, GuardMetric)
_TENANT_WORKER = (TenantWorkMetric,)
# Function (manifest name) -> the names it emits. The stacks read it, and a test holds it to the
# manifest's functions.
EMITTED_BY: Mapping[str, tuple[type[StrEnum], ...]] = {
    "gui_authorizer": (AuthorizerMetric,),
    "gui_preferences": _REST,
    "gui_admin": _REST,
    "gui_archiver": (ArchiverMetric,),
    "gui_jobs": _REST,
    "gui_job_events": (JobEventsMetric,),
    "gui_notifications": _REST,
    "gui_graphql": _REST,
    "gui_artifacts": _REST,
    "gui_artifact_events": (ArtifactEventsMetric,),
    "gui_dashboard": (*_REST, DashboardMetric),
    "gui_dashboard_rollups": (),
    "gui_realtime": (RealtimeMetric, GuardMetric),
    "gui_fanout": (FanoutMetric, QuarantineMetric),
    "gui_stream": _REST,
    "gui_search": _REST,
    "gui_indexer": (IndexerMetric, QuarantineMetric),
    "gui_index_rebuild": (IndexCheckMetric, *_TENANT_WORKER),
    "gui_telemetry_facts": (TelemetryFactsMetric, QuarantineMetric),
    "gui_telemetry": (TelemetryMetric, *_TENANT_WORKER),
    "gui_migrate": (MigrationMetric,),
    "gui_migrate_worker": (MigrationMetric,),
}


def declared(service: str) -> frozenset[str]:
    """The metric names `service` emits (KeyError for a function the table does not know)."""
    return frozenset(member for names in EMITTED_BY[service] for member in names)


def emitter(name: MetricName) -> str:
    """The one function that emits `name`'s metrics; ValueError when several do (name it then)."""
    services = [service for service, names in EMITTED_BY.items() if type(name) in names]
    if len(services) != 1:
        raise ValueError(f"{name} is emitted by {services or 'no function'}: name the service")
    return services[0]


class MetricsSink(Protocol):
    """What counting needs of Powertools Metrics."""

    def add_metric(self, name: str, unit: str, value: float) -> None: ...


def add(metrics: MetricsSink, name: MetricName, value: float = 1, *, unit: str = "Count") -> None:
    """Add `value` to the metric `name`: a declared member, or TypeError (a bare string too)."""
    if not isinstance(name, METRIC_NAMES):
        raise TypeError(f"{name!r} is no declared metric name (gui_core.metric_names)")
    metrics.add_metric(name=str(name), unit=unit, value=value)
