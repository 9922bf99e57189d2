"""The long poll behind the SSE route: read the replay log until events come or the hold ends,
then write the answer in the event-stream format of docs/gui/live_channels.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gui_core.live import encode

if TYPE_CHECKING:
    from gui_core.live import LiveEvent, ReplayLog

RETRY_MS = 1000  # EventSource reconnects this long after a response ends
PAGE_LIMIT = 100
EVENT_CAP = 1000  # per response; EventSource comes back for the rest at once (Last-Event-ID)
BYTES_CAP = 4 * 1024 * 1024  # well under Lambda's 6 MB response


@dataclass
class Collected:
    """What one response carries."""

    channel: str
    resume_from: str | None  # the `id` of the `ready` event: where a reconnect resumes
    latest: str | None
    events: list[LiveEvent] = field(default_factory=list)
    gap_cursor: str | None = None
    gap: bool = False


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
    reads, while an idle hold costs a few reads rather than one every `poll_s`."""
    deadline = clock() + budget_s
    if cursor is None:
        # A new stream answers at once with where it starts (the latest cursor, `ORIGIN` on a
        # channel without events): API Gateway buffers the answer, so holding it would keep the
        # client from knowing it is connected; EventSource comes back with that id, and is held.
        latest = replay.latest(tenant, channel)
        return Collected(channel, resume_from=latest, latest=latest)
    anchor = cursor
    wait_s = poll_s
    while True:
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


def render(collected: Collected) -> str:
    """The response body: `retry`, the `ready` event, then the events or a `gap`."""
    blocks = [f"retry: {RETRY_MS}"]
    ready = {"type": "ready", "channel": collected.channel, "latest": collected.latest}
    # An empty `id:` clears EventSource's last event id, so a reconnect does not send a stale one.
    blocks.append(_block("ready", ready, event_id=collected.resume_from or ""))
    for event in collected.events:
        blocks.append(_block("event", event.message(), event_id=event.cursor))
    if collected.gap:
        gap = {
            "type": "gap",
            "channel": collected.channel,
            "cursor": collected.gap_cursor,
            "latest": collected.latest,
        }
        blocks.append(_block("gap", gap))
    return "\n\n".join(blocks) + "\n\n"


def _block(name: str, data: dict[str, Any], *, event_id: str | None = None) -> str:
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {name}", f"data: {encode(data).decode()}"]
    return "\n".join(lines)
