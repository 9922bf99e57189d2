"""Browser tests: the live console (`/dev/console`) in Debian's headless Chromium, driven by Playwright.

Playwright never downloads a browser here: it drives `/usr/bin/chromium` (Debian's `chromium`
package; CI installs it before `make test`). Without it the suite is skipped, with the reason.

Two servers: `fake_live`, a scripted stand-in of the live protocol (docs/gui/live_channels.md) that
serves the console's page next to a WebSocket and an SSE endpoint the test controls frame by frame,
so the page's own rules (dedupe, resume, buffering, gap) are checked deterministically; and
`live_backend`, the whole local runtime, for the end-to-end path from the bus to the page.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gui_core.replay_log import CHANNELS, LiveEvent, to_cursor
from local.console import console_routes

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from local.runtime import LocalBackend

CHROMIUM = Path("/usr/bin/chromium")
# This machine's network is closed: without the background-networking flags Chromium keeps trying
# Google's hosts at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAKE_TOKEN = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.fake"  # exp in 2100: never refreshed


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser per test module. Not per session: Playwright's sync API keeps an event loop
    running in the main thread while it is open, and the later suites call `asyncio.run` there."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed at {CHROMIUM} "
            "(apt-get install -y --no-install-recommends chromium; CI does it before `make test`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class PageProblems:
    """Script errors and console errors of one page: a test ends with none of them."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console.{message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def problems(page: Page) -> PageProblems:
    return PageProblems(page)


def state(page: Page, expression: str) -> Any:
    """A value of `window.ddgui` (`expression` is JavaScript over `d`, the state)."""
    return page.evaluate(f"() => {{ const d = window.ddgui; return {expression}; }}")


def wait_state(page: Page, expression: str, timeout_s: float = 20.0) -> None:
    page.wait_for_function(
        f"() => {{ const d = window.ddgui; return !!d && ({expression}); }}", timeout=timeout_s * 1000
    )


# -- a server on a free loopback port, in a thread ----------------------------------------------


class ThreadedServer:
    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="browser-test-server", daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(5)
        self.sock.close()


# -- the scripted live server -------------------------------------------------------------------


