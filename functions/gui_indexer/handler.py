"""Lambda entry point of the indexer: a batch of the GUI events stream (only artifact events pass
the mapping's filter), applied per tenant by `gui_indexer.batch.IndexBatches` (poison records
quarantined, a failing tenant's records reported failed), one new index version per tenant and
batch."""

from __future__ import annotations

from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_core.consumers import queue_quarantine, tenant_directory
    from gui_core.metric_names import add
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_indexer.batch import IndexBatches
    from gui_indexer.indexer import TenantIndexes
    from gui_indexer.settings import IndexerSettings
    from gui_search.shared import shared_versions
    from gui_search.store import IndexStore

    settings = IndexerSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    batches = IndexBatches(
        region=settings.region,
        tenants=tenant_directory(settings),
        indexes=TenantIndexes(
            store := IndexStore(
                ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
            ),
            settings.work_dir,
            max_bytes=settings.work_mb << 20 if settings.work_mb else None,
            shared=shared_versions(store, settings.shared_dir),
        ),
        quarantine=queue_quarantine(settings),
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
        add(metrics, name, value)
    return result.response()
