"""Domain events of a region: the bus, the GUI events stream and the rules between them."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import StreamCapacity
from stacks.manifest_model import Manifest, Rule, Schedule
from stacks.nag import acknowledge
from stacks.naming import pascal_case

DLQ_RETENTION = cdk.Duration.days(14)  # the SQS maximum: time to notice, fix and redrive
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = cdk.Duration.hours(24)
ASYNC_RETRY_ATTEMPTS = 2  # Lambda's own retries of an asynchronous invocation, before the queue
ASYNC_MAX_EVENT_AGE = cdk.Duration.hours(6)  # Lambda's maximum for an asynchronous invocation
RULE_NAME_MAX = 64
_RULE_NAME = re.compile(r"[.\-_A-Za-z0-9]+")


def dead_letter_queue(scope: Construct, construct_id: str, *, of: str) -> sqs.Queue:
    """An encrypted, TLS-only queue keeping what an asynchronous path could not deliver."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DLQ_RETENTION,
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        f"This queue is the dead-letter queue of {of}; a dead-letter queue has no dead-letter "
        "queue of its own.",
    )
    return queue


def allow_rule_to_dead_letter(rule: events.Rule, queue: sqs.Queue) -> None:
    """Let EventBridge put what `rule` could not deliver into its target's dead-letter queue, on
    behalf of that rule only. The CDK's Lambda target adds this statement and its Kinesis target
    does not; without it EventBridge cannot write to the queue and drops the event. The statement
    is the CDK's own (same Sid), so a target that adds it too leaves one copy."""
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"AllowEventRule{cdk.Names.node_unique_id(rule.node)}",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )


