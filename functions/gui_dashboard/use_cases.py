"""Use cases of the dashboard group: resolve the range, read the cache, compute on a miss, answer.

A preset range ending now (`range=24h|7d|30d`, or none: 7d) has one cache item per preset (and
module and bucket), whatever the minute: fresh for `cache_s`, then stale for `stale_s`. A stale
answer is served at once while one caller, the one that took the key's lease, recomputes; a caller
that finds nothing while another holds the lease waits for that caller's answer (`lease_wait_s`).
Every answer says how old its figures are: `as_of`, and its `age_s` (a door's `Age` header).
A tenant whose rollups are backfilled is answered from them (an explicit range without the cache).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from gui_core.context import RequestContext
from gui_core.metric_names import DashboardMetric
from gui_core.migrations.gate import Gate
from gui_dashboard.cache import (
    CacheKey,
    CacheStore,
    Entry,
    LeaseStore,
    PresetKey,
    cache_item,
    cached_document,
    cached_entry,
    dashboard_key,
    preset_dashboard_key,
    preset_series_key,
    series_key,
    telemetry_key,
    ttl_s,
)
from gui_dashboard.logic import (
    SourceRecords,
    TimeRange,
    choose_bucket,
    dashboard_document,
    metrics_document,
    module_spec,
    resolve_range,
)
from gui_dashboard.models import Dashboard, ModuleMetrics
from gui_dashboard.rollup_store import RollupStore
from gui_dashboard.rollups import align
from gui_dashboard.settings import DashboardSettings
from gui_dashboard.telemetry import telemetry_block, telemetry_preset

Answer = TypeVar("Answer", Dashboard, ModuleMetrics)

# The backfills of the rollups (gui_migrate 0020-0022): a tenant is served from the rollups once all
# three are done for it, from the records before.
ROLLUP_MIGRATIONS = (
    "0020_dashboard_rollups_jobs",
    "0021_dashboard_rollups_inbox",
    "0022_dashboard_rollups_artifacts",
)


class RecordSources(Protocol):
    """The records the figures are computed from when the rollups cannot answer."""

    def records(self, tenant: str, span: TimeRange) -> SourceRecords: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _uncounted(_name: DashboardMetric) -> None:
    """No metrics (tests)."""


@dataclass(frozen=True)
class DashboardPorts:
    """What the dashboard's use cases reach: the stores' records, the metrics cache and its
    recompute leases, the rollups and the migration ledger that says when a tenant's are complete
    (none: never), the cache's lifetimes (the settings), the clock, and the cache's Count metrics."""

    settings: DashboardSettings
    sources: RecordSources
    cache: CacheStore
    leases: LeaseStore
    rollups: RollupStore
    gate: Gate | None
    clock: Callable[[], datetime] = _now
    count: Callable[[DashboardMetric], None] = field(default=_uncounted)


@dataclass(frozen=True)
class Served(Generic[Answer]):
    """An answer and the age of its figures in seconds (0 when computed for it)."""

    answer: Answer
    age_s: int


Compute = Callable[[datetime], dict[str, Any]]


@dataclass(frozen=True)
class _Document:
    document: dict[str, Any]
    age_s: int


def _answer(entry: Entry | None, document: dict[str, Any], source: str) -> _Document:
    return _Document({**document, "source": source}, entry.age_s if entry is not None else 0)


def _read_through(ports: DashboardPorts, key: CacheKey, compute: Compute, *, now: datetime) -> _Document:
    """An explicit range's answer: from the cache, else computed and cached (briefly for a range
    still open, longer for a closed one)."""
    cache = ports.cache
    entry = cached_entry(cache.get(key), now=now)
    ports.count(
        DashboardMetric.CACHE_HITS if entry is not None else DashboardMetric.CACHE_MISSES
    )  # the hit rate's terms
    if entry is not None:
        return _answer(entry, entry.document, "cache")
    document = compute(now)
    settings = ports.settings
    ttl = ttl_s(key.time_range, now, open_s=settings.cache_s, closed_s=settings.closed_cache_s)
    if ttl > 0:
        cache.put(cache_item(key, document, now=now, ttl=ttl, producer="dashboard"))
    return _answer(None, document, "computed")


def _serve_preset(ports: DashboardPorts, key: PresetKey, compute: Compute) -> _Document:
    """A preset's answer: fresh from the cache; else recomputed by the caller holding the key's lease
    (and cached); else, while another caller holds it, the stale one at once, or, with none cached,
    the holder's once it is written (waiting at most `lease_wait_s`, then computed without the cache)."""
    settings, cache, leases = ports.settings, ports.cache, ports.leases
    now = ports.clock()
    entry = cached_entry(cache.get(key), now=now)
    if entry is not None and entry.fresh:
        ports.count(DashboardMetric.CACHE_HITS)
        return _answer(entry, entry.document, "cache")
    owner = uuid.uuid4().hex
    if leases.acquire(key, owner, now=now, lease_s=settings.lease_s):
        try:
            # The lease may be free because its last holder has just written a fresh answer, after
            # this caller's read: read again (consistently) before recomputing what is there.
            again = cached_entry(cache.get(key, consistent=True), now=now)
            if again is not None and again.fresh:
                ports.count(DashboardMetric.CACHE_HITS)
                return _answer(again, again.document, "cache")
            ports.count(DashboardMetric.CACHE_MISSES)
            document = compute(now)
            live_s = settings.cache_s + settings.stale_s
            if live_s > 0:
                item = cache_item(
                    key, document, now=now, ttl=live_s, producer="dashboard", fresh_s=settings.cache_s
                )
                cache.put(item)
        finally:
            leases.release(key, owner)
        return _answer(None, document, "computed")
    if entry is not None:
        ports.count(DashboardMetric.CACHE_STALE)  # served while the lease's holder recomputes
        return _answer(entry, entry.document, "cache")
    deadline = time.monotonic() + settings.lease_wait_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
        waited = cached_entry(cache.get(key, consistent=True), now=ports.clock())
        if waited is not None:
            ports.count(DashboardMetric.CACHE_WAITS)
            return _answer(waited, waited.document, "cache")
    ports.count(DashboardMetric.CACHE_MISSES)  # the holder is slow or gone: an answer of our own, not cached
    return _answer(None, compute(ports.clock()), "computed")


