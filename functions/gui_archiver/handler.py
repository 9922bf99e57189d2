"""Lambda entry point of the archiver: a DynamoDB stream batch, one record at a time, partial failures
reported so that only the records that failed are delivered again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gui_core import coldstart

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from gui_archiver.archive import Archiver
    from gui_archiver.settings import ArchiverSettings
    from gui_core.objects import ObjectStore, s3_client

    settings = ArchiverSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger = Logger()
    metrics = Metrics()
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    archiver = Archiver(
        ObjectStore(settings.data_bucket, s3_client(settings.region)), stream_stores=settings.stream_stores
    )


def record_handler(record: DynamoDBRecord) -> None:
    archived = archiver.archive(record.raw_event)
    if archived is None:
        metrics.add_metric(name="StreamRecordsIgnored", unit=MetricUnit.Count, value=1)
        return
    logger.info("archived", extra={"key": archived.key, "store": archived.store, "tenant": archived.tenant})
    metrics.add_metric(name="ItemsArchived", unit=MetricUnit.Count, value=1)
    if archived.unknown_store:
        metrics.add_metric(name="ArchiveUnknownStore", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
