"""One tenant's telemetry aggregation (built once per container by `gui_telemetry.handler`): its
fact files of the last 62 days (the 30-day preset, its previous period, and two days for the requests
of jobs that ended in it) are brought into /tmp, aggregated with DuckDB for each preset (24h, 7d, 30d)
and written to the metrics cache (`gui_dashboard.cache`, kind `telemetry`) with a TTL of
`TELEMETRY_CACHE_S`; then closed days are compacted while time is left. Copies of fact files stay in
the container for the tenants it meets again, the least recently aggregated going past
`TELEMETRY_FACT_CACHE_MB`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from gui_core.metric_names import MetricName, TelemetryMetric
from gui_core.objects import ObjectInfo
from gui_dashboard.cache import TELEMETRY_PRODUCER, cache_item, document_bytes, telemetry_key
from gui_dashboard.logic import PRESETS
from gui_telemetry.aggregate import open_facts
from gui_telemetry.settings import AggregateSettings
from gui_telemetry.store import Compactor, FactCache, Objects, utc_day

_log = logging.getLogger("gui_telemetry")

# Facts read per tenant: the longest preset and its previous period, and a margin for the requests
# of the jobs that ended in them.
HISTORY = 2 * max(PRESETS.values()) + timedelta(days=2)
# A DynamoDB item holds 400 KB; the lists of a document are capped (aggregate.LIST_LIMIT), so only
# a pathological tenant comes near this, and fails alone. Counted on the document's JSON text (what
# a reader gets back and answers with), which the item stores compressed, in fewer bytes still.
MAX_DOCUMENT_BYTES = 350_000


class CachePut(Protocol):
    def put(self, item: dict[str, Any]) -> None: ...


KIND = "telemetry"


@dataclass(frozen=True)
class TenantOutcome:
    written: int
    counts: Counter[MetricName]


class Aggregation:
    def __init__(
        self,
        *,
        region: str,
        objects: Objects,
        cache: CachePut,
        settings: AggregateSettings,
    ) -> None:
        self.region = region
        self._cache = cache
        self._settings = settings
        # Per region: the local runtime runs both regions' functions in one process.
        self._work_dir = settings.work_dir / region
        self.files = FactCache(objects, self._work_dir / "facts")
        self._compactor = Compactor(objects, self.files, work_dir=self._work_dir / "scratch")

    def tenant(
        self, tenant: str, *, now: datetime, remaining_s: Callable[[], float] | None = None
    ) -> TenantOutcome:
        """One tenant: its files, one item per preset, then its closed days compacted."""
        listed, local = self.files.sync(tenant, first_day=utc_day(now - HISTORY), last_day=utc_day(now))
        counts: Counter[MetricName] = Counter(
            {
                TelemetryMetric.FACT_FILES_DOWNLOADED: local.downloaded,
                TelemetryMetric.FACT_FILES_REUSED: local.reused,
                TelemetryMetric.FACT_FILES_EVICTED: local.evicted,
            }
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
                size = document_bytes(item)
                if size > MAX_DOCUMENT_BYTES:
                    raise ValueError(f"the {preset} document of {tenant} has {size} bytes")
                self._cache.put(item)
                written += 1
        if self._settings.compact:
            counts.update(self._compact(tenant, listed, local.paths, now=now, remaining_s=remaining_s))
        counts[TelemetryMetric.FACT_COPIES_DROPPED] += self.files.trim(
            self._settings.fact_cache_mb * 2**20, keep=tenant
        )
        return TenantOutcome(written, counts)

    def _compact(
        self,
        tenant: str,
        listed: Sequence[ObjectInfo],
        paths: Mapping[str, Path],
        *,
        now: datetime,
        remaining_s: Callable[[], float] | None,
    ) -> Counter[MetricName]:
        counts: Counter[MetricName] = Counter()
        for day, infos in sorted(self._compactor.closed_days(listed, now=now).items()):
            if remaining_s is not None and remaining_s() < self._settings.reserve_s:
                break
            try:
                done = self._compactor.compact(tenant, day, infos, paths)
            except Exception:
                _log.exception("compaction of %s on %s failed", tenant, day)
                counts[TelemetryMetric.COMPACTIONS_FAILED] += 1
                continue
            counts[TelemetryMetric.DAYS_COMPACTED if done else TelemetryMetric.COMPACTIONS_SUPERSEDED] += 1
        return counts
