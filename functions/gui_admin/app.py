"""The admin group's FastAPI app, built from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_admin.routes import audit_router, migrations_router, tenant_router
from gui_core.api import create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.ledger import Ledger

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_admin.settings import AdminSettings
    from gui_core.audit import AuditSink
    from gui_core.guard import Guard


def create_app(
    settings: AdminSettings,
    *,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: administration",
        routers=[audit_router, tenant_router, migrations_router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    client = dynamodb_client(settings.region)
    app.state.audit_table = Table(settings.audit_table, client)
    app.state.tenants_table = Table(settings.tenants_table, client)
    app.state.migrations_ledger = Ledger(Table(settings.migrations_table, client))
    return app
