"""The SSE group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gui_core.api import create_api, platform_guard
from gui_core.dynamo import Table, dynamodb_client
from gui_core.live import ReplayLog
from gui_core.stream_tickets import StreamTickets
from gui_stream import tickets as ticket_routes
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
    tickets: StreamTickets | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FastAPI:
    if guard is None:
        # The group's one mutation issues a ticket per live connection, with the same token and body
        # each time: replay protection would refuse the second. A replayed request gets a ticket its
        # sender could have asked for anyway, and each ticket serves one connection.
        guard = replace(platform_guard(settings, metrics=metrics), replay=None)
    app = create_api(
        title="DomainDetermine GUI: live stream",
        routers=[router, ticket_routes.router],
        settings=settings,
        audit=audit,
        guard=guard,
        metrics=metrics,
    )
    app.state.replay = replay or ReplayLog(
        Table(settings.events_table, dynamodb_client(settings.region)), window_s=settings.live_window_s
    )
    app.state.tickets = tickets or StreamTickets(
        Table(settings.limits_table, dynamodb_client(settings.region)), ttl_s=settings.ticket_ttl_s
    )
    app.state.hold_s = settings.hold_s
    app.state.poll_s = settings.poll_s
    app.state.poll_max_s = settings.poll_max_s
    app.state.clock = clock
    app.state.sleep = sleep
    return app
