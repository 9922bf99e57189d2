"""The local WebSocket API and its management API, over loopback with real clients: the
`websockets` client for connections, boto3's `apigatewaymanagementapi` for `@connections`.

The backend here runs the real authorizer and a stand-in `gui_realtime` (records its events,
answers each message through `post_to_connection`), so the gateway's semantics are tested apart
from the function's; the last test runs the real `gui_realtime`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gui_core.context import request_context
from gui_core.dynamo import Table
from gui_core.stream_tickets import StreamTickets
from local.apigw import EVENTS_DIR, WebSocketRequest, sample_event
from local.aws import aws_client
from local.demo import TENANTS, mint_for
from local.keys import DevKeys
from local.runtime import LocalBackend
from local.websocket import Connection, WebSocketGateway, new_connection_id
from stacks.manifest import MANIFEST

from .support import fresh_subject

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
TENANT = "acme"


class RealtimeStandIn:
    """Records every event; refuses `$connect` for another tenant than the token's; answers each
    message with one frame through the management API (as gui_realtime does)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.connections_url = ""
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.events.append(event)
        request = event["requestContext"]
        route = request["routeKey"]
        if route == "$connect":
            query = event.get("queryStringParameters") or {}
            if query.get("tenant") != request["authorizer"]["tenant"]:
                return {"statusCode": 403, "body": json.dumps({"code": "forbidden"})}
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
            offered = headers.get("sec-websocket-protocol", "")
            return {
                "statusCode": 200,
                "headers": {"Sec-WebSocket-Protocol": "ddgui.v1"} if offered.startswith("ddgui.v1") else {},
            }
        if route == "$disconnect":
            return {"statusCode": 200}
        body = json.loads(event["body"]) if not event.get("isBase64Encoded") else {}
        if body.get("action") == "crash":
            raise RuntimeError("the stand-in crashed")
        answer = {"type": "answer", "route": route, "request_id": body.get("request_id")}
        management(self.connections_url).post_to_connection(
            ConnectionId=request["connectionId"], Data=json.dumps(answer).encode()
        )
        return {"statusCode": 200}

    def of(self, connection_id: str, route: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.events
                if e["requestContext"]["connectionId"] == connection_id
                and e["requestContext"]["routeKey"] == route
            ]


def management(url: str) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",  # the operator's dummy key (local/iam.py)
        aws_secret_access_key="testing",
    )


class StreamStandIn:
    """The SSE route's function: records its events; holds the request when asked (`?hold=<s>`)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        time.sleep(float((event.get("queryStringParameters") or {}).get("hold", "0")))
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "text/event-stream"},
            "body": "retry: 1000\n\n",
        }


@pytest.fixture(scope="module")
def realtime() -> RealtimeStandIn:
    return RealtimeStandIn()


@pytest.fixture(scope="module")
def stream() -> StreamStandIn:
    return StreamStandIn()


@pytest.fixture(scope="module")
def backend(
    moto_endpoint: str, keys_dir: Path, realtime: RealtimeStandIn, stream: StreamStandIn
) -> Iterator[LocalBackend]:
    with LocalBackend(
        regions=(REGION,),
        port=0,
        aws_endpoint_url=moto_endpoint,
        keys_dir=keys_dir,
        seed=False,
        manifest=MANIFEST.only("gui_realtime", "gui_stream"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        pool_cap=3,
        handlers={"gui_realtime": realtime, "gui_stream": stream},
    ) as started:
        realtime.connections_url = started.connections_url(REGION)
        yield started


@pytest.fixture(scope="module")
def keys(backend: LocalBackend) -> DevKeys:
    assert backend.keys is not None
    return backend.keys


def token(keys: DevKeys, tenant: str = TENANT) -> str:
    return keys.mint(tenant=tenant, subject=fresh_subject(tenant), roles=("viewer",))


def ws_url(backend: LocalBackend, query: str = "", path: str | None = None) -> str:
    base = backend.base_urls[REGION].replace("http://", "ws://")
    return f"{base}{path or '/live'}{'?' + query if query else ''}"


def _offer(jwt: str) -> dict[str, Any]:
    """The browser's way to present a token on a WebSocket: the second subprotocol."""
    return {"subprotocols": ["ddgui.v1", jwt]}


