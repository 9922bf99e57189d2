"""Domain events of a region: the bus, the GUI events stream and the rules between them."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.manifest import Manifest, Rule
from stacks.nag import acknowledge
from stacks.naming import pascal_case

DLQ_RETENTION = cdk.Duration.days(14)  # the SQS maximum: time to notice, fix and redrive
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = cdk.Duration.hours(24)


class Events(Construct):
    """The bus every source publishes to, and the stream the fan-out reads, ordered by tenant.

    Each rule delivers into the stream with the tenant as partition key; an event the stream
    refuses after the retries lands in the rule's dead-letter queue instead of being lost.
    """

    def __init__(self, scope: Construct, construct_id: str, *, manifest: Manifest) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", description=manifest.bus.purpose)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            shard_count=manifest.stream.shards,
            stream_mode=kinesis.StreamMode.PROVISIONED,
            retention_period=cdk.Duration.hours(manifest.stream.retention_hours),
            # The AWS-managed key: a customer key would bill every producer and consumer call.
            encryption=kinesis.StreamEncryption.MANAGED,
        )
        self.rules: dict[str, events.Rule] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for rule in manifest.rules:
            if rule.bus != manifest.bus.name or rule.stream != manifest.stream.name:
                raise ValueError(f"rule {rule.name!r} names a bus or stream this stack does not have")
            self._add_rule(rule)

    def _add_rule(self, rule: Rule) -> None:
        construct_id = pascal_case(rule.name)
        dlq = sqs.Queue(
            self,
            f"{construct_id}Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        acknowledge(
            dlq,
            "AwsSolutions-SQS3",
            f"This queue is the dead-letter queue of rule {rule.name}'s Kinesis target; a "
            "dead-letter queue has no dead-letter queue of its own.",
        )
        self.dead_letter_queues[rule.name] = dlq
        self.rules[rule.name] = events.Rule(
            self,
            construct_id,
            event_bus=self.bus,
            description=f"{rule.name}: GUI-relevant domain events into the stream, by tenant.",
            event_pattern=events.EventPattern(
                source=list(rule.sources),
                detail_type=list(rule.detail_types) or None,
            ),
            targets=[
                targets.KinesisStream(
                    self.stream,
                    partition_key_path=rule.partition_key_path,
                    dead_letter_queue=dlq,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                )
            ],
        )
