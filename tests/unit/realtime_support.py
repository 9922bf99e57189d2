"""The WebSocket function's test bench, shared by its suites (test_realtime, test_tracing) and the
tenants the live suites share (test_stream, test_dashboard_telemetry, the fan-out's): the service on
in-memory fakes behind its interfaces, and its events built from the samples in events/aws/,
changing only what the request sets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from gui_core.connections import ConnectionRegistry
from gui_core.pusher import Pusher
from gui_core.rate_limit import RateLimiter
from gui_core.replay_log import LiveEvent, ReplayLog, to_cursor
from gui_core.tenancy import TenantDirectory
from gui_notifications.repository import InboxRepository
from gui_realtime.app import create_service
from gui_realtime.models import SocketRequest
from gui_realtime.routes import RealtimeService
from gui_realtime.settings import RealtimeSettings
from local.apigw import sample_event
from local.memory_table import MemoryTable
from tests.fakes import FakeAudit, FakeCounters, FakeManagement, ManualClock

NOW = 1_795_804_200.0  # the samples' request time (27 Nov 2026 18:30 UTC); tokens expire an hour later
CONNECTION = "Cq7nKdWhDoECJ9A="  # the samples' connection id
WINDOW_S = 86_400


TENANTS = [
    {"pk": "acme", "sk": "tenant", "name": "Acme", "home_region": "eu-west-1"},
    {"pk": "globex", "sk": "tenant", "name": "Globex", "home_region": "us-east-1"},
    {"pk": "initech", "sk": "tenant", "home_region": "eu-west-1", "flags": {"realtime": False}},
    {"pk": "umbrella", "sk": "tenant", "home_region": "eu-west-1", "rate_limits": {"live": 1}},
    {"pk": "hooli", "sk": "tenant", "home_region": "eu-west-1", "flags": {"notifications": False}},
    {
        "pk": "stark",
        "sk": "tenant",
        "home_region": "eu-west-1",
        "rate_limits": {"live_messages": 5, "live_connection_messages": 3},
    },
]

SETTINGS = RealtimeSettings(
    POWERTOOLS_SERVICE_NAME="gui_realtime",
    GUI_REGION="eu-west-1",
    TENANTS_TABLE="tenants",
    LIMITS_TABLE="limits",
    AUDIT_TABLE="audit",
    CONNECTIONS_TABLE="connections",
    EVENTS_TABLE="events",
    INBOX_TABLE="inbox",
    REPLAY_WINDOW_S=WINDOW_S,
    CONNECTION_TTL_S=7200,
    GUI_CONNECTIONS_URL="https://w5x6y7z8a9.execute-api.eu-west-1.amazonaws.com/live",
)


class Backend:
    """The service on fakes, with handles on each fake for the assertions."""

    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.connections = MemoryTable()
        self.events = MemoryTable()
        self.inbox_table = MemoryTable()
        self.management = FakeManagement()
        self.audit = FakeAudit()
        self.metrics: list[tuple[str, str | None]] = []
        self.registry = ConnectionRegistry(self.connections, ttl_s=7200, clock=self.clock)
        self.replay = ReplayLog(self.events, window_s=WINDOW_S, clock=self.clock)
        self.inbox = InboxRepository(self.inbox_table, retention_days=90)
        self.service: RealtimeService = create_service(
            SETTINGS,
            logger=Logger(service="test_realtime"),
            count=self.count,
            tenants=TenantDirectory(MemoryTable(TENANTS)),
            registry=self.registry,
            replay=self.replay,
            inbox=self.inbox,
            audit=self.audit,
            sender=Pusher(self.management, concurrency=1),
            rate_limiter=RateLimiter(FakeCounters(), clock=self.clock),
            clock=self.clock,
        )

    def count(self, name: str, *, reason: str | None = None) -> None:
        self.metrics.append((name, reason))

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.service.handle(SocketRequest.from_event(event))

    def connect(self, **changes: Any) -> dict[str, Any]:
        return self.handle(connect_event(**changes))

    def send(self, body: Any, *, route: str | None = None, **authorizer: Any) -> list[dict[str, Any]]:
        """Send one message; the messages the connection received in answer."""
        before = len(self.management.sent.get(CONNECTION, []))
        answer = self.handle(message_event(body, route=route, **authorizer))
        assert answer == {"statusCode": 200}
        return self.management.sent.get(CONNECTION, [])[before:]

    def log(
        self, channel: str, count: int, *, tenant: str = "acme", start: int = 1, size: int = 10
    ) -> list[str]:
        cursors = []
        for n in range(start, start + count):
            cursor = to_cursor(1000 + n)
            self.replay.append(
                LiveEvent(
                    tenant=tenant,
                    channel=channel,
                    cursor=cursor,
                    event_id=f"ev-{channel}-{n}",
                    kind="JobStatusChanged",
                    at="2026-11-27T18:29:00.000+00:00",
                    payload={"job_id": f"job-{n}", "note": "x" * size},
                )
            )
            cursors.append(cursor)
        return cursors


def connect_event(
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    **authorizer: Any,
) -> dict[str, Any]:
    """The `$connect` sample with the request's query, headers and token claims changed."""
    event = sample_event("websocket_connect")
    if query is not None:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    event["requestContext"]["authorizer"].update(authorizer)
    return event


def message_event(body: Any, *, route: str | None = None, **authorizer: Any) -> dict[str, Any]:
    event = sample_event("websocket_message")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    if route is None:
        route = body.get("action", "$default") if isinstance(body, dict) else "$default"
    event["requestContext"]["routeKey"] = route
    event["requestContext"]["authorizer"].update(authorizer)
    return event