async def _refused(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **kwargs):
            pass
    return refused.value.response.status_code


async def _ask(ws: Any, request_id: str, action: str = "ping") -> dict[str, Any]:
    await ws.send(json.dumps({"action": action, "request_id": request_id}))
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


def _connection_id(realtime: RealtimeStandIn, subject_token: str) -> str:
    """The connection id of the `$connect` that presented `subject_token`."""
    for event in reversed(realtime.events):
        query = event.get("queryStringParameters") or {}
        protocols = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get(
            "sec-websocket-protocol", ""
        )
        if event["requestContext"]["routeKey"] == "$connect" and (
            query.get("ticket") == subject_token or subject_token in protocols
        ):
            return str(event["requestContext"]["connectionId"])
    raise AssertionError("no $connect with that token")


# -- handshake -----------------------------------------------------------------------------------


def test_handshake_without_token_is_refused_with_401_before_the_authorizer(
    backend: LocalBackend, realtime: RealtimeStandIn
) -> None:
    before = len(realtime.events)
    assert asyncio.run(_refused(ws_url(backend, f"tenant={TENANT}&channel=jobs"))) == 401
    assert asyncio.run(_refused(ws_url(backend, f"tenant={TENANT}"), subprotocols=["ddgui.v1"])) == 401
    assert len(realtime.events) == before  # $connect never ran


def test_handshake_with_a_bad_token_is_refused_by_the_authorizer(backend: LocalBackend) -> None:
    assert asyncio.run(_refused(ws_url(backend, f"tenant={TENANT}"), **_offer("not-a-jwt"))) == 401
    other = DevKeys.ephemeral().mint(tenant=TENANT, subject="x@acme", roles=("viewer",))
    assert asyncio.run(_refused(ws_url(backend, f"tenant={TENANT}"), **_offer(other))) == 401
    assert asyncio.run(_refused(ws_url(backend, f"tenant={TENANT}&ticket=invented"))) == 401


def test_a_token_in_the_query_is_no_credential(backend: LocalBackend, keys: DevKeys) -> None:
    assert asyncio.run(_refused(ws_url(backend, f"tenant={TENANT}&token={token(keys)}"))) == 401


def test_connect_status_other_than_2xx_refuses_the_handshake(backend: LocalBackend, keys: DevKeys) -> None:
    assert asyncio.run(_refused(ws_url(backend, "tenant=globex"), **_offer(token(keys)))) == 403


def test_a_connect_and_a_frame_answered_through_post_to_connection(
    backend: LocalBackend, keys: DevKeys, realtime: RealtimeStandIn
) -> None:
    jwt = token(keys)

    async def run() -> dict[str, Any]:
        async with connect(
            ws_url(backend, f"tenant={TENANT}&channel=jobs,notifications"), **_offer(jwt)
        ) as ws:
            return await _ask(ws, "r-1", "subscribe")

    assert asyncio.run(run()) == {"type": "answer", "route": "subscribe", "request_id": "r-1"}
    connection_id = _connection_id(realtime, jwt)
    assert len(connection_id) == 16
    assert connection_id.endswith("=")
    [connect_event] = realtime.of(connection_id, "$connect")
    context = connect_event["requestContext"]
    assert context["eventType"] == "CONNECT"
    assert context["stage"] == "live"
    assert connect_event["queryStringParameters"]["channel"] == "jobs,notifications"
    assert context["authorizer"]["tenant"] == TENANT
    assert context["authorizer"]["principalId"]
    [message] = realtime.of(connection_id, "subscribe")
    assert message["requestContext"]["eventType"] == "MESSAGE"
    assert message["requestContext"]["authorizer"]["tenant"] == TENANT
    assert json.loads(message["body"])["request_id"] == "r-1"
    deadline = time.monotonic() + 5
    while not realtime.of(connection_id, "$disconnect") and time.monotonic() < deadline:
        time.sleep(0.05)
    [gone] = realtime.of(connection_id, "$disconnect")
    assert gone["requestContext"]["eventType"] == "DISCONNECT"
    assert gone["requestContext"]["disconnectStatusCode"] == 1000
    for event, sample in ((connect_event, "connect"), (message, "message"), (gone, "disconnect")):
        if (EVENTS_DIR / f"websocket_{sample}.json").exists():  # the shape API Gateway sends
            stored = sample_event(f"websocket_{sample}")
            assert set(event) == set(stored), sample
            assert set(event["requestContext"]) == set(stored["requestContext"]), sample


