"""Streams and queues feeding functions: one event source mapping per manifest `StreamSource` (a
store's DynamoDB stream), per `KinesisSource` (the GUI events stream, read by the fan-out) and per
`QueueSource` (a queue of the manifest, such as the migrations' work items). A `KinesisSource` with
`enhanced_fan_out` reads through an enhanced fan-out consumer of its own, registered on the stream
(`AWS::Kinesis::StreamConsumer`, one resource): the mapping's source is the consumer's ARN, and
Kinesis pushes the records to Lambda instead of Lambda polling the shards.

Each stream mapping reads the store's DynamoDB stream from the oldest record, hands the function only
what its filter lets through, retries a failing batch split in halves, lets the function report the
records that failed, and after the manifest's retries sends the failed batch's description to a
dead-letter queue of its own (the records stay in the stream for its 24 h). A queue's mapping lets
the function report the messages that failed; SQS delivers those again after the queue's visibility
timeout, and moves a message received too often to the queue's own dead-letter queue (State's).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.events import dead_letter_queue
from stacks.constructs.state import State
from stacks.grants import CONSUMER_READ_ACTIONS, KINESIS_READ_ACTIONS, STREAM_READ_ACTIONS
from stacks.manifest_model import (
    Function,
    KinesisSource,
    Manifest,
    QueueSource,
    StreamSource,
    stream_consumer_name,
)
from stacks.naming import pascal_case
from stacks.source_filters import lambda_filters


class EventSourceMappings(Construct):
    """Event source mappings, their dead-letter queues and stream grants, for every function of the
    manifest that reads a store's stream or the events stream; and the mappings of the functions that
    consume a queue of the manifest (whose grants are the function's own, `stacks.grants`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        state: State,
        stream: kinesis.IStream,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self.mappings: dict[tuple[str, str], lambda_.EventSourceMapping] = {}
        self.dead_letter_queues: dict[tuple[str, str], sqs.Queue] = {}
        self.queue_mappings: dict[tuple[str, str], lambda_.EventSourceMapping] = {}
        # (function, stream) -> the enhanced fan-out consumer its mapping reads through.
        self.consumers: dict[tuple[str, str], kinesis.StreamConsumer] = {}
        for fn in manifest.functions:
            for source in fn.stream_sources:
                if not manifest.store(source.store).stream:
                    raise ValueError(f"{fn.name} reads the stream of {source.store!r}, which has none")
                self._add(fn, source, function=functions[fn.name], table=state.tables[source.store])
            for kinesis_source in fn.kinesis_sources:
                if kinesis_source.stream != manifest.stream.name:
                    raise ValueError(f"{fn.name} reads a stream the manifest does not have")
                self._add_kinesis(fn, kinesis_source, function=functions[fn.name], stream=stream)
            for queue_source in fn.queue_sources:
                self._add_queue(
                    fn, queue_source, function=functions[fn.name], queue=state.queues[queue_source.queue]
                )

    def _add_queue(
        self, fn: Function, source: QueueSource, *, function: lambda_.IFunction, queue: sqs.IQueue
    ) -> None:
        """The manifest's batch size; the function reports the messages that failed, which SQS
        delivers again once the queue's visibility timeout (at least the function's timeout: the
        manifest checks it, Lambda refuses the mapping otherwise) has passed, and after the source's
        `max_receives` moves to the queue's dead-letter queue; at most `max_concurrency` invocations
        at once. The poller's grants (receive, delete,
        attributes) are the function's own, on that one queue."""
        mapping = lambda_.EventSourceMapping(
            self,
            f"{pascal_case(fn.name)}{pascal_case(source.queue)}",
            target=function,
            event_source_arn=queue.queue_arn,
            batch_size=source.batch_size,
            report_batch_item_failures=True,
            max_concurrency=source.max_concurrency,
        )
        # Lambda checks the role's access to the queue when it creates the mapping: it waits for the
        # role's policy, as the stream mappings do.
        if function.role is not None:
            mapping.node.add_dependency(function.role)
        self.queue_mappings[(fn.name, source.queue)] = mapping

    def _add_kinesis(
        self, fn: Function, source: KinesisSource, *, function: lambda_.IFunction, stream: kinesis.IStream
    ) -> None:
        """From the manifest's starting position (the oldest record kept: a mapping created or
        replaced while events arrive must not skip them), in batches; a failing batch is split in
        halves, records the function reports are retried from the first one, and after the retries
        or the maximum age the batch's description goes to the on-failure queue. With
        `enhanced_fan_out`, from a consumer of its own (pushed records); the role may then also
        describe that consumer and subscribe to its shards, as Lambda requires."""
        construct_id = f"{pascal_case(fn.name)}{pascal_case(source.stream)}"
        dlq = dead_letter_queue(
            self, f"{construct_id}Dlq", of=f"{fn.name}'s mapping from the {source.stream} stream"
        )
        iam.Grant.add_to_principal(
            grantee=function, actions=list(KINESIS_READ_ACTIONS), resource_arns=[stream.stream_arn]
        )
        source_arn = stream.stream_arn
        if source.enhanced_fan_out:
            consumer = kinesis.StreamConsumer(
                self,
                f"{construct_id}Consumer",
                stream=stream,
                stream_consumer_name=stream_consumer_name(fn.name, source.stream),
            )
            iam.Grant.add_to_principal(
                grantee=function,
                actions=list(CONSUMER_READ_ACTIONS),
                resource_arns=[consumer.stream_consumer_arn],
            )
            self.consumers[(fn.name, source.stream)] = consumer
            source_arn = consumer.stream_consumer_arn
        mapping = lambda_.EventSourceMapping(
            self,
            construct_id,
            target=function,
            event_source_arn=source_arn,
            starting_position=lambda_.StartingPosition[source.starting_position],
            batch_size=source.batch_size,
            max_batching_window=cdk.Duration.seconds(source.batching_window_s),
            bisect_batch_on_error=True,
            retry_attempts=source.max_retries,
            max_record_age=cdk.Duration.seconds(source.max_record_age_s),
            parallelization_factor=source.parallelization_factor,
            report_batch_item_failures=True,
            on_failure=event_sources.SqsDlq(dlq),
            filters=lambda_filters(source) or None,  # an empty list is refused by CloudFormation
        )
        if function.role is not None:
            mapping.node.add_dependency(function.role)
        self.mappings[(fn.name, source.stream)] = mapping
        self.dead_letter_queues[(fn.name, source.stream)] = dlq

    def _add(
        self, fn: Function, source: StreamSource, *, function: lambda_.IFunction, table: dynamodb.Table
    ) -> None:
        stream_arn = table.table_stream_arn
        if stream_arn is None:
            raise ValueError(f"the {source.store} table has no stream")
        construct_id = f"{pascal_case(fn.name)}{pascal_case(source.store)}"
        dlq = dead_letter_queue(
            self, f"{construct_id}Dlq", of=f"{fn.name}'s mapping from the {source.store} stream"
        )
        iam.Grant.add_to_principal(
            grantee=function, actions=list(STREAM_READ_ACTIONS), resource_arns=[stream_arn]
        )
        mapping = lambda_.EventSourceMapping(
            self,
            construct_id,
            target=function,
            event_source_arn=stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=source.batch_size,
            bisect_batch_on_error=True,
            retry_attempts=source.max_retries,
            report_batch_item_failures=True,
            on_failure=event_sources.SqsDlq(dlq),
            filters=lambda_filters(source) or None,  # none: every record (an empty list is refused)
        )
        # The mapping validates its role's access to the stream when it is created: it must wait
        # for the role's policy, which CloudFormation would otherwise create alongside.
        if function.role is not None:
            mapping.node.add_dependency(function.role)
        self.mappings[(fn.name, source.store)] = mapping
        self.dead_letter_queues[(fn.name, source.store)] = dlq
