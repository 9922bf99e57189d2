"""Stream tickets (gui_core.stream_tickets): issued for a caller's channels with only their scopes,
kept hashed, redeemed once, for their tenant, within their minute."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gui_core.context import RequestContext
from gui_core.stream_tickets import StreamTickets, TicketStoreUnavailable, ticket_key
from local.memory_table import MemoryTable
from tests.fakes import ManualClock

NOW = 1_800_000_000.0
CALLER = RequestContext(
    tenant="acme",
    subject="ada@acme",
    scopes=frozenset({"gui:jobs", "gui:notifications", "gui:dashboard", "gui:admin"}),
    roles=("operator",),
    region="eu-west-1",
    request_id="r-1",
    trace_id=None,
    token_id="jti-1",
    expires_at=int(NOW) + 3600,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def table() -> MemoryTable:
    return MemoryTable()


@pytest.fixture
def tickets(table: MemoryTable, clock: ManualClock) -> StreamTickets:
    return StreamTickets(table, clock=clock)


def test_a_ticket_is_redeemed_once_with_the_scopes_of_its_channels_only(tickets: StreamTickets) -> None:
    issued = tickets.issue(CALLER, ["jobs", "readiness", "jobs"])
    assert issued.channels == ("jobs", "readiness")
    assert issued.expires_at == int(NOW) + 60
    grant = tickets.redeem("acme", issued.ticket)
    assert grant is not None
    assert (grant.tenant, grant.subject, grant.channels) == ("acme", "ada@acme", ("jobs", "readiness"))
    assert grant.scopes == {"gui:jobs", "gui:dashboard"}  # not gui:notifications, not gui:admin
    assert (grant.token_id, grant.token_expires_at) == ("jti-1", int(NOW) + 3600)
    assert tickets.redeem("acme", issued.ticket) is None  # spent


def test_a_scope_the_caller_lacks_is_not_granted(tickets: StreamTickets) -> None:
    viewer = replace(CALLER, scopes=frozenset({"gui:dashboard"}))
    grant = tickets.redeem("acme", tickets.issue(viewer, ["jobs", "readiness"]).ticket)
    assert grant is not None
    assert grant.scopes == {"gui:dashboard"}


def test_the_store_keeps_a_hash_under_the_tenant_with_a_ttl(
    tickets: StreamTickets, table: MemoryTable
) -> None:
    issued = tickets.issue(CALLER, ["jobs"])
    ((pk, sk), item), *_ = table.items.items()
    assert (pk, sk) == tuple(ticket_key("acme", issued.ticket).values())
    assert issued.ticket not in repr(item)
    assert item["expires_at"] == issued.expires_at


def test_another_tenant_an_invented_or_an_expired_ticket_is_refused(
    tickets: StreamTickets, clock: ManualClock
) -> None:
    issued = tickets.issue(CALLER, ["jobs"])
    assert tickets.redeem("globex", issued.ticket) is None
    assert tickets.redeem("acme", "invented") is None
    clock.now += 60
    assert tickets.redeem("acme", issued.ticket) is None  # its minute is over (the TTL deletes late)


def test_every_ticket_is_new(tickets: StreamTickets) -> None:
    assert len({tickets.issue(CALLER, ["jobs"]).ticket for _ in range(50)}) == 50


def test_a_store_that_cannot_answer_is_not_a_refusal(clock: ManualClock) -> None:
    class Down(MemoryTable):
        def delete(self, key: Any, *, condition: Any = None) -> Any:
            raise OSError("endpoint unreachable")

    with pytest.raises(TicketStoreUnavailable):
        StreamTickets(Down(), clock=clock).redeem("acme", "anything")