class FakeLive:
    """The live protocol with a log the test writes and connections the test can drop.

    `resume` answers `replay` pages of `page_size` events (`more` until the last), or `gap` when the
    cursor is not in the log (`forget` drops the oldest events, as the replay window would). With
    `live_during_resume`, the newest event is also sent live before the replay: the page must buffer
    it and apply it once, after the replay.
    """

    def __init__(self) -> None:
        self.server: ThreadedServer | None = None
        self.log: dict[str, list[dict[str, Any]]] = {channel: [] for channel in CHANNELS}
        self.sequence = 10**20
        self.connections: list[tuple[WebSocket, set[str]]] = []
        self.received: list[dict[str, Any]] = []
        self.connects: list[dict[str, Any]] = []
        self.sse_requests: list[dict[str, Any]] = []
        self.tickets: dict[str, str] = {}  # ticket -> its channel, until it is spent
        self.issued = 0
        self.page_size = 2
        self.live_during_resume = False
        self.lock = threading.Lock()

    # The test's side (another thread than the server's loop).

    def publish(self, channel: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        event = self.append_only(channel, kind, payload)
        self._call(self._push(event))
        return event

    def append_only(self, channel: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An event written to the log but pushed to nobody (published while disconnected)."""
        with self.lock:
            self.sequence += 1
            event = LiveEvent(
                tenant="acme",
                channel=channel,
                cursor=to_cursor(self.sequence),
                event_id=f"evt-{self.sequence}",
                kind=kind,
                at="2026-11-27T10:15:30+00:00",
                payload=payload,
            ).message()
            self.log[channel].append(event)
        return event

    def forget(self, channel: str, keep: int) -> None:
        with self.lock:
            self.log[channel] = self.log[channel][-keep:] if keep else []

    def drop_connections(self) -> int:
        return int(self._call(self._drop()))

    def open_connections(self) -> int:
        return len(self.connections)

    def _call(self, coroutine: Any) -> Any:
        assert self.server is not None
        assert self.server.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.server.loop).result(10)

    # The server's side.

    async def _push(self, event: dict[str, Any]) -> None:
        for websocket, channels in list(self.connections):
            if event["channel"] in channels:
                await websocket.send_text(json.dumps(event))

    async def _drop(self) -> int:
        dropped = list(self.connections)
        self.connections.clear()
        for websocket, _ in dropped:
            await websocket.close(code=1001)
        return len(dropped)

    def _latest(self, channel: str) -> str | None:
        return self.log[channel][-1]["cursor"] if self.log[channel] else None

    async def websocket(self, websocket: WebSocket) -> None:
        protocols = websocket.scope.get("subprotocols") or []
        self.connects.append({"query": dict(websocket.query_params), "subprotocols": list(protocols)})
        if protocols[:1] != ["ddgui.v1"] or len(protocols) != 2:
            await websocket.close(code=1008)
            return
        await websocket.accept(subprotocol="ddgui.v1")
        channels: set[str] = set()
        entry = (websocket, channels)
        self.connections.append(entry)
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                self.received.append(message)
                await self._answer(websocket, channels, message)
        except WebSocketDisconnect:
            pass
        finally:
            if entry in self.connections:
                self.connections.remove(entry)

    async def _answer(self, websocket: WebSocket, channels: set[str], message: dict[str, Any]) -> None:
        action = message.get("action")
        request_id = message.get("request_id")
        if action == "subscribe":
            channels.update(message["channels"])
            latest = {channel: self._latest(channel) for channel in message["channels"]}
            await websocket.send_json(
                {
                    "type": "subscribed",
                    "channels": message["channels"],
                    "latest": latest,
                    "request_id": request_id,
                }
            )
        elif action == "resume":
            channel, cursor = message["channel"], message["cursor"]
            channels.add(channel)
            with self.lock:
                log = list(self.log[channel])
            cursors = [event["cursor"] for event in log]
            if cursor not in cursors:
                await websocket.send_json(
                    {"type": "gap", "channel": channel, "cursor": cursor, "latest": self._latest(channel)}
                )
                return
            after = [event for event in log if event["cursor"] > cursor]
            if self.live_during_resume and after:
                await websocket.send_json(after[-1])
            page = after[: self.page_size]
            more = len(after) > self.page_size
            if len(page) > 1:  # a page cut into frames, as gui_core.pusher.replay_frames cuts it
                await websocket.send_json(
                    {"type": "replay", "channel": channel, "events": page[:1], "more": True}
                )
                page = page[1:]
            await websocket.send_json(
                {
                    "type": "replay",
                    "channel": channel,
                    "events": page,
                    "more": more,
                    "cursor": page[-1]["cursor"] if page else cursor,
                    "latest": self._latest(channel),
                }
            )
        elif action == "ping":
            pong = {"type": "pong", "at": "2026-11-27T10:15:30Z", "request_id": request_id}
            await websocket.send_json(pong)
        else:
            await websocket.send_json(
                {"type": "error", "code": "unknown_action", "status": 400, "request_id": request_id}
            )

    async def ticket(self, request: Request) -> Response:
        """`POST /service/gui/live/tickets`: a single-use ticket for the bearer token's channels."""
        if request.headers.get("authorization") != f"Bearer {FAKE_TOKEN}":
            return JSONResponse({"code": "unauthorized"}, status_code=401)
        (channel,) = (await request.json())["channels"]
        with self.lock:
            self.issued += 1
            ticket = f"ticket-{self.issued}"
            self.tickets[ticket] = channel
        body = {
            "ticket": ticket,
            "channels": [channel],
            "expires_in": 60,
            "expires_at": "2026-11-27T10:16:30Z",
        }
        return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})

    async def stream(self, request: Request) -> Response:
        channel = request.path_params["channel"]
        since = request.headers.get("last-event-id") or request.query_params.get("since")
        ticket = request.query_params.get("ticket")
        self.sse_requests.append(
            {"channel": channel, "since": since, "ticket": ticket, "query": dict(request.query_params)}
        )
        with self.lock:
            spent = self.tickets.pop(ticket or "", None)
        if spent != channel:  # unknown, spent, or another channel's
            return JSONResponse({"code": "unauthorized"}, status_code=401)

        async def body() -> Any:
            yield "retry: 200\n\n"
            latest = self._latest(channel)
            start = since or latest
            ready = {"type": "ready", "channel": channel, "latest": latest}
            yield f"id: {start or ''}\nevent: ready\ndata: {json.dumps(ready)}\n\n"
            cursor = start
            for _ in range(8):  # held ~2 s, then the answer ends and EventSource comes back
                with self.lock:
                    log = list(self.log[channel])
                latest = log[-1]["cursor"] if log else None
                if cursor is not None and log and cursor not in [e["cursor"] for e in log]:
                    gap = {"type": "gap", "channel": channel, "cursor": cursor, "latest": latest}
                    yield f"event: gap\ndata: {json.dumps(gap)}\n\n"
                    cursor = latest
                    continue
                for event in log:
                    if cursor is None or event["cursor"] > cursor:
                        yield f"id: {event['cursor']}\nevent: event\ndata: {json.dumps(event)}\n\n"
                        cursor = event["cursor"]
                await asyncio.sleep(0.25)

        return StreamingResponse(body(), media_type="text/event-stream")


@pytest.fixture
def fake_live() -> Iterator[FakeLive]:
    fake = FakeLive()

    async def token(request: Request) -> Response:
        return JSONResponse({"token": FAKE_TOKEN, "tenant": request.query_params.get("tenant")})

    app = Starlette(
        routes=[
            Route("/dev/token", token, methods=["GET"]),
            WebSocketRoute("/live", fake.websocket),
            Route("/service/gui/stream/{channel}/{tenant}", fake.stream, methods=["GET"]),
            Route("/service/gui/live/tickets", fake.ticket, methods=["POST"]),
        ]
    )
    server = ThreadedServer(app)
    for route in console_routes(region="eu-west-1", base_url=server.base_url, ws_stage="live"):
        app.router.routes.append(route)
    fake.server = server.start()
    try:
        yield fake
    finally:
        server.stop()


def base_url_of(fake: FakeLive) -> str:
    assert fake.server is not None
    return fake.server.base_url


# -- the whole local runtime --------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    from local.runtime import LocalBackend

    keys_dir = tmp_path_factory.mktemp("browser-keys")
    # No periodic TTL sweep: moto's state is shared by the whole pytest process.
    with LocalBackend(port=0, keys_dir=keys_dir, ttl_sweep_s=None) as backend:
        yield backend
