"""The dashboard's ports built from settings: one way for every door (the REST app, the GraphQL API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_core.dynamo import Table, dynamodb_client
from gui_core.metric_names import DashboardMetric, MetricsSink, add
from gui_core.migrations.gate import Gate, settings_gate
from gui_dashboard.repository import ContainerLeases, MetricsCacheTable, StoreSources
from gui_dashboard.rollup_store import RollupStore
from gui_dashboard.use_cases import DashboardPorts

if TYPE_CHECKING:
    from gui_dashboard.cache import CacheStore, LeaseStore
    from gui_dashboard.settings import DashboardSettings


def build_ports(
    settings: DashboardSettings,
    *,
    sources: StoreSources | None = None,
    cache: CacheStore | None = None,
    leases: LeaseStore | None = None,
    rollups: RollupStore | None = None,
    gate: Gate | None = None,
    metrics: MetricsSink | None = None,
) -> DashboardPorts:
    """`metrics`: where the cache's Count metrics go (hits, misses, stale answers, waits); none: not
    counted (a door whose function does not emit them, tests)."""
    client = dynamodb_client(settings.region)
    store = MetricsCacheTable(Table(settings.metrics_table, client))

    def count(name: DashboardMetric) -> None:
        """One more of the cache's Count metrics."""
        if metrics is not None:
            add(metrics, name)

    return DashboardPorts(
        settings=settings,
        sources=sources
        or StoreSources(
            jobs=Table(settings.jobs_table, client),
            inbox=Table(settings.inbox_table, client),
            artifacts=Table(settings.artifacts_table, client),
        ),
        cache=cache or store,
        # The store's leases (one recompute per key across containers) unless a cache is given
        # (tests): then the container's.
        leases=leases or (ContainerLeases() if cache is not None else store),
        rollups=rollups or RollupStore(Table(settings.metrics_table, client)),
        gate=gate or settings_gate(settings, client),
        count=count,
    )
