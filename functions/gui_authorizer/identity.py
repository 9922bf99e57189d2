"""What a request presents to the authorizer, and where: one credential, never two.

Which places count depends on the door, because of what API Gateway caches:
- a REST route whose authorizer caches its answer per `Authorization` header (every route but the
  ticket routes): the header is the only credential. API Gateway serves a cached answer without
  invoking the authorizer, keyed on that header alone, so the authorizer verifies exactly what the
  cache is keyed on and reads nothing else of the request; a query string or a subprotocol there is
  no credential (no function reads one either).
- a route that takes a stream ticket (`TICKET_RESOURCES`: the SSE route) and the WebSocket API's
  `$connect`: their authorizers have no identity source and no cache, so they run on every request
  and may look at all of it. The credential is the `Authorization` header's bearer token, or a
  single-use stream ticket as `?ticket=` (EventSource, WebSocket `$connect`), or, at `$connect`
  only, a token as the WebSocket subprotocols `ddgui.v1, <jwt>` (browsers cannot set headers on a
  WebSocket). A request presenting more than one credential (two places, or one place twice) is
  refused: it is never served as one of them, since nothing tells which one the client meant and
  the other would go unseen. A token in the query string (`?token=`, what clients sent before
  tickets) is refused, alone or beside another: a long-lived credential does not ride in a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gui_core.tokens import TokenError, bearer_token

SUBPROTOCOL = "ddgui.v1"
TICKET_PARAMETER = "ticket"  # stacks.manifest_model.Authorizer.ticket_parameter
URL_TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter name; never a credential: refused
# The resources of the routes that take a ticket (stacks.manifest_model.Route.accepts_ticket; a unit
# test holds the two together): their authorizer has no identity source and no cache.
TICKET_RESOURCES = frozenset({"/service/gui/stream/{channel}/{tenant}"})


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
    """The one credential of the request (see the module's doc); TokenError when it presents none,
    one its door does not take, or more than one."""
    if not _uncached_door(event):
        single = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        return Bearer(bearer_token(single.get("authorization")))  # what the cache is keyed on
    headers = _values(event, "headers", "multiValueHeaders")
    authorization = headers.get("authorization", [])
    query = _values(event, "queryStringParameters", "multiValueQueryStringParameters")
    tickets = [str(value).strip() for value in query.get(TICKET_PARAMETER, []) if str(value).strip()]
    url_tokens = [value for value in query.get(URL_TOKEN_PARAMETER, []) if str(value).strip()]
    subprotocol_tokens = _subprotocol_tokens(headers.get("sec-websocket-protocol", []))
    places = {
        "the Authorization header": len(authorization),
        "a ticket": len(tickets),
        "a token in the URL": len(url_tokens),
        "a token as WebSocket subprotocol": len(subprotocol_tokens),
    }
    found = [place for place, count in places.items() for _ in range(count)]
    if len(found) > 1:
        raise TokenError(f"more than one credential: {', '.join(found)}")
    if url_tokens:
        raise TokenError("a token in the URL is no credential: send the header or a ticket")
    if tickets:
        tenant = (event.get("pathParameters") or {}).get("tenant") or _last(query.get("tenant"))
        if not tenant:
            raise TokenError("a ticket without the tenant it is for")
        return Ticket(tickets[0], str(tenant), requested_channels(event))
    if subprotocol_tokens:
        if not _websocket_connect(event):
            raise TokenError("a WebSocket subprotocol is no credential of an HTTP request")
        return Bearer(subprotocol_tokens[0])
    return Bearer(bearer_token(authorization[0] if authorization else None))


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


def _websocket_connect(event: dict[str, Any]) -> bool:
    context = event.get("requestContext") or {}
    return context.get("eventType") == "CONNECT" or str(event.get("methodArn", "")).endswith("/$connect")


def _uncached_door(event: dict[str, Any]) -> bool:
    """Whether the request reached an authorizer without identity source (so without a cache)."""
    return _websocket_connect(event) or event.get("resource") in TICKET_RESOURCES


def _values(event: dict[str, Any], single: str, multi: str) -> dict[str, list[str]]:
    """Every value of each name (header names in lower case): API Gateway keeps the last one in
    `headers` and `queryStringParameters`, all of them in the multi-value maps."""
    found: dict[str, list[str]] = {}
    for name, values in (event.get(multi) or {}).items():
        found.setdefault(_key(name, single), []).extend(str(v) for v in values or ())
    for name, value in (event.get(single) or {}).items():
        values = found.setdefault(_key(name, single), [])
        if value is not None and str(value) not in values:
            values.append(str(value))
    return found


def _key(name: str, single: str) -> str:
    return str(name).lower() if single == "headers" else str(name)


def _last(values: list[str] | None) -> str | None:
    return values[-1] if values else None


def _subprotocol_tokens(offered_headers: list[str]) -> list[str]:
    """The tokens offered after `ddgui.v1` in `Sec-WebSocket-Protocol` (a browser offers the name,
    then the token); any other offer carries none."""
    offered = [p.strip() for value in offered_headers for p in value.split(",") if p.strip()]
    if not offered or offered[0] != SUBPROTOCOL:
        return []
    return offered[1:]
