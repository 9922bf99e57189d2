"""`POST /service/gui/live/tickets`: a short-lived, single-use ticket for the URL of one live
connection (EventSource's `?ticket=`, the WebSocket `$connect`'s `?ticket=`), in exchange for the
bearer token, so that no long-lived credential rides in a URL (gui_core.stream_tickets)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request, Response

from gui_core.dependencies import Caller
from gui_core.errors import InsufficientScope
from gui_core.guard import GroupPolicy, group_router
from gui_core.live import CHANNELS, channel_scope
from gui_core.stream_tickets import StreamTickets
from gui_stream.models import Ticket, TicketRequest
from gui_stream.routes import LIVE_FEATURE, UnknownChannel

PREFIX = "/service/gui/live/tickets"

# A ticket is asked for per live connection: counted in the live class, like the connection itself.
router = group_router(prefix=PREFIX, policy=GroupPolicy(LIVE_FEATURE, read_class="live", write_class="live"))


@router.post(
    "",
    status_code=201,
    response_model=Ticket,
    summary="A single-use ticket (valid 60 s) for one live connection's URL: SSE or WebSocket",
)
def issue_ticket(request: Request, response: Response, body: TicketRequest, caller: Caller) -> Ticket:
    for channel in body.channels:
        scope = channel_scope(channel)
        if scope is None:
            raise UnknownChannel(f"No channel {channel[:64]!r}; one of {', '.join(CHANNELS)}.")
        if not caller.has_scope(scope):
            raise InsufficientScope(f"The channel {channel} needs the scope {scope}.", required_scope=scope)
    tickets: StreamTickets = request.app.state.tickets
    issued = tickets.issue(caller, body.channels)
    response.headers["Cache-Control"] = "no-store"  # a credential: no cache keeps it
    return Ticket(
        ticket=issued.ticket,
        channels=list(issued.channels),
        expires_in=tickets.ttl_s,
        expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
    )
