"""The WebSocket function's service, built from settings (so tests and the handler build it alike)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gui_core.audit import AuditSink, DynamoAuditSink
from gui_core.connections import ConnectionRegistry
from gui_core.dynamo import DynamoCounters, Table, dynamodb_client
from gui_core.pusher import Pusher, connections_client
from gui_core.rate_limit import MessageLimiter, RateLimiter
from gui_core.replay_log import ReplayLog
from gui_core.tenancy import TenantDirectory
from gui_realtime.routes import RealtimeService, Sender
from gui_realtime.use_cases import Counter, RealtimePorts, no_count

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from gui_notifications.repository import InboxRepository
    from gui_realtime.settings import RealtimeSettings


def create_service(
    settings: RealtimeSettings,
    *,
    logger: Logger,
    count: Counter | None = None,
    tenants: TenantDirectory | None = None,
    registry: ConnectionRegistry | None = None,
    replay: ReplayLog | None = None,
    inbox: InboxRepository | None = None,
    audit: AuditSink | None = None,
    sender: Sender | None = None,
    rate_limiter: RateLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> RealtimeService:
    """The service on the region's tables and management API; tests pass fakes instead."""
    client = dynamodb_client(settings.region)
    limiter = rate_limiter
    if limiter is None and settings.rate_limiting:
        limiter = RateLimiter(DynamoCounters(Table(settings.limits_table, client)))
    ports = RealtimePorts(
        region=settings.region,
        tenants=tenants
        or TenantDirectory(Table(settings.tenants_table, client), ttl_s=settings.tenant_cache_s),
        registry=registry
        or ConnectionRegistry(Table(settings.connections_table, client), ttl_s=settings.connection_ttl_s),
        replay=replay or ReplayLog(Table(settings.events_table, client), window_s=settings.replay_window_s),
        inbox=(lambda: inbox)
        if inbox is not None
        else lazy_inbox(Table(settings.inbox_table, client), retention_days=settings.retention_days),
        rate_limiter=limiter,
        count=count or no_count,
        clock=clock,
    )
    return RealtimeService(
        ports=ports,
        audit=audit or DynamoAuditSink(Table(settings.audit_table, client)),
        # Only `send` is used: one post per answer, so the pool stays small.
        sender=sender or Pusher(connections_client(settings.connections_url, settings.region), concurrency=2),
        message_limiter=MessageLimiter(limiter) if limiter is not None else None,
        logger=logger,
    )


def lazy_inbox(table: Table, *, retention_days: int) -> Callable[[], InboxRepository]:
    """The inbox on `table` (its client made now, at the cold start, with the function's credentials),
    its repository and the notifications' models imported when an ack first asks for it."""
    lock = threading.Lock()
    made: list[InboxRepository] = []

    def inbox() -> InboxRepository:
        with lock:
            if not made:
                from gui_notifications.repository import InboxRepository

                made.append(InboxRepository(table, retention_days=retention_days))
            return made[0]

    return inbox
