"""Where a request presents its token: the `Authorization` header (REST), the `token` query
parameter (SSE for EventSource, WebSocket `$connect`), or the WebSocket subprotocols
`ddgui.v1, <jwt>` (browsers cannot set headers on a WebSocket)."""

from __future__ import annotations

from typing import Any

from gui_core.tokens import bearer_token

SUBPROTOCOL = "ddgui.v1"


def presented_token(event: dict[str, Any]) -> str:
    """The token of the request, from the first place that has one (see the module's doc)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if headers.get("authorization"):
        return bearer_token(headers["authorization"])
    query = event.get("queryStringParameters") or {}
    if query.get("token"):
        return str(query["token"]).strip()
    offered = [p.strip() for p in str(headers.get("sec-websocket-protocol") or "").split(",")]
    if len(offered) == 2 and offered[0] == SUBPROTOCOL and offered[1]:  # the name, then the token
        return offered[1]
    return bearer_token(None)
