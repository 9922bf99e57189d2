"""Helpers of the streaming tests: fresh tenants, domain events on the bus, a WebSocket client that
collects what the server sends, an SSE reader, and reads of the replay log and connection registry.

Everything speaks the protocol of docs/gui/live_channels.md over loopback: the WebSocket client is
`websockets`' synchronous client with a reader thread, the SSE reader is httpx.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from gui_core.bus import EventPublisher
from gui_core.connections import CONNECTION_PREFIX, ConnectionRegistry
from gui_core.dynamo import Table
from gui_core.replay_log import GUARD_PREFIX, log_partition, to_cursor
from local.aws import aws_client
from local.demo import provision_tenant
from stacks.manifest import MANIFEST

SUBPROTOCOL = "ddgui.v1"
HOME = "eu-west-1"
OTHER = "us-east-1"
REGIONS = (HOME, OTHER)

# Domain event kind -> the channel it reaches and the source that publishes it.
CHANNEL_OF: dict[str, str] = {
    "GovernanceAlert": "notifications",
    "JobStatusChanged": "jobs",
    "ReadinessGateChanged": "readiness",
    "PromptPackCalibrationStatus": "prompt-pack",
}
KIND_OF: dict[str, str] = {channel: kind for kind, channel in CHANNEL_OF.items()}
SOURCE_OF: dict[str, str] = {
    "GovernanceAlert": "domaindetermine.governance",
    "JobStatusChanged": "domaindetermine.jobs.executor",
    "ReadinessGateChanged": "domaindetermine.readiness",
    "PromptPackCalibrationStatus": "domaindetermine.prompt_pack",
}
UNKNOWN_CURSOR = to_cursor(10**30 + 7)  # a well-formed cursor no log holds

_counter = itertools.count(1)


def table(store: str, region: str, endpoint_url: str) -> Table:
    return Table(
        MANIFEST.store(store).local_table_name(),
        aws_client("dynamodb", endpoint_url=endpoint_url, region=region),
    )


def fresh_tenant(
    endpoint_url: str,
    *,
    home: str = HOME,
    flags: Mapping[str, bool] | None = None,
    prefix: str = "st",
) -> str:
    """A tenant no other test uses: full record in `home`, directory stub in the other region."""
    tenant = f"{prefix}-{uuid.uuid4().hex[:10]}"
    provision_tenant(
        MANIFEST,
        endpoint_url=endpoint_url,
        region=REGIONS,
        tenant=tenant,
        home_region=home,
        flags={"realtime": True, **(flags or {})},
        rate_limits={"live": 10_000, "reads": 10_000, "writes": 10_000},
    )
    return tenant


def fresh_subject(tenant: str) -> str:
    return f"st-{uuid.uuid4().hex[:10]}@{tenant}"


# -- domain events ------------------------------------------------------------------------------


def sample_detail(kind: str, n: int) -> dict[str, Any]:
    """The kind-specific fields of a valid domain event detail (see gui_core.domain_events)."""
    if kind == "JobStatusChanged":
        return {"job_id": f"job-{n}", "status": "running", "progress": n % 100}
    if kind == "GovernanceAlert":
        return {
            "alert_id": f"alert-{n}",
            "severity": "warning",
            "title": f"Overlay {n} awaits sign-off",
            "body": f"The overlay of release {n} waits for a governance reviewer.",
            "module": "governance",
            "artifact_id": f"overlay-{n}",
        }
    if kind == "ReadinessGateChanged":
        return {
            "gate": f"gate-{n}",
            "status": "blocked",
            "previous_status": "open",
            "artifact_id": f"mapping-{n}",
            "score": 0.42,
            "threshold": 0.8,
        }
    if kind == "PromptPackCalibrationStatus":
        return {"prompt_pack_id": f"pack-{n}", "status": "running", "progress": n % 100}
    raise ValueError(kind)


@dataclass
class Events:
    """Publishes domain events on a region's bus as a producer does (EventPublisher: the detail
    gets event_id, schema_version, region and time; an `event_id` given is kept)."""

    endpoint_url: str
    _publishers: dict[str, EventPublisher] = field(default_factory=dict)

    def publisher(self, region: str) -> EventPublisher:
        if region not in self._publishers:
            self._publishers[region] = EventPublisher(
                MANIFEST.bus.local_bus_name(),
                aws_client("events", endpoint_url=self.endpoint_url, region=region),
                region=region,
            )
        return self._publishers[region]

    def publish(
        self,
        tenant: str,
        channel: str,
        *,
        region: str = HOME,
        event_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """One event of `channel`'s kind for `tenant`; the detail as sent (its `event_id`)."""
        kind = KIND_OF[channel]
        detail: dict[str, Any] = {"tenant": tenant, **sample_detail(kind, next(_counter)), **fields}
        if event_id is not None:
            detail["event_id"] = event_id
        return self.publisher(region).publish(SOURCE_OF[kind], kind, detail)


