"""The dashboard group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.migrations.gate import Gate
from gui_dashboard.ports import build_ports
from gui_dashboard.routes import router

if TYPE_CHECKING:
    from gui_dashboard.cache import CacheStore, LeaseStore
    from gui_dashboard.repository import StoreSources
    from gui_dashboard.rollup_store import RollupStore
    from gui_dashboard.settings import DashboardSettings


def create_app(
    settings: DashboardSettings,
    *,
    sources: StoreSources | None = None,
    cache: CacheStore | None = None,
    leases: LeaseStore | None = None,
    rollups: RollupStore | None = None,
    gate: Gate | None = None,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: dashboard",
        routers=[router],
        settings=settings,
        **platform,
    )
    app.state.ports = build_ports(
        settings,
        sources=sources,
        cache=cache,
        leases=leases,
        rollups=rollups,
        gate=gate,
        # The cache's Count metrics, in the platform's metrics (none in tests).
        metrics=platform.get("metrics"),
    )
    return app
