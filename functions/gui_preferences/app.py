"""The preferences group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Gate, settings_gate
from gui_preferences.repository import PreferencesRepository
from gui_preferences.routes import router, views_router
from gui_preferences.use_cases import PreferencesPorts

if TYPE_CHECKING:
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
    app.state.ports = PreferencesPorts(
        repository=repository
        or PreferencesRepository(
            Table(settings.preferences_table, dynamodb_client(settings.region)),
            history_days=settings.history_days,
        ),
        # Whether the views' list keys are there for a tenant (migration 0011): the ledger says.
        gate=gate or settings_gate(settings),
    )
    return app