class Events(Construct):
    """The bus every source publishes to, and the stream the fan-out reads, ordered by tenant.

    Each rule delivers into the stream with the tenant as partition key; an event the stream
    refuses after the retries lands in the rule's dead-letter queue instead of being lost.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        capacity: StreamCapacity | None = None,
    ) -> None:
        """`capacity`: the stage's size of the stream (`stream_capacity` in the CDK context; default
        the manifest's shards, provisioned)."""
        super().__init__(scope, construct_id)
        capacity = capacity or StreamCapacity(shards=manifest.stream.shards)
        mode = kinesis.StreamMode.ON_DEMAND if capacity.on_demand else kinesis.StreamMode.PROVISIONED
        self.bus = events.EventBus(self, "Bus", description=manifest.bus.purpose)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            shard_count=None if capacity.on_demand else capacity.shards,
            stream_mode=mode,
            retention_period=cdk.Duration.hours(manifest.stream.retention_hours),
            # The AWS-managed key: a customer key would bill every producer and consumer call.
            encryption=kinesis.StreamEncryption.MANAGED,
        )
        self.rules: dict[str, events.Rule] = {}
        self.schedules: dict[str, events.Rule] = {}
        self.failure_queues: dict[str, sqs.Queue] = {}  # by function construct id
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        # The physical names of the rules and schedules, by manifest name: EventBridge's metrics are
        # keyed by them (`RuleName`), and a rule's Ref cannot give it (`<bus>|<rule>` on a custom bus).
        self.rule_names: dict[str, str] = {}
        self.schedule_names: dict[str, str] = {}
        for rule in manifest.rules:
            if rule.bus != manifest.bus.name:
                raise ValueError(f"rule {rule.name!r} names a bus this stack does not have")
            if rule.stream is not None:
                if rule.stream != manifest.stream.name:
                    raise ValueError(f"rule {rule.name!r} names a stream this stack does not have")
                self._add_rule(rule, partial(self._stream_target, rule))

    def route_to_function(self, rule: Rule, function: lambda_.IFunction) -> None:
        """A rule whose target is a function (made after the functions exist)."""
        self._async_failures(function)

        def target(dlq: sqs.Queue) -> events.IRuleTarget:
            return targets.LambdaFunction(
                function,
                dead_letter_queue=dlq,
                retry_attempts=TARGET_RETRY_ATTEMPTS,
                max_event_age=TARGET_MAX_EVENT_AGE,
            )

        self._add_rule(rule, target)

    def schedule_function(self, schedule: Schedule, function: lambda_.IFunction) -> events.Rule:
        """A rule on the account's default bus (schedules live there) firing `function` at the
        schedule's rate; an invocation that still fails after the retries lands in its queue."""
        self._async_failures(function)
        construct_id = pascal_case(schedule.name)
        dlq = dead_letter_queue(self, f"{construct_id}ScheduleDlq", of=f"schedule {schedule.name}'s target")
        self.dead_letter_queues[f"schedule:{schedule.name}"] = dlq
        self.schedule_names[schedule.name] = self._physical_name(schedule.name)
        rule = events.Rule(
            self,
            f"{construct_id}Schedule",
            rule_name=self.schedule_names[schedule.name],
            description=f"{schedule.name}: {schedule.purpose}",
            schedule=events.Schedule.rate(cdk.Duration.minutes(schedule.rate_minutes)),
            targets=[
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=dlq,
                    retry_attempts=2,
                    max_event_age=cdk.Duration.minutes(max(schedule.rate_minutes, 1)),
                )
            ],
        )
        allow_rule_to_dead_letter(rule, dlq)
        self.schedules[schedule.name] = rule
        return rule

    def _async_failures(self, function: lambda_.IFunction) -> None:
        """Where an event goes that EventBridge delivered but the function failed on after Lambda's
        own retries (the rule's queue only keeps what could not be delivered): a queue per function,
        the function's on-failure destination. Once per function, whatever the rules reaching it."""
        name = function.node.scope.node.id if function.node.scope else function.node.id
        if name in self.failure_queues:
            return
        queue = dead_letter_queue(self, f"{name}FailureDlq", of=f"{name}'s asynchronous invocations")
        self.failure_queues[name] = queue
        function.configure_async_invoke(
            on_failure=destinations.SqsDestination(queue),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=ASYNC_MAX_EVENT_AGE,
        )

    def _physical_name(self, name: str) -> str:
        """`<stack>-<manifest name>`: unique in the region (schedules share the default bus with
        every other stack of the account)."""
        physical = f"{cdk.Stack.of(self).stack_name}-{name}"
        if len(physical) > RULE_NAME_MAX or not _RULE_NAME.fullmatch(physical):
            raise ValueError(f"rule name {physical!r}: EventBridge allows {RULE_NAME_MAX} of [.-_A-Za-z0-9]")
        return physical

    def _stream_target(self, rule: Rule, dlq: sqs.Queue) -> events.IRuleTarget:
        return targets.KinesisStream(
            self.stream,
            partition_key_path=rule.partition_key_path,
            dead_letter_queue=dlq,
            retry_attempts=TARGET_RETRY_ATTEMPTS,
            max_event_age=TARGET_MAX_EVENT_AGE,
        )

    def _add_rule(self, rule: Rule, make_target: Callable[[sqs.Queue], events.IRuleTarget]) -> None:
        construct_id = pascal_case(rule.name)
        dlq = dead_letter_queue(self, f"{construct_id}Dlq", of=f"rule {rule.name}'s target")
        self.dead_letter_queues[rule.name] = dlq
        described = f"the {rule.function} function" if rule.function else "the stream, by tenant"
        self.rule_names[rule.name] = self._physical_name(rule.name)
        self.rules[rule.name] = events.Rule(
            self,
            construct_id,
            rule_name=self.rule_names[rule.name],
            event_bus=self.bus,
            description=f"{rule.name}: domain events to {described}.",
            event_pattern=event_pattern(rule),
            targets=[make_target(dlq)],
        )
        allow_rule_to_dead_letter(self.rules[rule.name], dlq)


def event_pattern(rule: Rule) -> events.EventPattern:
    """The manifest's pattern of a rule (`Rule.event_pattern`, which the local bus mirrors too) in the
    CDK's terms: each list of values or matchers becomes a `Match` of them."""
    pattern = rule.event_pattern()
    detail = pattern.get("detail")
    if not isinstance(detail, dict | None):
        raise TypeError(f"rule {rule.name}: a detail pattern is an object")
    return events.EventPattern(
        source=_matchers(pattern["source"]),
        detail_type=_matchers(pattern["detail-type"]) if "detail-type" in pattern else None,
        detail={key: _matchers(values) for key, values in detail.items()} if detail else None,
    )


def _matchers(values: object) -> list[str]:
    """`["a", {"prefix": "b"}, {"exists": true}]` of an event pattern as the CDK writes it."""
    if not isinstance(values, list):
        raise TypeError(f"an event pattern field is a list, not {values!r}")
    if all(isinstance(value, str) for value in values):
        return list(values)
    matchers = [_matcher(value) for value in values]
    return matchers[0] if len(matchers) == 1 else events.Match.any_of(*matchers)


def _matcher(value: object) -> list[str]:
    if isinstance(value, str):
        return events.Match.exact_string(value)
    if value == {"exists": True}:
        return events.Match.exists()
    if isinstance(value, dict) and set(value) == {"prefix"}:
        return events.Match.prefix(value["prefix"])
    raise ValueError(f"no CDK rendering for the event pattern value {value!r}")
