"""The admin group's FastAPI app, built from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_admin.ports import build_ports
from gui_admin.routes import audit_router, migrations_router, tenant_router
from gui_core.api import PlatformParts, create_api

if TYPE_CHECKING:
    from gui_admin.settings import AdminSettings


def create_app(
    settings: AdminSettings,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: administration",
        routers=[audit_router, tenant_router, migrations_router],
        settings=settings,
        **platform,
    )
    # The guard's cache of the tenants' records (the one given, or the platform's) is told of a change.
    app.state.ports = build_ports(settings, tenant_cache=app.state.guard.tenants)
    return app
