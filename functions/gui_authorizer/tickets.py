"""Redemption of stream tickets (gui_core.stream_tickets) by the authorizer.

Only a request that presents a ticket pays for boto3: the store is built, and its modules
imported, on the first ticket a container sees; a bearer token's path imports none of it. What the
store's client needs from the environment (the role's credentials, the endpoint) is read at the
cold start, when the environment is the function's (in Lambda it stays so; the local runtime sets
it for the cold start only)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gui_core.stream_tickets import StreamTickets, TicketGrant

AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class TicketRedeemer:
    def __init__(
        self, *, table_name: str | None, region: str, environ: Mapping[str, str] = os.environ
    ) -> None:
        self._table_name = table_name
        self._region = region
        self._aws = {name: environ[name] for name in AWS_VARIABLES if environ.get(name)}
        self._tickets: StreamTickets | None = None
        self.store_factory: Callable[[], StreamTickets] = self._store  # tests give a fake

    def redeem(self, tenant: str, ticket: str) -> TicketGrant | None:
        """The ticket's grant, spent; None when it is not (or no longer) a ticket of `tenant`.
        Raises TicketStoreUnavailable when the store cannot be asked."""
        if self._tickets is None:
            self._tickets = self.store_factory()
        return self._tickets.redeem(tenant, ticket)

    def _store(self) -> StreamTickets:
        from gui_core.stream_tickets import StreamTickets, TicketStoreUnavailable, redeeming_table

        if not self._table_name:
            raise TicketStoreUnavailable("no ticket store configured (LIMITS_TABLE)")
        return StreamTickets(redeeming_table(self._table_name, self._region, aws=self._aws))
