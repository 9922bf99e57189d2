"""The SSE route: one channel of the caller's tenant, from a cursor, held open for new events.

The caller is authorized by `Authorization: Bearer` (fetch-based clients) or by a single-use
`?ticket=` (EventSource; `gui_stream.tickets`), never by a token in the URL."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Response

from gui_core.api_document import TICKET_SECURITY
from gui_core.context import RequestContext
from gui_core.dependencies import EXPIRY_LEEWAY_S, Caller
from gui_core.errors import InsufficientScope, InvalidCursor, NotFound
from gui_core.guard import GroupPolicy, group_router
from gui_core.live import CHANNELS, LENGTH_DIGITS, SEQUENCE_DIGITS, ReplayLog, channel_scope, is_cursor
from gui_stream.logic import collect, render

PREFIX = "/service/gui/stream"
LIVE_FEATURE = "realtime"  # the tenant flag of live updates, as gui_realtime reads it
EVENT_STREAM = "text/event-stream"
MARGIN_S = 2.0  # of the Lambda's remaining time, to write the answer

router = group_router(prefix=PREFIX, policy=GroupPolicy(LIVE_FEATURE, read_class="live"))
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


class UnknownChannel(NotFound):
    code, title = "unknown_channel", "No such live channel"


def channel_reader(
    channel: Annotated[str, Path(max_length=64, json_schema_extra=CHANNEL_SCHEMA)], caller: Caller
) -> RequestContext:
    """The caller, holding the scope of the channel in the path (each channel has its own)."""
    scope = channel_scope(channel)
    if scope is None:
        raise UnknownChannel(f"No channel {channel[:64]!r}; one of {', '.join(CHANNELS)}.")
    if not caller.has_scope(scope):
        raise InsufficientScope(f"The channel {channel} needs the scope {scope}.", required_scope=scope)
    return caller


Reader = Annotated[RequestContext, Depends(channel_reader)]


def _budget(request: Request, hold_s: float, caller: RequestContext) -> float:
    """The hold, cut to what the invocation has left (Mangum leaves Lambda's context in the scope)
    and to the caller's token: no event goes out past its expiry (with the guard's leeway)."""
    budget = hold_s
    context = request.scope.get("aws.context")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        budget = min(budget, float(remaining()) / 1000 - MARGIN_S)
    if caller.expires_at:
        budget = min(budget, caller.expires_at + EXPIRY_LEEWAY_S - time.time())
    return max(0.0, budget)


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
    channel: Annotated[
        str,
        Path(
            max_length=64,
            description="jobs, notifications, readiness, prompt-pack.",
            json_schema_extra=CHANNEL_SCHEMA,
        ),
    ],
    tenant: Annotated[str, Path(max_length=128, description="The caller's tenant.")],
    caller: Reader,
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
    if cursor is not None and not is_cursor(cursor):
        raise InvalidCursor("Not a cursor this API issued: resume from an event's `id`.")
    replay: ReplayLog = request.app.state.replay
    collected = collect(
        replay,
        tenant=caller.tenant,
        channel=channel,
        cursor=cursor,
        budget_s=_budget(request, request.app.state.hold_s, caller),
        poll_s=request.app.state.poll_s,
        poll_max_s=request.app.state.poll_max_s,
        clock=request.app.state.clock,
        sleep=request.app.state.sleep,
    )
    return Response(render(collected), media_type=EVENT_STREAM, headers={"Cache-Control": "no-cache"})
