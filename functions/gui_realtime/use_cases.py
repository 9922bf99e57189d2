"""The WebSocket API's use cases, one function per command, on the group's ports
(`RealtimePorts`): open and close a connection, subscribe, unsubscribe, resume a channel from a
cursor, ping. `ack` is the notifications' own use case (gui_notifications.use_cases), which the
ports give it (`RealtimePorts.notifications`): the notifications' modules are imported by the first
ack, not at the cold start (a connection's first message is nearly never one; issue 17)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from gui_core.connections import LIVE_PROTOCOL
from gui_core.errors import BadRequest, InvalidCursor, TenantMismatch
from gui_core.live_graphql import FRAME_OVERHEAD_BYTES
from gui_core.metric_names import GuardMetric, RealtimeMetric
from gui_core.migrations.gate import Always
from gui_core.pusher import FRAME_LIMIT_BYTES, fit, replay_frames
from gui_core.rate_limit import enforce_limit
from gui_core.replay_log import (
    LIVE_CLASS,
    LIVE_FEATURE,
    ORIGIN,
    ReplayPage,
    allow_channels,
    encode,
    is_cursor,
)
from gui_core.tenancy import admit_tenant
from gui_realtime.logic import Message, parse_channels

if TYPE_CHECKING:
    from gui_core.connections import Connection, ConnectionRegistry
    from gui_core.context import RequestContext
    from gui_core.live_graphql import CompiledSubscription
    from gui_core.rate_limit import RateLimiter
    from gui_core.replay_log import LiveEvent, ReplayLog
    from gui_core.tenancy import Tenant, TenantDirectory
    from gui_notifications.repository import InboxRepository
    from gui_notifications.use_cases import NotificationsPorts
    from gui_realtime.models import ResumeMessage

# What one `resume` may cost; past any of these its last frame says `more` and the client resumes
# again from its cursor (each resume a message, counted against the connection's limit).
PAGE_LIMIT = 100  # events per read of the replay log
RESUME_PAGES = 5  # reads of the replay log
RESUME_CAP = 500  # events
RESUME_BYTES = 256 * 1024  # of events posted (8 frames of 32 KB)
RESUME_BUDGET_S = 2.0  # no read of a further page after this


class Counter(Protocol):
    def __call__(self, name: RealtimeMetric | GuardMetric, *, reason: str | None = None) -> None: ...


def no_count(name: RealtimeMetric | GuardMetric, *, reason: str | None = None) -> None:
    return None


@dataclass(frozen=True)
class RealtimePorts:
    """The region's tenants, connections, replay log and inbox; the per-tenant rate limiter; the
    metric counter of refusals; the wall clock (epoch seconds) and the timer of a resume's budget."""

    region: str
    tenants: TenantDirectory
    registry: ConnectionRegistry
    replay: ReplayLog
    inbox: Callable[[], InboxRepository]  # the inbox, made on its first use (gui_realtime.app)
    rate_limiter: RateLimiter | None
    count: Counter = no_count
    clock: Callable[[], float] = field(default=time.time)
    timer: Callable[[], float] = field(default=time.monotonic)

    @property
    def notifications(self) -> NotificationsPorts:
        """The notifications' ports on this function's inbox and clock (a command reads no gate)."""
        from gui_notifications.use_cases import NotificationsPorts  # the first ack's import

        return NotificationsPorts(self.inbox(), gate=Always(), clock=self.now)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def admit(ports: RealtimePorts, caller: RequestContext, *, feature: str) -> Tenant:
    """The guard's tenant checks (gui_core.tenancy.admit_tenant), for a request not over HTTP."""
    return admit_tenant(ports.tenants, caller.tenant, region=ports.region, feature=feature, count=ports.count)


def limit(ports: RealtimePorts, tenant: Tenant, route_class: str) -> None:
    enforce_limit(ports.rate_limiter, tenant, route_class, count=ports.count)


def open_connection(
    ports: RealtimePorts,
    caller: RequestContext,
    connection_id: str,
    *,
    tenant: str | None,
    channel: str | None,
    protocol: str = LIVE_PROTOCOL,
) -> list[str]:
    """Register a connection of the caller's tenant (`tenant` as named in the URL), subscribed to
    the channels of `channel` (comma-separated; none: it subscribes later); those channels."""
    if not tenant:
        raise BadRequest("The query parameter `tenant` is required.")
    if tenant != caller.tenant:
        raise TenantMismatch("The request names another tenant.")
    channels = parse_channels(channel)
    if channels and protocol != LIVE_PROTOCOL:
        raise BadRequest(
            f"A {protocol} connection subscribes by its `subscribe` messages: name no `channel`."
        )
    allow_channels(caller, channels)
    admitted = admit(ports, caller, feature=LIVE_FEATURE)
    limit(ports, admitted, LIVE_CLASS)
    connection = ports.registry.register(
        admitted.id,
        connection_id,
        subject=caller.subject,
        scopes=caller.scopes,
        served_until=caller.served_until(),
        protocol=protocol,
    )
    if channels:
        ports.registry.subscribe(connection, channels)
    return channels


def close_connection(ports: RealtimePorts, caller: RequestContext | None, connection_id: str) -> None:
    if caller is not None:
        ports.registry.remove(caller.tenant, connection_id)


