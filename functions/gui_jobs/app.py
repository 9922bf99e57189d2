"""The jobs group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.bus import Publisher
from gui_core.migrations.gate import Gate
from gui_jobs.ports import build_ports
from gui_jobs.routes import document_per_verb, router

if TYPE_CHECKING:
    from gui_jobs.repository import JobsRepository
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
    app.state.ports = build_ports(settings, repository=repository, publisher=publisher, gate=gate)
    return app
