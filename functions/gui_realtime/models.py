"""What a WebSocket event and a client's message are, and the messages the server answers."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gui_core.context import RequestContext, request_context
from gui_core.errors import ProblemError

SUBPROTOCOL = "ddgui.v1"  # what a browser offers first in Sec-WebSocket-Protocol, the token second

ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
REQUEST_ID_MAX = 128  # longer: refused, and not echoed
RequestId = Annotated[str, StringConstraints(max_length=REQUEST_ID_MAX)]


@dataclass(frozen=True)
class SocketRequest:
    """One WebSocket event as the function needs it: the route, the connection, the caller."""

    route_key: str
    connection_id: str
    request_id: str  # API Gateway's
    caller: RequestContext | None  # from the authorizer's context (it ran on $connect)
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names in lower case
    body: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> SocketRequest:
        context = event.get("requestContext") or {}
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        request_id = str(context.get("requestId") or "")
        raw = event.get("body") or ""
        if event.get("isBase64Encoded") and raw:
            raw = base64.b64decode(raw).decode(errors="replace")
        return cls(
            route_key=str(context.get("routeKey") or "$default"),
            connection_id=str(context.get("connectionId") or ""),
            request_id=request_id,
            caller=request_context(
                context.get("authorizer"), request_id=request_id, trace_id=headers.get("x-amzn-trace-id")
            ),
            query=_query(event),
            headers=headers,
            body=str(raw),
        )

    def offered_subprotocols(self) -> list[str]:
        return [p.strip() for p in self.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]


def _query(event: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters; `channel` given several times (`channel=a&channel=b,c`) is every value,
    comma-separated, where `queryStringParameters` keeps only the last."""
    query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    channels = (event.get("multiValueQueryStringParameters") or {}).get("channel") or []
    if len(channels) > 1:
        query["channel"] = ",".join(str(value) for value in channels)
    return query


class ClientMessage(BaseModel):
    """Fields every client message has; `action` selected the route."""

    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, StringConstraints(max_length=64)]
    request_id: RequestId | None = Field(default=None, description="Echoed in the answer.")


class ChannelsMessage(ClientMessage):
    """subscribe, unsubscribe."""

    channels: Annotated[list[ChannelName], Field(min_length=1, max_length=16)]


class ResumeMessage(ClientMessage):
    channel: ChannelName
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class AckMessage(ClientMessage):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def error_message(error: ProblemError, *, request_id: str | None) -> dict[str, Any]:
    """A problem as the `error` message of the protocol (the REST problem's code and status)."""
    problem = error.to_problem()
    message: dict[str, Any] = {
        "type": "error",
        "code": error.code,
        "status": error.status,
        "title": error.title,
        "detail": error.detail,
    }
    message.update(
        {k: v for k, v in problem.items() if k not in {"type", "title", "status", "code", "detail"}}
    )
    if request_id is not None:
        message["request_id"] = request_id
    return message
