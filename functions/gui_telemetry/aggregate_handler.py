"""Lambda entry point of the scheduled aggregation: for every tenant homed in this region, the fact
files of the last 62 days (the 30-day preset, its previous period, and two days for the requests of
jobs that ended in it) are brought into /tmp, aggregated with DuckDB for each preset (24h, 7d, 30d)
and written to the metrics cache (`gui_dashboard.cache`, kind `telemetry`) with a TTL of
`TELEMETRY_CACHE_S`; then closed days are compacted while time is left.

One tenant's failure is logged and counted and the others go on. Tenants are taken in id order
from a starting point that moves every minute, and none is started with less than
`TELEMETRY_RESERVE_S` left: a region with more tenants than one run can take still sees each of
them aggregated within a few runs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools.metrics import MetricUnit

    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.objects import ObjectInfo, ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_core.tenancy import Tenant, homed_tenants
    from gui_dashboard.cache import TELEMETRY_PRODUCER, cache_item, telemetry_key
    from gui_dashboard.logic import PRESETS
    from gui_dashboard.repository import MetricsCacheTable
    from gui_telemetry.aggregate import open_facts
    from gui_telemetry.settings import AggregateSettings
    from gui_telemetry.store import Compactor, FactCache, Objects, utc_day

    _log = logging.getLogger("gui_telemetry")

    # Facts read per tenant: the longest preset and its previous period, and a margin for the requests
    # of the jobs that ended in them.
    HISTORY = 2 * max(PRESETS.values()) + timedelta(days=2)
    # A DynamoDB item holds 400 KB; the lists of a document are capped (aggregate.LIST_LIMIT), so only
    # a pathological tenant comes near this, and fails alone.
    MAX_DOCUMENT_BYTES = 350_000

    class CachePut(Protocol):
        def put(self, item: dict[str, Any]) -> None: ...

    @dataclass(frozen=True)
    class TenantOutcome:
        written: int
        counts: Counter[str]

    class Aggregation:
        def __init__(
            self,
            *,
            region: str,
            tenants: Callable[[], Sequence[Tenant]],
            objects: Objects,
            cache: CachePut,
            settings: AggregateSettings,
        ) -> None:
            self.region = region
            self._tenants = tenants
            self._cache = cache
            self._settings = settings
            # Per region: the local runtime runs both regions' functions in one process.
            self._work_dir = settings.work_dir / region
            self.files = FactCache(objects, self._work_dir / "facts")
            self._compactor = Compactor(objects, self.files, work_dir=self._work_dir / "scratch")

        def run(self, *, now: datetime, remaining_s: Callable[[], float] | None = None) -> dict[str, Any]:
            """Every tenant homed here; {tenants, written, failed, skipped} and the counts to emit."""
            now = now.astimezone(UTC).replace(microsecond=0)
            tenants = sorted(t.id for t in self._tenants())
            counts: Counter[str] = Counter()
            counts["CopiesOfGoneTenantsDeleted"] += self.files.forget_tenants(tenants)
            start = int(now.timestamp() // 60) % len(tenants) if tenants else 0
            written = failed = skipped = 0
            for position, tenant in enumerate(tenants[start:] + tenants[:start]):
                if remaining_s is not None and remaining_s() < self._settings.reserve_s:
                    skipped = len(tenants) - position
                    _log.warning("time is short: %d tenants left for the next run", skipped)
                    break
                try:
                    outcome = self.tenant(tenant, now=now, remaining_s=remaining_s)
                except Exception:
                    _log.exception("telemetry of tenant %s failed", tenant)
                    failed += 1
                    continue
                written += outcome.written
                counts.update(outcome.counts)
            counts.update(
                TelemetryTenants=len(tenants),
                TelemetryItemsWritten=written,
                TelemetryTenantsFailed=failed,
                TelemetryTenantsSkipped=skipped,
            )
            return {
                "summary": {
                    "tenants": len(tenants),
                    "written": written,
                    "failed": failed,
                    "skipped": skipped,
                },
                "counts": counts,
            }

        def tenant(
            self, tenant: str, *, now: datetime, remaining_s: Callable[[], float] | None = None
        ) -> TenantOutcome:
            """One tenant: its files, one item per preset, then its closed days compacted."""
            listed, local = self.files.sync(tenant, first_day=utc_day(now - HISTORY), last_day=utc_day(now))
            counts: Counter[str] = Counter(
                FactFilesDownloaded=local.downloaded,
                FactFilesReused=local.reused,
                FactFilesEvicted=local.evicted,
            )
            written = 0
            with open_facts(
                sorted(local.paths.values()),
                work_dir=self._work_dir / "scratch",
                memory_limit_mb=self._settings.duckdb_memory_mb,
            ) as facts:
                for preset, window in PRESETS.items():
                    document = {**facts.aggregate(now=now, window=window), "preset": preset}
                    item = cache_item(
                        telemetry_key(tenant, preset),
                        document,
                        now=now,
                        ttl=self._settings.cache_s,
                        producer=TELEMETRY_PRODUCER,
                    )
                    size = len(str(item["document"]).encode())
                    if size > MAX_DOCUMENT_BYTES:
                        raise ValueError(f"the {preset} document of {tenant} has {size} bytes")
                    self._cache.put(item)
                    written += 1
            if self._settings.compact:
                counts.update(self._compact(tenant, listed, local.paths, now=now, remaining_s=remaining_s))
            return TenantOutcome(written, counts)

        def _compact(
            self,
            tenant: str,
            listed: Sequence[ObjectInfo],
            paths: Mapping[str, Path],
            *,
            now: datetime,
            remaining_s: Callable[[], float] | None,
        ) -> Counter[str]:
            counts: Counter[str] = Counter()
            for day, infos in sorted(self._compactor.closed_days(listed, now=now).items()):
                if remaining_s is not None and remaining_s() < self._settings.reserve_s:
                    break
                try:
                    done = self._compactor.compact(tenant, day, infos, paths)
                except Exception:
                    _log.exception("compaction of %s on %s failed", tenant, day)
                    counts["CompactionsFailed"] += 1
                    continue
                counts["DaysCompacted" if done else "CompactionsSuperseded"] += 1
            return counts

    settings = AggregateSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _dynamodb = dynamodb_client(settings.region)
    _tenants_table = Table(settings.tenants_table, _dynamodb)
    aggregation = Aggregation(
        region=settings.region,
        tenants=lambda: homed_tenants(_tenants_table, settings.region),
        objects=ObjectStore(settings.data_bucket, s3_client(settings.region)),
        cache=MetricsCacheTable(Table(settings.metrics_table, _dynamodb)),
        settings=settings,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(event_id=event.get("id"), scheduled_at=event.get("time"))
    started = time.monotonic()

    def remaining_s() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    timed = context is not None and hasattr(context, "get_remaining_time_in_millis")
    result = aggregation.run(now=datetime.now(UTC), remaining_s=remaining_s if timed else None)
    for name, value in sorted(result["counts"].items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(
        name="TelemetryRunMs", unit=MetricUnit.Milliseconds, value=(time.monotonic() - started) * 1000
    )
    logger.info("telemetry aggregated", extra=result["summary"])
    summary: dict[str, Any] = result["summary"]
    return summary
