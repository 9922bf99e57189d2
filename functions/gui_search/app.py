"""The search group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_search.ports import build_ports
from gui_search.routes import router

if TYPE_CHECKING:
    from gui_search.settings import SearchSettings
    from gui_search.store import LocalIndexes


def create_app(
    settings: SearchSettings,
    *,
    indexes: LocalIndexes | None = None,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: search",
        routers=[router],
        settings=settings,
        operation_spans=settings.operation_spans,
        **platform,
    )
    app.state.ports = build_ports(settings, indexes=indexes)
    return app
