"""The admin group's FastAPI app, built from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_admin.repository import AuditTrail, TenantRecords
from gui_admin.routes import audit_router, migrations_router, tenant_router
from gui_admin.use_cases import AdminPorts
from gui_core.api import PlatformParts, create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.ledger import Ledger

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
    client = dynamodb_client(settings.region)
    app.state.ports = AdminPorts(
        audit=AuditTrail(Table(settings.audit_table, client)),
        tenants=TenantRecords(Table(settings.tenants_table, client)),
        tenant_cache=app.state.guard.tenants,  # the guard's cache of the tenants' records
        ledger=Ledger(Table(settings.migrations_table, client)),
    )
    return app
