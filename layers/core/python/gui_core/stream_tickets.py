"""Stream tickets: short-lived, single-use credentials for the URL of a live connection.

A browser's EventSource cannot send an `Authorization` header, and a WebSocket handshake can carry
a token only in its URL or its subprotocols. A JWT in a URL ends up in access logs and browser
history, so a client trades its token (an authenticated `POST /service/gui/live/tickets`) for a
ticket: 32 random bytes, valid 60 s, bound to the tenant, the subject, the channels asked for and
only their scopes, and the token's own expiry (a connection opened with a ticket does not outlive
the token). The store keeps the ticket's SHA-256, never the ticket, under the tenant's key with a
TTL (the `limits` store, which holds the other short-lived records). The authorizer redeems a
ticket with one conditional delete: it serves one connection, then it is gone.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gui_core.dynamo import Condition, ConditionFailed, Table, item_absent
from gui_core.replay_log import channel_scope
from gui_core.tokens import Unverifiable

if TYPE_CHECKING:
    from gui_core.context import RequestContext

TICKET_TTL_S = 60
SORT_PREFIX = "TICKET#"
TICKET_BYTES = 32
_EXISTS = Condition("attribute_exists(#k)", names={"#k": "sk"})


class TicketStoreUnavailable(Unverifiable):
    """The store could not be asked: the ticket is neither accepted nor refused (retry with a new one)."""


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    channels: tuple[str, ...]
    expires_at: int  # epoch seconds


@dataclass(frozen=True)
class TicketGrant:
    """What a redeemed ticket grants: the caller it was issued to, with the scopes of its channels."""

    tenant: str
    subject: str
    scopes: frozenset[str]
    roles: tuple[str, ...]
    channels: tuple[str, ...]
    token_id: str | None
    token_expires_at: int


def ticket_key(tenant: str, ticket: str) -> dict[str, str]:
    return {"pk": tenant, "sk": SORT_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()}


def channel_scopes(channels: Iterable[str]) -> frozenset[str]:
    """The scopes the channels need (every channel a known one)."""
    scopes = {channel_scope(channel) for channel in channels}
    if None in scopes:
        raise ValueError("unknown channel")
    return frozenset(scope for scope in scopes if scope is not None)


class StreamTickets:
    """Issues tickets (the SSE function) and redeems them (the authorizer) on one table."""

    def __init__(
        self, table: Table, *, ttl_s: int = TICKET_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, caller: RequestContext, channels: Iterable[str]) -> IssuedTicket:
        """A ticket of `caller` for `channels` (each of them known and within the caller's scopes:
        the route checked), carrying only their scopes."""
        wanted = tuple(dict.fromkeys(channels))
        now = int(self._clock())
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        expires_at = now + self.ttl_s
        item: dict[str, Any] = {
            **ticket_key(caller.tenant, ticket),
            "subject": caller.subject,
            "scopes": " ".join(sorted(channel_scopes(wanted) & caller.scopes)),
            "roles": " ".join(caller.roles),
            "channels": list(wanted),
            "token_id": caller.token_id or "",
            "token_expires_at": caller.expires_at,
            "issued_at": now,
            "expires_at": expires_at,
        }
        self._table.put(item, condition=item_absent("sk"))  # 256 random bits: never taken
        return IssuedTicket(ticket, wanted, expires_at)

    def redeem(self, tenant: str, ticket: str) -> TicketGrant | None:
        """The grant of `ticket` for `tenant`, deleting it in the same request; None when there is
        no such ticket (never issued, of another tenant, spent) or it has expired (DynamoDB's TTL
        deletes late)."""
        try:
            # One request: whoever deletes it first has it; an expired one is spent all the same.
            item = self._table.delete(ticket_key(tenant, ticket), condition=_EXISTS)
        except ConditionFailed:
            return None
        except Exception as exc:
            raise TicketStoreUnavailable(f"ticket store: {type(exc).__name__}: {exc}") from exc
        if item is None or int(item.get("expires_at", 0)) <= self._clock():
            return None
        return TicketGrant(
            tenant=tenant,
            subject=str(item["subject"]),
            scopes=frozenset(str(item.get("scopes", "")).split()),
            roles=tuple(str(item.get("roles", "")).split()),
            channels=tuple(str(c) for c in item.get("channels", [])),
            token_id=str(item.get("token_id") or "") or None,
            token_expires_at=int(item.get("token_expires_at", 0)),
        )


def redeeming_table(table_name: str, region: str, *, aws: Mapping[str, str]) -> Table:
    """The tickets' table as the authorizer reaches it: a client of its own, whose retries and
    timeouts fit in the authorizer's 5 s (the functions' client may take 4 attempts of 5 s), signing
    with `aws`, the AWS_* variables of the function's cold start (its role's credentials, and the
    endpoint). Built on the first ticket a container sees: the header path never imports boto3."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=aws.get("AWS_ENDPOINT_URL") or None,
        aws_access_key_id=aws.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=aws.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=aws.get("AWS_SESSION_TOKEN") or None,
        config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2),
    )
    return Table(table_name, client)
