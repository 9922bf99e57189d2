"""The search group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.objects import ObjectStore, s3_client
from gui_search.routes import router
from gui_search.store import IndexStore, LocalIndexes

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_core.audit import AuditSink
    from gui_core.guard import Guard
    from gui_search.settings import SearchSettings


def create_app(
    settings: SearchSettings,
    *,
    indexes: LocalIndexes | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: search",
        routers=[router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    if indexes is None:
        store = IndexStore(
            ObjectStore(settings.data_bucket, s3_client(settings.region)), prefix=settings.search_prefix
        )
        # A folder of this container's own: containers of the local runtime share one /tmp.
        root = settings.cache_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        indexes = LocalIndexes(
            store, root, check_s=settings.manifest_check_s, max_tenants=settings.max_tenants
        )
    app.state.indexes = indexes
    return app
