"""Lambda entry point of the indexer: a batch of the GUI events stream (only artifact events pass
the mapping's filter), applied per tenant, one new index version per tenant and batch.

A tenant whose index could not be updated reports its records as failed; Lambda then delivers the
batch again from the first of them, and the tenants already done see their events again, which
change nothing (see gui_indexer.indexer). One tenant's failure does not stop the others in the batch.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools.metrics import MetricUnit

    from gui_core import domain_events
    from gui_core.domain_events import ArtifactDeprecated, ArtifactPublished, DomainEventError
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_core.tenancy import TenantDirectory
    from gui_indexer.indexer import ArtifactEvent, TenantIndexes
    from gui_indexer.settings import IndexerSettings
    from gui_search.store import IndexStore

    settings = IndexerSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    tenants = TenantDirectory(
        Table(settings.tenants_table, dynamodb_client(settings.region)), ttl_s=settings.tenant_cache_s
    )
    indexes = TenantIndexes(
        IndexStore(
            ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
        ),
        settings.work_dir,
    )


def _event(record: dict[str, Any], counts: Counter[str]) -> ArtifactEvent | None:
    try:
        envelope = domain_events.kinesis_envelope(record["kinesis"])
        model = domain_events.parse(str(envelope["detail-type"]), envelope["detail"])
    except (ValueError, KeyError, TypeError, DomainEventError):
        counts["IndexEventsInvalid"] += 1
        return None
    if not isinstance(model, ArtifactPublished | ArtifactDeprecated):
        counts["IndexEventsIgnored"] += 1
        return None
    tenant = tenants.get(model.tenant)
    if tenant is None or tenant.home_region != settings.region:
        counts["IndexEventsOtherRegion" if tenant else "IndexEventsUnknownTenant"] += 1
        return None
    return model


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    by_tenant: dict[str, list[tuple[str, ArtifactEvent]]] = defaultdict(list)
    for record in event.get("Records", []):
        sequence = str(record["kinesis"]["sequenceNumber"])
        model = _event(record, counts)
        if model is not None:
            by_tenant[model.tenant].append((sequence, model))
    failures: list[str] = []
    for tenant, items in by_tenant.items():
        try:
            result = indexes.apply(tenant, [model for _, model in items])
        except Exception:
            logger.exception("the index of a tenant could not be updated", extra={"tenant": tenant})
            counts["IndexTenantFailures"] += 1
            failures += [sequence for sequence, _ in items]
            continue
        counts["IndexEventsApplied"] += result.applied
        counts["IndexEventsSkipped"] += sum(result.skipped.values())
        if result.version is not None:
            counts["IndexVersionsPublished"] += 1
            logger.info(
                "index published",
                extra={"tenant": tenant, "version": result.version, "documents": result.documents,
                       "applied": result.applied, "skipped": dict(result.skipped)},
            )  # fmt: skip
    for name, value in sorted(counts.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in sorted(failures, key=int)]}
