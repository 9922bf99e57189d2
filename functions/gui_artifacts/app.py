"""The artifacts group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_artifacts.repository import ArtifactsRepository
from gui_artifacts.routes import router
from gui_core.api import create_api
from gui_core.dynamo import Table, dynamodb_client

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_artifacts.settings import ArtifactsSettings
    from gui_core.audit import AuditSink
    from gui_core.guard import Guard


def create_app(
    settings: ArtifactsSettings,
    *,
    repository: ArtifactsRepository | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: artifacts",
        routers=[router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    app.state.repository = repository or ArtifactsRepository(
        Table(settings.artifacts_table, dynamodb_client(settings.region))
    )
    return app
