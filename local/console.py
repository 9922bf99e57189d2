"""The live console: a development page that watches the four live channels of one tenant.

`GET /dev/console` on every regional gateway of the local runtime. The page signs in through the
runtime's development token endpoint (`/dev/token`), then follows jobs, notifications, readiness and
prompt-pack over WebSocket (the AWS form `/<stage>?tenant=&channel=`, token as the second
subprotocol) or, with `?transport=sse`, over one EventSource per channel, each request of which
presents a single-use stream ticket (`POST /service/gui/live/tickets`; EventSource cannot send the
token, and no token goes in a URL): when an answer ends, the page closes the EventSource and opens
the next request itself, with a new ticket and `since` = its last cursor. It keeps the last cursor
per channel, applies an event once, resumes after a reconnect and marks a gap as a re-sync, as
docs/gui/live_channels.md asks of the GUI. Everything it needs is inline: no asset, no CDN.

Query parameters: `tenant`, `subject` (sign-in defaults), `transport` (`ws` or `sse`), `ws`
(`stage`, the default, or `path`: the specification's `/service/gui/ws/<channel>/<tenant>`),
`autostart=1` (sign in at once). The page's state is `window.ddgui` (tests read it).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gui_core.replay_log import CHANNELS

CONSOLE_PATH = "/dev/console"
STATIC_DIR = Path(__file__).resolve().parent / "console"
DEFAULT_TENANT = "acme"
DEFAULT_SUBJECT = "otto@acme"
SERVICE_PREFIX = "/service/gui"
TOKEN_PATH = "/dev/token"  # noqa: S105 - a path, not a secret

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_MARKERS = ("/*__DDGUI_STYLE__*/", "/*__DDGUI_SCRIPT__*/", "__DDGUI_CONFIG__", "__DDGUI_NONCE__")


@functools.cache
def _static(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON safe inside an inline <script>: no `<`, `>` or `&` that could end or open a tag."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_console(*, region: str, base_url: str, ws_stage: str, nonce: str) -> str:
    """The page, with its style, script and configuration inline."""
    config = {
        "region": region,
        "baseUrl": base_url,
        "wsStage": ws_stage.strip("/"),
        "channels": list(CHANNELS),
        "defaultTenant": DEFAULT_TENANT,
        "defaultSubject": DEFAULT_SUBJECT,
        "servicePrefix": SERVICE_PREFIX,
        "tokenPath": TOKEN_PATH,
    }
    for marker in _MARKERS:  # a marker inside a static file would be replaced twice
        if marker != "__DDGUI_NONCE__" and any(marker in _static(f) for f in ("console.css", "console.js")):
            raise ValueError(f"{marker} inside the console's static files")
    page = _static("console.html")
    page = page.replace("/*__DDGUI_STYLE__*/", _static("console.css"))
    page = page.replace("/*__DDGUI_SCRIPT__*/", _static("console.js"))
    page = page.replace("__DDGUI_CONFIG__", _script_json(config))
    return page.replace("__DDGUI_NONCE__", nonce)


def _origin_host(request: Request, base_url: str) -> str:
    host = request.headers.get("host", "")
    return host if _HOST.match(host) else urlsplit(base_url).netloc


def console_routes(*, region: str, base_url: str, ws_stage: str) -> list[BaseRoute]:
    """The console's routes for the gateway of `region` serving at `base_url`; `ws_stage` is the
    WebSocket API's stage, the path of its AWS-form URL (`/live`)."""

    async def console(request: Request) -> Response:
        nonce = secrets.token_urlsafe(18)
        host = _origin_host(request, base_url)
        page = render_console(region=region, base_url=base_url, ws_stage=ws_stage, nonce=nonce)
        policy = "; ".join(
            (
                "default-src 'none'",
                f"script-src 'nonce-{nonce}'",
                f"style-src 'nonce-{nonce}'",
                f"connect-src 'self' ws://{host} wss://{host}",
                "img-src 'self' data:",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            )
        )
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": policy,
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",  # the SSE URLs carry a (single-use) ticket
                "X-Content-Type-Options": "nosniff",
            },
        )

    return [Route(CONSOLE_PATH, console, methods=["GET"], name=f"console-{region}")]