def test_token_as_the_second_subprotocol_connects_and_the_server_selects_ddgui_v1(
    backend: LocalBackend, keys: DevKeys
) -> None:
    async def run() -> tuple[str | None, dict[str, Any]]:
        async with connect(ws_url(backend, f"tenant={TENANT}"), subprotocols=["ddgui.v1", token(keys)]) as ws:  # type: ignore[list-item]
            return ws.subprotocol, await _ask(ws, "r-2")

    subprotocol, answer = asyncio.run(run())
    assert subprotocol == "ddgui.v1"
    assert answer == {"type": "answer", "route": "ping", "request_id": "r-2"}


def test_specification_paths_carry_tenant_and_channel_as_query_parameters(
    backend: LocalBackend, keys: DevKeys, realtime: RealtimeStandIn
) -> None:
    jobs, notes = token(keys), token(keys)

    async def run() -> None:
        async with connect(ws_url(backend, "", f"/service/gui/ws/jobs/{TENANT}"), **_offer(jobs)) as ws:
            await _ask(ws, "r-3")
        async with connect(
            ws_url(backend, "", f"/service/gui/notifications/{TENANT}"), **_offer(notes)
        ) as ws:
            await _ask(ws, "r-4")

    asyncio.run(run())
    [first] = realtime.of(_connection_id(realtime, jobs), "$connect")
    [second] = realtime.of(_connection_id(realtime, notes), "$connect")
    assert first["queryStringParameters"]["tenant"] == TENANT
    assert first["queryStringParameters"]["channel"] == "jobs"
    assert second["queryStringParameters"]["channel"] == "notifications"


def test_rest_route_at_the_notifications_path_is_still_http(backend: LocalBackend) -> None:
    answer = httpx.get(f"{backend.base_urls[REGION]}/service/gui/notifications/{TENANT}", timeout=10)
    # The REST gateway's answer, not a WebSocket refusal: this backend deploys no notifications
    # group, so no REST route matches (with it, the route would be a 401 without a token).
    assert answer.status_code == 404
    assert answer.json()["code"] == "route_not_found"


# -- messages ------------------------------------------------------------------------------------


def test_unknown_action_goes_to_default_and_a_crash_answers_internal_server_error(
    backend: LocalBackend, keys: DevKeys
) -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(ws_url(backend, f"tenant={TENANT}"), **_offer(token(keys))) as ws:
            unknown = await _ask(ws, "r-5", "dance")
            crashed = await _ask(ws, "r-6", "crash")
            return unknown, crashed

    unknown, crashed = asyncio.run(run())
    assert unknown["route"] == "$default"
    assert crashed["message"] == "Internal server error"
    assert crashed["connectionId"]


def test_a_body_the_route_selection_cannot_read_goes_to_default_and_its_failure_is_answered(
    backend: LocalBackend, keys: DevKeys, realtime: RealtimeStandIn
) -> None:
    """JSON nested deeper than the parser goes: no `action` to select, so `$default`; the stand-in
    fails on it as any function may, and the client gets API Gateway's message, not silence."""
    jwt = token(keys)

    async def run() -> dict[str, Any]:
        async with connect(ws_url(backend, f"tenant={TENANT}"), **_offer(jwt)) as ws:
            await ws.send("[" * 5000 + "]" * 5000)
            answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return answer

    answer = asyncio.run(run())
    assert answer["message"] == "Internal server error"
    assert realtime.of(_connection_id(realtime, jwt), "$default")


