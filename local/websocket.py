"""A regional API Gateway WebSocket API and its management API (`@connections`), played locally on
the REST gateway's server and port.

Handshake, in API Gateway's order: the REQUEST authorizer (the real handler, invoked whatever the
handshake carries, as API Gateway invokes an authorizer without identity source: it finds the
credential, a stream ticket as `?ticket=`, the token as the second `Sec-WebSocket-Protocol` value or
the `Authorization` header, and refuses none or two; its policy evaluated against
`.../<stage>/$connect`; not cached), then the
`$connect` route's function: a 2xx answer accepts the connection (with the subprotocol it names in
`Sec-WebSocket-Protocol`), any other status refuses the handshake with that status and body.
Accepted at the API's form, `/<stage>?tenant=&channel=[&ticket=]`, and at the specification's paths
`/service/gui/ws/{channel}/{tenant}` and `/service/gui/notifications/{tenant}`, whose path
parameters reach the function as the query parameters `tenant` and `channel` (as the API's form
sends them).

Then each message is one event, its route chosen by the route selection expression
(`$request.body.action`: a route key of the manifest, else `$default`), invoked concurrently with
every other (as API Gateway does, even for one connection). API Gateway's quotas, the manifest's:
a frame over 32 KB, or a message over 128 KB (up to four frames of 32 KB), closes the connection
with 1009. ASGI gives the app whole messages, so the server's protocol (`FrameSizedProtocol`,
which the runtime gives uvicorn) tells the largest frame of each. A function's failure sends the
client API Gateway's `Internal server error` message. A close, from either side, invokes
`$disconnect`. Connections idle for `idle_limit_s` or open for `connection_limit_s` are closed
(1001, "Going away").

Management API at `/<stage>/@connections/{id}`: POST sends the body as one frame (through a bounded
queue per connection: a client that does not read never blocks the caller; when its queue is full
the connection is closed, so it reconnects and resumes, and the caller gets 410), GET describes the
connection, DELETE closes it; an unknown or closed connection is 410 `GoneException`, which boto3's
`apigatewaymanagementapi` client raises. Callers must sign (SigV4) as IAM demands; the signature
itself is not checked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.routing import Route as HttpRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from local.apigw import WebSocketRequest, websocket_event

if TYPE_CHECKING:
    from websockets.frames import Frame

    from local.pool import Invoker
    from stacks.manifest import WebSocketApi

logger = logging.getLogger("local.websocket")

SEND_QUEUE_FRAMES = 256  # frames a connection may have waiting before it counts as stuck
GOING_AWAY = 1001
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
API_PATHS = ("/service/gui/ws/{channel}/{tenant}", "/service/gui/notifications/{tenant}")
SUBPROTOCOL_HEADER = "sec-websocket-protocol"
# The largest frame of a message, in its `websocket.receive` event (FrameSizedProtocol).
FRAME_BYTES_KEY = "ddgui.frame_bytes"


class Refused(Exception):
    """The handshake is answered with `status` and `body` (JSON) instead of accepted."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


# (request, token, request id) -> the authorizer's answer, or raises Refused
Authorize = Callable[[WebSocketRequest, str, str], Awaitable[dict[str, Any]]]
Call = Callable[["Invoker", dict[str, Any]], Awaitable[Any]]


def new_connection_id() -> str:
    """An id like API Gateway's: 16 characters of URL-safe base64 ending with `=`."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Connection:
    id: str
    websocket: WebSocket
    request: WebSocketRequest
    authorizer: dict[str, Any]
    connected_at: float
    last_active: float
    queue: asyncio.Queue[str | bytes]
    closed: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    sender: asyncio.Task[None] | None = None

    def describe(self) -> dict[str, Any]:
        """GetConnection's answer, as the API sends it (boto3 shows ConnectedAt, Identity, ...)."""
        return {
            "connectedAt": _iso(self.connected_at),
            "lastActiveAt": _iso(self.last_active),
            "identity": {"sourceIp": self.request.source_ip, "userAgent": self.request.user_agent or ""},
        }


