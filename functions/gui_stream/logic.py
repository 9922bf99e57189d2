"""Pure rules of the SSE group: the event-stream format of docs/gui/live_channels.md that an answer
is written in. Which channels a caller may follow is gui_core.replay_log.allow_channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gui_core.replay_log import encode

if TYPE_CHECKING:
    from gui_core.replay_log import LiveEvent

RETRY_MS = 1000  # EventSource reconnects this long after a response ends


@dataclass
class Collected:
    """What one response carries."""

    channel: str
    resume_from: str | None  # the `id` of the `ready` event: where a reconnect resumes
    latest: str | None
    events: list[LiveEvent] = field(default_factory=list)
    gap_cursor: str | None = None
    gap: bool = False


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
