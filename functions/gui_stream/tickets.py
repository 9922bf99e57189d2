"""`POST /service/gui/live/tickets`: a short-lived, single-use ticket for the URL of one live
connection (EventSource's `?ticket=`, the WebSocket `$connect`'s `?ticket=`), in exchange for the
bearer token, so that no long-lived credential rides in a URL (gui_core.stream_tickets)."""

from __future__ import annotations

from fastapi import Response

from gui_core.dependencies import Caller
from gui_core.guard import GroupPolicy, group_router
from gui_core.replay_log import LIVE_CLASS, LIVE_FEATURE
from gui_stream import use_cases
from gui_stream.models import Ticket, TicketRequest
from gui_stream.routes import Ports

PREFIX = "/service/gui/live/tickets"

# A ticket is asked for per live connection: counted in the live class, like the connection itself.
router = group_router(
    prefix=PREFIX, policy=GroupPolicy(LIVE_FEATURE, read_class=LIVE_CLASS, write_class=LIVE_CLASS)
)


@router.post(
    "",
    status_code=201,
    response_model=Ticket,
    summary="A single-use ticket (valid 60 s) for one live connection's URL: SSE or WebSocket",
)
def issue_ticket(response: Response, body: TicketRequest, caller: Caller, ports: Ports) -> Ticket:
    ticket = use_cases.issue_ticket(ports, caller, body)
    response.headers["Cache-Control"] = "no-store"  # a credential: no cache keeps it
    return ticket
