"""What a request presents to the authorizer: a bearer token in the `Authorization` header, else a
stream ticket as the `ticket` query parameter (EventSource, WebSocket `$connect`), else a token as
the WebSocket subprotocols `ddgui.v1, <jwt>` (browsers cannot set headers on a WebSocket). A token
in the query string is not read: a long-lived credential does not ride in a URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gui_core.tokens import TokenError, bearer_token

SUBPROTOCOL = "ddgui.v1"
TICKET_PARAMETER = "ticket"  # stacks.manifest.Authorizer.ticket_parameter


@dataclass(frozen=True)
class Bearer:
    token: str


@dataclass(frozen=True)
class Ticket:
    """A stream ticket, for the tenant the request names (the SSE path's, the WebSocket query's)
    and the channels it asks for."""

    ticket: str
    tenant: str
    channels: tuple[str, ...]


def presented(event: dict[str, Any]) -> Bearer | Ticket:
    """The credential of the request, from the first place that has one (see the module's doc)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if headers.get("authorization"):
        return Bearer(bearer_token(headers["authorization"]))
    query = event.get("queryStringParameters") or {}
    if query.get(TICKET_PARAMETER):
        tenant = (event.get("pathParameters") or {}).get("tenant") or query.get("tenant")
        if not tenant:
            raise TokenError("a ticket without the tenant it is for")
        return Ticket(str(query[TICKET_PARAMETER]).strip(), str(tenant), requested_channels(event))
    offered = [p.strip() for p in str(headers.get("sec-websocket-protocol") or "").split(",")]
    if len(offered) == 2 and offered[0] == SUBPROTOCOL and offered[1]:  # the name, then the token
        return Bearer(offered[1])
    return Bearer(bearer_token(None))


def presented_token(event: dict[str, Any]) -> str:
    """The bearer token of the request; TokenError when it presents none (or a ticket)."""
    credential = presented(event)
    if not isinstance(credential, Bearer):
        raise TokenError("a ticket, not a token")
    return credential.token


def requested_channels(event: dict[str, Any]) -> tuple[str, ...]:
    """The channels a request opens: the SSE path's, or every `channel` value of a WebSocket
    connect (`channel=a,b` and `channel=a&channel=b` alike)."""
    path_channel = (event.get("pathParameters") or {}).get("channel")
    if path_channel:
        return (str(path_channel),)
    values = (event.get("multiValueQueryStringParameters") or {}).get("channel")
    if not values:
        single = (event.get("queryStringParameters") or {}).get("channel")
        values = [single] if single else []
    names = [name.strip() for value in values for name in str(value).split(",")]
    return tuple(dict.fromkeys(name for name in names if name))
