"""The metrics and panels of the region's dashboards: one description (`dashboard_rows`), rendered
into the stack's CloudWatch dashboard here and into Grafana's by `grafana`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from gui_core.metric_names import (
    ApiMetric,
    AuthorizerMetric,
    FanoutMetric,
    GuardMetric,
    IndexCheckMetric,
    IndexerMetric,
    MetricName,
    MigrationMetric,
    QuarantineMetric,
    RealtimeMetric,
    TelemetryFactsMetric,
    TelemetryMetric,
    TenantWorkMetric,
    declared,
    emitter,
)
from stacks.constructs.observability.thresholds import LONG_POLL_FUNCTIONS
from stacks.manifest import (
    FANOUT_FUNCTION,
    INDEX_REBUILD_FUNCTION,
    INDEXER_FUNCTION,
    MIGRATE_FUNCTION,
    MIGRATE_WORKER_FUNCTION,
    SEARCH_FUNCTION,
    STREAM_FUNCTION,
    TELEMETRY_FACTS_FUNCTION,
    TELEMETRY_FUNCTION,
)
from stacks.manifest_model import METRICS_NAMESPACE, Manifest

DASHBOARD_INTERVAL = cdk.Duration.hours(6)
ALARM_STATUS_WIDGET_MAX = 100  # alarms one alarm status widget can show


class Ref(Enum):
    """A dimension value known only per deployment: a resource of the stack in the CloudWatch
    dashboard, a variable in the Grafana dashboard."""

    REST_API = "rest_api"  # ApiName of the REST API
    REST_STAGE = "stage"  # its stage
    WEBSOCKET_API = "websocket_api"  # ApiId of the WebSocket API
    STREAM = "stream"  # StreamName of the GUI events stream
    FUNCTION = "function"  # FunctionName: one series per function of the panel
    QUEUE = "queue"  # QueueName: one series per queue of the stack but the migrations' work queue
    WORK_QUEUE = "work_queue"  # QueueName of the migrations' work queue (not a dead-letter queue)
    TENANT_WORK = "tenant_work"  # QueueName: one series per per-tenant work queue of the schedules
    BUS = "bus"  # EventBusName of the domain events bus
    RULE = "rule"  # RuleName: one series per rule of the domain events bus
    SCHEDULE = "schedule"  # RuleName: one series per schedule (rules of the default bus)


# The dimensions a metric is drawn once per value of.
_PER_RESOURCE = (Ref.FUNCTION, Ref.QUEUE, Ref.TENANT_WORK, Ref.RULE, Ref.SCHEDULE)


@dataclass(frozen=True)
class MetricSpec:
    namespace: str
    name: str
    statistic: str  # as CloudWatch spells it: Sum, Maximum, SampleCount, p99, ...
    label: str
    dimensions: tuple[tuple[str, str | Ref], ...] = ()
    period_s: int = 300

    @property
    def expands(self) -> Ref | None:
        """The per-resource dimension (FUNCTION, QUEUE, RULE or SCHEDULE) this metric is drawn once per
        value of."""
        return next((v for _, v in self.dimensions if v in _PER_RESOURCE), None)

    @property
    def service(self) -> str | None:
        """The function an application (EMF) metric is emitted by."""
        return next((str(v) for k, v in self.dimensions if k == "service"), None)


@dataclass(frozen=True)
class Panel:
    title: str
    metrics: tuple[MetricSpec, ...]
    unit: str = "short"  # Grafana's unit id; the CloudWatch axis label says it too
    # For metrics per function: the functions drawn in CloudWatch (None: every one). Grafana draws
    # its `function` variable (every function of the stack; the others have no such data).
    functions: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def emf(
    name: MetricName, service: str | None = None, *, statistic: str = "Sum", label: str | None = None
) -> MetricSpec:
    """An application metric of one function, as Powertools emits it: `service` is the function
    that emits `name` (gui_core.metric_names.EMITTED_BY), named only when several do; ValueError
    when it does not emit it."""
    service = service or emitter(name)
    if name not in declared(service):
        raise ValueError(f"{service} does not emit {name} (gui_core.metric_names.EMITTED_BY)")
    return MetricSpec(
        METRICS_NAMESPACE, str(name), statistic, label or f"{name} {service}", (("service", service),)
    )


def lambda_metric(name: str, statistic: str, *, period_s: int = 300) -> MetricSpec:
    return MetricSpec("AWS/Lambda", name, statistic, name, (("FunctionName", Ref.FUNCTION),), period_s)


def rest_metric(name: str, statistic: str, *, label: str | None = None, period_s: int = 300) -> MetricSpec:
    dimensions = (("ApiName", Ref.REST_API), ("Stage", Ref.REST_STAGE))
    return MetricSpec("AWS/ApiGateway", name, statistic, label or name, dimensions, period_s)


def websocket_metric(name: str, stage: str) -> MetricSpec:
    return MetricSpec("AWS/ApiGateway", name, "Sum", name, (("ApiId", Ref.WEBSOCKET_API), ("Stage", stage)))


def stream_metric(name: str, statistic: str, *, label: str | None = None, period_s: int = 300) -> MetricSpec:
    return MetricSpec("AWS/Kinesis", name, statistic, label or name, (("StreamName", Ref.STREAM),), period_s)


def rule_metric(name: str) -> MetricSpec:
    """A metric of the rules on the domain events bus: on a custom bus, EventBridge keys its metrics
    by the bus's name and the rule's."""
    return MetricSpec("AWS/Events", name, "Sum", name, (("EventBusName", Ref.BUS), ("RuleName", Ref.RULE)))


def schedule_metric(name: str) -> MetricSpec:
    """A metric of the schedules: rules on the default bus, keyed by the rule's name alone."""
    return MetricSpec("AWS/Events", name, "Sum", name, (("RuleName", Ref.SCHEDULE),))


