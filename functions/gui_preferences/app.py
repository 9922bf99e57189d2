"""The preferences group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.audit import AuditSink, DynamoAuditSink
from gui_core.dynamo import Table, dynamodb_client
from gui_preferences.repository import PreferencesRepository
from gui_preferences.routes import router

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_preferences.settings import PreferencesSettings


def create_app(
    settings: PreferencesSettings,
    *,
    repository: PreferencesRepository | None = None,
    audit: AuditSink | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    client = dynamodb_client(settings.region)
    app = create_api(
        title="DomainDetermine GUI: preferences",
        routers=[router],
        audit=audit or DynamoAuditSink(Table(settings.audit_table, client)),
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
    )
    app.state.repository = repository or PreferencesRepository(
        Table(settings.preferences_table, client), history_days=settings.history_days
    )
    return app