class WebSocketGateway:
    """The WebSocket API of one region (`routes()` for the gateway's app) and its connections."""

    def __init__(
        self,
        *,
        api: WebSocketApi,
        route_functions: Mapping[str, str],
        functions: Mapping[str, Invoker],
        authorize: Authorize,
        call: Call,
        idle_limit_s: float | None = None,
        connection_limit_s: float | None = None,
        send_queue_frames: int = SEND_QUEUE_FRAMES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.stage = api.stage
        self._routes = dict(route_functions)  # route key -> function name
        missing = set(self._routes.values()) - functions.keys()
        if missing:
            raise ValueError(f"no container for the WebSocket function(s) {sorted(missing)}")
        self._functions = dict(functions)
        self._authorize = authorize
        self._call = call
        self.idle_limit_s = api.idle_limit_s if idle_limit_s is None else idle_limit_s
        self.connection_limit_s = api.connection_limit_s if connection_limit_s is None else connection_limit_s
        self.send_queue_frames = send_queue_frames
        self._clock = clock
        self.connections: dict[str, Connection] = {}

    @property
    def enabled(self) -> bool:
        """Whether connections are accepted (the management API is served in any case)."""
        return bool(self._routes)

    def routes(self) -> list[BaseRoute]:
        if not self.enabled:
            return []
        return [
            WebSocketRoute(f"/{self.stage}", self._endpoint),
            *(WebSocketRoute(path, self._endpoint) for path in API_PATHS),
        ]

    async def close_all(self) -> None:
        for connection in list(self.connections.values()):
            await self.close(connection, GOING_AWAY, "Going away")

    # -- handshake -----------------------------------------------------------------------------

    async def _endpoint(self, websocket: WebSocket) -> None:
        request_id = str(uuid.uuid4())
        request = self._request(websocket)
        try:
            # No identity source to check first: the authorizer decides on every handshake.
            answer = await self._authorize(request, _token(request) or "", request_id)
            context = {**(answer.get("context") or {}), "principalId": answer.get("principalId")}
            subprotocol = await self._connect(request, context, request_id)
        except Refused as refused:
            await _deny(websocket, refused)
            return
        await websocket.accept(subprotocol=subprotocol)
        now = self._clock()
        connection = Connection(
            id=request.connection_id,
            websocket=websocket,
            request=request,
            authorizer=context,
            connected_at=now,
            last_active=now,
            queue=asyncio.Queue(self.send_queue_frames),
        )
        self.connections[connection.id] = connection
        connection.sender = asyncio.create_task(self._send_loop(connection))
        watchdog = asyncio.create_task(self._watch(connection))
        code, reason = 1005, ""
        try:
            code, reason = await self._receive_loop(connection)
        finally:
            self.connections.pop(connection.id, None)
            connection.closed = True
            watchdog.cancel()
            if connection.sender is not None:
                connection.sender.cancel()
            await self._disconnect(connection, code, reason)

    def _request(self, websocket: WebSocket) -> WebSocketRequest:
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(websocket.scope.get("query_string", b"").decode("latin-1"), True):
            query.setdefault(name, []).append(value)
        for name in ("channel", "tenant"):  # the specification's paths carry them in the path
            if name in websocket.path_params:
                query[name] = [websocket.path_params[name]]
        if websocket.url.path.startswith("/service/gui/notifications/"):
            query["channel"] = ["notifications"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in websocket.scope["headers"]]
        names = {k.lower() for k, _ in headers}
        client = websocket.client.host if websocket.client else "127.0.0.1"
        if "x-forwarded-for" not in names:
            headers.append(("X-Forwarded-For", client))
        if "x-forwarded-proto" not in names:
            headers.append(("X-Forwarded-Proto", "http"))
        if "x-amzn-trace-id" not in names:
            headers.append(("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"))
        lookup = {k.lower(): v for k, v in headers}
        return WebSocketRequest(
            connection_id=new_connection_id(),
            connected_at_ms=int(self._clock() * 1000),
            stage=self.stage,
            host=lookup.get("host", "127.0.0.1"),
            source_ip=client,
            user_agent=lookup.get("user-agent"),
            headers=tuple(headers),
            query=query,
        )

    async def _connect(
        self, request: WebSocketRequest, context: dict[str, Any], request_id: str
    ) -> str | None:
        """Invoke `$connect`; the subprotocol to select, or raises Refused."""
        function = self._routes.get("$connect")
        if function is None:
            return None  # no $connect route: the connection is accepted as it is
        event = websocket_event(request, route_key="$connect", request_id=request_id, authorizer=context)
        try:
            answer = await self._call(self._functions[function], event)
        except Exception:
            logger.exception("$connect failed")
            raise Refused(500, json.dumps({"message": "Internal server error"}).encode()) from None
        status = answer.get("statusCode", 200) if isinstance(answer, dict) else 200
        if not isinstance(status, int) or not 200 <= status < 300:
            body = answer.get("body") or "" if isinstance(answer, dict) else ""
            raise Refused(
                status if isinstance(status, int) else 502,
                body.encode() if isinstance(body, str) else json.dumps(body).encode(),
                _answer_header(answer, "content-type") or "application/json",
            )
        return _answer_header(answer, SUBPROTOCOL_HEADER)

    # -- messages ------------------------------------------------------------------------------

    async def _receive_loop(self, connection: Connection) -> tuple[int, str]:
        while True:
            try:
                message = await connection.websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return 1006, ""
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1005), str(message.get("reason") or "")
            text, data = message.get("text"), message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            largest_frame = int(message.get(FRAME_BYTES_KEY, size))  # untold: one frame
            if largest_frame > self.api.frame_limit_bytes or size > self.api.message_limit_bytes:
                await self.close(connection, MESSAGE_TOO_BIG, "Message too big")
                continue
            connection.last_active = self._clock()
            if text is not None:
                body, binary = text, False
            else:
                body, binary = base64.b64encode(data or b"").decode(), True
            task = asyncio.create_task(self._message(connection, body, binary, text))
            connection.tasks.add(task)
            task.add_done_callback(connection.tasks.discard)

    def route_key(self, text: str | None) -> str:
        """`$request.body.action`: the message's `action` when it names a route, else `$default`
        (also when the body cannot be read: not JSON, or nested deeper than the parser goes)."""
        if text is not None:
            with contextlib.suppress(ValueError, RecursionError):
                body = json.loads(text)
                action = body.get("action") if isinstance(body, dict) else None
                if isinstance(action, str) and action in self._routes and not action.startswith("$"):
                    return action
        return "$default"

    async def _message(self, connection: Connection, body: str, binary: bool, text: str | None) -> None:
        """One message: its route's function invoked; whatever fails on the way (the function, its
        timeout, the throttle, this gateway itself) answers the client API Gateway's
        `Internal server error` message, never silence."""
        request_id = str(uuid.uuid4())
        route_key, function = "$default", None
        try:
            route_key = self.route_key(text)
            function = self._routes.get(route_key)
            if function is None:  # no route, no $default: API Gateway answers the client itself
                self._offer(connection, _error_frame("Forbidden", connection.id, request_id))
                return
            event = websocket_event(
                connection.request,
                route_key=route_key,
                request_id=request_id,
                authorizer=connection.authorizer,
                body=body,
                binary=binary,
            )
            await self._call(self._functions[function], event)
        except Exception:
            logger.exception("%s failed on route %s", function, route_key)
            self._offer(connection, _error_frame("Internal server error", connection.id, request_id))

    async def _disconnect(self, connection: Connection, code: int, reason: str) -> None:
        function = self._routes.get("$disconnect")
        if function is None:
            return
        event = websocket_event(
            connection.request,
            route_key="$disconnect",
            request_id=str(uuid.uuid4()),
            authorizer=connection.authorizer,
            disconnect=(code, reason),
        )
        try:
            await self._call(self._functions[function], event)
        except Exception:
            logger.exception("$disconnect failed")

    # -- sending and closing -------------------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        """Queue one frame for a connection; False when it is gone (or was stuck and is closed now)."""
        connection = self.connections.get(connection_id)
        if connection is None or connection.closed:
            return False
        try:
            frame: str | bytes = data.decode()
        except UnicodeDecodeError:
            frame = data
        if not self._offer(connection, frame):
            logger.warning("connection %s does not read its frames: closed", connection_id)
            task = asyncio.create_task(self.close(connection, TRY_AGAIN_LATER, "Send queue full"))
            connection.tasks.add(task)
            task.add_done_callback(connection.tasks.discard)
            return False
        return True

    def _offer(self, connection: Connection, frame: str | bytes) -> bool:
        try:
            connection.queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    async def _send_loop(self, connection: Connection) -> None:
        websocket = connection.websocket
        while True:
            frame = await connection.queue.get()
            try:
                if isinstance(frame, str):
                    await websocket.send_text(frame)
                else:
                    await websocket.send_bytes(frame)
            except Exception:  # the client is gone: the receive loop sees it and cleans up
                return

    async def close(self, connection: Connection, code: int, reason: str) -> None:
        if connection.closed:
            return
        connection.closed = True
        self.connections.pop(connection.id, None)
        if connection.sender is not None:
            connection.sender.cancel()
        with contextlib.suppress(Exception):
            await connection.websocket.close(code, reason)

    async def _watch(self, connection: Connection) -> None:
        """Close the connection when it has been idle, or open, too long."""
        while not connection.closed:
            now = self._clock()
            idle_end = connection.last_active + self.idle_limit_s
            life_end = connection.connected_at + self.connection_limit_s
            if now >= idle_end or now >= life_end:
                await self.close(connection, GOING_AWAY, "Going away")
                return
            await asyncio.sleep(max(0.05, min(idle_end, life_end) - now))

    # -- management API ------------------------------------------------------------------------

    def management_routes(self) -> list[BaseRoute]:
        return [
            HttpRoute(
                f"/{self.stage}/@connections/{{connection_id}}",
                self._manage,
                methods=["GET", "POST", "DELETE"],
            )
        ]

    async def _manage(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per case
        request_id = str(uuid.uuid4())
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            return _management_error(403, "ForbiddenException", "Missing Authentication Token", request_id)
        connection_id = request.path_params["connection_id"]
        connection = self.connections.get(connection_id)
        if connection is None or connection.closed:
            return _gone(request_id)
        if request.method == "GET":
            return JSONResponse(connection.describe(), headers={"x-amzn-RequestId": request_id})
        if request.method == "DELETE":
            await self.close(connection, 1000, "")
            return Response(status_code=204, headers={"x-amzn-RequestId": request_id})
        data = await request.body()
        if len(data) > self.api.message_limit_bytes:
            return _management_error(413, "PayloadTooLargeException", "Message too long", request_id)
        if not self.post(connection_id, data):
            return _gone(request_id)
        return Response(status_code=200, headers={"x-amzn-RequestId": request_id})


class FrameSizedProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, telling the app the largest frame of each message
    (`FRAME_BYTES_KEY` in its `websocket.receive` event): API Gateway's quotas are per frame and
    per message, and ASGI hands over whole messages only. Give it to uvicorn as `ws=`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.largest_frame = 0
        self.queue = _FrameSizedEvents(self)

    def handle_text(self, event: Frame) -> None:
        self.largest_frame = len(event.data)
        super().handle_text(event)

    def handle_bytes(self, event: Frame) -> None:
        self.largest_frame = len(event.data)
        super().handle_bytes(event)

    def handle_cont(self, event: Frame) -> None:
        self.largest_frame = max(self.largest_frame, len(event.data))
        super().handle_cont(event)


class _FrameSizedEvents(asyncio.Queue[Any]):
    """The protocol's queue of ASGI events, which adds the message's largest frame to each
    `websocket.receive` as the protocol puts it in."""

    def __init__(self, protocol: FrameSizedProtocol) -> None:
        super().__init__()
        self._protocol = protocol

    def put_nowait(self, item: Any) -> None:
        if isinstance(item, dict) and item.get("type") == "websocket.receive":
            item = {**item, FRAME_BYTES_KEY: self._protocol.largest_frame}
            self._protocol.largest_frame = 0
        super().put_nowait(item)


def _token(request: WebSocketRequest) -> str | None:
    """What a browser presents (a stream ticket, `?ticket=`, else the second `Sec-WebSocket-Protocol`
    value), passed to `authorize` for its logs; the authorizer reads the event itself."""
    ticket = (request.query or {}).get("ticket")
    if ticket and ticket[-1]:
        return ticket[-1]
    offered = [v for k, v in request.headers if k.lower() == SUBPROTOCOL_HEADER]
    values = [p.strip() for value in offered for p in value.split(",") if p.strip()]
    return values[1] if len(values) > 1 else None


def _answer_header(answer: Any, name: str) -> str | None:
    if not isinstance(answer, dict):
        return None
    for key, value in (answer.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return str(values[0])
    return None


async def _deny(websocket: WebSocket, refused: Refused) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = Response(refused.body, status_code=refused.status, media_type=refused.content_type)
        await websocket.send_denial_response(response)
    else:  # the server cannot answer with a status: a close before accepting is a 403
        await websocket.close()


def _error_frame(message: str, connection_id: str, request_id: str) -> str:
    return json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id})


def _management_error(status: int, error_type: str, message: str, request_id: str) -> Response:
    return JSONResponse(
        {"message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": request_id},
    )


def _gone(request_id: str) -> Response:
    return _management_error(410, "GoneException", "Gone", request_id)