# What EventBridge could not deliver to a rule's target after its retries (it goes to the target's
# dead-letter queue), and what it could not even put there (lost): (alarm kind, metric).
RULE_FAILURE_METRICS = (
    ("RuleFailedInvocations", "FailedInvocations"),
    ("RuleDlqSendFailures", "InvocationsFailedToBeSentToDlq"),
)

QUEUE_DEPTH = MetricSpec(
    "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "Visible", (("QueueName", Ref.QUEUE),)
)


def work_queue_metric(name: str, statistic: str, label: str) -> MetricSpec:
    """A metric of the migrations' work queue."""
    return MetricSpec("AWS/SQS", name, statistic, label, (("QueueName", Ref.WORK_QUEUE),))


WORK_ITEMS_WAITING = work_queue_metric("ApproximateNumberOfMessagesVisible", "Maximum", "waiting")
WORK_ITEMS_TAKEN = work_queue_metric("NumberOfMessagesDeleted", "Sum", "done or re-queued")


def tenant_work_metric(name: str, statistic: str, label: str) -> MetricSpec:
    """A metric of each per-tenant work queue of the schedules."""
    return MetricSpec("AWS/SQS", name, statistic, label, (("QueueName", Ref.TENANT_WORK),))


TENANT_WORK_OLDEST = tenant_work_metric("ApproximateAgeOfOldestMessage", "Maximum", "oldest")


def tenant_work_functions(manifest: Manifest) -> tuple[str, ...]:
    """The functions that queue and take per-tenant work items of a schedule (`Manifest.work_queues`)."""
    names = {queue.name for queue in manifest.work_queues}
    return tuple(fn.name for fn in manifest.functions if any(s.queue in names for s in fn.queue_sources))


def guarded_functions(manifest: Manifest) -> tuple[str, ...]:
    """Functions that pass requests through gui_core's tenant checks (residency, rate limits): the
    REST groups and the WebSocket API's function."""
    names = [fn.name for fn in manifest.functions if fn.routes]
    if manifest.websocket is not None:
        names.append(manifest.websocket.function)
    return tuple(names)


def latency_functions(manifest: Manifest) -> tuple[str, ...]:
    """The functions on a REST request's path, less the long polls: the authorizer and the groups."""
    rest = (fn.name for fn in manifest.functions if fn.routes and fn.name not in LONG_POLL_FUNCTIONS)
    return (manifest.authorizer.function.name, *rest)


def quarantining_functions(manifest: Manifest) -> tuple[str, ...]:
    """The consumers that keep their poison records in the quarantine queue."""
    return tuple(fn.name for fn in manifest.functions if fn.quarantines)


def migration_functions(manifest: Manifest) -> tuple[str, ...]:
    """The deploy step and the worker: both run migrations and count them (gui_core.migrations)."""
    return tuple(
        name for name in (MIGRATE_FUNCTION.name, MIGRATE_WORKER_FUNCTION.name) if _present(manifest, name)
    )


