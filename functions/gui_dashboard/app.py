"""The dashboard group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_dashboard.repository import MetricsCacheTable, StoreSources
from gui_dashboard.routes import router

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_core.audit import AuditSink
    from gui_core.guard import Guard
    from gui_dashboard.cache import CacheStore
    from gui_dashboard.settings import DashboardSettings


def create_app(
    settings: DashboardSettings,
    *,
    sources: StoreSources | None = None,
    cache: CacheStore | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: dashboard",
        routers=[router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    client = dynamodb_client(settings.region)
    app.state.settings = settings
    app.state.sources = sources or StoreSources(
        jobs=Table(settings.jobs_table, client),
        inbox=Table(settings.inbox_table, client),
        artifacts=Table(settings.artifacts_table, client),
    )
    app.state.cache = cache or MetricsCacheTable(Table(settings.metrics_table, client))
    return app
