"""Lambda entry point of the archiver: a DynamoDB stream batch, one record at a time, partial failures
reported so that only the records that failed are delivered again."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gui_core import coldstart

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from gui_archiver.archive import Archiver, is_ttl_removal, plain_image, table_name
    from gui_archiver.settings import ArchiverSettings
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.metric_names import ArchiverMetric, add
    from gui_core.objects import ObjectStore, s3_client
    from gui_notifications.repository import PREFIX as NOTE_PREFIX
    from gui_notifications.repository import InboxRepository

    settings = ArchiverSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger = Logger()
    metrics = Metrics()
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    archiver = Archiver(
        ObjectStore(settings.data_bucket, s3_client(settings.region)),
        stream_stores=settings.stream_stores,
        kept={"inbox": NOTE_PREFIX},
    )
    # The inbox's counters learn of its TTL removals here (each taken out once per stream record).
    inbox = (
        InboxRepository(Table(settings.inbox_table, dynamodb_client(settings.region)), retention_days=1)
        if settings.inbox_table
        else None
    )


def _forget_notification(record: dict[str, Any]) -> None:
    """A notification removed by TTL leaves the inbox's counters (before its archive: a failure
    here makes the record be delivered again, and both steps are idempotent)."""
    if inbox is None or not is_ttl_removal(record):
        return
    change = record.get("dynamodb") or {}
    if table_name(str(record.get("eventSourceARN") or "")) != settings.inbox_table:
        return
    removed = plain_image(change.get("OldImage") or {})
    if str(removed.get("sk", "")).startswith(NOTE_PREFIX) and inbox.forget(
        removed, str(record.get("eventID") or change.get("SequenceNumber")), now=time.time()
    ):
        add(metrics, ArchiverMetric.INBOX_COUNTERS_FORGOTTEN)


def record_handler(record: DynamoDBRecord) -> None:
    _forget_notification(record.raw_event)
    archived = archiver.archive(record.raw_event)
    if archived is None:
        add(metrics, ArchiverMetric.STREAM_RECORDS_IGNORED)
        return
    logger.info("archived", extra={"key": archived.key, "store": archived.store, "tenant": archived.tenant})
    add(metrics, ArchiverMetric.ITEMS_ARCHIVED)
    if archived.unknown_store:
        add(metrics, ArchiverMetric.ARCHIVE_UNKNOWN_STORE)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
