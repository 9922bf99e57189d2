"""The pusher: posts messages to WebSocket connections through API Gateway's management API.

Used by the fan-out (an event to a channel's subscribers) and the WebSocket function (answers,
replay frames). Logic receives a management client (or a fake with
`post_to_connection`/`delete_connection`). A frame is at most API Gateway's frame quota: `fit` cuts
a message to it, `replay_frames` cuts a replay page into frames.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gui_core.replay_log import encode

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from gui_core.replay_log import ReplayPage

FRAME_LIMIT_BYTES = 32 * 1024  # API Gateway WebSocket frame quota


class ManagementClient(Protocol):
    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any: ...  # noqa: N803
    def delete_connection(self, *, ConnectionId: str) -> Any: ...  # noqa: N803


def connections_client(url: str, region: str, *, concurrency: int = 16) -> ManagementClient:
    """The management API of the WebSocket API (`@connections`): one signed HTTP path with at most
    `concurrency` pooled keep-alive connections (`gui_core.signed_post`), short timeouts, one retry,
    so a slow connection costs one worker a moment and nobody else anything. It answers and fails as
    `boto3_connections_client` does at a fraction of its CPU per post (docs/performance.md).
    `GUI_PUSH_CLIENT=boto3` in the function's environment gives boto3's client instead (a way back
    without a release; bench/notification_stream.py's baseline)."""
    if os.environ.get("GUI_PUSH_CLIENT") == "boto3":
        client: ManagementClient = boto3_connections_client(url, region)
        return client
    from gui_core.signed_post import SignedConnections

    return SignedConnections(url, region, concurrency=concurrency)


def boto3_connections_client(url: str, region: str) -> BaseClient:
    """boto3's `apigatewaymanagementapi` client with the same timeouts and retries: what
    `connections_client` returned before `gui_core.signed_post` (the benches' baseline)."""
    import boto3
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
    per worker rather than one per connection (a future per connection capped the fan-out's rate:
    docs/performance.md)."""

    def __init__(self, client: ManagementClient, *, concurrency: int = 16) -> None:
        self._client = client
        self._concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="push")

    def push(self, connection_ids: Sequence[str], message: bytes) -> PushReport:
        """Post `message` to every connection of `connection_ids`."""
        return self.push_each([(connection_id, message) for connection_id in connection_ids])

    def push_each(self, messages: Sequence[tuple[str, bytes]]) -> PushReport:
        """Post each connection its own message (a GraphQL subscription's frame names its id)."""
        report = PushReport()
        if not messages:
            return report
        pending = deque(messages)

        def work() -> list[tuple[str, str | None]]:
            done: list[tuple[str, str | None]] = []
            while True:
                try:
                    connection_id, message = pending.popleft()  # atomic: each post goes to one worker
                except IndexError:
                    return done
                done.append((connection_id, self._post(connection_id, message)))

        workers = min(self._concurrency, len(messages))
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
