"""The SSE group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api
from gui_core.dynamo import Table, dynamodb_client
from gui_core.live import ReplayLog
from gui_stream.routes import router

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from gui_core.audit import AuditSink
    from gui_core.guard import Guard
    from gui_stream.settings import StreamSettings


def create_app(
    settings: StreamSettings,
    *,
    replay: ReplayLog | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FastAPI:
    app = create_api(
        title="DomainDetermine GUI: live stream",
        routers=[router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    app.state.replay = replay or ReplayLog(
        Table(settings.events_table, dynamodb_client(settings.region)), window_s=settings.live_window_s
    )
    app.state.hold_s = settings.hold_s
    app.state.poll_s = settings.poll_s
    app.state.poll_max_s = settings.poll_max_s
    app.state.clock = clock
    app.state.sleep = sleep
    return app
