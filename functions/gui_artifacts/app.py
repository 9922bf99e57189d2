"""The artifacts group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_artifacts.ports import build_ports
from gui_artifacts.routes import router
from gui_core.api import PlatformParts, create_api

if TYPE_CHECKING:
    from gui_artifacts.repository import ArtifactsRepository
    from gui_artifacts.settings import ArtifactsSettings
    from gui_core.migrations.gate import Gate


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
    app.state.ports = build_ports(settings, repository=repository, gate=gate)
    return app
