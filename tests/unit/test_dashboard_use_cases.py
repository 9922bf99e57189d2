"""The dashboard's use cases called as a door other than REST would call them (gui_dashboard.use_cases),
on a cache in memory, the container's leases and a clock the test moves: a preset is computed once and
then served from the cache with the age of its figures; past its freshness it is served stale at once
while another caller holds the lease, and recomputed by the caller that takes it; with nothing cached
and the lease held, a caller answers its own figures without caching them; an explicit closed range is
read through the cache. Each answer counts the cache metric it stands for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.context import RequestContext
from gui_dashboard.cache import preset_dashboard_key
from gui_dashboard.logic import UnknownModule
from gui_dashboard.repository import ContainerLeases
from gui_dashboard.rollup_store import RollupStore
from gui_dashboard.use_cases import DashboardPorts, read_dashboard, read_module_metrics
from local.memory_table import MemoryTable
from tests.unit.test_dashboard_telemetry import SETTINGS, MemoryCache, NoRecords

CALLER = RequestContext("acme", "ada@acme", frozenset({"gui:dashboard"}), (), "eu-west-1", "r", None, None, 0)
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PRESET = preset_dashboard_key("acme", "7d")


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


class Dashboards:
    """The ports, fresh for `cache_s` (60 s), stale for 900 s more; no wait for a lease's holder."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.counted: list[str] = []
        self.cache = MemoryCache()
        self.leases = ContainerLeases()
        self.ports = DashboardPorts(
            settings=SETTINGS.model_copy(update={"cache_s": 60, "stale_s": 900, "lease_wait_s": 0}),
            sources=NoRecords(),
            cache=self.cache,  # type: ignore[arg-type]
            leases=self.leases,
            rollups=RollupStore(MemoryTable()),  # type: ignore[arg-type]
            gate=None,  # no ledger: never from the rollups
            clock=self.clock,
            count=self.counted.append,
        )

    def preset(self) -> tuple[str, int]:
        served = read_dashboard(self.ports, CALLER, start=None, end=None, preset="7d")
        return served.answer.source, served.age_s


def test_a_preset_is_computed_once_then_served_from_the_cache_with_its_age() -> None:
    dashboards = Dashboards()
    assert dashboards.preset() == ("computed", 0)
    dashboards.clock.advance(30)
    assert dashboards.preset() == ("cache", 30)
    assert dashboards.counted == ["CacheMisses", "CacheHits"]


def test_a_stale_preset_is_served_at_once_while_another_caller_recomputes_it() -> None:
    dashboards = Dashboards()
    dashboards.preset()
    dashboards.clock.advance(120)  # past its 60 s of freshness, within its 900 s of staleness
    assert dashboards.leases.acquire(PRESET, "another", now=dashboards.clock(), lease_s=30)
    assert dashboards.preset() == ("cache", 120)
    dashboards.leases.release(PRESET, "another")
    assert dashboards.preset() == ("computed", 0)  # the caller that takes the lease recomputes
    dashboards.clock.advance(5)
    assert dashboards.preset() == ("cache", 5)
    assert dashboards.counted == ["CacheMisses", "CacheStale", "CacheMisses", "CacheHits"]


def test_a_caller_that_takes_the_lease_after_its_holder_wrote_serves_that_answer() -> None:
    """The race of two callers on a stale preset: B reads the stale answer, A (the lease's holder)
    writes the fresh one and releases the lease, then B takes it. B serves A's answer; before, it
    recomputed it (two recomputes, seen once in CI's concurrent contract test)."""
    dashboards = Dashboards()
    dashboards.preset()
    dashboards.clock.advance(120)
    stale = dashboards.cache.get(PRESET)
    assert dashboards.preset() == ("computed", 0)  # A: takes the lease, recomputes, releases it
    reads = iter([stale])  # B's first read saw the answer as it was before A wrote
    real_get = dashboards.cache.get
    dashboards.cache.get = lambda key, **kw: next(reads, None) or real_get(key, **kw)  # type: ignore[method-assign]
    assert dashboards.preset() == ("cache", 0)
    assert dashboards.counted == ["CacheMisses", "CacheMisses", "CacheHits"]


def test_with_nothing_cached_and_the_lease_held_a_caller_answers_its_own_figures_uncached() -> None:
    dashboards = Dashboards()
    assert dashboards.leases.acquire(PRESET, "another", now=dashboards.clock(), lease_s=30)
    assert dashboards.preset() == ("computed", 0)
    assert (dashboards.counted, dashboards.cache.items) == (["CacheMisses"], {})


def test_an_explicit_closed_range_is_read_through_the_cache() -> None:
    dashboards = Dashboards()
    bounds: dict[str, Any] = {"start": T0 - timedelta(days=10), "end": T0 - timedelta(days=3), "preset": None}
    first = read_module_metrics(dashboards.ports, CALLER, "coverage", bucket="1d", **bounds)
    dashboards.clock.advance(600)
    again = read_module_metrics(dashboards.ports, CALLER, "coverage", bucket="1d", **bounds)
    assert (first.answer.source, again.answer.source, again.age_s) == ("computed", "cache", 600)
    assert again.answer.range == first.answer.range
    assert dashboards.counted == ["CacheMisses", "CacheHits"]
    key = dashboards.cache.read[0]
    assert dashboards.cache.read.count(key) == 2  # one read per call: the hit reads its item once


def test_an_unknown_module_is_refused_before_anything_is_read() -> None:
    dashboards = Dashboards()
    with pytest.raises(UnknownModule):
        read_module_metrics(dashboards.ports, CALLER, "nope", start=None, end=None, preset=None, bucket=None)
    assert (dashboards.cache.read, dashboards.counted) == ([], [])