def test_frame_over_32_kb_closes_the_connection_with_1009(backend: LocalBackend, keys: DevKeys) -> None:
    async def run() -> int | None:
        async with connect(ws_url(backend, f"tenant={TENANT}"), **_offer(token(keys))) as ws:
            await ws.send("x" * (32 * 1024 + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(run()) == 1009


def _fragments(action: str, request_id: str, total: int, frame: int) -> list[str]:
    """A JSON message of `total` bytes cut into frames of `frame` bytes (the last one shorter)."""
    head = f'{{"action":"{action}","request_id":"{request_id}","pad":"'
    text = head + "x" * (total - len(head) - 2) + '"}'
    assert len(text) == total
    return [text[i : i + frame] for i in range(0, total, frame)]


@pytest.mark.parametrize(
    ("total", "frame"),
    [(100 * 1024, 25 * 1024), (128 * 1024, 32 * 1024), (32 * 1024, 32 * 1024)],
    ids=["100 KB in frames of 25 KB", "128 KB in frames of 32 KB", "32 KB in one frame"],
)
def test_a_message_up_to_128_kb_in_frames_up_to_32_kb_is_delivered(
    backend: LocalBackend, keys: DevKeys, total: int, frame: int
) -> None:
    """API Gateway's quotas: 32 KB per frame, 128 KB per message, so a bigger message comes as
    several frames (a fragmented message)."""

    async def run() -> dict[str, Any]:
        async with connect(ws_url(backend, f"tenant={TENANT}"), **_offer(token(keys))) as ws:
            parts = _fragments("ping", "big", total, frame)
            await ws.send(parts if len(parts) > 1 else parts[0])
            answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return answer

    assert asyncio.run(run()) == {"type": "answer", "route": "ping", "request_id": "big"}


@pytest.mark.parametrize(
    ("total", "frame"),
    [(128 * 1024 + 1, 32 * 1024), (40 * 1024, 40 * 1024), (64 * 1024, 32 * 1024 + 1)],
    ids=["128 KB and a byte in frames of 32 KB", "40 KB in one frame", "frames of 32 KB and a byte"],
)
def test_a_message_over_128_kb_or_a_frame_over_32_kb_closes_the_connection_with_1009(
    backend: LocalBackend, keys: DevKeys, total: int, frame: int
) -> None:
    async def run() -> int | None:
        async with connect(ws_url(backend, f"tenant={TENANT}"), **_offer(token(keys))) as ws:
            parts = _fragments("ping", "too-big", total, frame)
            await ws.send(parts if len(parts) > 1 else parts[0])
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(run()) == 1009


def test_idle_connection_is_closed_going_away(backend: LocalBackend, keys: DevKeys) -> None:
    api = backend.gateways[REGION].websocket
    saved = api.idle_limit_s
    api.idle_limit_s = 0.5
    try:

        async def run() -> int | None:
            async with connect(ws_url(backend, f"tenant={TENANT}"), **_offer(token(keys))) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                return closed.value.rcvd.code if closed.value.rcvd else None

        assert asyncio.run(run()) == 1001
    finally:
        api.idle_limit_s = saved


# -- management API ------------------------------------------------------------------------------


def test_management_api_posts_describes_and_deletes_with_a_real_boto3_client(
    backend: LocalBackend, keys: DevKeys, realtime: RealtimeStandIn
) -> None:
    client = management(backend.connections_url(REGION))
    jwt = token(keys)

    async def run() -> None:
        async with connect(
            ws_url(backend, f"tenant={TENANT}"), user_agent_header="it-agent/1", **_offer(jwt)
        ) as ws:
            await _ask(ws, "r-7")
            connection_id = _connection_id(realtime, jwt)
            described = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            assert described["Identity"]["SourceIp"] == "127.0.0.1"
            assert described["Identity"]["UserAgent"] == "it-agent/1"
            assert described["ConnectedAt"] <= described["LastActiveAt"]
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId=connection_id, Data=b'{"hello":1}'
            )
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"hello": 1}
            await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            for call in (client.post_to_connection, client.get_connection, client.delete_connection):
                kwargs: dict[str, Any] = {"ConnectionId": connection_id}
                if call == client.post_to_connection:
                    kwargs["Data"] = b"late"
                with pytest.raises(client.exceptions.GoneException):
                    await asyncio.to_thread(call, **kwargs)

    asyncio.run(run())