def subscribe(
    ports: RealtimePorts, caller: RequestContext, connection: Connection, channels: list[str]
) -> Message:
    """Follow more channels; the answer names each one's latest cursor (where a resume starts)."""
    channels = list(dict.fromkeys(channels))
    allow_channels(caller, channels)
    ports.registry.subscribe(connection, channels)
    latest = {channel: ports.replay.latest(caller.tenant, channel) for channel in channels}
    return {"type": "subscribed", "channels": channels, "latest": latest}


def unsubscribe(
    ports: RealtimePorts, caller: RequestContext, connection: Connection, channels: list[str]
) -> Message:
    channels = list(dict.fromkeys(channels))
    allow_channels(caller, channels)
    ports.registry.unsubscribe(connection, channels)
    return {"type": "unsubscribed", "channels": channels}


def ping(ports: RealtimePorts) -> Message:
    return {"type": "pong", "at": ports.now().isoformat(timespec="milliseconds")}


def resume(
    ports: RealtimePorts, caller: RequestContext, connection: Connection, message: ResumeMessage
) -> list[Message]:
    """The channel's events after the message's cursor, in frames; a `gap` when the log no longer
    holds the cursor. Bounded (`RESUME_*`): past a bound the last frame says `more`."""
    channel = message.channel
    allow_channels(caller, [channel])
    if not is_cursor(message.cursor):
        raise InvalidCursor("Not a cursor this API issued: resume from an event's `cursor`.")
    # Subscribe first: an event logged while the replay is read is then pushed live too, and the
    # client keeps whichever copy has the greater cursor than what it applied.
    ports.registry.subscribe(connection, [channel])
    page = read_replay(ports, caller.tenant, channel, message.cursor)
    if page.gap:
        return [{"type": "gap", "channel": channel, "cursor": message.cursor, "latest": page.latest}]
    return replay_frames(channel, page)


def read_replay(ports: RealtimePorts, tenant: str, channel: str, cursor: str) -> ReplayPage:
    """The channel's events after `cursor`, as much as one resume may cost (`RESUME_*`: past a
    bound the page says `more`); a page with `gap` when the log no longer holds the cursor."""
    events: list[LiveEvent] = []
    size, latest, more = 0, ORIGIN, False
    deadline = ports.timer() + RESUME_BUDGET_S
    for _ in range(RESUME_PAGES):
        page = ports.replay.after(tenant, channel, cursor, limit=min(PAGE_LIMIT, RESUME_CAP - len(events)))
        latest = page.latest
        if page.gap:
            if not events:
                return ReplayPage([], gap=True, latest=latest, more=False)
            more = True  # the log expired under this read: the next resume answers the gap
            break
        more = page.more
        for event in page.events:
            length = len(encode(fit(event.message()))) + 1
            if events and size + length > RESUME_BYTES:
                more = True  # the rest of this page comes with the next resume
                break
            events.append(event)
            size += length
        if (
            not more
            or not page.events
            or events[-1] is not page.events[-1]
            or len(events) >= RESUME_CAP
            or ports.timer() >= deadline
        ):
            break
        cursor = page.events[-1].cursor
    return ReplayPage(events, gap=False, latest=latest, more=more)


# --- graphql-transport-ws -----------------------------------------------------------------------


def graphql_init(ports: RealtimePorts, connection: Connection, cursors: Mapping[str, str]) -> bool:
    """`connection_init`: the connection is ready for subscriptions, resuming each channel named in
    `cursors` from there; False when it was initialised already (the protocol closes it)."""
    return ports.registry.acknowledge(connection, cursors)


def graphql_subscribe(
    ports: RealtimePorts,
    caller: RequestContext,
    connection: Connection,
    subscription_id: str,
    compiled: CompiledSubscription,
) -> list[Message] | None:
    """A GraphQL subscription to a channel: recorded first (so every event logged after the replay's
    read is pushed to it), then the replay after its cursor (the greater of its `after` and the
    connection's cursor for the channel) as `next` messages, ended by a `LIVE` message (or a `GAP`).
    None when the connection has a subscription of this id already (the protocol closes it)."""
    channel = compiled.channel
    allow_channels(caller, [channel])
    cursors = [c for c in (compiled.after, connection.cursors.get(channel)) if c is not None]
    for cursor in cursors:
        if not is_cursor(cursor):
            raise InvalidCursor("Not a cursor this API issued: subscribe `after` an event's `cursor`.")
    selection = compiled.selection(subscription_id)
    if not ports.registry.subscribe_graphql(connection, channel, selection):
        return None
    if not cursors:
        latest = ports.replay.latest(caller.tenant, channel)
        return [selection.frame({"type": "live", "channel": channel, "cursor": latest, "latest": latest})]
    after = max(cursors)  # cursors of a channel compare as strings
    page = read_replay(ports, caller.tenant, channel, after)
    if page.gap:
        return [selection.frame({"type": "gap", "channel": channel, "cursor": after, "latest": page.latest})]
    frames = [
        selection.frame(fit(e.message(), limit_bytes=FRAME_LIMIT_BYTES - FRAME_OVERHEAD_BYTES))
        for e in page.events
    ]
    last = page.events[-1].cursor if page.events else after
    marker = {"type": "live", "channel": channel, "cursor": last, "latest": page.latest, "more": page.more}
    return [*frames, selection.frame(marker)]


def graphql_complete(ports: RealtimePorts, connection: Connection, subscription_id: str) -> None:
    """The client's `complete`: the subscription ends (nothing if it had ended)."""
    ports.registry.complete_graphql(connection, subscription_id)
