"""The preferences group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_preferences.ports import build_ports
from gui_preferences.routes import router, views_router

if TYPE_CHECKING:
    from gui_core.migrations.gate import Gate
    from gui_preferences.repository import PreferencesRepository
    from gui_preferences.settings import PreferencesSettings


def create_app(
    settings: PreferencesSettings,
    *,
    repository: PreferencesRepository | None = None,
    gate: Gate | None = None,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: preferences",
        routers=[router, views_router],
        settings=settings,
        **platform,
    )
    app.state.ports = build_ports(settings, repository=repository, gate=gate)
    return app