def test_unknown_connection_is_gone(backend: LocalBackend) -> None:
    client = management(backend.connections_url(REGION))
    with pytest.raises(client.exceptions.GoneException) as gone:
        client.post_to_connection(ConnectionId=new_connection_id(), Data=b"x")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_unsigned_management_call_is_refused(backend: LocalBackend) -> None:
    answer = httpx.post(f"{backend.connections_url(REGION)}/@connections/{new_connection_id()}", content=b"x")
    assert answer.status_code == 403


def test_a_client_that_does_not_read_is_closed_and_the_post_is_gone() -> None:
    """The send queue is bounded: a stuck client never blocks the caller; when its queue is full it
    is closed (it reconnects and resumes) and the post answers 410."""

    class StuckSocket:
        def __init__(self) -> None:
            self.closed_with: tuple[int, str] | None = None

        async def send_text(self, text: str) -> None:
            await asyncio.Event().wait()  # never returns: the client does not read

        async def close(self, code: int, reason: str) -> None:
            self.closed_with = (code, reason)

    async def run() -> tuple[list[bool], StuckSocket, bool]:
        api = MANIFEST.websocket
        assert api is not None
        gateway = WebSocketGateway(
            api=api,
            route_functions={},
            functions={},
            authorize=None,
            call=None,
            send_queue_frames=2,  # type: ignore[arg-type]
        )
        socket = StuckSocket()
        request = WebSocketRequest("c1", 0, "live", "h", "127.0.0.1", None)
        connection = Connection("c1", socket, request, {}, 0.0, 0.0, asyncio.Queue(2))  # type: ignore[arg-type]
        gateway.connections["c1"] = connection
        connection.sender = asyncio.create_task(gateway._send_loop(connection))
        await asyncio.sleep(0)
        posted = [gateway.post("c1", b"frame") for _ in range(4)]  # 2 queued, then full: closed
        await asyncio.sleep(0.05)
        return posted, socket, "c1" in gateway.connections

    posted, socket, still_there = asyncio.run(run())
    assert posted == [True, True, False, False]
    assert socket.closed_with is not None
    assert socket.closed_with[0] == 1013
    assert not still_there


# -- REST: the route that takes a ticket; Lambda-like concurrency -----------------------------------