# -- the replay log and the connection registry ------------------------------------------------


def logged_cursor(events_table: Table, tenant: str, channel: str, event_id: str) -> str | None:
    """The cursor the replay log gave `event_id`, None while it is not logged."""
    guard = events_table.get({"pk": log_partition(tenant, channel), "sk": f"{GUARD_PREFIX}{event_id}"})
    return str(guard["cursor"]) if guard else None


def wait_logged(
    events_table: Table, tenant: str, channel: str, event_id: str, *, timeout_s: float = 10.0
) -> str:
    cursor = poll(lambda: logged_cursor(events_table, tenant, channel, event_id), timeout_s=timeout_s)
    if cursor is None:
        raise AssertionError(f"{event_id} of {tenant}/{channel} not in the replay log after {timeout_s} s")
    return cursor


def connection_ids(connections_table: Table, tenant: str, subject: str | None = None) -> list[str]:
    """Ids of the tenant's registered connections (of `subject` only, when given)."""
    page = connections_table.query(("pk", tenant), sort_prefix=("sk", CONNECTION_PREFIX), consistent=True)
    return [
        str(item["connection_id"]) for item in page.items if subject is None or item.get("subject") == subject
    ]


def registry(connections_table: Table) -> ConnectionRegistry:
    return ConnectionRegistry(connections_table, ttl_s=7200)


def poll(read: Callable[[], Any], *, timeout_s: float, every_s: float = 0.05) -> Any:
    """`read()` until it answers something truthy or `timeout_s` passes (then its last answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every_s)


# -- WebSocket ----------------------------------------------------------------------------------


def ws_base(http_base: str) -> str:
    return "ws" + http_base.removeprefix("http")


def ws_path_url(http_base: str, channel: str, tenant: str, ticket: str | None = None) -> str:
    """The specification's path form: /service/gui/ws/<channel>/<tenant> (notifications has its own)."""
    path = (
        f"/service/gui/notifications/{tenant}"
        if channel == "notifications"
        else f"/service/gui/ws/{channel}/{tenant}"
    )
    query = f"?{urlencode({'ticket': ticket})}" if ticket else ""
    return f"{ws_base(http_base)}{path}{query}"


def ws_aws_url(
    http_base: str,
    tenant: str,
    channels: Iterable[str] = (),
    *,
    ticket: str | None = None,
    repeated: bool = False,
    query: Mapping[str, str] | None = None,
) -> str:
    """API Gateway's form: /live?tenant=<tenant>&channel=<a,b>[&ticket=<ticket>]; `repeated`: one
    `channel` parameter per channel (`channel=a&channel=b`)."""
    params: list[tuple[str, str]] = [("tenant", tenant)]
    wanted = list(channels)
    if repeated:
        params += [("channel", channel) for channel in wanted]
    elif wanted:
        params.append(("channel", ",".join(wanted)))
    if ticket:
        params.append(("ticket", ticket))
    params += list((query or {}).items())
    return f"{ws_base(http_base)}/live?{urlencode(params)}"


TICKETS_PATH = "/service/gui/live/tickets"


def ticket_answer(http_base: str, token: str | None, channels: Iterable[str]) -> httpx.Response:
    """POST a stream ticket request (Authorization: Bearer `token`) for `channels`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{http_base}{TICKETS_PATH}", json={"channels": list(channels)}, headers=headers, timeout=30
    )


def ticket(http_base: str, token: str, *channels: str) -> str:
    """A fresh stream ticket of `token`'s caller for `channels`."""
    answer = ticket_answer(http_base, token, channels)
    assert answer.status_code == 201, answer.text
    value: str = answer.json()["ticket"]
    return value


