"""Live channels: the replay log, the connection registry and the pusher.

Shared by the fan-out (appends and pushes), the WebSocket function (connections, resume) and the
SSE function (reads after a cursor). Logic receives a `Table` (or a fake with its methods) and a
management client (or a fake with `post_to_connection`/`delete_connection`).

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

Connection registry (store `connections`), partition `<tenant>`:
- `CONN#<connection id>`: subject, scopes, connected and expiry times;
- `SUB#<channel>#<connection id>`: one per subscription, so the subscribers of a channel are one
  query. These items are the connection's subscriptions, and the only record of them: subscribing
  puts one, unsubscribing deletes one, each a single write that reads nothing first. API Gateway
  invokes a connection's messages concurrently, so a list of channels on the connection's item,
  read then written back whole, lost updates (two `subscribe`s at once kept one channel; the later
  `unsubscribe` of the other found nothing to drop while its events kept coming).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gui_core.dynamo import ConditionFailed, Put, TransactionCancelled, item_absent

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from gui_core.dynamo import Table

# Channel -> the scope a subscriber needs.
CHANNELS: dict[str, str] = {
    "jobs": "gui:jobs",
    "notifications": "gui:notifications",
    "readiness": "gui:dashboard",
    "prompt-pack": "gui:dashboard",
}
PAYLOAD_VERSION = 1  # of the GUI message schema (docs/gui/asyncapi.yaml)
SEQUENCE_DIGITS = 129  # Kinesis: a sequence number matches 0|([1-9]\d{0,128})
LENGTH_DIGITS = 3
CURSOR_PREFIX = "C#"
GUARD_PREFIX = "E#"
HEAD_KEY = "HEAD"
CONNECTION_PREFIX = "CONN#"
SUBSCRIPTION_PREFIX = "SUB#"
FRAME_LIMIT_BYTES = 32 * 1024  # API Gateway WebSocket frame quota


def channel_scope(channel: str) -> str | None:
    """The scope of `channel`, None for an unknown channel."""
    return CHANNELS.get(channel)


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
        a gap, or when the page is full (an SSE hold calls this every 0.25 s)."""
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


