"""The `Observability` construct: the region's alarm topic, its alarms on what breaks, and its
CloudWatch dashboard (`panels`).

Every alarm notifies the region's alarm topic (SNS, encrypted with a key of ours: CloudWatch cannot
publish to a topic under the AWS-managed `alias/aws/sns` key, whose policy cannot let it use the
key); `-c alarm_emails=ops@example.com,...` subscribes addresses to it, and the stack outputs its ARN
for any other subscriber.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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

from gui_core.metric_names import (
    ApiMetric,
    AuthorizerMetric,
    GuardMetric,
    IndexCheckMetric,
    MigrationMetric,
    QuarantineMetric,
    TelemetryMetric,
    TenantWorkMetric,
)
from stacks.constructs.observability.panels import (
    QUEUE_DEPTH,
    RESIDENCY_EVENT_METRICS,
    RULE_FAILURE_METRICS,
    TENANT_WORK_OLDEST,
    WORK_ITEMS_TAKEN,
    WORK_ITEMS_WAITING,
    MetricSpec,
    Panel,
    Ref,
    cloudwatch_dashboard,
    emf,
    guarded_functions,
    lambda_metric,
    latency_functions,
    migration_functions,
    quarantining_functions,
    rest_metric,
    rule_metric,
    schedule_metric,
    stream_consumers,
    stream_metric,
    tenant_work_functions,
    websocket_metric,
)
from stacks.constructs.observability.thresholds import (
    API_5XX_RATE_PERCENT,
    API_MIN_REQUESTS,
    AUTHORIZER_UNAVAILABLE,
    CONNECTIONS_PERIODS,
    DLQ_VISIBLE_MESSAGES,
    FUNCTION_ERROR_RATE_PERCENT,
    FUNCTION_THROTTLES,
    ITERATOR_AGE_DATAPOINTS,
    ITERATOR_AGE_MS,
    ITERATOR_AGE_PERIODS,
    JWKS_FETCH_DATAPOINTS,
    JWKS_FETCH_FAILURES,
    JWKS_FETCH_PERIODS,
    LATENCY_DATAPOINTS,
    LATENCY_P99_MS,
    LATENCY_PERIODS,
    MIGRATION_FAILURES,
    MIGRATION_STALLED_PERIODS,
    PERIOD,
    QUARANTINE_VISIBLE_MESSAGES,
    RATE_LIMIT_BREACHES,
    RECORDS_QUARANTINED,
    RESIDENCY_EVENTS_REFUSED,
    RESIDENCY_REFUSALS,
    RULE_FAILED_INVOCATIONS,
    SCHEDULE_MISSED_FACTOR,
    SEARCH_CHECK_FAILURES,
    SEARCH_INDEX_DRIFT,
    SSE_REQUESTS,
    STREAM_WRITE_THROTTLES,
    TELEMETRY_DATAPOINTS,
    TELEMETRY_PERIODS,
    TELEMETRY_TENANTS_FAILED,
    WEBSOCKET_CONNECTS,
    WORK_BEHIND_PERIODS,
    WORK_ITEMS_EXPIRED,
)
from stacks.manifest import INDEX_REBUILD_FUNCTION, STREAM_FUNCTION, TELEMETRY_FUNCTION
from stacks.manifest_model import Manifest
from stacks.naming import pascal_case

ALARM_EMAILS_CONTEXT = "alarm_emails"
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


class Observability(Construct):
    """The region's alarm topic, its alarms (`alarms`, by kind) and its CloudWatch dashboard.

    Every SQS queue of the stack that exists when this construct is made gets a depth alarm: make it
    last (the regional stack does). The quarantine queue's is of its own kind (`QuarantineDepth`):
    what waits there is not a failed delivery to redrive but poison records to look at. The
    migrations' work queue has none: work items wait there by design; it alarms when they stop
    moving (`MigrationBacklogStalled`). Nor do the schedules' per-tenant work queues: they alarm when
    their oldest item waits longer than a cycle (`WorkBehindCycle`) and their workers count the items
    whose cycle ended before they were taken (`WorkItemsExpired`)."""

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
        tenant_work: Mapping[str, sqs.Queue] | None = None,
    ) -> None:
        """`functions`: every function of the stack by its manifest name, the authorizer included.
        `rule_names` and `schedule_names`: the physical names of the bus's rules (on the bus named
        `bus_name`) and of the schedules, by manifest name. `quarantine`: the quarantine queue;
        `work_queue`: the migrations' work queue; `tenant_work`: the schedules' per-tenant work
        queues, by manifest name."""
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
        self.tenant_work: dict[str, sqs.CfnQueue] = {}
        for name, queue in (tenant_work or {}).items():
            resource = queue.node.default_child
            if not isinstance(resource, sqs.CfnQueue):
                raise TypeError(f"the {name} queue has no CloudFormation queue of its own")
            self.tenant_work[name] = resource
        busy = {work_queue_path, *(queue.node.path for queue in self.tenant_work.values())}
        # The dead-letter queues and the quarantine: what waits there waits for an operator.
        self.queues = [queue for queue in _queues(self.stack) if queue.node.path not in busy]
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
        self._tenant_work_alarms()
        self._rule_alarms()
        self._guard_alarms()
        self._authorizer_alarms()
        self._search_and_telemetry_alarms()
        self._connection_alarms()
        self.dashboard = cloudwatch_dashboard(
            self,
            manifest=manifest,
            alarms=[alarm for kind in self.alarms.values() for alarm in kind],
            metrics_of=self._panel_metrics,
        )

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
        elif spec.expands is Ref.TENANT_WORK and queue is not None:
            label = f"{spec.label} {_queue_subject(self.stack, queue)}"
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
        if value in (Ref.QUEUE, Ref.TENANT_WORK):
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
            elif spec.expands is Ref.TENANT_WORK:
                metrics += [self.metric(spec, queue=queue) for queue in self.tenant_work.values()]
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
            (emf(QuarantineMetric.RECORDS_QUARANTINED, s) for s in quarantining_functions(self.manifest)),
            "records quarantined",
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
            (emf(MigrationMetric.FAILURES, s) for s in migration_functions(self.manifest)),
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

    def _tenant_work_alarms(self) -> None:
        for name, queue in self.tenant_work.items():
            subject = _queue_subject(self.stack, queue)
            cycle_s = self.manifest.cycle_s(name)
            self._alarm(
                "WorkBehindCycle",
                self.metric(TENANT_WORK_OLDEST, queue=queue),
                subject=subject,
                threshold=cycle_s,
                evaluation_periods=WORK_BEHIND_PERIODS,
                description=f"A work item of {subject} waited longer than its cycle ({cycle_s} s) for "
                f"{WORK_BEHIND_PERIODS * 5} minutes: the workers do not get round every homed tenant in a "
                "cycle (too few at once for the tenants, throttled, or failing). See the worker's "
                "errors, throttles, duration and its mapping's concurrency.",
            )
        for function in tenant_work_functions(self.manifest):
            if function not in self.functions:
                continue
            self._alarm(
                "WorkItemsExpired",
                self.metric(emf(TenantWorkMetric.EXPIRED, function)),
                subject=function,
                threshold=WORK_ITEMS_EXPIRED,
                description=f"{function} dropped work items whose cycle ended before it took them: those "
                "tenants missed a cycle (their figures or checks are a cycle late). The next cycle "
                "queued them again; see WorkBehindCycle and the worker's errors and duration.",
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
                self._sum((emf(GuardMetric.RATE_LIMIT_BREACHES, s) for s in guarded), "rate-limit breaches"),
                RATE_LIMIT_BREACHES,
                f"More than {RATE_LIMIT_BREACHES} requests were refused with 429 in 5 minutes (every "
                "guarded function): a client in a loop, or a tenant's limits too low.",
            ),
            (
                "ResidencyRefusals",
                self._sum((emf(GuardMetric.RESIDENCY_REFUSALS, s) for s in guarded), "residency refusals"),
                RESIDENCY_REFUSALS,
                f"More than {RESIDENCY_REFUSALS} requests of tenants homed in another region in 5 minutes "
                "(answered 421): clients ignoring the Location, or users routed to the wrong region.",
            ),
            (
                "ResidencyEventsRefused",
                self._sum((emf(m) for m in RESIDENCY_EVENT_METRICS), "events of other regions"),
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
            self.metric(emf(AuthorizerMetric.UNAVAILABLE, authorizer)),
            threshold=AUTHORIZER_UNAVAILABLE,
            description="The authorizer could not verify tokens (no key set of the identity provider "
            "to trust): requests are answered 503. Check the JWKS URL from a Lambda in the region.",
        )
        self._alarm(
            "JwksFetchFailures",
            self.metric(emf(AuthorizerMetric.JWKS_FETCH_FAILURES, authorizer)),
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
                self.metric(emf(IndexCheckMetric.DRIFT, rebuild)),
                threshold=SEARCH_INDEX_DRIFT,
                comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description="The drift check found tenants' search indexes differing from the registry "
                "and rebuilt them: the indexer missed events (its dead-letter queue, its errors).",
            )
            self._alarm(
                "SearchIndexCheckFailures",
                self.metric(emf(IndexCheckMetric.CHECK_FAILURES, rebuild)),
                threshold=SEARCH_CHECK_FAILURES,
                comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description="The drift check of some tenants' search indexes failed. See its log group.",
            )
        if telemetry in self.functions:
            self._alarm(
                "TelemetryTenantsFailed",
                self.metric(emf(TelemetryMetric.TENANTS_FAILED, telemetry)),
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
                self.metric(emf(ApiMetric.REQUESTS, sse)),
                threshold=SSE_REQUESTS,
                evaluation_periods=CONNECTIONS_PERIODS,
                description=f"More than {SSE_REQUESTS} SSE long polls per 5 minutes for "
                f"{CONNECTIONS_PERIODS * 5} minutes: clients polling without a cursor, or a surge.",
            )


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
