"""Lambda entry point of the migration worker: the `migration-work` queue's mapping invokes it with
one work item (migration, tenant) per message. It continues the tenant's part from its checkpoint,
re-queues the item when its time runs out, and starts the next migration when it finished the last
tenant of one. A migration that fails is recorded in the ledger and its message consumed (a fixed
version or an operator resumes it); any other error fails the message, which SQS delivers again, to
the dead-letter queue after the mapping's receives (partial batch failures reported)."""

from __future__ import annotations

from typing import Any

from gui_core import coldstart

with coldstart.init():
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.metric_names import add
    from gui_core.migrations.engine import RunIdentity, WorkItem
    from gui_core.migrations.runner import Budget, MigrationFailed
    from gui_core.migrations.work_queue import SqsWorkQueue
    from gui_core.observability import observability
    from gui_core.quarantine import sqs_client
    from gui_migrate.deps import build_engine
    from gui_migrate.settings import MigrateSettings

    settings = MigrateSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    _dynamodb = dynamodb_client(settings.region)
    _tenants = Table(settings.tenants_table, _dynamodb)
    _ledger = Table(settings.migrations_table, _dynamodb)
    _tables = {name: Table(table, _dynamodb) for name, table in settings.table_names().items()}
    _queue = SqsWorkQueue(settings.work_queue_url, sqs_client(settings.region))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    function = str(getattr(context, "invoked_function_arn", "") or settings.service_name)
    engine = build_engine(
        region=settings.region,
        tenants=_tenants,
        migrations=_ledger,
        tables=_tables,
        queue=_queue,
        identity=RunIdentity(who=f"worker {function}", code_version=settings.code_version),
        count=lambda name, value: add(metrics, name, value),
        page_size=settings.page_size,
        inline_max_items=settings.inline_max_items,
    )
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    timed = (lambda: remaining() / 1000) if callable(remaining) else None

    def work(record: SQSRecord) -> None:
        item = WorkItem.of(record.body)
        logger.append_keys(migration=item.migration, tenant=item.tenant)
        try:
            steps = engine.work(item, Budget(timed, reserve_s=settings.reserve_s))
        except MigrationFailed:
            # Recorded in the ledger with the checkpoint, and counted: the message is done.
            logger.exception("the migration failed")
            return
        for step in steps:
            logger.info(step.line(), extra=step.as_dict())

    return process_partial_response(event=event, record_handler=work, processor=processor, context=context)
