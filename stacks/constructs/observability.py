"""Observability of a region: alarms on what breaks, a CloudWatch dashboard, and the Grafana dashboard
over the same metrics.

Every alarm notifies the region's alarm topic (SNS, encrypted with a key of ours: CloudWatch cannot
publish to a topic under the AWS-managed `alias/aws/sns` key, whose policy cannot let it use the
key); `-c alarm_emails=ops@example.com,...` subscribes addresses to it, and the stack outputs its ARN
for any other subscriber.

The dashboards are one list of panels (`dashboard_rows`), rendered twice: into the CloudWatch
dashboard of the stack, and into `docs/gui/grafana_dashboard.json`, whose dimension values that only
exist once deployed (function, queue and stream names, API ids) are Grafana variables. Regenerate it
after changing the panels (a test fails when it is stale):

    .venv/bin/python -m stacks.constructs.observability --grafana docs/gui/grafana_dashboard.json

Application metrics are the functions' Powertools EMF metrics: namespace `METRICS_NAMESPACE`,
dimension `service` = the function's name.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.manifest import (
    DEFAULT_REGIONS,
    FANOUT_FUNCTION,
    INDEX_REBUILD_FUNCTION,
    INDEXER_FUNCTION,
    METRICS_NAMESPACE,
    MIGRATE_FUNCTION,
    MIGRATE_WORKER_FUNCTION,
    SEARCH_FUNCTION,
    STREAM_FUNCTION,
    TELEMETRY_FACTS_FUNCTION,
    TELEMETRY_FUNCTION,
    Manifest,
)
from stacks.naming import pascal_case

# --- thresholds: defaults to tune per deployment ----------------------------------------------

PERIOD = cdk.Duration.minutes(5)  # the evaluation period of most alarms
# REST API: 5xx answers above 1 % of the requests of 5 minutes, once the stage served at least
# API_MIN_REQUESTS of them (two failures among three requests at night are not an outage).
API_5XX_RATE_PERCENT = 1.0
API_MIN_REQUESTS = 20
# REST latency: the slowest p99 among the REST functions and the authorizer above 2 s in 3 of 5
# one-minute periods. API Gateway's own Latency of the stage cannot be the alarm's metric: the SSE
# route is a long poll held up to 20 s by design, so the stage's p99 is that hold.
LATENCY_P99_MS = 2000
LATENCY_DATAPOINTS, LATENCY_PERIODS = 3, 5
# Functions whose invocations are long polls by design, left out of the latency alarm.
LONG_POLL_FUNCTIONS = (STREAM_FUNCTION.name,)
# A function's errors (exceptions, timeouts, out of memory) above 5 % of its invocations of 5
# minutes: one failed run of a scheduled function is 100 %. Records a consumer reports as failed
# are not errors; its iterator age and dead-letter queue tell of them.
FUNCTION_ERROR_RATE_PERCENT = 5.0
# Any throttled invocation: the region's concurrency is exhausted, or a reserved limit is too low.
FUNCTION_THROTTLES = 0
# Stream consumers more than a minute behind (Lambda's IteratorAge; the stream's own read age), in
# 3 of 5 minutes: a batch retried after a failure is expected to lag for a moment.
ITERATOR_AGE_MS = 60_000
ITERATOR_AGE_DATAPOINTS, ITERATOR_AGE_PERIODS = 3, 5
# Writes the stream refused for lack of shard capacity, in 3 of 5 minutes: EventBridge retries them,
# so only a sustained refusal (a shard too few) threatens delivery.
STREAM_WRITE_THROTTLES = 0
# Anything in a dead-letter queue: a delivery that failed for good and waits to be redriven.
DLQ_VISIBLE_MESSAGES = 0
# Anything in the quarantine: poison records of the stream's consumers wait for an operator (to
# inspect, replay or discard them: `ddgui quarantine`); and any record quarantined in 5 minutes,
# which tells of new ones while the queue's alarm is already in alarm for older ones.
QUARANTINE_VISIBLE_MESSAGES = 0
RECORDS_QUARANTINED = 0
QUARANTINED_METRIC = "RecordsQuarantined"  # gui_core.quarantine.QUARANTINED_METRIC
# The authorizer: any request it could not verify for want of its identity provider's keys (answered
# 503: users are refused); and failed key set fetches in 3 of 5 periods (the last good keys are still
# served for hours, so a blip is not worth a page, a lasting outage is).
AUTHORIZER_UNAVAILABLE = 0
JWKS_FETCH_FAILURES = 0
JWKS_FETCH_DATAPOINTS, JWKS_FETCH_PERIODS = 3, 5
# Schema migrations: any migration that failed (the deploy step's, an operator's apply, the worker's:
# the ledger keeps the error and the tenant's checkpoint); and work items waiting in the work queue
# while none is taken off it for 3 periods of 5 minutes (each worker run takes at most its 5 minutes
# and deletes its item, re-queueing a tenant it did not finish): the backfill is stuck. A long queue
# alone is no alarm: a large backfill waits its turn.
MIGRATION_FAILURES = 0
MIGRATION_FAILURES_METRIC = "MigrationFailures"  # gui_core.migrations.engine.FAILURES_METRIC
MIGRATION_STALLED_PERIODS = 3
# Per-tenant rate-limit refusals (429) of every guarded function together, per 5 minutes: a client
# in a loop, or limits set too low for a tenant.
RATE_LIMIT_BREACHES = 100
# Requests of tenants homed in another region (answered 421), per 5 minutes: clients that ignore
# the answer's Location, or a routing mistake sending one region's users to another.
RESIDENCY_REFUSALS = 50
# Any event of a tenant homed elsewhere on this region's stream: a producer publishing to the wrong
# region's bus (the consumers refuse the event; its data never lands here).
RESIDENCY_EVENTS_REFUSED = 0
# Search: any index found drifted from the registry (rebuilt, but something lost events), and any
# tenant whose check failed.
SEARCH_INDEX_DRIFT = 1
SEARCH_CHECK_FAILURES = 1
# Telemetry tenants that failed in 2 of 3 five-minute periods: one failed run is retried by the next.
TELEMETRY_TENANTS_FAILED = 1
TELEMETRY_DATAPOINTS, TELEMETRY_PERIODS = 2, 3
# A schedule is missed when its function ran not once in twice its rate.
SCHEDULE_MISSED_FACTOR = 2
# Connection high-water marks per 5 minutes, in 2 consecutive periods (a reconnect wave after a
# deployment lasts less): WebSocket connects (a client reconnects at most every 2 h of API
# Gateway's connection limit), and SSE long polls (each open stream polls about 15 times).
WEBSOCKET_CONNECTS = 3000
SSE_REQUESTS = 30_000
CONNECTIONS_PERIODS = 2

ALARM_EMAILS_CONTEXT = "alarm_emails"
DASHBOARD_INTERVAL = cdk.Duration.hours(6)
GRAFANA_DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "gui" / "grafana_dashboard.json"
GRAFANA_UID = "ddgui-backend"
GRAFANA_SCHEMA_VERSION = 39
ALARM_STATUS_WIDGET_MAX = 100  # alarms one alarm status widget can show

_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


# --- the metrics: one description, two renderings ---------------------------------------------


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
    BUS = "bus"  # EventBusName of the domain events bus
    RULE = "rule"  # RuleName: one series per rule of the domain events bus
    SCHEDULE = "schedule"  # RuleName: one series per schedule (rules of the default bus)


# The dimensions a metric is drawn once per value of.
_PER_RESOURCE = (Ref.FUNCTION, Ref.QUEUE, Ref.RULE, Ref.SCHEDULE)


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


def emf(name: str, service: str, statistic: str = "Sum", *, label: str | None = None) -> MetricSpec:
    """An application metric of one function, as Powertools emits it."""
    return MetricSpec(
        METRICS_NAMESPACE, name, statistic, label or f"{name} {service}", (("service", service),)
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
# Any such invocation: EventBridge sends these metrics only when they are not zero.
RULE_FAILED_INVOCATIONS = 0

QUEUE_DEPTH = MetricSpec(
    "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "Visible", (("QueueName", Ref.QUEUE),)
)


def work_queue_metric(name: str, statistic: str, label: str) -> MetricSpec:
    """A metric of the migrations' work queue."""
    return MetricSpec("AWS/SQS", name, statistic, label, (("QueueName", Ref.WORK_QUEUE),))


