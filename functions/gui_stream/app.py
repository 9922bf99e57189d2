"""The SSE group's FastAPI app, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api, platform_guard
from gui_core.dynamo import Table, dynamodb_client
from gui_core.replay_log import ReplayLog
from gui_core.stream_tickets import StreamTickets
from gui_stream import tickets as ticket_routes
from gui_stream.routes import router
from gui_stream.use_cases import StreamPorts

if TYPE_CHECKING:
    from gui_stream.settings import StreamSettings


def create_app(
    settings: StreamSettings,
    *,
    replay: ReplayLog | None = None,
    tickets: StreamTickets | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **platform: Unpack[PlatformParts],
) -> FastAPI:
    if platform.get("guard") is None:
        # The group's one mutation issues a ticket per live connection, with the same token and body
        # each time: replay protection would refuse the second. A replayed request gets a ticket its
        # sender could have asked for anyway, and each ticket serves one connection.
        platform["guard"] = replace(platform_guard(settings, metrics=platform.get("metrics")), replay=None)
    app = create_api(
        title="DomainDetermine GUI: live stream",
        routers=[router, ticket_routes.router],
        settings=settings,
        **platform,
    )
    client = dynamodb_client(settings.region)
    app.state.ports = StreamPorts(
        replay=replay or ReplayLog(Table(settings.events_table, client), window_s=settings.live_window_s),
        tickets=tickets or StreamTickets(Table(settings.limits_table, client), ttl_s=settings.ticket_ttl_s),
        hold_s=settings.hold_s,
        poll_s=settings.poll_s,
        poll_max_s=settings.poll_max_s,
        clock=clock,
        sleep=sleep,
    )
    return app
