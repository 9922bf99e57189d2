"""The SSE group's use cases, on its ports (`StreamPorts`): follow one channel of the caller's
tenant from a cursor (a long poll of the replay log until events come or the hold ends), and issue
a single-use ticket for a live connection's URL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gui_core.errors import InvalidCursor
from gui_core.replay_log import allow_channels, encode, is_cursor
from gui_stream.logic import Collected
from gui_stream.models import Ticket, TicketRequest

if TYPE_CHECKING:
    from gui_core.context import RequestContext
    from gui_core.replay_log import LiveEvent, ReplayLog
    from gui_core.stream_tickets import StreamTickets

PAGE_LIMIT = 100
EVENT_CAP = 1000  # per response; EventSource comes back for the rest at once (Last-Event-ID)
BYTES_CAP = 4 * 1024 * 1024  # well under Lambda's 6 MB response


@dataclass(frozen=True)
class StreamPorts:
    """The replay log and the ticket store; the hold and its polling (settings); the monotonic
    clock and the sleep of a hold (a test's fake time)."""

    replay: ReplayLog
    tickets: StreamTickets
    hold_s: float
    poll_s: float
    poll_max_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def follow_channel(
    ports: StreamPorts,
    caller: RequestContext,
    channel: str,
    cursor: str | None,
    *,
    time_left_s: float | None = None,
) -> Collected:
    """The events of `channel` after `cursor` (None: a new stream, answered at once), held until
    some come or the hold ends. The hold is cut to `time_left_s` (what the invocation has left to
    answer) and to the caller's token: no event goes out past its expiry (with the guard's leeway)."""
    allow_channels(caller, [channel])
    if cursor is not None and not is_cursor(cursor):
        raise InvalidCursor("Not a cursor this API issued: resume from an event's `id`.")
    budget = ports.hold_s
    if time_left_s is not None:
        budget = min(budget, time_left_s)
    until = caller.served_until()
    if until is not None:
        budget = min(budget, until - time.time())
    return collect(
        ports.replay,
        tenant=caller.tenant,
        channel=channel,
        cursor=cursor,
        budget_s=max(0.0, budget),
        poll_s=ports.poll_s,
        poll_max_s=ports.poll_max_s,
        clock=ports.clock,
        sleep=ports.sleep,
    )


def issue_ticket(ports: StreamPorts, caller: RequestContext, request: TicketRequest) -> Ticket:
    """A single-use ticket carrying the caller's identity and only the scopes of the channels asked."""
    allow_channels(caller, request.channels)
    issued = ports.tickets.issue(caller, request.channels)
    return Ticket(
        ticket=issued.ticket,
        channels=list(issued.channels),
        expires_in=ports.tickets.ttl_s,
        expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
    )


def collect(
    replay: ReplayLog,
    *,
    tenant: str,
    channel: str,
    cursor: str | None,
    budget_s: float,
    poll_s: float,
    poll_max_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Collected:
    """Read after `cursor` until there are events, a gap, or `budget_s` has passed; without a
    cursor, answer at once where the stream starts.

    The first empty read waits `poll_s`, each next one twice as long, up to `poll_max_s`: a client
    reconnects after every answer, so on a busy channel its next events come within the first quick
    reads, while an idle hold costs a few reads rather than one every `poll_s`.

    Only the first read is the full one (`ReplayLog.after`: the cursor's continuity and the events
    after it, both strongly consistent, two read units at least); each later poll asks `newer` (one
    eventually consistent Query of one item: half a unit while idle) and reads `after` again only
    when it says yes. An idle 20 s hold costs 2 + 13 x 0.5 = 8.5 read units instead of 14 x 2 = 28;
    an event is answered at most one poll later than a consistent read would have seen it (the
    replica a read meets usually has it within a second)."""
    deadline = clock() + budget_s
    if cursor is None:
        # A new stream answers at once with where it starts (the latest cursor, `ORIGIN` on a
        # channel without events): API Gateway buffers the answer, so holding it would keep the
        # client from knowing it is connected; EventSource comes back with that id, and is held.
        latest = replay.latest(tenant, channel)
        return Collected(channel, resume_from=latest, latest=latest)
    anchor = cursor
    wait_s = poll_s
    latest = anchor  # set by the first read
    look = True  # the first read is the full one; later ones only when `newer` says so
    while True:
        if look:
            page = replay.after(tenant, channel, anchor, limit=PAGE_LIMIT)
            latest = page.latest
            if page.gap:
                return Collected(channel, resume_from=latest, latest=latest, gap=True, gap_cursor=anchor)
            if page.events:
                return _with_more(replay, tenant, channel, anchor, page.events, page.more, latest)
        remaining = deadline - clock()
        if remaining < poll_s:
            return Collected(channel, resume_from=anchor, latest=latest)
        sleep(min(wait_s, remaining))  # the last read at the deadline, not past it
        wait_s = min(wait_s * 2, poll_max_s)
        look = replay.newer(tenant, channel, anchor)


def _with_more(
    replay: ReplayLog,
    tenant: str,
    channel: str,
    anchor: str,
    events: list[LiveEvent],
    more: bool,
    latest: str | None,
) -> Collected:
    gathered = list(events)
    size = sum(len(encode(e.message())) for e in gathered)
    while more and len(gathered) < EVENT_CAP and size < BYTES_CAP:
        page = replay.after(
            tenant, channel, gathered[-1].cursor, limit=min(PAGE_LIMIT, EVENT_CAP - len(gathered))
        )
        if page.gap or not page.events:
            break  # expired under this read: the reconnect from the last cursor answers the gap
        gathered += page.events
        size += sum(len(encode(e.message())) for e in page.events)
        more, latest = page.more, page.latest
    return Collected(channel, resume_from=anchor, latest=latest, events=gathered)
