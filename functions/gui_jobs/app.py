"""The jobs group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.bus import EventPublisher, Publisher, events_client
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Gate, settings_gate
from gui_jobs.repository import JobsRepository
from gui_jobs.routes import document_per_verb, router
from gui_jobs.use_cases import JobsPorts

if TYPE_CHECKING:
    from gui_jobs.settings import JobsSettings


def create_app(
    settings: JobsSettings,
    *,
    repository: JobsRepository | None = None,
    publisher: Publisher | None = None,
    gate: Gate | None = None,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: jobs",
        routers=[router],
        settings=settings,
        **platform,
    )
    document = app.openapi
    app.openapi = lambda: document_per_verb(document())  # type: ignore[method-assign]
    app.state.ports = JobsPorts(
        repository=repository
        or JobsRepository(
            Table(settings.jobs_table, dynamodb_client(settings.region)),
            idempotency_s=settings.idempotency_hours * 3600,
        ),
        publisher=publisher
        or EventPublisher(settings.domain_bus, events_client(settings.region), region=settings.region),
        # Whether the filters' keys are there for a tenant (migration 0010): the ledger says.
        gate=gate or settings_gate(settings),
    )
    return app