class LiveClient:
    """A WebSocket connection whose reader thread keeps every message the server sends, in order."""

    def __init__(self, ws: ClientConnection, opener: Any = None) -> None:
        self.ws = ws
        self._opener = opener
        self.messages: list[dict[str, Any]] = []
        self.received_at: list[float] = []
        self.closed = threading.Event()
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="live-client", daemon=True)
        self._reader.start()

    @classmethod
    def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        open_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> LiveClient:
        """Open `url`; with `token`, offer it as the second subprotocol (the browser's way);
        `headers` are sent with the handshake (a non-browser client's)."""
        subprotocols = [SUBPROTOCOL, token] if token else None
        opener = connect(
            url,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            additional_headers=dict(headers) if headers else None,
            open_timeout=open_timeout,
            close_timeout=2,
            max_size=2**20,
            legacy=False,  # websockets 17: connect() as a context manager, entered here
        )
        return cls(opener.__enter__(), opener)

    def _read(self) -> None:
        try:
            for raw in self.ws:
                message = json.loads(raw)
                with self._arrived:
                    self.messages.append(message)
                    self.received_at.append(time.monotonic())
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            with self._arrived:
                self._arrived.notify_all()

    def __enter__(self) -> LiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._opener is not None:
            opener, self._opener = self._opener, None
            opener.__exit__(None, None, None)
        else:
            self.ws.close()
        self._reader.join(5)

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    def mark(self) -> int:
        """The number of messages received so far (wait for what comes after it)."""
        with self._arrived:
            return len(self.messages)

    def received(self, after: int = 0) -> list[dict[str, Any]]:
        """The messages received from index `after` on, as they are now."""
        with self._arrived:
            return list(self.messages[after:])

    def wait_until(
        self, done: Callable[[list[dict[str, Any]]], bool], *, after: int = 0, timeout_s: float = 15.0
    ) -> list[dict[str, Any]]:
        """The messages from index `after` on, once `done(messages)` holds; AssertionError after
        the timeout or the close."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                received = list(self.messages[after:])
                if done(received):
                    return received
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(f"not done in {timeout_s} s: {len(received)} after #{after}")
                self._arrived.wait(remaining)

    def send(self, action: str, **fields: Any) -> str:
        request_id = fields.pop("request_id", None) or f"r{next(_counter)}"
        self.ws.send(json.dumps({"action": action, "request_id": request_id, **fields}))
        return request_id

    def wait_for(
        self,
        match: Callable[[dict[str, Any]], bool],
        *,
        after: int = 0,
        timeout_s: float = 15.0,
    ) -> dict[str, Any]:
        """The first message from index `after` on that `match`es; AssertionError after the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for message in self.messages[after:]:
                    if match(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(
                        f"no matching message within {timeout_s} s; received after #{after}: "
                        f"{self.messages[after:]!r}"
                    )
                self._arrived.wait(remaining)

    def request(
        self, action: str, answer_type: str, *, timeout_s: float = 15.0, **fields: Any
    ) -> dict[str, Any]:
        """Send `action`; its answer of `answer_type` (or an error echoing the request id)."""
        start = self.mark()
        request_id = self.send(action, **fields)
        return self.wait_for(
            lambda m: m.get("type") in {answer_type, "error"} and m.get("request_id") in {request_id, None},
            after=start,
            timeout_s=timeout_s,
        )

    def subscribe(self, *channels: str) -> dict[str, Any]:
        answer = self.request("subscribe", "subscribed", channels=list(channels))
        assert answer["type"] == "subscribed", answer
        return answer

    def events(self, channel: str | None = None, *, after: int = 0) -> list[dict[str, Any]]:
        """Live `event` messages received (of `channel`), in arrival order."""
        with self._arrived:
            received = list(self.messages[after:])
        return [
            m for m in received if m.get("type") == "event" and (channel is None or m["channel"] == channel)
        ]

    def wait_event(self, event_id: str, *, after: int = 0, timeout_s: float = 15.0) -> dict[str, Any]:
        return self.wait_for(
            lambda m: m.get("type") == "event" and m.get("event_id") == event_id,
            after=after,
            timeout_s=timeout_s,
        )

    def arrival_of(self, message: dict[str, Any]) -> float:
        with self._arrived:
            index = next(i for i, m in enumerate(self.messages) if m is message)
            return self.received_at[index]

    def resume(self, channel: str, cursor: str, *, timeout_s: float = 10.0) -> Resumed:
        """`resume` from `cursor`, following `more` pages, as the GUI does; the replayed events (or
        the gap) and every frame the server answered."""
        frames: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        current = cursor
        while True:
            start = self.mark()
            request_id = self.send("resume", channel=channel, cursor=current)
            while True:
                frame = self.wait_for(
                    lambda m, rid=request_id: (
                        (m.get("type") in {"replay", "gap"} and m.get("channel") == channel)
                        or (m.get("type") == "error" and m.get("request_id") in {rid, None})
                    ),
                    after=start,
                    timeout_s=timeout_s,
                )
                start = self._index_of(frame) + 1
                frames.append(frame)
                if frame["type"] != "replay":
                    return Resumed(events, frames, gap=frame if frame["type"] == "gap" else None)
                events += frame["events"]
                if frame.get("more") is False:
                    return Resumed(events, frames, gap=None)
                if "cursor" in frame and frame.get("more"):
                    current = frame["cursor"]
                    break  # resume again from the page's last cursor

    def _index_of(self, message: dict[str, Any]) -> int:
        with self._arrived:
            return next(i for i, m in enumerate(self.messages) if m is message)


@dataclass
class Resumed:
    events: list[dict[str, Any]]
    frames: list[dict[str, Any]]
    gap: dict[str, Any] | None


def refused_status(url: str, token: str | None = None, *, headers: Mapping[str, str] | None = None) -> int:
    """The status a refused handshake answered; AssertionError when the connection opens."""
    try:
        client = LiveClient.connect(url, token, headers=headers)
    except InvalidStatus as exc:
        return exc.response.status_code
    client.close()
    raise AssertionError(f"{url} accepted the connection")


# -- SSE ----------------------------------------------------------------------------------------


@dataclass
class SseFrame:
    event: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseResponse:
    status: int
    headers: httpx.Headers
    frames: list[SseFrame]
    body: bytes = b""
    elapsed_s: float = 0.0

    def of(self, event: str) -> list[SseFrame]:
        return [f for f in self.frames if f.event == event]

    @property
    def retry(self) -> int | None:
        return next((f.retry for f in self.frames if f.retry is not None), None)


def parse_sse(lines: Iterable[str]) -> Iterable[SseFrame]:
    """Frames of an event stream (WHATWG): `field: value` lines, a blank line ends a frame; a frame
    of `retry:` only is kept (with event "retry") so the reader can see the retry interval."""
    frame = SseFrame()
    data: list[str] = []
    seen = False
    for line in itertools.chain(lines, [""]):
        if line == "":
            if seen:
                frame.data = "\n".join(data)
                if not data and frame.retry is not None and frame.id is None and frame.event == "message":
                    frame.event = "retry"
                yield frame
            frame, data, seen = SseFrame(), [], False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        seen = True
        if name == "data":
            data.append(value)
        elif name == "event":
            frame.event = value
        elif name == "id":
            frame.id = value
        elif name == "retry" and value.isdigit():
            frame.retry = int(value)


def read_sse(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    until: Callable[[list[SseFrame]], bool] | None = None,
    timeout_s: float = 30.0,
) -> SseResponse:
    """GET an event stream; read frames until `until(frames)` holds or the response ends."""
    started = time.monotonic()
    wanted = {"Accept": "text/event-stream", **(headers or {})}
    with (
        httpx.Client(timeout=httpx.Timeout(timeout_s)) as client,
        client.stream("GET", url, headers=wanted) as answer,
    ):
        if answer.status_code != 200 or "text/event-stream" not in answer.headers.get("content-type", ""):
            body = answer.read()
            return SseResponse(answer.status_code, answer.headers, [], body, time.monotonic() - started)
        frames: list[SseFrame] = []
        for frame in parse_sse(answer.iter_lines()):
            frames.append(frame)
            if until is not None and until(frames):
                break
        return SseResponse(answer.status_code, answer.headers, frames, b"", time.monotonic() - started)


def sse_url(
    http_base: str,
    channel: str,
    tenant: str,
    *,
    ticket: str | None = None,
    since: str | None = None,
    token: str | None = None,
) -> str:
    """The SSE route's URL: with a single-use `ticket` (what EventSource uses), a cursor to resume
    after; `token` puts a JWT in the URL, which the API refuses (tests of that refusal only)."""
    params = {k: v for k, v in (("ticket", ticket), ("since", since), ("token", token)) if v is not None}
    query = f"?{urlencode(params)}" if params else ""
    return f"{http_base}/service/gui/stream/{channel}/{tenant}{query}"


def in_thread(work: Callable[[], Any]) -> queue.Queue[Any]:
    """Run `work` on a thread; the queue gets its answer (or exception)."""
    out: queue.Queue[Any] = queue.Queue()

    def run() -> None:
        try:
            out.put(work())
        except BaseException as exc:
            out.put(exc)

    threading.Thread(target=run, daemon=True).start()
    return out


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
