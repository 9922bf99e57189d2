"""The jobs group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.bus import EventPublisher, Publisher, events_client
from gui_core.dynamo import Table, dynamodb_client
from gui_jobs.repository import JobsRepository
from gui_jobs.routes import document_per_verb, router

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_core.audit import AuditSink
    from gui_core.guard import Guard
    from gui_jobs.settings import JobsSettings


def create_app(
    settings: JobsSettings,
    *,
    repository: JobsRepository | None = None,
    publisher: Publisher | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: jobs",
        routers=[router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    document = app.openapi
    app.openapi = lambda: document_per_verb(document())  # type: ignore[method-assign]
    app.state.repository = repository or JobsRepository(
        Table(settings.jobs_table, dynamodb_client(settings.region)),
        idempotency_s=settings.idempotency_hours * 3600,
    )
    app.state.publisher = publisher or EventPublisher(
        settings.domain_bus, events_client(settings.region), region=settings.region
    )
    return app