def _telemetry(
    ports: DashboardPorts, tenant: str, preset: str | None, *, now: datetime, module: str | None = None
) -> dict[str, Any]:
    """The telemetry block: the aggregate the scheduled aggregation cached for the preset, if any."""
    document = None
    if preset is not None:
        document = cached_document(ports.cache.get(telemetry_key(tenant, preset)), now=now)
    return telemetry_block(document, preset=preset, module=module)


def _span(period: TimeRange, preset: str | None, at: datetime) -> TimeRange:
    """The range a computation at `at` answers: a preset's ends then (a recompute answers its own
    time), an explicit one is as given."""
    return period if preset is None else resolve_range(start=None, end=None, preset=preset, now=at)


def _rollups(ports: DashboardPorts, tenant: str) -> RollupStore | None:
    """The rollups, when they hold every record of the tenant."""
    gate = ports.gate
    if gate is None or not all(gate.done(migration, tenant) for migration in ROLLUP_MIGRATIONS):
        return None
    return ports.rollups


def read_dashboard(
    ports: DashboardPorts,
    caller: RequestContext,
    *,
    start: datetime | None,
    end: datetime | None,
    preset: str | None,
) -> Served[Dashboard]:
    """Figures of every module for a range, with trends against the previous period."""
    now = ports.clock()
    period = resolve_range(start=start, end=end, preset=preset, now=now)
    preset_of_range = telemetry_preset(start=start, end=end, preset=preset)
    rollups = _rollups(ports, caller.tenant)

    def compute(at: datetime) -> dict[str, Any]:
        span = _span(period, preset_of_range, at)
        if rollups is not None:
            return rollups.dashboard(caller.tenant, align(span), now=at)
        records = ports.sources.records(caller.tenant, TimeRange(span.previous().start, span.end))
        return dashboard_document(span, records, as_of=at)

    if preset_of_range is None and rollups is not None:
        # From the range's buckets (hours): a few small items, not worth a cache entry per range.
        served = _answer(None, compute(now), "computed")
    elif preset_of_range is None:
        served = _read_through(ports, dashboard_key(caller.tenant, period), compute, now=now)
    else:
        served = _serve_preset(ports, preset_dashboard_key(caller.tenant, preset_of_range), compute)
    telemetry = _telemetry(ports, caller.tenant, preset_of_range, now=now)
    return Served(Dashboard.model_validate({**served.document, "telemetry": telemetry}), served.age_s)


def read_module_metrics(
    ports: DashboardPorts,
    caller: RequestContext,
    module: str,
    *,
    start: datetime | None,
    end: datetime | None,
    preset: str | None,
    bucket: str | None,
) -> Served[ModuleMetrics]:
    """One module's time series and breakdown, in buckets of `bucket` (default: the finest within
    the points an answer may hold)."""
    module_spec(module)
    now = ports.clock()
    period = resolve_range(start=start, end=end, preset=preset, now=now)
    size = choose_bucket(period, bucket)
    preset_of_range = telemetry_preset(start=start, end=end, preset=preset)
    rollups = _rollups(ports, caller.tenant)

    def compute(at: datetime) -> dict[str, Any]:
        span = _span(period, preset_of_range, at)
        if rollups is not None:
            return rollups.series(caller.tenant, module, align(span), size, now=at)
        records = ports.sources.records(caller.tenant, span)
        return metrics_document(module, span, size, records, as_of=at)

    if preset_of_range is None and rollups is not None:
        served = _answer(None, compute(now), "computed")
    elif preset_of_range is None:
        served = _read_through(ports, series_key(caller.tenant, module, period, size), compute, now=now)
    else:
        key = preset_series_key(caller.tenant, module, preset_of_range, size)
        served = _serve_preset(ports, key, compute)
    telemetry = _telemetry(ports, caller.tenant, preset_of_range, now=now, module=module)
    return Served(ModuleMetrics.model_validate({**served.document, "telemetry": telemetry}), served.age_s)
