"""The SSE route: one channel of the caller's tenant, from a cursor, held open for new events.

The caller is authorized by `Authorization: Bearer` (fetch-based clients) or by a single-use
`?ticket=` (EventSource; `gui_stream.tickets`), never by a token in the URL."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Response

from gui_core.context import RequestContext
from gui_core.dependencies import EXPIRY_LEEWAY_S, Caller
from gui_core.errors import InsufficientScope, InvalidCursor, NotFound
from gui_core.guard import GroupPolicy, group_router
from gui_core.live import CHANNELS, ReplayLog, channel_scope, is_cursor
from gui_stream.logic import collect, render

PREFIX = "/service/gui/stream"
LIVE_FEATURE = "realtime"  # the tenant flag of live updates, as gui_realtime reads it
EVENT_STREAM = "text/event-stream"
MARGIN_S = 2.0  # of the Lambda's remaining time, to write the answer

router = group_router(prefix=PREFIX, policy=GroupPolicy(LIVE_FEATURE, read_class="live"))


class UnknownChannel(NotFound):
    code, title = "unknown_channel", "No such live channel"


def channel_reader(channel: Annotated[str, Path(max_length=64)], caller: Caller) -> RequestContext:
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
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
        }
    },
)
def stream(
    request: Request,
    channel: Annotated[str, Path(max_length=64, description="jobs, notifications, readiness, prompt-pack.")],
    tenant: Annotated[str, Path(max_length=128, description="The caller's tenant.")],
    caller: Reader,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="What EventSource sends on reconnect.")
    ] = None,
    since: Annotated[str | None, Query(description="The cursor to resume after (no Last-Event-ID).")] = None,
    ticket: Annotated[
        str | None,
        Query(
            description="A single-use stream ticket (`POST /service/gui/live/tickets`), for EventSource, "
            "which cannot send `Authorization`; read by the authorizer. Never a token."
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
