"""The notifications group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Always, Gate, settings_gate
from gui_notifications.repository import InboxRepository
from gui_notifications.routes import router
from gui_notifications.use_cases import NotificationsPorts

if TYPE_CHECKING:
    from gui_notifications.settings import NotificationsSettings


def create_app(
    settings: NotificationsSettings,
    *,
    repository: InboxRepository | None = None,
    gate: Gate | None = None,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: notifications",
        routers=[router],
        settings=settings,
        **platform,
    )
    client = dynamodb_client(settings.region)
    repository = repository or InboxRepository(
        Table(settings.inbox_table, client), retention_days=settings.retention_days
    )
    # The ledger says when the counters' migration is done for a tenant; without a ledger (a test's
    # settings) there is no migration to wait for.
    app.state.ports = NotificationsPorts(repository, gate=gate or settings_gate(settings, client) or Always())
    return app
