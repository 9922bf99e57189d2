"""Lambda entry point of the search index drift check, fanned out per tenant (gui_core.tenant_work).

Its schedule invokes it once a cycle (6 hours): it queues one work item per tenant homed in this
region on the `index-rebuild-work` queue, and the queue's mapping invokes it again with each: the
fingerprint of the tenant's (artifact id, version) pairs in the registry (its count item) against
the one its published index's manifest holds, two reads whatever the tenant's size. Only when they
differ, or one side has none yet, the registry is read whole against the index (document counts,
id sets, versions): a tenant whose index drifted, or has none while the registry has artifacts, gets
a full rebuild, and the fingerprints that full read found are written back where missing or wrong
(the registry's only if no publication moved it meanwhile), so the next check compares them alone.
Drift is logged and counted (`SearchIndexDrift`, `SearchIndexRebuilt`); a tenant's failure is
logged and counted (`SearchIndexCheckFailures`) and touches no other; a work item its cycle outlived
is dropped and counted (`WorkItemsExpired`). The tenant's working copy is let go after its check: a
container meets many tenants, one an invocation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_artifacts.repository import ArtifactsRepository
    from gui_core.date_times import iso
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.metric_names import IndexCheckMetric, MetricName, TenantWorkMetric, add
    from gui_core.migrations.work_queue import SqsWorkQueue
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_core.quarantine import sqs_client
    from gui_core.registry_fingerprint import Fingerprint
    from gui_core.tenancy import homed_tenants
    from gui_core.tenant_work import TenantWorker, dispatch, is_queue_batch
    from gui_indexer.indexer import TenantIndexes
    from gui_indexer.settings import RebuildSettings
    from gui_search.shared import shared_versions
    from gui_search.store import IndexStore

    settings = RebuildSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _dynamodb = dynamodb_client(settings.region)
    tenants_table = Table(settings.tenants_table, _dynamodb)
    work_queue = SqsWorkQueue(settings.work_queue_url, sqs_client(settings.region))
    registry = ArtifactsRepository(Table(settings.artifacts_table, _dynamodb))
    indexes = TenantIndexes(
        store := IndexStore(
            ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
        ),
        settings.work_dir,
        shared=shared_versions(store, settings.shared_dir),
    )

# The registry is read whole for a rebuild; beyond this a tenant's rebuild fails loudly rather than
# index a part (the bench's 100k-artifact tenant fits).
MAX_ARTIFACTS = 1_000_000


def check_tenant(tenant: str, counts: Counter[MetricName]) -> dict[str, Any]:
    mark = registry.pairs(tenant)  # before the full read: its write-back is conditional on it
    if mark.fingerprint is not None:
        same = indexes.unchanged(tenant, mark.fingerprint)
        if same is not None:
            return {**same.summary(), "rebuilt": False, "compared": "fingerprints"}
    # Strongly consistent: with `mark`, what the read found is the registry as it was at `mark`.
    records = list(registry.registry(tenant, limit=MAX_ARTIFACTS + 1, consistent=True))
    if len(records) > MAX_ARTIFACTS:
        raise RuntimeError(f"more than {MAX_ARTIFACTS} artifacts: not rebuilt")
    source = {str(r["id"]): int(r.get("version") or 0) for r in records}
    found = indexes.check(tenant, source)
    read = Fingerprint.of(source)
    written = read != mark.fingerprint and registry.set_pairs(
        tenant, read, mark=mark, at=iso(datetime.now(UTC))
    )
    summary = {**found.summary(), "compared": "pairs", "registry_fingerprint_set": written}
    if not found.drifted:
        return {**summary, "rebuilt": False}
    counts[IndexCheckMetric.DRIFT] += 1
    logger.warning("search index drift", extra=summary)
    result = indexes.rebuild(tenant, records)
    counts[IndexCheckMetric.REBUILT] += 1
    logger.info("search index rebuilt", extra={"tenant": tenant, "version": result.version,
                                               "documents": result.documents})  # fmt: skip
    return {**summary, "rebuilt": True, "version": result.version}


KIND = "index-rebuild"


def _count(name: MetricName, value: float) -> None:
    add(metrics, name, value)


def check(tenant: str) -> None:
    """One work item: the tenant's drift check (and rebuild), its counts emitted, its copy let go."""
    counts: Counter[MetricName] = Counter()
    try:
        report = check_tenant(tenant, counts)
    finally:
        indexes.let_go(tenant)  # the next tenant of this container is another one
    counts[IndexCheckMetric.CHECKED] += 1
    for name, value in sorted(counts.items()):
        _count(name, value)
    logger.info("search index checked", extra=report)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_queue_batch(event):
        worker = TenantWorker(
            kind=KIND, work=check, count=_count, failure_metric=IndexCheckMetric.CHECK_FAILURES
        )
        return worker.handle(event, context)
    # The schedule: this cycle's work items, one per homed tenant.
    tenants = [tenant.id for tenant in homed_tenants(tenants_table, settings.region)]
    queued = dispatch(KIND, tenants, work_queue, now=datetime.now(UTC), cycle_s=settings.cycle_s)
    _count(TenantWorkMetric.QUEUED, len(queued))
    logger.info("search index checks queued", extra={"tenants": len(tenants)})
    return {"tenants": len(tenants), "queued": len(queued)}
