"""The SSE route: one channel of the caller's tenant, from a cursor, held open for new events.

The caller is authorized by `Authorization: Bearer` (fetch-based clients) or by a single-use
`?ticket=` (EventSource; `gui_stream.tickets`), never by a token in the URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Response

from gui_core.api_document import TICKET_SECURITY
from gui_core.dependencies import Caller
from gui_core.guard import GroupPolicy, group_router
from gui_core.replay_log import CHANNELS, LENGTH_DIGITS, LIVE_CLASS, LIVE_FEATURE, SEQUENCE_DIGITS
from gui_stream import use_cases
from gui_stream.logic import render
from gui_stream.use_cases import StreamPorts

PREFIX = "/service/gui/stream"
EVENT_STREAM = "text/event-stream"
MARGIN_S = 2.0  # of the Lambda's remaining time, to write the answer

router = group_router(prefix=PREFIX, policy=GroupPolicy(LIVE_FEATURE, read_class=LIVE_CLASS))
# Documented, not checked by FastAPI: an unknown channel is 404 `unknown_channel`, and what is not an
# event's id 400 `invalid_cursor` (an id's first digits count the rest, which no pattern states).
CHANNEL_SCHEMA = {"enum": list(CHANNELS)}
SSE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One event: `ready` first, then each `event` of the channel or a `gap` "
    "(docs/gui/live_channels.md); `data` is a JSON message of docs/gui/asyncapi.yaml, `id` the cursor "
    "to resume after (empty on `ready` of a new stream).",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["ready", "event", "gap"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
# Empty is no cursor (a new stream), as EventSource's `id:` of nothing clears its last event id.
LIVE_CURSOR_SCHEMA = {"pattern": rf"^([0-9]{{{LENGTH_DIGITS + 1},{LENGTH_DIGITS + SEQUENCE_DIGITS}}})?$"}


async def _ports(request: Request) -> StreamPorts:
    ports: StreamPorts = request.app.state.ports
    return ports


Ports = Annotated[StreamPorts, Depends(_ports)]


def _time_left(request: Request) -> float | None:
    """What the invocation has left to answer in (Mangum leaves Lambda's context in the scope)."""
    remaining = getattr(request.scope.get("aws.context"), "get_remaining_time_in_millis", None)
    return float(remaining()) / 1000 - MARGIN_S if remaining is not None else None


@router.get(
    "/{channel}/{tenant}",
    response_class=Response,
    summary="Server-sent events of one live channel, from Last-Event-ID or `since`, else from now",
    responses={
        200: {
            "description": "`retry`, a `ready` event, then the events after the cursor or a `gap`.",
            # Before OpenAPI 3.2's `itemSchema`, the schema of an event stream is one event's.
            "content": {EVENT_STREAM: {"schema": SSE_EVENT_SCHEMA}},
        }
    },
    # The bearer token, or for EventSource a single-use `?ticket=`: the authorizer reads either (the
    # route reads neither), so the document gives them as the operation's security schemes.
    openapi_extra=TICKET_SECURITY,
)
def stream(
    request: Request,
    # The document gave this parameter no description while a dependency declared it first: kept so.
    channel: Annotated[str, Path(max_length=64, json_schema_extra=CHANNEL_SCHEMA)],
    tenant: Annotated[str, Path(max_length=128, description="The caller's tenant.")],
    caller: Caller,
    ports: Ports,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="What EventSource sends on reconnect.",
            json_schema_extra=LIVE_CURSOR_SCHEMA,
        ),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            description="The cursor to resume after (no Last-Event-ID).", json_schema_extra=LIVE_CURSOR_SCHEMA
        ),
    ] = None,
) -> Response:
    cursor = last_event_id or since or None
    collected = use_cases.follow_channel(ports, caller, channel, cursor, time_left_s=_time_left(request))
    return Response(render(collected), media_type=EVENT_STREAM, headers={"Cache-Control": "no-cache"})
