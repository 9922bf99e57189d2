"""The connection registry: the WebSocket connections of a tenant and their subscriptions.

Used by the WebSocket function (connect, subscribe, disconnect) and the fan-out (the subscribers of
a channel). Logic receives a `Table` (or a fake with its methods).

Connection registry (store `connections`), partition `<tenant>`:
- `CONN#<connection id>`: subject, scopes, connected and expiry times;
- `SUB#<channel>#<connection id>`: one per subscription, so the subscribers of a channel are one
  query. These items are the connection's subscriptions, and the only record of them: subscribing
  puts one, unsubscribing deletes one, each a single write that reads nothing first. API Gateway
  invokes a connection's messages concurrently, so a list of channels on the connection's item,
  read then written back whole, lost updates (two `subscribe`s at once kept one channel; the later
  `unsubscribe` of the other found nothing to drop while its events kept coming).
- `SUB#<channel>#<connection id>#<subscription id>`: a GraphQL subscription (`graphql-transport-ws`:
  a connection may subscribe to a channel several times, each with its id and selection, which the
  item carries: `gui_core.live_graphql.LiveSelection`), beside
- `GQL#<connection id>#<subscription id>`: its channel, so the id is unique on the connection (a put
  on condition) and `complete` finds the subscription by its id; a connection's own GraphQL
  subscriptions are one query (`GQL#<connection id>#`), so forgetting it reads nothing of others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gui_core.dynamo import Condition, ConditionFailed, Put, TransactionCancelled, item_absent, read_up_to
from gui_core.live_graphql import LiveSelection
from gui_core.replay_log import CHANNELS

if TYPE_CHECKING:
    from gui_core.dynamo import Table

CONNECTION_PREFIX = "CONN#"
SUBSCRIPTION_PREFIX = "SUB#"
GRAPHQL_PREFIX = "GQL#"
LIVE_PROTOCOL = "ddgui.v1"  # the live protocol's subprotocol (docs/gui/live_channels.md)


@dataclass(frozen=True)
class Subscription:
    """A connection subscribed to a channel: by the live protocol (`selection` None) or by a
    GraphQL subscription, whose frame the selection makes."""

    connection_id: str
    selection: LiveSelection | None = None


@dataclass(frozen=True)
class Connection:
    tenant: str
    connection_id: str
    subject: str
    scopes: frozenset[str]
    connected_at: int = 0
    expires_at: int = 0
    protocol: str = LIVE_PROTOCOL
    # graphql-transport-ws: `connection_init` acknowledged, with the cursors its payload named.
    ready: bool = False
    cursors: Mapping[str, str] = field(default_factory=dict)

    def item(self) -> dict[str, Any]:
        return {
            "pk": self.tenant,
            "sk": f"{CONNECTION_PREFIX}{self.connection_id}",
            "connection_id": self.connection_id,
            "subject": self.subject,
            "scopes": " ".join(sorted(self.scopes)),
            "connected_at": self.connected_at,
            "expires_at": self.expires_at,
            "protocol": self.protocol,
        }

    @classmethod
    def from_item(cls, tenant: str, item: Mapping[str, Any]) -> Connection:
        return cls(
            tenant=tenant,
            connection_id=str(item["connection_id"]),
            subject=str(item["subject"]),
            scopes=frozenset(str(item.get("scopes", "")).split()),
            connected_at=int(item.get("connected_at", 0)),
            expires_at=int(item.get("expires_at", 0)),
            protocol=str(item.get("protocol") or LIVE_PROTOCOL),
            ready=bool(item.get("ready", False)),
            cursors={str(k): str(v) for k, v in (item.get("cursors") or {}).items()},
        )


def _subscription_key(tenant: str, channel: str, connection_id: str) -> dict[str, str]:
    return {"pk": tenant, "sk": f"{SUBSCRIPTION_PREFIX}{channel}#{connection_id}"}


class ConnectionRegistry:
    def __init__(self, table: Table, *, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self.ttl_s = ttl_s
        self._clock = clock

    def register(
        self,
        tenant: str,
        connection_id: str,
        *,
        subject: str,
        scopes: Iterable[str],
        served_until: int | None = None,
        protocol: str = LIVE_PROTOCOL,
    ) -> Connection:
        """Record a connection until API Gateway's connection limit or `served_until`, whichever
        comes first: the last moment its token is served, by the same rule as at connect (the
        token's expiry plus the clock leeway every check grants). Past it, nothing is pushed to it
        and its messages answer `not_connected`, so the client reconnects with a fresh token."""
        now = int(self._clock())
        expires_at = now + self.ttl_s
        if served_until:
            expires_at = min(expires_at, served_until)
        connection = Connection(
            tenant,
            connection_id,
            subject,
            frozenset(scopes),
            connected_at=now,
            expires_at=expires_at,
            protocol=protocol,
        )
        self._table.put(connection.item())
        return connection

    def get(self, tenant: str, connection_id: str) -> Connection | None:
        item = self._table.get({"pk": tenant, "sk": f"{CONNECTION_PREFIX}{connection_id}"})
        if item is None or int(item.get("expires_at", 0)) <= self._clock():
            return None
        return Connection.from_item(tenant, item)

    def subscribe(self, connection: Connection, channels: Iterable[str]) -> None:
        """Subscribe the connection to `channels`: one item per channel, put whatever is there
        (subscribing twice is subscribing once), until the connection's expiry."""
        for channel in sorted(set(channels)):
            self._table.put(
                {
                    **_subscription_key(connection.tenant, channel, connection.connection_id),
                    "connection_id": connection.connection_id,
                    "subject": connection.subject,
                    "expires_at": connection.expires_at,
                }
            )

    def unsubscribe(self, connection: Connection, channels: Iterable[str]) -> None:
        """Drop the connection's subscriptions to `channels`, whichever it has (idempotent)."""
        for channel in sorted(set(channels)):
            self._table.delete(_subscription_key(connection.tenant, channel, connection.connection_id))

    def channels(self, tenant: str, connection_id: str) -> frozenset[str]:
        """The channels the connection is subscribed to now: a read per known channel, for tests
        and operators (no route needs it)."""
        now = self._clock()
        return frozenset(
            channel
            for channel in CHANNELS
            if (item := self._table.get(_subscription_key(tenant, channel, connection_id))) is not None
            and int(item.get("expires_at", 0)) > now
        )

    def subscribers(self, tenant: str, channel: str) -> list[str]:
        """Connection ids subscribed to the channel now (each once, whatever its subscriptions)."""
        return list(dict.fromkeys(s.connection_id for s in self.subscriptions(tenant, channel)))

    def subscriptions(self, tenant: str, channel: str) -> list[Subscription]:
        """The channel's subscriptions now: one query of the channel's subscription items."""
        now = self._clock()
        read = read_up_to(
            self._table,
            ("pk", tenant),
            limit=None,
            chunk=1000,
            sort_prefix=("sk", f"{SUBSCRIPTION_PREFIX}{channel}#"),
        )
        return [
            Subscription(str(i["connection_id"]), LiveSelection.from_item(i))
            for i in read.items
            if int(i.get("expires_at", 0)) > now
        ]

    # --- graphql-transport-ws -----------------------------------------------------------------

    def acknowledge(self, connection: Connection, cursors: Mapping[str, str]) -> bool:
        """Mark the connection's `connection_init` done, with the cursors its payload named (a
        reconnecting client's last applied cursor per channel); False if it was done already."""
        try:
            self._table.update(
                {"pk": connection.tenant, "sk": f"{CONNECTION_PREFIX}{connection.connection_id}"},
                {"ready": True, "cursors": dict(cursors)},
                condition=_Ready,
            )
        except ConditionFailed:
            return False
        return True

    def subscribe_graphql(self, connection: Connection, channel: str, selection: LiveSelection) -> bool:
        """Record a GraphQL subscription; False when the connection has one of this id already."""
        tenant, connection_id = connection.tenant, connection.connection_id
        record = {
            "connection_id": connection_id,
            "subject": connection.subject,
            "expires_at": connection.expires_at,
        }
        try:
            self._table.transact(
                [
                    Put(
                        {**_graphql_key(tenant, connection_id, selection.id), "channel": channel, **record},
                        condition=item_absent(),
                    ),
                    Put(
                        {
                            **_subscription_key(tenant, channel, f"{connection_id}#{selection.id}"),
                            **record,
                            **selection.item(),
                        }
                    ),
                ]
            )
        except TransactionCancelled as cancelled:
            if 0 in cancelled.failed:
                return False
            raise
        return True

    def complete_graphql(self, connection: Connection, subscription_id: str) -> bool:
        """Drop the connection's GraphQL subscription `subscription_id`; False if it had none."""
        return self._drop_graphql(connection.tenant, connection.connection_id, subscription_id)

    def _drop_graphql(self, tenant: str, connection_id: str, subscription_id: str) -> bool:
        old = self._table.delete(_graphql_key(tenant, connection_id, subscription_id))
        if old is None:
            return False
        channel = str(old["channel"])
        self._table.delete(_subscription_key(tenant, channel, f"{connection_id}#{subscription_id}"))
        return True

    def remove(self, tenant: str, connection_id: str) -> None:
        """Forget the connection and its subscriptions (idempotent)."""
        self._table.delete({"pk": tenant, "sk": f"{CONNECTION_PREFIX}{connection_id}"})
        for channel in sorted(CHANNELS):  # a subscription exists only for a known channel
            self._table.delete(_subscription_key(tenant, channel, connection_id))
        prefix = f"{GRAPHQL_PREFIX}{connection_id}#"
        read = read_up_to(self._table, ("pk", tenant), limit=None, chunk=100, sort_prefix=("sk", prefix))
        for item in read.items:
            self._drop_graphql(tenant, connection_id, str(item["sk"])[len(prefix) :])


def _graphql_key(tenant: str, connection_id: str, subscription_id: str) -> dict[str, str]:
    return {"pk": tenant, "sk": f"{GRAPHQL_PREFIX}{connection_id}#{subscription_id}"}


# `connection_init` once per connection, on a connection that exists.
_Ready = Condition(
    "attribute_exists(#pk) AND attribute_not_exists(#ready)", names={"#pk": "pk", "#ready": "ready"}
)
