"""The notifications group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_notifications.repository import InboxRepository
from gui_notifications.routes import router

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_core.audit import AuditSink
    from gui_core.guard import Guard
    from gui_notifications.settings import NotificationsSettings


def create_app(
    settings: NotificationsSettings,
    *,
    repository: InboxRepository | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: notifications",
        routers=[router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    app.state.repository = repository or InboxRepository(
        Table(settings.inbox_table, dynamodb_client(settings.region)),
        retention_days=settings.retention_days,
    )
    return app