def stream_consumers(manifest: Manifest) -> tuple[str, ...]:
    """Functions fed by an event source mapping (the Kinesis stream or a store's stream)."""
    return tuple(fn.name for fn in manifest.functions if fn.kinesis_sources or fn.stream_sources)


# Events of tenants homed in another region, refused by each stream consumer.
RESIDENCY_EVENT_METRICS: tuple[MetricName, ...] = (
    FanoutMetric.RESIDENCY_REFUSED,
    TelemetryFactsMetric.RESIDENCY_REFUSED,
    IndexerMetric.EVENTS_OTHER_REGION,
)


def _present(manifest: Manifest, *names: str) -> bool:
    known = {fn.name for fn in manifest.all_functions()}
    return all(name in known for name in names)


def dashboard_rows(manifest: Manifest) -> tuple[Row, ...]:
    """Every panel of both dashboards, row by row."""
    guarded = guarded_functions(manifest)
    rows = [
        Row(
            "REST API",
            (
                Panel(
                    "Requests and errors",
                    (
                        rest_metric("Count", "Sum", label="Requests"),
                        rest_metric("4XXError", "Sum", label="4xx"),
                        rest_metric("5XXError", "Sum", label="5xx"),
                    ),
                ),
                Panel(
                    "Latency (the SSE long polls included)",
                    (
                        rest_metric("Latency", "p50", label="p50", period_s=60),
                        rest_metric("Latency", "p99", label="p99", period_s=60),
                        rest_metric("IntegrationLatency", "p99", label="integration p99", period_s=60),
                    ),
                    unit="ms",
                ),
                Panel(
                    "Function duration p99",
                    (lambda_metric("Duration", "p99", period_s=60),),
                    unit="ms",
                ),
            ),
        ),
        Row(
            "Functions",
            (
                Panel("Invocations", (lambda_metric("Invocations", "Sum"),)),
                Panel("Errors", (lambda_metric("Errors", "Sum"),)),
                Panel("Throttles", (lambda_metric("Throttles", "Sum"),)),
                Panel("Concurrent executions", (lambda_metric("ConcurrentExecutions", "Maximum"),)),
            ),
        ),
        Row(
            "Tenancy guard",
            (
                Panel(
                    "Rate-limit breaches (429)",
                    tuple(emf(GuardMetric.RATE_LIMIT_BREACHES, s) for s in guarded),
                ),
                Panel(
                    "Residency refusals",
                    (
                        *(emf(GuardMetric.RESIDENCY_REFUSALS, s) for s in guarded),
                        *(emf(m) for m in RESIDENCY_EVENT_METRICS if _present(manifest, emitter(m))),
                    ),
                ),
                Panel(
                    "Authorizer: identity provider outages",
                    tuple(
                        emf(name, manifest.authorizer.function.name)
                        for name in (AuthorizerMetric.UNAVAILABLE, AuthorizerMetric.JWKS_FETCH_FAILURES)
                    ),
                ),
            ),
        ),
        Row(
            "Events stream and dead-letter queues",
            (
                Panel(
                    "Iterator age",
                    (
                        lambda_metric("IteratorAge", "Maximum", period_s=60),
                        stream_metric(
                            "GetRecords.IteratorAgeMilliseconds", "Maximum", label="stream", period_s=60
                        ),
                    ),
                    unit="ms",
                    functions=stream_consumers(manifest),
                ),
                Panel(
                    "Stream records and throttles",
                    (
                        stream_metric("IncomingRecords", "Sum"),
                        stream_metric("WriteProvisionedThroughputExceeded", "Sum"),
                        stream_metric("ReadProvisionedThroughputExceeded", "Sum"),
                    ),
                ),
                Panel("Dead-letter queues: visible messages", (QUEUE_DEPTH,)),
                Panel(
                    "Records quarantined",
                    tuple(
                        emf(QuarantineMetric.RECORDS_QUARANTINED, s) for s in quarantining_functions(manifest)
                    ),
                ),
                Panel(
                    "Rule deliveries failed (bus rules, schedules)",
                    tuple(
                        make(metric)
                        for _, metric in RULE_FAILURE_METRICS
                        for make in (rule_metric, schedule_metric)
                    ),
                ),
            ),
        ),
    ]
    if _present(manifest, FANOUT_FUNCTION.name):
        rows.append(
            Row(
                "Fan-out",
                (
                    Panel(
                        "Fan-out lag",
                        (
                            emf(FanoutMetric.LAG_MS, statistic="p99", label="p99"),
                            emf(FanoutMetric.LAG_MS, statistic="Maximum", label="max"),
                        ),
                        unit="ms",
                    ),
                    Panel(
                        "Fan-out deliveries",
                        tuple(
                            emf(m)
                            for m in (
                                FanoutMetric.RECORDS,
                                FanoutMetric.PUSHED,
                                FanoutMetric.GONE,
                                FanoutMetric.PUSH_FAILED,
                                FanoutMetric.RECORDS_FAILED,
                            )
                        ),
                    ),
                ),
            )
        )
    if _present(manifest, SEARCH_FUNCTION.name, INDEXER_FUNCTION.name, INDEX_REBUILD_FUNCTION.name):
        search = SEARCH_FUNCTION.name
        rows.append(
            Row(
                "Search",
                (
                    Panel(
                        "Search latency",
                        (
                            emf(ApiMetric.LATENCY, search, statistic="p50", label="p50"),
                            emf(ApiMetric.LATENCY, search, statistic="p99", label="p99"),
                        ),
                        unit="ms",
                    ),
                    Panel(
                        "Index drift checks",
                        tuple(
                            emf(m)
                            for m in (
                                IndexCheckMetric.CHECKED,
                                IndexCheckMetric.DRIFT,
                                IndexCheckMetric.REBUILT,
                                IndexCheckMetric.CHECK_FAILURES,
                            )
                        ),
                    ),
                    Panel(
                        "Indexer",
                        tuple(
                            emf(m)
                            for m in (
                                IndexerMetric.EVENTS_APPLIED,
                                IndexerMetric.VERSIONS_PUBLISHED,
                                IndexerMetric.TENANT_FAILURES,
                            )
                        ),
                    ),
                ),
            )
        )
    if _present(manifest, TELEMETRY_FUNCTION.name, TELEMETRY_FACTS_FUNCTION.name):
        rows.append(
            Row(
                "Telemetry",
                (
                    Panel(
                        "Telemetry runs",
                        (
                            emf(TelemetryMetric.RUN_MS, statistic="SampleCount", label="tenants aggregated"),
                            emf(TelemetryMetric.TENANTS, statistic="Maximum", label="tenants homed"),
                        ),
                    ),
                    Panel(
                        "Telemetry run time",
                        (emf(TelemetryMetric.RUN_MS, statistic="Maximum", label="max"),),
                        unit="ms",
                    ),
                    Panel(
                        "Telemetry failures",
                        (
                            emf(TelemetryMetric.TENANTS_FAILED),
                            emf(TelemetryMetric.COMPACTIONS_FAILED),
                            emf(TelemetryFactsMetric.FACT_WRITES_FAILED),
                            emf(TelemetryFactsMetric.RECORDS_FAILED),
                        ),
                    ),
                ),
            )
        )
    migrating = migration_functions(manifest)
    if migrating:
        rows.append(
            Row(
                "Schema migrations",
                (
                    Panel(
                        "Migration work items",
                        (
                            WORK_ITEMS_WAITING,
                            work_queue_metric(
                                "ApproximateNumberOfMessagesNotVisible", "Maximum", "in progress"
                            ),
                            WORK_ITEMS_TAKEN,
                        ),
                    ),
                    Panel(
                        "Oldest migration work item",
                        (work_queue_metric("ApproximateAgeOfOldestMessage", "Maximum", "age"),),
                        unit="s",
                    ),
                    Panel(
                        "Migration runs",
                        tuple(
                            emf(m, s)
                            for m in (
                                MigrationMetric.FAILURES,
                                MigrationMetric.TENANTS_DONE,
                                MigrationMetric.WORK_ITEMS_QUEUED,
                            )
                            for s in migrating
                        ),
                    ),
                    Panel(
                        "Migration items",
                        tuple(
                            emf(m, s)
                            for m in (MigrationMetric.ITEMS_SCANNED, MigrationMetric.ITEMS_CHANGED)
                            for s in migrating
                        ),
                    ),
                ),
            )
        )
    fanned_out = tenant_work_functions(manifest)
    if fanned_out:
        rows.append(
            Row(
                "Per-tenant batch work",
                (
                    Panel(
                        "Tenant work items",
                        (
                            tenant_work_metric("ApproximateNumberOfMessagesVisible", "Maximum", "waiting"),
                            tenant_work_metric(
                                "ApproximateNumberOfMessagesNotVisible", "Maximum", "in progress"
                            ),
                            tenant_work_metric("NumberOfMessagesDeleted", "Sum", "taken"),
                        ),
                    ),
                    Panel("Oldest tenant work item", (TENANT_WORK_OLDEST,), unit="s"),
                    Panel(
                        "Tenant work outcomes",
                        tuple(
                            emf(m, s)
                            for s in fanned_out
                            for m in (
                                TenantWorkMetric.QUEUED,
                                TenantWorkMetric.DONE,
                                TenantWorkMetric.EXPIRED,
                            )
                        ),
                    ),
                ),
            )
        )
    live: list[Panel] = []
    if manifest.websocket is not None:
        stage, realtime = manifest.websocket.stage, manifest.websocket.function
        live += [
            Panel(
                "WebSocket connects and messages",
                (websocket_metric("ConnectCount", stage), websocket_metric("MessageCount", stage)),
            ),
            Panel(
                "WebSocket errors",
                tuple(
                    websocket_metric(m, stage) for m in ("ClientError", "IntegrationError", "ExecutionError")
                ),
            ),
            Panel(
                "WebSocket outcomes",
                tuple(
                    emf(m, realtime)
                    for m in (
                        RealtimeMetric.CONNECTS,
                        RealtimeMetric.DISCONNECTS,
                        RealtimeMetric.REFUSALS,
                        RealtimeMetric.MESSAGE_FAILURES,
                    )
                ),
            ),
        ]
    if _present(manifest, STREAM_FUNCTION.name):
        sse = STREAM_FUNCTION.name
        live.append(Panel("SSE requests", (emf(ApiMetric.REQUESTS, sse), emf(ApiMetric.ERRORS_5XX, sse))))
    if live:
        rows.append(Row("Live channels", tuple(live)))
    return tuple(rows)


