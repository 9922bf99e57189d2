"""Lambda entry point of the fan-out: a batch of Kinesis records, partial failures reported so that
Lambda retries from the first failed record (see gui_fanout.fanout for the per-tenant order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from gui_core.dynamo import Table, dynamodb_client
from gui_core.live import ConnectionRegistry, Pusher, ReplayLog, connections_client
from gui_core.observability import observability
from gui_core.tenancy import TenantDirectory
from gui_fanout.fanout import Fanout, FanoutBatch
from gui_fanout.settings import FanoutSettings
from gui_notifications.repository import InboxRepository

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

settings = FanoutSettings()  # type: ignore[call-arg]  # fields come from the environment
logger, metrics = observability()
_client = dynamodb_client(settings.region)
fanout = Fanout(
    region=settings.region,
    tenants=TenantDirectory(Table(settings.tenants_table, _client), ttl_s=settings.tenant_cache_s),
    replay_log=ReplayLog(Table(settings.events_table, _client), window_s=settings.replay_window_s),
    registry=ConnectionRegistry(Table(settings.connections_table, _client), ttl_s=settings.connection_ttl_s),
    pusher=Pusher(
        connections_client(settings.connections_url, settings.region), concurrency=settings.push_concurrency
    ),
    inbox=InboxRepository(Table(settings.inbox_table, _client), retention_days=settings.retention_days),
)
# Every record failed is an answer too (its list of failures), not an exception: Lambda then
# retries from the first one like for any partial failure.
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


def emit(batch: FanoutBatch) -> None:
    """One value per metric and batch (a batch has up to 100 records; EMF takes 100 values)."""
    for name, value in sorted(batch.counts.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if batch.max_lag_ms is not None:
        metrics.add_metric(name="FanoutLagMs", unit=MetricUnit.Milliseconds, value=batch.max_lag_ms)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    batch = fanout.batch()

    def record_handler(record: KinesisStreamRecord) -> str:
        return batch.handle(record.raw_event)

    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        emit(batch)
