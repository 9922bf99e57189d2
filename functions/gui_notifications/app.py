"""The notifications group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.migrations.gate import Gate
from gui_notifications.ports import build_ports
from gui_notifications.routes import router

if TYPE_CHECKING:
    from gui_notifications.repository import InboxRepository
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
    app.state.ports = build_ports(settings, repository=repository, gate=gate)
    return app
