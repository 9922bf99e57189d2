"""The replay log: the live channels, their events as the GUI receives them, and the log of each.

Shared by the fan-out (appends), the WebSocket function (resume) and the SSE function (reads after
a cursor). Logic receives a `Table` (or a fake with its methods).

Replay log (store `events`), partition `<tenant>#<channel>`:
- `C#<cursor>`: one event as the GUI receives it, with `pushed` once the fan-out has pushed it;
- `E#<event id>`: the guard that makes an append idempotent on the event id.
A cursor is the Kinesis sequence number of the record that carried the event (up to 129 digits;
56 in practice), prefixed with its length in three digits, so that cursors sort as strings in the
order of the numbers. A tenant's records share a shard (the partition
key is the tenant), so its cursors grow with every event. Both items expire after the replay
window; a read treats an expired item as gone even before DynamoDB's TTL deletes it.

A resume from a cursor is continuous only when the cursor's own item is still in the log: then
every later event is there too. Any other cursor (expired, unknown) answers a gap, and the GUI
re-syncs through REST and carries on from the latest cursor.

`ORIGIN` is the cursor of a channel before its first event: what `latest` answers for an empty
channel, so that a client always holds a cursor. `HEAD`, written with the first event, keeps the
first cursor the channel ever had: a resume from `ORIGIN` is continuous while that event is still
in the log, and a gap once it has expired.

The connections live in `gui_core.connections`, the posting to them in `gui_core.pusher`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gui_core import rbac
from gui_core.dynamo import ConditionFailed, Put, TransactionCancelled, item_absent
from gui_core.errors import InsufficientScope, NotFound

if TYPE_CHECKING:
    from gui_core.context import RequestContext
    from gui_core.dynamo import Table

# Channel -> the scope a subscriber needs.
CHANNELS: dict[str, str] = {
    "jobs": rbac.JOBS,
    "notifications": rbac.NOTIFICATIONS,
    "readiness": rbac.DASHBOARD,
    "prompt-pack": rbac.DASHBOARD,
}
# The tenant flag of live updates (the demo tenants and the admin API name it) and the rate-limit
# class of a live connection (a WebSocket connect, an SSE request, a stream ticket).
LIVE_FEATURE = "realtime"
LIVE_CLASS = "live"
PAYLOAD_VERSION = 1  # of the GUI message schema (docs/gui/asyncapi.yaml)
SEQUENCE_DIGITS = 129  # Kinesis: a sequence number matches 0|([1-9]\d{0,128})
LENGTH_DIGITS = 3
CURSOR_PREFIX = "C#"
GUARD_PREFIX = "E#"
HEAD_KEY = "HEAD"


def channel_scope(channel: str) -> str | None:
    """The scope of `channel`, None for an unknown channel."""
    return CHANNELS.get(channel)


class UnknownChannel(NotFound):
    code, title = "unknown_channel", "No such live channel"


def allow_channels(caller: RequestContext, channels: Iterable[str]) -> None:
    """Each channel exists and the caller holds its scope: the one rule of the WebSocket commands,
    the SSE route and the stream tickets."""
    for channel in channels:
        scope = channel_scope(channel)
        if scope is None:
            named = channel[:64]
            raise UnknownChannel(f"No channel {named!r}; one of {', '.join(CHANNELS)}.", channel=named)
        if not caller.has_scope(scope):
            raise InsufficientScope(f"The channel {channel} needs the scope {scope}.", required_scope=scope)


def to_cursor(sequence_number: str | int) -> str:
    digits = str(sequence_number)
    if not digits.isdigit() or len(digits) > SEQUENCE_DIGITS:
        raise ValueError(f"not a sequence number: {sequence_number!r}")
    digits = digits.lstrip("0") or "0"
    return f"{len(digits):0{LENGTH_DIGITS}d}{digits}"


ORIGIN = "0010"  # to_cursor(0): before any event


def is_cursor(value: object) -> bool:
    if not isinstance(value, str) or not value.isdigit() or len(value) <= LENGTH_DIGITS:
        return False
    digits = value[LENGTH_DIGITS:]
    return int(value[:LENGTH_DIGITS]) == len(digits) and (digits == "0" or not digits.startswith("0"))


def log_partition(tenant: str, channel: str) -> str:
    return f"{tenant}#{channel}"


@dataclass(frozen=True)
class LiveEvent:
    """One event of one channel, as the GUI receives it."""

    tenant: str
    channel: str
    cursor: str
    event_id: str
    kind: str  # the domain event's detail-type
    at: str  # when it happened (ISO 8601)
    payload: Mapping[str, Any]

    def message(self) -> dict[str, Any]:
        return {
            "type": "event",
            "v": PAYLOAD_VERSION,
            "channel": self.channel,
            "cursor": self.cursor,
            "event_id": self.event_id,
            "kind": self.kind,
            "at": self.at,
            "payload": dict(self.payload),
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LiveEvent:
        return cls(
            tenant=str(item["tenant"]),
            channel=str(item["channel"]),
            cursor=str(item["cursor"]),
            event_id=str(item["event_id"]),
            kind=str(item["kind"]),
            at=str(item["at"]),
            payload=json.loads(item["payload"]),
        )


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Appended:
    """What an append did: `new` when this call logged the event; for a repeat (the same event id
    again), the event as first logged and whether it was pushed already."""

    event: LiveEvent
    new: bool
    pushed: bool


@dataclass(frozen=True)
class ReplayPage:
    events: list[LiveEvent]
    gap: bool  # the cursor is not in the log any more (or never was): re-sync, then `latest`
    latest: str  # the newest cursor of the channel now (`ORIGIN`: no event yet)
    more: bool  # more events follow the last one of this page


class ReplayLog:
    def __init__(self, table: Table, *, window_s: int, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self.window_s = window_s
        self._clock = clock
        self._headed: set[str] = set()  # partitions known to have their HEAD (per container)

    def append(self, event: LiveEvent) -> Appended:
        """Log `event` once per event id (a redelivery or a producer's repeat logs nothing)."""
        pk = log_partition(event.tenant, event.channel)
        expires_at = int(self._clock()) + self.window_s
        entry = {
            "pk": pk,
            "sk": f"{CURSOR_PREFIX}{event.cursor}",
            "tenant": event.tenant,
            "channel": event.channel,
            "cursor": event.cursor,
            "event_id": event.event_id,
            "kind": event.kind,
            "at": event.at,
            "payload": json.dumps(event.payload, separators=(",", ":"), sort_keys=True),
            "pushed": False,
            "expires_at": expires_at,
        }
        guard = {
            "pk": pk,
            "sk": f"{GUARD_PREFIX}{event.event_id}",
            "cursor": event.cursor,
            "expires_at": expires_at,
        }
        try:
            self._table.transact([Put(guard, item_absent()), Put(entry, item_absent())])
        except TransactionCancelled:
            return self._repeat(pk, event)
        self._head(pk, event.cursor)
        return Appended(event, new=True, pushed=False)

    def _head(self, pk: str, cursor: str) -> None:
        """Write the channel's HEAD with its first cursor, once."""
        if pk in self._headed:
            return
        with contextlib.suppress(ConditionFailed):
            self._table.put({"pk": pk, "sk": HEAD_KEY, "first_cursor": cursor}, condition=item_absent())
        self._headed.add(pk)

    def _repeat(self, pk: str, event: LiveEvent) -> Appended:
        guard = self._table.get({"pk": pk, "sk": f"{GUARD_PREFIX}{event.event_id}"})
        cursor = str(guard["cursor"]) if guard else event.cursor
        logged = self._table.get({"pk": pk, "sk": f"{CURSOR_PREFIX}{cursor}"})
        if logged is None:  # the guard outlived its entry by a moment: nothing to push again
            return Appended(event, new=False, pushed=True)
        return Appended(LiveEvent.from_item(logged), new=False, pushed=bool(logged.get("pushed")))

    def mark_pushed(self, event: LiveEvent) -> None:
        self._table.update(
            {"pk": log_partition(event.tenant, event.channel), "sk": f"{CURSOR_PREFIX}{event.cursor}"},
            {"pushed": True},
        )

    def latest(self, tenant: str, channel: str) -> str:
        """The newest cursor of the channel; `ORIGIN` when it has had no event."""
        page = self._table.query(
            ("pk", log_partition(tenant, channel)),
            sort_prefix=("sk", CURSOR_PREFIX),
            limit=1,
            forward=False,
            consistent=True,
        )
        return str(page.items[0]["cursor"]) if page.items else ORIGIN

    def after(self, tenant: str, channel: str, cursor: str | None, *, limit: int = 100) -> ReplayPage:
        """The events after `cursor`, oldest first, at most `limit`; no cursor: none (live from now).

        The channel's latest cursor is read only when the page cannot tell it: with no cursor, on
        a gap, or when the page is full. Strongly consistent: an SSE hold calls it once, then only
        when `newer` says an event came."""
        if cursor is None:
            return ReplayPage([], gap=False, latest=self.latest(tenant, channel), more=False)
        pk = log_partition(tenant, channel)
        now = self._clock()
        if not self._continuous(pk, cursor, now):
            return ReplayPage([], gap=True, latest=self.latest(tenant, channel), more=False)
        start = None if cursor == ORIGIN else {"pk": pk, "sk": f"{CURSOR_PREFIX}{cursor}"}
        page = self._table.query(
            ("pk", pk), sort_prefix=("sk", CURSOR_PREFIX), limit=limit, start_key=start, consistent=True
        )
        # Later events expire later: after a cursor still in the log, none is filtered out here
        # but those whose TTL DynamoDB has not applied yet, past the window.
        events = [LiveEvent.from_item(i) for i in page.items if int(i.get("expires_at", 0)) > now]
        if page.last_key is None:  # the whole rest of the log: its last event is the latest
            return ReplayPage(events, gap=False, latest=events[-1].cursor if events else cursor, more=False)
        latest = self.latest(tenant, channel)
        more = bool(events) and events[-1].cursor != latest
        return ReplayPage(events, gap=False, latest=latest, more=more)

    def newer(self, tenant: str, channel: str, cursor: str) -> bool:
        """Whether the log may hold an event after `cursor`: one eventually consistent Query of one
        item, no continuity check (half a read unit on an idle channel, where `after` costs two
        strongly consistent reads). An SSE hold asks this between its reads and reads `after` only
        on a yes, so what it answers still comes from a consistent read; a write this read has not
        seen yet is seen by a later one (DynamoDB: usually within a second)."""
        pk = log_partition(tenant, channel)
        start = None if cursor == ORIGIN else {"pk": pk, "sk": f"{CURSOR_PREFIX}{cursor}"}
        page = self._table.query(
            ("pk", pk), sort_prefix=("sk", CURSOR_PREFIX), limit=1, start_key=start, consistent=False
        )
        return bool(page.items)

    def _continuous(self, pk: str, cursor: str, now: float) -> bool:
        """Whether every event after `cursor` is still in the log."""
        if cursor == ORIGIN:
            head = self._table.get({"pk": pk, "sk": HEAD_KEY})
            if head is None:
                return True  # no event yet
            cursor = str(head["first_cursor"])
        elif not is_cursor(cursor):
            return False
        anchor = self._table.get({"pk": pk, "sk": f"{CURSOR_PREFIX}{cursor}"})
        return anchor is not None and int(anchor.get("expires_at", 0)) > now
