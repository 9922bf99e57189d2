"""Lambda entry point of the fan-out: a batch of Kinesis records, partial failures reported so that
Lambda retries from the first failed record (see gui_fanout.fanout for the per-tenant order).

The invocation is one span (`gui_fanout batch`, a new trace: its records come from many requests);
each record's span is a child of its own event's trace and links to it (gui_fanout.fanout)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gui_core import coldstart

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from opentelemetry.trace import SpanKind

    from gui_core import tracing
    from gui_core.connections import ConnectionRegistry
    from gui_core.consumers import queue_quarantine, tenant_directory
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.metric_names import FanoutMetric, add
    from gui_core.observability import observability
    from gui_core.pusher import Pusher, connections_client
    from gui_core.replay_log import ReplayLog
    from gui_fanout.fanout import Fanout, FanoutBatch
    from gui_fanout.settings import FanoutSettings
    from gui_notifications.repository import InboxRepository

    settings = FanoutSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _client = dynamodb_client(settings.region)
    fanout = Fanout(
        region=settings.region,
        tenants=tenant_directory(settings, _client),
        replay_log=ReplayLog(Table(settings.events_table, _client), window_s=settings.replay_window_s),
        registry=ConnectionRegistry(
            Table(settings.connections_table, _client), ttl_s=settings.connection_ttl_s
        ),
        pusher=Pusher(
            connections_client(settings.connections_url, settings.region),
            concurrency=settings.push_concurrency,
        ),
        inbox=InboxRepository(Table(settings.inbox_table, _client), retention_days=settings.retention_days),
        quarantine=queue_quarantine(settings),
    )
    # Every record failed is an answer too (its list of failures), not an exception: Lambda then
    # retries from the first one like for any partial failure.
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    tracer = tracing.tracer("gui_fanout")


def emit(batch: FanoutBatch) -> None:
    """One value per metric and batch (a batch has up to 100 records; EMF takes 100 values)."""
    for name, value in sorted(batch.counts.items()):
        add(metrics, name, value)
    if batch.max_lag_ms is not None:
        add(metrics, FanoutMetric.LAG_MS, batch.max_lag_ms, unit="Milliseconds")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    batch = fanout.batch()

    def record_handler(record: KinesisStreamRecord) -> str:
        return batch.handle(record.raw_event)

    try:
        with tracing.span(
            tracer,
            "gui_fanout batch",
            kind=SpanKind.CONSUMER,
            attributes={
                "faas.trigger": "pubsub",
                "faas.invocation_id": getattr(context, "aws_request_id", None),
                "messaging.system": "aws_kinesis",
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(event.get("Records") or []),
            },
            invocation={tracing.SERVICE: logger.service},
        ) as span:
            answer = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
            span.set_attribute("gui.failed_records", len(answer.get("batchItemFailures") or []))
            return answer
    finally:
        emit(batch)
        tracing.flush()
