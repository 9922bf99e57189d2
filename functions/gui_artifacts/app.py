"""The artifacts group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_artifacts.repository import ArtifactsRepository
from gui_artifacts.routes import router
from gui_artifacts.use_cases import ArtifactsPorts
from gui_core.api import PlatformParts, create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Gate, settings_gate

if TYPE_CHECKING:
    from gui_artifacts.settings import ArtifactsSettings


def create_app(
    settings: ArtifactsSettings,
    *,
    repository: ArtifactsRepository | None = None,
    gate: Gate | None = None,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: artifacts",
        routers=[router],
        settings=settings,
        **platform,
    )
    app.state.ports = ArtifactsPorts(
        repository=repository
        or ArtifactsRepository(Table(settings.artifacts_table, dynamodb_client(settings.region))),
        # Whether a tenant's order items and edge counts are backfilled (migrations 0030, 0031).
        gate=gate or settings_gate(settings),
        search_read_budget=settings.search_read_budget,
    )
    return app
