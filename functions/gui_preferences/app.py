"""The preferences group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_preferences.repository import PreferencesRepository
from gui_preferences.routes import router, views_router

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_core.audit import AuditSink
    from gui_core.guard import Guard
    from gui_preferences.settings import PreferencesSettings


def create_app(
    settings: PreferencesSettings,
    *,
    repository: PreferencesRepository | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: preferences",
        routers=[router, views_router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    app.state.repository = repository or PreferencesRepository(
        Table(settings.preferences_table, dynamodb_client(settings.region)),
        history_days=settings.history_days,
    )
    return app