def all_metric_specs(manifest: Manifest) -> list[MetricSpec]:
    return [spec for row in dashboard_rows(manifest) for panel in row.panels for spec in panel.metrics]


# --- the CloudWatch rendering -----------------------------------------------------------------


def cloudwatch_dashboard(
    scope: Construct,
    *,
    manifest: Manifest,
    alarms: Sequence[cw.Alarm],
    metrics_of: Callable[[Panel], list[cw.IMetric]],
) -> cw.Dashboard:
    """The CloudWatch dashboard of `dashboard_rows` in `scope`: the alarms' states, then each row's
    panels, drawn with `metrics_of` (a panel with no metric in this stack is left out)."""
    stack = cdk.Stack.of(scope)
    region = stack.region
    name = stack.stack_name if region in stack.stack_name else f"{stack.stack_name}-{region}"
    dashboard = cw.Dashboard(scope, "Dashboard", dashboard_name=name, default_interval=DASHBOARD_INTERVAL)
    dashboard.add_widgets(
        cw.TextWidget(
            markdown=f"# DomainDetermine GUI backend, {region}\nAlarms notify the topic "
            f"`{stack.stack_name}` outputs as AlarmTopicArn. The same panels in Grafana: "
            "`docs/gui/grafana_dashboard.json`.",
            width=24,
            height=2,
        )
    )
    for start in range(0, len(alarms), ALARM_STATUS_WIDGET_MAX):
        dashboard.add_widgets(
            cw.AlarmStatusWidget(
                alarms=list(alarms[start : start + ALARM_STATUS_WIDGET_MAX]),
                title="Alarms",
                width=24,
                height=6,
                sort_by=cw.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
            )
        )
    for row in dashboard_rows(manifest):
        widgets: list[cw.IWidget] = [
            cw.GraphWidget(
                title=panel.title,
                left=metrics,
                left_y_axis=cw.YAxisProps(label=panel.unit, show_units=False, min=0),
                width=8,
                height=6,
            )
            for panel in row.panels
            if (metrics := metrics_of(panel))
        ]
        dashboard.add_widgets(cw.TextWidget(markdown=f"## {row.title}", width=24, height=1))
        dashboard.add_widgets(*widgets)
    return dashboard
