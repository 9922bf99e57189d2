"""Lambda entry point of the indexer: a batch of the GUI events stream (only artifact events pass
the mapping's filter), applied per tenant by `gui_indexer.batch.IndexBatches` (poison records
quarantined, a failing tenant's records reported failed), one new index version per tenant and
batch."""

from __future__ import annotations

from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools.metrics import MetricUnit

    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_core.quarantine import QuarantineSettings, QueueQuarantine, sqs_client
    from gui_core.tenancy import TenantDirectory
    from gui_indexer.batch import IndexBatches
    from gui_indexer.indexer import TenantIndexes
    from gui_indexer.settings import IndexerSettings
    from gui_search.store import IndexStore

    settings = IndexerSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    batches = IndexBatches(
        region=settings.region,
        tenants=TenantDirectory(
            Table(settings.tenants_table, dynamodb_client(settings.region)), ttl_s=settings.tenant_cache_s
        ),
        indexes=TenantIndexes(
            IndexStore(
                ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
            ),
            settings.work_dir,
        ),
        quarantine=QueueQuarantine(
            QuarantineSettings().queue_url,  # type: ignore[call-arg]  # from the environment
            sqs_client(settings.region),
            function=settings.service_name,
            region=settings.region,
        ),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = batches.handle(event.get("Records") or [])
    for applied in result.published:
        logger.info(
            "index published",
            extra={"tenant": applied.tenant, "version": applied.version, "documents": applied.documents,
                   "applied": applied.applied, "skipped": dict(applied.skipped)},
        )  # fmt: skip
    for name, value in sorted(result.counts.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return result.response()