WORK_ITEMS_WAITING = work_queue_metric("ApproximateNumberOfMessagesVisible", "Maximum", "waiting")
WORK_ITEMS_TAKEN = work_queue_metric("NumberOfMessagesDeleted", "Sum", "done or re-queued")


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


# Events of tenants homed in another region, refused by each stream consumer: (function, metric).
RESIDENCY_EVENT_METRICS = (
    (FANOUT_FUNCTION.name, "ResidencyRefused"),
    (TELEMETRY_FACTS_FUNCTION.name, "ResidencyRefused"),
    (INDEXER_FUNCTION.name, "IndexEventsOtherRegion"),
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
                Panel("Rate-limit breaches (429)", tuple(emf("RateLimitBreaches", s) for s in guarded)),
                Panel(
                    "Residency refusals",
                    (
                        *(emf("ResidencyRefusals", s) for s in guarded),
                        *(emf(m, s) for s, m in RESIDENCY_EVENT_METRICS if _present(manifest, s)),
                    ),
                ),
                Panel(
                    "Authorizer: identity provider outages",
                    tuple(
                        emf(name, manifest.authorizer.function.name)
                        for name in ("AuthorizerUnavailable", "JwksFetchFailures")
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
                    tuple(emf(QUARANTINED_METRIC, s) for s in quarantining_functions(manifest)),
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
        fanout = FANOUT_FUNCTION.name
        rows.append(
            Row(
                "Fan-out",
                (
                    Panel(
                        "Fan-out lag",
                        (
                            emf("FanoutLagMs", fanout, "p99", label="p99"),
                            emf("FanoutLagMs", fanout, "Maximum", label="max"),
                        ),
                        unit="ms",
                    ),
                    Panel(
                        "Fan-out deliveries",
                        tuple(
                            emf(m, fanout)
                            for m in ("Records", "Pushed", "Gone", "PushFailed", "RecordsFailed")
                        ),
                    ),
                ),
            )
        )
    if _present(manifest, SEARCH_FUNCTION.name, INDEXER_FUNCTION.name, INDEX_REBUILD_FUNCTION.name):
        search, indexer, rebuild = SEARCH_FUNCTION.name, INDEXER_FUNCTION.name, INDEX_REBUILD_FUNCTION.name
        rows.append(
            Row(
                "Search",
                (
                    Panel(
                        "Search latency",
                        (
                            emf("Latency", search, "p50", label="p50"),
                            emf("Latency", search, "p99", label="p99"),
                        ),
                        unit="ms",
                    ),
                    Panel(
                        "Index drift checks",
                        tuple(
                            emf(m, rebuild)
                            for m in (
                                "SearchIndexChecked",
                                "SearchIndexDrift",
                                "SearchIndexRebuilt",
                                "SearchIndexCheckFailures",
                            )
                        ),
                    ),
                    Panel(
                        "Indexer",
                        tuple(
                            emf(m, indexer)
                            for m in ("IndexEventsApplied", "IndexVersionsPublished", "IndexTenantFailures")
                        ),
                    ),
                ),
            )
        )
    if _present(manifest, TELEMETRY_FUNCTION.name, TELEMETRY_FACTS_FUNCTION.name):
        telemetry, facts = TELEMETRY_FUNCTION.name, TELEMETRY_FACTS_FUNCTION.name
        rows.append(
            Row(
                "Telemetry",
                (
                    Panel(
                        "Telemetry runs",
                        (
                            emf("TelemetryRunMs", telemetry, "SampleCount", label="runs"),
                            emf("TelemetryTenants", telemetry, "Maximum", label="tenants"),
                        ),
                    ),
                    Panel(
                        "Telemetry run time",
                        (emf("TelemetryRunMs", telemetry, "Maximum", label="max"),),
                        unit="ms",
                    ),
                    Panel(
                        "Telemetry failures",
                        (
                            emf("TelemetryTenantsFailed", telemetry),
                            emf("TelemetryTenantsSkipped", telemetry),
                            emf("CompactionsFailed", telemetry),
                            emf("FactWritesFailed", facts),
                            emf("RecordsFailed", facts),
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
                                MIGRATION_FAILURES_METRIC,
                                "MigrationTenantsDone",
                                "MigrationWorkItemsQueued",
                            )
                            for s in migrating
                        ),
                    ),
                    Panel(
                        "Migration items",
                        tuple(
                            emf(m, s)
                            for m in ("MigrationItemsScanned", "MigrationItemsChanged")
                            for s in migrating
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
                tuple(emf(m, realtime) for m in ("Connects", "Disconnects", "Refusals", "MessageFailures")),
            ),
        ]
    if _present(manifest, STREAM_FUNCTION.name):
        sse = STREAM_FUNCTION.name
        live.append(Panel("SSE requests", (emf("Requests", sse), emf("Errors5xx", sse))))
    if live:
        rows.append(Row("Live channels", tuple(live)))
    return tuple(rows)


def all_metric_specs(manifest: Manifest) -> list[MetricSpec]:
    return [spec for row in dashboard_rows(manifest) for panel in row.panels for spec in panel.metrics]


# --- the construct ----------------------------------------------------------------------------


class Observability(Construct):
    """The region's alarm topic, its alarms (`alarms`, by kind) and its CloudWatch dashboard.

    Every SQS queue of the stack that exists when this construct is made gets a depth alarm: make it
    last (the regional stack does). The quarantine queue's is of its own kind (`QuarantineDepth`):
    what waits there is not a failed delivery to redrive but poison records to look at. The
    migrations' work queue has none: work items wait there by design; it alarms when they stop
    moving (`MigrationBacklogStalled`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        rest_api: apigw.RestApi,
        functions: Mapping[str, lambda_.IFunction],
        stream: kinesis.IStream,
        websocket: apigwv2.WebSocketStage | None = None,
        bus_name: str | None = None,
        rule_names: Mapping[str, str] | None = None,
        schedule_names: Mapping[str, str] | None = None,
        quarantine: sqs.Queue | None = None,
        work_queue: sqs.Queue | None = None,
    ) -> None:
        """`functions`: every function of the stack by its manifest name, the authorizer included.
        `rule_names` and `schedule_names`: the physical names of the bus's rules (on the bus named
        `bus_name`) and of the schedules, by manifest name. `quarantine`: the quarantine queue;
        `work_queue`: the migrations' work queue."""
        super().__init__(scope, construct_id)
        self.stack = cdk.Stack.of(self)
        self.manifest = manifest
        self.rest_api = rest_api
        self.functions = dict(functions)
        self.stream = stream
        self.websocket = websocket
        self.bus_name = bus_name
        self.rule_names = dict(rule_names or {})
        self.schedule_names = dict(schedule_names or {})
        if self.rule_names and bus_name is None:
            raise ValueError("the rules' metrics need the name of their bus")
        # Known by its path: the CDK hands out a new proxy of a construct at each access.
        self.quarantine_path = f"{quarantine.node.path}/Resource" if quarantine is not None else None
        self.work_queue = work_queue
        work_queue_path = f"{work_queue.node.path}/Resource" if work_queue is not None else None
        # The dead-letter queues and the quarantine: what waits there waits for an operator.
        self.queues = [queue for queue in _queues(self.stack) if queue.node.path != work_queue_path]
        self.alarms: dict[str, list[cw.Alarm]] = {}

        self.key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Encrypts the alarm topic of {self.stack.stack_name}.",
            enable_key_rotation=True,
            # It protects notifications in flight only: nothing is left to decrypt once the stack is gone.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # The key policy statement AWS documents for alarms notifying an encrypted topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"DomainDetermine GUI alarms, {self.stack.region}",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": self.stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": self.stack.account},
                },
            )
        )
        for email in alarm_emails(self.node.try_get_context(ALARM_EMAILS_CONTEXT)):
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        cdk.CfnOutput(  # on the stack, so the output is named `AlarmTopicArn` (no path prefix)
            cdk.Stack.of(self),
            "AlarmTopicArn",
            value=self.topic.topic_arn,
            description="SNS topic every alarm notifies.",
        )

        self._api_alarms()
        self._function_alarms()
        self._stream_alarms()
        self._queue_alarms()
        self._quarantine_alarms()
        self._migration_alarms()
        self._rule_alarms()
        self._guard_alarms()
        self._authorizer_alarms()
        self._search_and_telemetry_alarms()
        self._connection_alarms()
        self.dashboard = self._dashboard()

    # -- rendering the metric descriptions

    def metric(
        self,
        spec: MetricSpec,
        *,
        function: str | None = None,
        queue: sqs.CfnQueue | None = None,
        rule: str | None = None,
    ) -> cw.Metric:
        """`spec` with this stack's dimension values (`function`/`queue`/`rule`, a rule's or a
        schedule's manifest name, for the per-resource one)."""
        dimensions = {key: self._dimension(value, function, queue, rule) for key, value in spec.dimensions}
        label = spec.label
        if spec.expands is Ref.FUNCTION and function is not None:
            label = function
        elif spec.expands is Ref.QUEUE and queue is not None:
            label = _queue_subject(self.stack, queue)
        elif spec.expands in (Ref.RULE, Ref.SCHEDULE) and rule is not None:
            label = f"{spec.name} {rule}"
        return cw.Metric(
            namespace=spec.namespace,
            metric_name=spec.name,
            dimensions_map=dimensions,
            statistic=spec.statistic,
            period=cdk.Duration.seconds(spec.period_s),
            label=label,
        )

    def _dimension(
        self, value: str | Ref, function: str | None, queue: sqs.CfnQueue | None, rule: str | None
    ) -> str:
        if isinstance(value, str):
            return value
        if value in (Ref.RULE, Ref.SCHEDULE):
            names = self.rule_names if value is Ref.RULE else self.schedule_names
            if rule is None or rule not in names:
                raise ValueError(f"a per-{value.value} metric needs one of {sorted(names)}, not {rule!r}")
            return names[rule]
        if value is Ref.FUNCTION:
            if function is None:
                raise ValueError("a per-function metric needs the function")
            return self.functions[function].function_name
        if value is Ref.QUEUE:
            if queue is None:
                raise ValueError("a per-queue metric needs the queue")
            return queue.attr_queue_name
        resources = {
            Ref.WORK_QUEUE: self.work_queue.queue_name if self.work_queue is not None else None,
            Ref.REST_API: self.rest_api.rest_api_name,
            Ref.REST_STAGE: self.rest_api.deployment_stage.stage_name,
            Ref.STREAM: self.stream.stream_name,
            Ref.WEBSOCKET_API: self.websocket.api.api_id if self.websocket is not None else None,
            Ref.BUS: self.bus_name,
        }
        found = resources[value]
        if found is None:
            raise ValueError(f"a metric of the {value.value} in a stack without it")
        return found

    def _panel_metrics(self, panel: Panel) -> list[cw.IMetric]:
        metrics: list[cw.IMetric] = []
        for spec in panel.metrics:
            if spec.expands is Ref.FUNCTION:
                names = panel.functions if panel.functions is not None else tuple(self.functions)
                metrics += [self.metric(spec, function=name) for name in names if name in self.functions]
            elif spec.expands is Ref.QUEUE:
                metrics += [self.metric(spec, queue=queue) for queue in self.queues]
            elif spec.expands in (Ref.RULE, Ref.SCHEDULE):
                rules = self.rule_names if spec.expands is Ref.RULE else self.schedule_names
                metrics += [self.metric(spec, rule=name) for name in rules]
            elif spec.service is None or spec.service in self.functions:
                if any(value is Ref.WEBSOCKET_API for _, value in spec.dimensions) and self.websocket is None:
                    continue
                if any(value is Ref.WORK_QUEUE for _, value in spec.dimensions) and self.work_queue is None:
                    continue
                metrics.append(self.metric(spec))
        return metrics

    # -- alarms

    def _alarm(
        self,
        kind: str,
        metric: cw.IMetric,
        *,
        threshold: float,
        description: str,
        subject: str | None = None,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        treat_missing_data: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> cw.Alarm:
        """An alarm named `<stack>-<kind>[-<subject>]`, notifying the topic."""
        name = "-".join((self.stack.stack_name, kind, *((subject,) if subject else ())))
        alarm = cw.Alarm(
            self,
            kind + (pascal_case(subject) if subject else ""),
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=treat_missing_data,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.setdefault(kind, []).append(alarm)
        return alarm

    def _sum(self, specs: Iterable[MetricSpec], label: str) -> cw.IMetric | None:
        """The sum of application metrics of several functions (an alarm reads at most 10); None when
        no function of this stack emits them."""
        metrics = {
            f"m{i}": self.metric(spec) for i, spec in enumerate(specs) if spec.service in self.functions
        }
        if len(metrics) > 10:
            raise ValueError(f"{label}: a CloudWatch alarm reads at most 10 metrics, not {len(metrics)}")
        if len(metrics) <= 1:
            return next(iter(metrics.values()), None)
        return cw.MathExpression(
            expression=f"SUM([{', '.join(metrics)}])", using_metrics=metrics, label=label, period=PERIOD
        )

    def _api_alarms(self) -> None:
        errors = self.metric(rest_metric("5XXError", "Sum"))
        requests = self.metric(rest_metric("Count", "Sum"))
        self._alarm(
            "Api5xxRate",
            cw.MathExpression(
                expression=f"IF(requests >= {API_MIN_REQUESTS}, 100 * errors / requests, 0)",
                using_metrics={"errors": errors, "requests": requests},
                label="5xx % of requests",
                period=PERIOD,
            ),
            threshold=API_5XX_RATE_PERCENT,
            description=f"The REST API answered more than {API_5XX_RATE_PERCENT:g} % of its requests with "
            "5xx in 5 minutes. See the functions' errors and the API's access and execution logs.",
        )
        durations = {
            f"d{i}": self.metric(lambda_metric("Duration", "p99", period_s=60), function=name)
            for i, name in enumerate(latency_functions(self.manifest))
            if name in self.functions
        }
        if not durations:
            return
        self._alarm(
            "ApiLatencyP99",
            cw.MathExpression(
                expression=f"MAX([{', '.join(durations)}])",
                using_metrics=durations,
                label="slowest p99 of the REST path",
                period=cdk.Duration.minutes(1),
            ),
            threshold=LATENCY_P99_MS,
            evaluation_periods=LATENCY_PERIODS,
            datapoints_to_alarm=LATENCY_DATAPOINTS,
            description=f"The p99 duration of a REST function or the authorizer exceeded {LATENCY_P99_MS} "
            f"ms in {LATENCY_DATAPOINTS} of {LATENCY_PERIODS} minutes (the SSE long poll is left out).",
        )

    def _function_alarms(self) -> None:
        for name in self.functions:
            errors = self.metric(lambda_metric("Errors", "Sum"), function=name)
            invocations = self.metric(lambda_metric("Invocations", "Sum"), function=name)
            self._alarm(
                "FunctionErrors",
                cw.MathExpression(
                    expression="IF(invocations > 0, 100 * errors / invocations, 0)",
                    using_metrics={"errors": errors, "invocations": invocations},
                    label=f"{name} errors %",
                    period=PERIOD,
                ),
                subject=name,
                threshold=FUNCTION_ERROR_RATE_PERCENT,
                description=f"{name}: more than {FUNCTION_ERROR_RATE_PERCENT:g} % of its invocations failed "
                "(exception, timeout or out of memory) in 5 minutes. See its log group.",
            )
            self._alarm(
                "FunctionThrottles",
                self.metric(lambda_metric("Throttles", "Sum"), function=name),
                subject=name,
                threshold=FUNCTION_THROTTLES,
                description=f"{name} was throttled: the region's Lambda concurrency is exhausted.",
            )
        for schedule in self.manifest.schedules:
            if schedule.function not in self.functions:
                continue
            window = cdk.Duration.seconds(schedule.every_s * SCHEDULE_MISSED_FACTOR)
            self._alarm(
                "ScheduleMissed",
                cw.Metric(
                    namespace="AWS/Lambda",
                    metric_name="Invocations",
                    dimensions_map={"FunctionName": self.functions[schedule.function].function_name},
                    statistic="Sum",
                    period=window,
                    label=f"{schedule.function} runs",
                ),
                subject=schedule.name,
                threshold=1,
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.BREACHING,
                description=f"Schedule {schedule.name} did not run {schedule.function} in "
                f"{schedule.rate_minutes * SCHEDULE_MISSED_FACTOR} minutes (its rate is "
                f"{schedule.rate_minutes}): the rule is disabled, or its target failed to invoke it.",
            )

    def _stream_alarms(self) -> None:
        for name in stream_consumers(self.manifest):
            if name not in self.functions:
                continue
            self._alarm(
                "IteratorAge",
                self.metric(lambda_metric("IteratorAge", "Maximum", period_s=60), function=name),
                subject=name,
                threshold=ITERATOR_AGE_MS,
                evaluation_periods=ITERATOR_AGE_PERIODS,
                datapoints_to_alarm=ITERATOR_AGE_DATAPOINTS,
                description=f"{name} is more than {ITERATOR_AGE_MS // 1000} s behind its stream in "
                f"{ITERATOR_AGE_DATAPOINTS} of {ITERATOR_AGE_PERIODS} minutes: a failing batch retried, "
                "or too little throughput.",
            )
        self._alarm(
            "StreamIteratorAge",
            self.metric(stream_metric("GetRecords.IteratorAgeMilliseconds", "Maximum", period_s=60)),
            threshold=ITERATOR_AGE_MS,
            evaluation_periods=ITERATOR_AGE_PERIODS,
            datapoints_to_alarm=ITERATOR_AGE_DATAPOINTS,
            description=f"The GUI events stream's slowest reader is more than {ITERATOR_AGE_MS // 1000} s "
            "behind: live channels, search and telemetry lag.",
        )
        self._alarm(
            "StreamWriteThrottles",
            self.metric(stream_metric("WriteProvisionedThroughputExceeded", "Sum", period_s=60)),
            threshold=STREAM_WRITE_THROTTLES,
            evaluation_periods=ITERATOR_AGE_PERIODS,
            datapoints_to_alarm=ITERATOR_AGE_DATAPOINTS,
            description="The GUI events stream refuses writes for lack of shards (EventBridge retries, "
            "then the rule's dead-letter queue): add a shard.",
        )

    def _queue_alarms(self) -> None:
        for queue in self.queues:
            if queue.node.path == self.quarantine_path:
                continue
            subject = _queue_subject(self.stack, queue)
            self._alarm(
                "DlqDepth",
                self.metric(QUEUE_DEPTH, queue=queue),
                subject=subject,
                threshold=DLQ_VISIBLE_MESSAGES,
                description=f"Dead-letter queue {subject} holds messages: a delivery failed for good. "
                "Read them, fix the cause, then redrive.",
            )

    def _quarantine_alarms(self) -> None:
        for queue in (q for q in self.queues if q.node.path == self.quarantine_path):
            subject = _queue_subject(self.stack, queue)
            self._alarm(
                "QuarantineDepth",
                self.metric(QUEUE_DEPTH, queue=queue),
                subject=subject,
                threshold=QUARANTINE_VISIBLE_MESSAGES,
                description=f"The quarantine {subject} holds poison records of the stream's consumers "
                "(undecodable, unknown schema version, invalid, tenant not homed here). Inspect them "
                "(`ddgui quarantine list`), fix the cause, then replay or discard them.",
            )
        quarantined = self._sum(
            (emf(QUARANTINED_METRIC, s) for s in quarantining_functions(self.manifest)), "records quarantined"
        )
        if quarantined is not None:
            self._alarm(
                "RecordsQuarantined",
                quarantined,
                threshold=RECORDS_QUARANTINED,
                description="The stream's consumers quarantined poison records in the last 5 minutes "
                "(a producer sending undecodable or unknown events, or tenants not provisioned here). "
                "See `ddgui quarantine list` and the consumers' logs.",
            )

    def _migration_alarms(self) -> None:
        failures = self._sum(
            (emf(MIGRATION_FAILURES_METRIC, s) for s in migration_functions(self.manifest)),
            "migration failures",
        )
        if failures is not None:
            self._alarm(
                "MigrationFailures",
                failures,
                threshold=MIGRATION_FAILURES,
                description="A schema migration failed (in the deploy step, which fails the deploy, in "
                "`ddgui migrate apply`, or in the worker's backfill of a tenant); the ledger keeps the error "
                "and the tenant's checkpoint. See `ddgui migrate status` and the function's log group.",
            )
        if self.work_queue is None:
            return
        self._alarm(
            "MigrationBacklogStalled",
            cw.MathExpression(
                expression="IF(waiting > 0 AND FILL(taken, 0) == 0, 1, 0)",
                using_metrics={
                    "waiting": self.metric(WORK_ITEMS_WAITING),
                    "taken": self.metric(WORK_ITEMS_TAKEN),
                },
                label="work items waiting, none taken",
                period=PERIOD,
            ),
            threshold=0,
            evaluation_periods=MIGRATION_STALLED_PERIODS,
            description=f"Migration work items wait in the work queue and none was taken off it for "
            f"{MIGRATION_STALLED_PERIODS * 5} minutes: the worker does not consume (its mapping disabled, "
            "the function throttled or failing). See the worker's errors, throttles and mapping.",
        )

    def _rule_alarms(self) -> None:
        subjects = [(rule_metric, name) for name in self.rule_names] + [
            (schedule_metric, name) for name in self.schedule_names
        ]
        for make, name in subjects:
            for kind, metric in RULE_FAILURE_METRICS:
                lost = metric == "InvocationsFailedToBeSentToDlq"
                self._alarm(
                    kind,
                    self.metric(make(metric), rule=name),
                    subject=name,
                    threshold=RULE_FAILED_INVOCATIONS,
                    description=(
                        f"EventBridge could not put events of rule {name} into its dead-letter queue: "
                        "they are lost. Check the queue's policy, then have the producers publish again."
                        if lost
                        else f"EventBridge gave up delivering events of rule {name} to its target after "
                        "the retries; they wait in the rule's dead-letter queue. Fix the target, redrive."
                    ),
                )

    def _guard_alarms(self) -> None:
        guarded = guarded_functions(self.manifest)
        alarms = (
            (
                "RateLimitBreaches",
                self._sum((emf("RateLimitBreaches", s) for s in guarded), "rate-limit breaches"),
                RATE_LIMIT_BREACHES,
                f"More than {RATE_LIMIT_BREACHES} requests were refused with 429 in 5 minutes (every "
                "guarded function): a client in a loop, or a tenant's limits too low.",
            ),
            (
                "ResidencyRefusals",
                self._sum((emf("ResidencyRefusals", s) for s in guarded), "residency refusals"),
                RESIDENCY_REFUSALS,
                f"More than {RESIDENCY_REFUSALS} requests of tenants homed in another region in 5 minutes "
                "(answered 421): clients ignoring the Location, or users routed to the wrong region.",
            ),
            (
                "ResidencyEventsRefused",
                self._sum((emf(m, s) for s, m in RESIDENCY_EVENT_METRICS), "events of other regions"),
                RESIDENCY_EVENTS_REFUSED,
                "Events of tenants homed in another region reached this region's stream and were "
                "refused: a producer publishes to the wrong region's bus.",
            ),
        )
        for kind, metric, threshold, description in alarms:
            if metric is not None:
                self._alarm(kind, metric, threshold=threshold, description=description)

    def _authorizer_alarms(self) -> None:
        authorizer = self.manifest.authorizer.function.name
        if authorizer not in self.functions:
            return
        self._alarm(
            "AuthorizerUnavailable",
            self.metric(emf("AuthorizerUnavailable", authorizer)),
            threshold=AUTHORIZER_UNAVAILABLE,
            description="The authorizer could not verify tokens (no key set of the identity provider "
            "to trust): requests are answered 503. Check the JWKS URL from a Lambda in the region.",
        )
        self._alarm(
            "JwksFetchFailures",
            self.metric(emf("JwksFetchFailures", authorizer)),
            threshold=JWKS_FETCH_FAILURES,
            evaluation_periods=JWKS_FETCH_PERIODS,
            datapoints_to_alarm=JWKS_FETCH_DATAPOINTS,
            description=f"The authorizer failed to fetch the identity provider's keys in "
            f"{JWKS_FETCH_DATAPOINTS} of {JWKS_FETCH_PERIODS} periods; it serves the last good keys "
            "for a few hours, then refuses every request.",
        )

    def _search_and_telemetry_alarms(self) -> None:
        rebuild, telemetry = INDEX_REBUILD_FUNCTION.name, TELEMETRY_FUNCTION.name
        if rebuild in self.functions:
            self._alarm(
                "SearchIndexDrift",
                self.metric(emf("SearchIndexDrift", rebuild)),
                threshold=SEARCH_INDEX_DRIFT,
                comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description="The drift check found tenants' search indexes differing from the registry "
                "and rebuilt them: the indexer missed events (its dead-letter queue, its errors).",
            )
            self._alarm(
                "SearchIndexCheckFailures",
                self.metric(emf("SearchIndexCheckFailures", rebuild)),
                threshold=SEARCH_CHECK_FAILURES,
                comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description="The drift check of some tenants' search indexes failed. See its log group.",
            )
        if telemetry in self.functions:
            self._alarm(
                "TelemetryTenantsFailed",
                self.metric(emf("TelemetryTenantsFailed", telemetry)),
                threshold=TELEMETRY_TENANTS_FAILED,
                comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=TELEMETRY_PERIODS,
                datapoints_to_alarm=TELEMETRY_DATAPOINTS,
                description=f"Telemetry aggregation failed for some tenants in {TELEMETRY_DATAPOINTS} of "
                f"{TELEMETRY_PERIODS} runs: their dashboards' figures go stale.",
            )

    def _connection_alarms(self) -> None:
        if self.websocket is not None and self.manifest.websocket is not None:
            self._alarm(
                "WebSocketConnects",
                self.metric(websocket_metric("ConnectCount", self.manifest.websocket.stage)),
                threshold=WEBSOCKET_CONNECTS,
                evaluation_periods=CONNECTIONS_PERIODS,
                description=f"More than {WEBSOCKET_CONNECTS} WebSocket connects per 5 minutes for "
                f"{CONNECTIONS_PERIODS * 5} minutes: clients reconnecting in a loop, or a surge.",
            )
        sse = STREAM_FUNCTION.name
        if sse in self.functions:
            self._alarm(
                "SseRequests",
                self.metric(emf("Requests", sse)),
                threshold=SSE_REQUESTS,
                evaluation_periods=CONNECTIONS_PERIODS,
                description=f"More than {SSE_REQUESTS} SSE long polls per 5 minutes for "
                f"{CONNECTIONS_PERIODS * 5} minutes: clients polling without a cursor, or a surge.",
            )

    # -- the dashboard

    def _dashboard(self) -> cw.Dashboard:
        region = self.stack.region
        name = (
            self.stack.stack_name if region in self.stack.stack_name else f"{self.stack.stack_name}-{region}"
        )
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=name, default_interval=DASHBOARD_INTERVAL)
        dashboard.add_widgets(
            cw.TextWidget(
                markdown=f"# DomainDetermine GUI backend, {region}\nAlarms notify the topic "
                f"`{self.stack.stack_name}` outputs as AlarmTopicArn. The same panels in Grafana: "
                "`docs/gui/grafana_dashboard.json`.",
                width=24,
                height=2,
            )
        )
        alarms = [alarm for kind in self.alarms.values() for alarm in kind]
        for start in range(0, len(alarms), ALARM_STATUS_WIDGET_MAX):
            dashboard.add_widgets(
                cw.AlarmStatusWidget(
                    alarms=alarms[start : start + ALARM_STATUS_WIDGET_MAX],
                    title="Alarms",
                    width=24,
                    height=6,
                    sort_by=cw.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
                )
            )
        for row in dashboard_rows(self.manifest):
            widgets: list[cw.IWidget] = [
                cw.GraphWidget(
                    title=panel.title,
                    left=metrics,
                    left_y_axis=cw.YAxisProps(label=panel.unit, show_units=False, min=0),
                    width=8,
                    height=6,
                )
                for panel in row.panels
                if (metrics := self._panel_metrics(panel))
            ]
            dashboard.add_widgets(cw.TextWidget(markdown=f"## {row.title}", width=24, height=1))
            dashboard.add_widgets(*widgets)
        return dashboard


def alarm_emails(value: Any) -> tuple[str, ...]:
    """The addresses of `-c alarm_emails=...`: a comma-separated string or a list (cdk.json)."""
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise TypeError(f"context '{ALARM_EMAILS_CONTEXT}' must be a list of addresses or a string")
    emails = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    for email in emails:
        if not _EMAIL.fullmatch(email):
            raise ValueError(f"context '{ALARM_EMAILS_CONTEXT}': {email!r} is not an email address")
    return emails


def _queues(stack: cdk.Stack) -> list[sqs.CfnQueue]:
    """Every SQS queue of the stack (dead-letter queues, all of them), in construct order."""
    return [node for node in stack.node.find_all() if isinstance(node, sqs.CfnQueue)]


def _queue_subject(stack: cdk.Stack, queue: sqs.CfnQueue) -> str:
    """`Events-GuiEventsToStreamDlq`: the queue's construct path under the stack."""
    parts = queue.node.path.split("/")[len(stack.node.path.split("/")) :]
    if parts and parts[-1] == "Resource":
        parts = parts[:-1]
    return "-".join(parts)


# --- Grafana ----------------------------------------------------------------------------------

_DATASOURCE = {"type": "cloudwatch", "uid": "${datasource}"}
_GRAFANA_LABELS = {
    Ref.FUNCTION: "${PROP('Dim.FunctionName')}",
    Ref.QUEUE: "${PROP('Dim.QueueName')}",
    Ref.RULE: "${PROP('MetricName')} ${PROP('Dim.RuleName')}",
    Ref.SCHEDULE: "${PROP('MetricName')} ${PROP('Dim.RuleName')}",
}
# Grafana variables: (name, label, namespace, metric, dimension key, dimension filters, multi).
_GRAFANA_VARIABLES: tuple[tuple[Ref, str, str, str, str, dict[str, str], bool], ...] = (
    (Ref.REST_API, "REST API", "AWS/ApiGateway", "Count", "ApiName", {}, False),
    (Ref.REST_STAGE, "REST stage", "AWS/ApiGateway", "Count", "Stage", {"ApiName": "$rest_api"}, False),
    (Ref.WEBSOCKET_API, "WebSocket API", "AWS/ApiGateway", "ConnectCount", "ApiId", {}, False),
    (Ref.STREAM, "Events stream", "AWS/Kinesis", "IncomingRecords", "StreamName", {}, False),
    (Ref.FUNCTION, "Functions", "AWS/Lambda", "Invocations", "FunctionName", {}, True),
    (Ref.QUEUE, "Dead-letter queues", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", {}, True),
    (
        Ref.WORK_QUEUE,
        "Migration work queue",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {},
        False,
    ),
    (Ref.BUS, "Event bus", "AWS/Events", "InvocationAttempts", "EventBusName", {}, False),
    (Ref.RULE, "Bus rules", "AWS/Events", "InvocationAttempts", "RuleName", {"EventBusName": "$bus"}, True),
    (Ref.SCHEDULE, "Schedules", "AWS/Events", "Invocations", "RuleName", {}, True),
)


def grafana_dashboard(manifest: Manifest) -> dict[str, Any]:
    """The Grafana dashboard of `dashboard_rows`: a CloudWatch data source and a region chosen as
    variables; names made at deployment (functions, queues, the stream, API ids) are variables
    listing the values of the region, those of a `DdGui-` stack only where the name carries it."""
    from stacks.app_builder import stack_name  # the app imports this module

    prefix = stack_name("").rstrip("-")
    panels: list[dict[str, Any]] = []
    y = 0
    for row in dashboard_rows(manifest):
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for index, panel in enumerate(row.panels):
            x = (index % 3) * 8
            if index and x == 0:
                y += 8
            panels.append(_grafana_panel(panel, len(panels) + 1, x=x, y=y))
        y += 8
    regions = list(DEFAULT_REGIONS)
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "CloudWatch",
            "type": "datasource",
            "query": "cloudwatch",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        {
            "name": "region",
            "label": "Region",
            "type": "custom",
            "query": ",".join(regions),
            "current": {"selected": True, "text": regions[0], "value": regions[0]},
            "options": [
                {"selected": i == 0, "text": region, "value": region} for i, region in enumerate(regions)
            ],
            "hide": 0,
            "multi": False,
            "includeAll": False,
        },
    ]
    regexes = _grafana_regexes(manifest, prefix)
    for ref, label, namespace, metric, key, filters, multi in _GRAFANA_VARIABLES:
        variables.append(
            {
                "name": ref.value,
                "label": label,
                "type": "query",
                "datasource": _DATASOURCE,
                "query": {
                    "queryType": "dimensionValues",
                    "region": "$region",
                    "namespace": namespace,
                    "metricName": metric,
                    "dimensionKey": key,
                    "dimensionFilters": filters,
                    "refId": "CloudWatchVariableQueryEditor-VariableQuery",
                },
                "regex": regexes.get(ref, ""),
                "current": {},
                "hide": 0,
                "refresh": 2,
                "sort": 1,
                "multi": multi,
                "includeAll": multi,
                "options": [],
            }
        )
    return {
        "title": "DomainDetermine GUI backend",
        "uid": GRAFANA_UID,
        "description": "Generated by `python -m stacks.constructs.observability --grafana "
        "docs/gui/grafana_dashboard.json` from the panels of the stacks' CloudWatch dashboard.",
        "tags": ["ddgui", "cloudwatch"],
        "schemaVersion": GRAFANA_SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "utc",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": variables},
        "panels": panels,
    }


def work_queue_logical_prefix(manifest: Manifest) -> str | None:
    """How the logical id (and so the name CloudFormation gives it, `<stack>-<logical id>-<suffix>`)
    of the migrations' work queue begins: State's `<Name>Queue`."""
    if manifest.migration_queue is None:
        return None
    return f"State{pascal_case(manifest.migration_queue.name)}Queue"


def _grafana_regexes(manifest: Manifest, prefix: str) -> dict[Ref, str]:
    """Which dimension values of the region each variable lists. Rules are named `<stack>-<name>`;
    CloudFormation names the stream, functions and queues after the stack (the migrations' work queue
    after its logical id too, which tells it from the dead-letter queues); the bus is named by the
    CDK, `DdGui<region without dashes>...`."""
    regexes = dict.fromkeys((Ref.STREAM, Ref.FUNCTION, Ref.QUEUE, Ref.RULE, Ref.SCHEDULE), f"/^{prefix}-/")
    regexes[Ref.BUS] = f"/^{prefix}/"
    work_queue = work_queue_logical_prefix(manifest)
    if work_queue is not None:
        regexes[Ref.QUEUE] = f"/^{prefix}-(?!.*-{work_queue})/"
        regexes[Ref.WORK_QUEUE] = f"/^{prefix}-.*-{work_queue}/"
    return regexes


def _grafana_panel(panel: Panel, panel_id: int, *, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": panel.title,
        "datasource": _DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [_grafana_target(spec, _ref_id(i)) for i, spec in enumerate(panel.metrics)],
    }


def _grafana_target(spec: MetricSpec, ref_id: str) -> dict[str, Any]:
    dimensions = {
        key: f"${value.value}" if isinstance(value, Ref) else value for key, value in spec.dimensions
    }
    expands = spec.expands
    return {
        "datasource": _DATASOURCE,
        "refId": ref_id,
        "queryMode": "Metrics",
        "metricQueryType": 0,
        "metricEditorMode": 0,
        "region": "$region",
        "namespace": spec.namespace,
        "metricName": spec.name,
        "dimensions": dimensions,
        "statistic": spec.statistic,
        "period": str(spec.period_s),
        "matchExact": True,
        "label": _GRAFANA_LABELS[expands] if expands is not None else spec.label,
        "id": "",
        "expression": "",
    }


def _ref_id(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < len(letters) else f"{letters[index // 26 - 1]}{letters[index % 26]}"


def grafana_json(manifest: Manifest) -> str:
    return json.dumps(grafana_dashboard(manifest), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from stacks.manifest import MANIFEST

    parser = argparse.ArgumentParser(description="Write the Grafana dashboard of the stacks' metrics.")
    parser.add_argument("--grafana", type=Path, default=GRAFANA_DASHBOARD, help="where to write it")
    args = parser.parse_args(argv)
    path: Path = args.grafana
    path.write_text(grafana_json(MANIFEST))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