def test_a_ticket_route_has_an_authorizer_without_identity_source_or_cache(
    backend: LocalBackend, keys: DevKeys, stream: StreamStandIn
) -> None:
    """API Gateway invokes it on every request (the header or a ticket, or nothing); nothing is
    cached, so a ticket serves once. The ticket is one the SSE function would have issued."""
    url = f"{backend.base_urls[REGION]}/service/gui/stream/jobs/{TENANT}"
    jwt = token(keys)
    before = len(stream.events)
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, params={"token": jwt}, timeout=10).status_code == 401  # not a credential
    assert httpx.get(url, params={"ticket": "garbled"}, timeout=10).status_code == 401
    assert len(stream.events) == before
    answer = httpx.get(
        url, headers={"Authorization": f"Bearer {jwt}"}, params={"since": "0" * 40}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    event = stream.events[-1]
    assert event["queryStringParameters"] == {"since": "0" * 40}
    assert event["requestContext"]["authorizer"]["tenant"] == TENANT
    assert event["pathParameters"] == {"channel": "jobs", "tenant": TENANT}
    limits = Table(
        MANIFEST.store("limits").local_table_name(),
        aws_client("dynamodb", endpoint_url=backend.aws_endpoint_url, region=REGION),
    )
    caller = request_context(
        {"tenant": TENANT, "subject": "sse@acme", "scopes": "gui:jobs", "expires_at": int(time.time()) + 600},
        request_id="r",
        trace_id=None,
    )
    assert caller is not None
    issued = StreamTickets(limits).issue(caller, ["jobs"])
    assert httpx.get(url, params={"ticket": issued.ticket}, timeout=10).status_code == 200
    assert stream.events[-1]["requestContext"]["authorizer"]["scopes"] == "gui:jobs"
    assert httpx.get(url, params={"ticket": issued.ticket}, timeout=10).status_code == 401  # spent


def test_a_held_request_does_not_hold_up_the_next_one_to_the_same_function(
    backend: LocalBackend, keys: DevKeys
) -> None:
    url = f"{backend.base_urls[REGION]}/service/gui/stream/jobs/{TENANT}"
    jwt = token(keys)

    async def run() -> tuple[float, float]:
        async with httpx.AsyncClient(timeout=20) as http:
            started = time.monotonic()

            async def timed(hold: str) -> float:
                answer = await http.get(
                    url, params={"hold": hold}, headers={"Authorization": f"Bearer {jwt}"}
                )
                assert answer.status_code == 200
                return time.monotonic() - started

            held = asyncio.create_task(timed("2"))
            await asyncio.sleep(0.2)
            quick = await timed("0")
            return quick, await held

    quick, held = asyncio.run(run())
    assert quick < 1.5 <= held
    assert backend.pool(REGION, "gui_stream").size >= 2


def test_a_pool_never_runs_more_containers_than_its_cap(backend: LocalBackend) -> None:
    pool = backend.pool(REGION, "gui_stream")
    event = {"queryStringParameters": {"hold": "0.3"}}
    futures = [pool.submit(event) for _ in range(8)]
    assert all(f.result(10)["statusCode"] == 200 for f in futures)
    assert pool.size <= pool.cap == 3


def test_dev_token_endpoint_mints_a_token_the_gateway_accepts(backend: LocalBackend) -> None:
    base = backend.base_urls[REGION]
    assert httpx.get(f"{base}/dev/token", timeout=10).status_code == 400
    answer = httpx.get(
        f"{base}/dev/token", params={"tenant": TENANT, "subject": "dev@acme", "roles": "operator"}
    )
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    jwt = answer.json()["token"]
    stream_url = f"{base}/service/gui/stream/jobs/{TENANT}"
    assert httpx.get(stream_url, headers={"Authorization": f"Bearer {jwt}"}, timeout=10).status_code == 200


# -- the real function ---------------------------------------------------------------------------


def test_the_real_realtime_function_answers_ping_over_a_local_connection(
    moto_endpoint: str, keys_dir: Path
) -> None:
    tenant = next(t for t in TENANTS if t.home_region == REGION)
    user = next(u for u in tenant.users if "gui:jobs" in u.scopes or u.roles)
    with LocalBackend(
        regions=(REGION,),
        port=0,
        aws_endpoint_url=moto_endpoint,
        keys_dir=keys_dir,
        manifest=MANIFEST.only("gui_realtime", "gui_preferences"),  # the seed goes through preferences
        ttl_sweep_s=None,
        bus_poll_s=None,
    ) as real:
        assert real.keys is not None
        jwt = mint_for(real.keys, tenant, user)

        async def run() -> dict[str, Any]:
            url = real.websocket_url(REGION, tenant=tenant.tenant, channel="jobs")
            async with connect(url, subprotocols=["ddgui.v1", jwt]) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "ddgui.v1"
                await ws.send(json.dumps({"action": "ping", "request_id": "real-1"}))
                answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
                return answer

        try:
            answer = asyncio.run(run())
        except InvalidStatus as refused:
            raise AssertionError(f"$connect refused: {refused.response.status_code}") from refused
        assert answer["type"] == "pong"
        assert answer.get("request_id") == "real-1"
