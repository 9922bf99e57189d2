"""Lambda entry point of the scheduled drift check: every tenant homed in the region, its registry
against its published index (document counts, id sets, versions); a tenant whose index drifted, or
has none while the registry has artifacts, gets a full rebuild. Drift is logged and counted
(`SearchIndexDrift`, `SearchIndexRebuilt`); one tenant's failure is logged and counted and does not
stop the others."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools.metrics import MetricUnit

    from gui_artifacts.repository import ArtifactsRepository
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_core.tenancy import homed_tenants
    from gui_indexer.indexer import TenantIndexes
    from gui_indexer.settings import RebuildSettings
    from gui_search.store import IndexStore

    settings = RebuildSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _dynamodb = dynamodb_client(settings.region)
    tenants_table = Table(settings.tenants_table, _dynamodb)
    registry = ArtifactsRepository(Table(settings.artifacts_table, _dynamodb))
    indexes = TenantIndexes(
        IndexStore(
            ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
        ),
        settings.work_dir,
    )

# The registry is read whole for a rebuild; beyond this a tenant's rebuild fails loudly rather than
# index a part (the bench's 100k-artifact tenant fits).
MAX_ARTIFACTS = 1_000_000


def check_tenant(tenant: str, counts: Counter[str]) -> dict[str, Any]:
    records = list(registry.registry(tenant, limit=MAX_ARTIFACTS + 1))
    if len(records) > MAX_ARTIFACTS:
        raise RuntimeError(f"more than {MAX_ARTIFACTS} artifacts: not rebuilt")
    source = {str(r["id"]): int(r.get("version") or 0) for r in records}
    found = indexes.check(tenant, source)
    summary = found.summary()
    if not found.drifted:
        return {**summary, "rebuilt": False}
    counts["SearchIndexDrift"] += 1
    logger.warning("search index drift", extra=summary)
    result = indexes.rebuild(tenant, records)
    counts["SearchIndexRebuilt"] += 1
    logger.info("search index rebuilt", extra={"tenant": tenant, "version": result.version,
                                               "documents": result.documents})  # fmt: skip
    return {**summary, "rebuilt": True, "version": result.version}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    report: list[dict[str, Any]] = []
    for tenant in homed_tenants(tenants_table, settings.region):
        try:
            report.append(check_tenant(tenant.id, counts))
        except Exception:
            logger.exception("drift check failed", extra={"tenant": tenant.id})
            counts["SearchIndexCheckFailures"] += 1
            report.append({"tenant": tenant.id, "failed": True})
        counts["SearchIndexChecked"] += 1
    for name, value in sorted(counts.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return {"tenants": report, **counts}
