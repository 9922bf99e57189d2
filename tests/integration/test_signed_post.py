"""gui_core.signed_post against the local runtime's real `@connections` API (local/websocket.py on
the gateway's uvicorn server), with real WebSocket clients, beside boto3's `apigatewaymanagementapi`
client: the same frames arrive, the same errors come back.

The backend runs the real authorizer and a stand-in `gui_realtime` that accepts every `$connect`
and records its connection id.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gui_core.pusher import Pusher, boto3_connections_client, connections_client
from gui_core.signed_post import GoneException, SignedConnections
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST

from .support import fresh_subject

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
TENANT = "acme"
OPERATOR_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class AcceptAll:
    """The realtime function's stand-in: accepts every connection (with the offered subprotocol)
    and records its id by the token it presented."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event["requestContext"]
        if request["routeKey"] == "$connect":
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
            offered = headers.get("sec-websocket-protocol", "")
            with self._lock:
                self.ids[offered.split(",")[-1].strip()] = request["connectionId"]
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "ddgui.v1"}}
        return {"statusCode": 200}


@pytest.fixture(scope="module")
def stand_in() -> AcceptAll:
    return AcceptAll()


@pytest.fixture(scope="module")
def backend(moto_endpoint: str, keys_dir: Path, stand_in: AcceptAll) -> Iterator[LocalBackend]:
    with LocalBackend(
        regions=(REGION,),
        port=0,
        aws_endpoint_url=moto_endpoint,
        keys_dir=keys_dir,
        seed=False,
        manifest=MANIFEST.only("gui_realtime"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        handlers={"gui_realtime": stand_in},
    ) as started:
        yield started


@pytest.fixture
def operator_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OPERATOR_KEYS.items():  # the operator's dummy key (local/iam.py)
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _open(backend: LocalBackend, stand_in: AcceptAll) -> tuple[ClientConnection, str]:
    assert backend.keys is not None
    jwt = backend.keys.mint(tenant=TENANT, subject=fresh_subject(TENANT), roles=("viewer",))
    base = backend.base_urls[REGION].replace("http://", "ws://")
    socket = connect(f"{base}/live?tenant={TENANT}", subprotocols=["ddgui.v1", jwt])
    return socket, stand_in.ids[jwt]


def _frames(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(socket.recv(timeout=10)) for _ in range(count)]


@pytest.mark.usefixtures("operator_keys")
def test_posts_reach_a_real_websocket_client_on_one_kept_alive_connection(
    backend: LocalBackend, stand_in: AcceptAll
) -> None:
    client = connections_client(backend.connections_url(REGION), REGION)
    assert isinstance(client, SignedConnections)
    socket, connection_id = _open(backend, stand_in)
    with socket:
        for i in range(20):
            answer = client.post_to_connection(ConnectionId=connection_id, Data=json.dumps({"n": i}).encode())
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert answer["ResponseMetadata"]["RequestId"]
        assert [frame["n"] for frame in _frames(socket, 20)] == list(range(20))
        assert client.opened == 1
        described = client.get_connection(ConnectionId=connection_id)
        assert described["identity"]["sourceIp"] == "127.0.0.1"
        # The pusher, with both clients, to the same connection: every frame arrives.
        for management in (client, boto3_connections_client(backend.connections_url(REGION), REGION)):
            report = Pusher(management, concurrency=4).push_each(
                [(connection_id, json.dumps({"m": i}).encode()) for i in range(12)]
            )
            assert sorted(report.sent) == [connection_id] * 12
            assert sorted(frame["m"] for frame in _frames(socket, 12)) == list(range(12))
        assert client.opened <= 4


@pytest.mark.usefixtures("operator_keys")
def test_the_errors_are_boto3s(backend: LocalBackend, stand_in: AcceptAll) -> None:
    url = backend.connections_url(REGION)
    ours, theirs = connections_client(url, REGION), boto3_connections_client(url, REGION)
    socket, connection_id = _open(backend, stand_in)
    with socket:
        too_large = b"x" * (MANIFEST.websocket.message_limit_bytes + 1) if MANIFEST.websocket else b""
        for target, data in (("AAAAAAAAAAAAAAA=", b"{}"), (connection_id, too_large)):
            codes = []
            for client in (ours, theirs):
                with pytest.raises(Exception) as error:
                    client.post_to_connection(ConnectionId=target, Data=data)
                codes.append(error.value.response["Error"]["Code"])
            assert codes[0] == codes[1]
            assert codes[0] == ("GoneException" if data == b"{}" else "PayloadTooLargeException")
        report = Pusher(ours, concurrency=2).push(["AAAAAAAAAAAAAAA=", connection_id], b'{"ok":1}')
        assert (report.sent, report.gone) == ([connection_id], ["AAAAAAAAAAAAAAA="])
        assert _frames(socket, 1) == [{"ok": 1}]

        ours.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)
        with pytest.raises(GoneException):
            ours.post_to_connection(ConnectionId=connection_id, Data=b"late")
        with pytest.raises(theirs.exceptions.GoneException):
            theirs.post_to_connection(ConnectionId=connection_id, Data=b"late")