@dataclass(frozen=True)
class Connection:
    tenant: str
    connection_id: str
    subject: str
    scopes: frozenset[str]
    connected_at: int = 0
    expires_at: int = 0

    def item(self) -> dict[str, Any]:
        return {
            "pk": self.tenant,
            "sk": f"{CONNECTION_PREFIX}{self.connection_id}",
            "connection_id": self.connection_id,
            "subject": self.subject,
            "scopes": " ".join(sorted(self.scopes)),
            "connected_at": self.connected_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_item(cls, tenant: str, item: Mapping[str, Any]) -> Connection:
        return cls(
            tenant=tenant,
            connection_id=str(item["connection_id"]),
            subject=str(item["subject"]),
            scopes=frozenset(str(item.get("scopes", "")).split()),
            connected_at=int(item.get("connected_at", 0)),
            expires_at=int(item.get("expires_at", 0)),
        )


def _subscription_key(tenant: str, channel: str, connection_id: str) -> dict[str, str]:
    return {"pk": tenant, "sk": f"{SUBSCRIPTION_PREFIX}{channel}#{connection_id}"}


class ConnectionRegistry:
    def __init__(self, table: Table, *, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self.ttl_s = ttl_s
        self._clock = clock

    def register(
        self,
        tenant: str,
        connection_id: str,
        *,
        subject: str,
        scopes: Iterable[str],
        served_until: int | None = None,
    ) -> Connection:
        """Record a connection until API Gateway's connection limit or `served_until`, whichever
        comes first: the last moment its token is served, by the same rule as at connect (the
        token's expiry plus the clock leeway every check grants). Past it, nothing is pushed to it
        and its messages answer `not_connected`, so the client reconnects with a fresh token."""
        now = int(self._clock())
        expires_at = now + self.ttl_s
        if served_until:
            expires_at = min(expires_at, served_until)
        connection = Connection(
            tenant, connection_id, subject, frozenset(scopes), connected_at=now, expires_at=expires_at
        )
        self._table.put(connection.item())
        return connection

    def get(self, tenant: str, connection_id: str) -> Connection | None:
        item = self._table.get({"pk": tenant, "sk": f"{CONNECTION_PREFIX}{connection_id}"})
        if item is None or int(item.get("expires_at", 0)) <= self._clock():
            return None
        return Connection.from_item(tenant, item)

    def subscribe(self, connection: Connection, channels: Iterable[str]) -> None:
        """Subscribe the connection to `channels`: one item per channel, put whatever is there
        (subscribing twice is subscribing once), until the connection's expiry."""
        for channel in sorted(set(channels)):
            self._table.put(
                {
                    **_subscription_key(connection.tenant, channel, connection.connection_id),
                    "connection_id": connection.connection_id,
                    "subject": connection.subject,
                    "expires_at": connection.expires_at,
                }
            )

    def unsubscribe(self, connection: Connection, channels: Iterable[str]) -> None:
        """Drop the connection's subscriptions to `channels`, whichever it has (idempotent)."""
        for channel in sorted(set(channels)):
            self._table.delete(_subscription_key(connection.tenant, channel, connection.connection_id))

    def channels(self, tenant: str, connection_id: str) -> frozenset[str]:
        """The channels the connection is subscribed to now: a read per known channel, for tests
        and operators (no route needs it)."""
        now = self._clock()
        return frozenset(
            channel
            for channel in CHANNELS
            if (item := self._table.get(_subscription_key(tenant, channel, connection_id))) is not None
            and int(item.get("expires_at", 0)) > now
        )

    def subscribers(self, tenant: str, channel: str) -> list[str]:
        """Connection ids subscribed to the channel now."""
        now = self._clock()
        ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._table.query(
                ("pk", tenant),
                sort_prefix=("sk", f"{SUBSCRIPTION_PREFIX}{channel}#"),
                limit=1000,
                start_key=start,
            )
            ids += [str(i["connection_id"]) for i in page.items if int(i.get("expires_at", 0)) > now]
            if page.last_key is None:
                return ids
            start = page.last_key

    def remove(self, tenant: str, connection_id: str) -> None:
        """Forget the connection and its subscriptions (idempotent)."""
        self._table.delete({"pk": tenant, "sk": f"{CONNECTION_PREFIX}{connection_id}"})
        for channel in sorted(CHANNELS):  # a subscription exists only for a known channel
            self._table.delete(_subscription_key(tenant, channel, connection_id))


class ManagementClient(Protocol):
    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any: ...  # noqa: N803
    def delete_connection(self, *, ConnectionId: str) -> Any: ...  # noqa: N803


def connections_client(url: str, region: str) -> BaseClient:
    """The management API of the WebSocket API (`@connections`): short timeouts, few retries, so a
    slow connection costs one worker a moment and nobody else anything."""
    import boto3  # only the functions that push pay for it
    from botocore.config import Config

    from gui_core.credentials import client_credentials

    return boto3.client(
        "apigatewaymanagementapi",
        **client_credentials(),
        endpoint_url=url,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2),
    )


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", type(exc).__name__))


@dataclass
class PushReport:
    sent: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # answered 410: the connection is closed
    failed: dict[str, str] = field(default_factory=dict)  # connection id -> error code


class Pusher:
    """Posts one message to many connections in parallel, `concurrency` at a time.

    The workers take connection ids from one queue until it is empty: a slow or stuck connection
    holds one worker for its timeout while the others post to the rest, and an event costs a task
    per worker rather than one per connection (a hundred futures per event capped the fan-out at
    about 400 events/s, `bench/live_fanout.py`)."""

    def __init__(self, client: ManagementClient, *, concurrency: int = 16) -> None:
        self._client = client
        self._concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="push")

    def push(self, connection_ids: Sequence[str], message: bytes) -> PushReport:
        report = PushReport()
        if not connection_ids:
            return report
        pending = deque(connection_ids)

        def work() -> list[tuple[str, str | None]]:
            done: list[tuple[str, str | None]] = []
            while True:
                try:
                    connection_id = pending.popleft()  # atomic: each id goes to one worker
                except IndexError:
                    return done
                done.append((connection_id, self._post(connection_id, message)))

        workers = min(self._concurrency, len(connection_ids))
        if workers == 1:
            outcomes = work()
        else:
            futures = [self._pool.submit(work) for _ in range(workers)]
            outcomes = [outcome for future in futures for outcome in future.result()]
        for connection_id, outcome in outcomes:
            if outcome is None:
                report.sent.append(connection_id)
            elif outcome == "GoneException":
                report.gone.append(connection_id)
            else:
                report.failed[connection_id] = outcome
        return report

    def send(self, connection_id: str, message: bytes) -> str | None:
        """Post to one connection; None when sent, else the error code."""
        return self._post(connection_id, message)

    def _post(self, connection_id: str, message: bytes) -> str | None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=message)
        except Exception as exc:  # one connection's failure is reported, never raised
            return _error_code(exc)
        return None

    def close(self, connection_id: str) -> None:
        with contextlib.suppress(Exception):  # already gone is what we wanted
            self._client.delete_connection(ConnectionId=connection_id)


def replay_frames(
    channel: str, page: ReplayPage, *, limit_bytes: int = FRAME_LIMIT_BYTES
) -> list[dict[str, Any]]:
    """A replay page as `replay` messages of at most `limit_bytes` each (API Gateway's frame quota),
    in cursor order; the last one says whether more follow and the cursor to resume from."""
    frames: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    overhead = 200  # the frame's own fields
    for event in page.events:
        message = fit(event.message(), limit_bytes=limit_bytes - overhead)
        length = len(encode(message)) + 1
        if batch and size + length + overhead > limit_bytes:
            frames.append({"type": "replay", "channel": channel, "events": batch, "more": True})
            batch, size = [], 0
        batch.append(message)
        size += length
    last = page.events[-1].cursor if page.events else None
    frames.append(
        {
            "type": "replay",
            "channel": channel,
            "events": batch,
            "more": page.more,
            "cursor": last,
            "latest": page.latest,
        }
    )
    return frames


def fit(message: dict[str, Any], *, limit_bytes: int = FRAME_LIMIT_BYTES) -> dict[str, Any]:
    """`message` itself when it fits in a frame; else the message with its payload cut to the ids
    the GUI needs to fetch the rest through REST, and `truncated` set."""
    if len(encode(message)) <= limit_bytes:
        return message
    payload = message.get("payload") or {}
    kept = {k: v for k, v in payload.items() if k in {"id", "job_id", "artifact_id", "notification_id"}}
    return {**message, "payload": kept, "truncated": True}


def scopes_allow(scopes: Iterable[str], channel: str) -> bool:
    scope = channel_scope(channel)
    return scope is not None and scope in set(scopes)
