"""The search group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.objects import ObjectStore, s3_client
from gui_search.routes import router
from gui_search.store import IndexStore, LocalIndexes, remove_stale_roots
from gui_search.use_cases import SearchPorts

if TYPE_CHECKING:
    from gui_search.settings import SearchSettings


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
    if indexes is None:
        store = IndexStore(
            ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
        )
        # A folder of this container's own: containers of the local runtime share one /tmp.
        root = settings.cache_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        indexes = LocalIndexes(
            store,
            root,
            check_s=settings.manifest_check_s,
            max_bytes=settings.cache_mb << 20,
            max_tenants=settings.max_tenants,
        )
        # What a process before this one in the same /tmp left (Lambda restarts a runtime that
        # crashed in the same execution environment): it would not count against this budget.
        remove_stale_roots(settings.cache_dir)
    app.state.ports = SearchPorts(indexes)
    return app
