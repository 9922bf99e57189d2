"""GraphQL subscriptions over the live channels (`graphql-transport-ws`): the schema's
`Subscription` type, what a subscription document compiles to, and the frame of an event for it.

A subscription names one channel (a root field per channel: `jobs`, `notifications`, `readiness`,
`prompt_pack`) and selects fields of a `LiveMessage`. The WebSocket function compiles the document
once, when the client subscribes (`compile_subscription`: parse, validate against the subscription
schema, collect the selected fields), and keeps the result on the subscription's record
(`gui_core.connections`); the fan-out then makes each event's frame from that record alone
(`LiveSelection.frame`), without a GraphQL library or a schema: a push costs what it costs for the
live protocol's own clients. The GraphQL function puts the same `Subscription` type in its schema
(docs/gui/schema.graphql), so the GUI's typed operations cover subscriptions too.

A `LiveMessage` is an `EVENT` (a live or replayed event of the channel), `LIVE` (the replay, if
any, is over: from here events are live; `more` when the replay stopped at its bound: subscribe
again `after` its `cursor`) or `GAP` (the cursor is older than the replay window or unknown:
re-sync the screen, then carry on from `latest`). See docs/gui/live_channels.md.

The graphql library is imported on first use only: a connection of the live protocol never pays it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gui_core.replay_log import CHANNELS

if TYPE_CHECKING:
    from graphql import GraphQLObjectType, GraphQLScalarType, GraphQLSchema

PROTOCOL = "graphql-transport-ws"
TYPE_NAME = "LiveMessage"
SUBSCRIPTION_TOKENS = 2_000  # a subscription is a short document; parsing stops past this
# The root field of each channel: a GraphQL name (`prompt-pack` is not one).
CHANNEL_FIELDS: dict[str, str] = {channel.replace("-", "_"): channel for channel in CHANNELS}
# The frame's own fields around the message (id, type, payload.data.<key>): room kept under the quota.
FRAME_OVERHEAD_BYTES = 512


class SubscriptionRefused(ValueError):
    """A document that is no subscription this API serves: GraphQL's errors, as the protocol's
    `error` message carries them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class LiveSelection:
    """A compiled subscription: its id on the connection, the response key of its root field and
    the `LiveMessage` fields it selects, as (response key, field name), in the document's order."""

    id: str
    key: str
    fields: tuple[tuple[str, str], ...]

    def frame(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The protocol's `next` message carrying `message` (a live message: `event`, `live`, `gap`)."""
        return {"id": self.id, "type": "next", "payload": {"data": {self.key: project(message, self.fields)}}}

    def item(self) -> dict[str, Any]:
        return {"gql_id": self.id, "gql_key": self.key, "gql_fields": [list(pair) for pair in self.fields]}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LiveSelection | None:
        if "gql_id" not in item:
            return None
        fields = tuple((str(key), str(name)) for key, name in item.get("gql_fields") or [])
        return cls(str(item["gql_id"]), str(item["gql_key"]), fields)


def project(message: Mapping[str, Any], fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The `LiveMessage` a live message is, cut to the selected fields."""
    out: dict[str, Any] = {}
    for key, name in fields:
        if name == "__typename":
            out[key] = TYPE_NAME
        elif name == "type":
            out[key] = str(message.get("type", "")).upper()
        else:
            out[key] = message.get(name)
    return out


@dataclass(frozen=True)
class CompiledSubscription:
    channel: str
    after: str | None
    key: str
    fields: tuple[tuple[str, str], ...]

    def selection(self, subscription_id: str) -> LiveSelection:
        return LiveSelection(subscription_id, self.key, self.fields)


def subscription_type(json: GraphQLScalarType) -> GraphQLObjectType:
    """The `Subscription` root type (`json`: the schema's JSON scalar, for the event's payload)."""
    return _types(json)[1]


@functools.cache
def _types(json: GraphQLScalarType) -> tuple[GraphQLObjectType, GraphQLObjectType]:
    from graphql import (
        GraphQLArgument,
        GraphQLBoolean,
        GraphQLEnumType,
        GraphQLField,
        GraphQLInt,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLString,
    )

    kinds = GraphQLEnumType(
        "LiveMessageType",
        {"EVENT": "EVENT", "LIVE": "LIVE", "GAP": "GAP"},
        description="EVENT: an event of the channel; LIVE: the replay is over, events from here "
        "are live; GAP: the cursor is past the replay window: re-sync, then carry on from `latest`.",
    )
    message = GraphQLObjectType(
        TYPE_NAME,
        {
            "type": GraphQLField(GraphQLNonNull(kinds)),
            "channel": GraphQLField(GraphQLNonNull(GraphQLString)),
            "cursor": GraphQLField(
                GraphQLString,
                description="EVENT: the event's cursor (greater than every earlier event's); LIVE: the "
                "last event the replay sent (subscribe `after` it to resume); GAP: the cursor given.",
            ),
            "latest": GraphQLField(GraphQLString, description="LIVE and GAP: the channel's newest cursor."),
            "more": GraphQLField(
                GraphQLBoolean,
                description="LIVE: the replay stopped at its bound; subscribe again `after` `cursor`.",
            ),
            "event_id": GraphQLField(GraphQLString),
            "kind": GraphQLField(GraphQLString, description="The event's detail-type (JobStatusChanged...)."),
            "at": GraphQLField(GraphQLString),
            "v": GraphQLField(GraphQLInt, description="The version of the payload's schema."),
            "payload": GraphQLField(json, description="The event, as the live protocol carries it."),
            "truncated": GraphQLField(
                GraphQLBoolean, description="The payload was cut to fit a frame: fetch the rest by query."
            ),
        },
        description="A message of a live channel (docs/gui/live_channels.md).",
    )
    after = GraphQLArgument(
        GraphQLString,
        description="Replay the events after this cursor first (a `LIVE` message ends the replay; a "
        "`GAP` says the cursor is past the replay window). None: live events only.",
    )
    subscription = GraphQLObjectType(
        "Subscription",
        {
            name: GraphQLField(
                GraphQLNonNull(message),
                args={"after": after},
                description=f"The `{channel}` channel (scope {CHANNELS[channel]}), over the WebSocket "
                f"API's `{PROTOCOL}` protocol.",
            )
            for name, channel in CHANNEL_FIELDS.items()
        },
    )
    return message, subscription


@functools.cache
def _schema() -> GraphQLSchema:
    """The subscription schema the WebSocket function validates documents against."""
    from graphql import GraphQLBoolean, GraphQLField, GraphQLObjectType, GraphQLScalarType, GraphQLSchema

    json = GraphQLScalarType("JSON", serialize=lambda value: value, parse_value=lambda value: value)
    query = GraphQLObjectType("Query", {"live": GraphQLField(GraphQLBoolean)})  # a schema needs one
    return GraphQLSchema(query=query, subscription=subscription_type(json))


def compile_subscription(
    query: str, variables: Mapping[str, Any] | None, operation_name: str | None
) -> CompiledSubscription:
    """The channel, the `after` cursor and the selection of a subscription document; raises
    SubscriptionRefused with GraphQL's errors when it is not one this API serves."""
    from graphql import (
        FieldNode,
        FragmentDefinitionNode,
        FragmentSpreadNode,
        GraphQLError,
        InlineFragmentNode,
        OperationDefinitionNode,
        OperationType,
        parse,
        validate,
    )
    from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values
    from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective

    schema = _schema()
    try:
        document = parse(query, no_location=False, max_tokens=SUBSCRIPTION_TOKENS)
    except GraphQLError as error:
        raise SubscriptionRefused([dict(error.formatted)]) from None
    errors = validate(schema, document)
    if errors:
        raise SubscriptionRefused([dict(e.formatted) for e in errors])
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1:
        raise SubscriptionRefused([{"message": "Name the one operation to run (`operationName`)."}])
    operation = operations[0]
    if operation.operation != OperationType.SUBSCRIPTION:
        raise SubscriptionRefused(
            [{"message": "Only subscriptions are served here; send queries and mutations to POST /graphql."}]
        )
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables or {}))
    if isinstance(coerced, list):
        raise SubscriptionRefused([dict(e.formatted) for e in coerced])
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def included(node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, coerced)
        include = get_directive_values(GraphQLIncludeDirective, node, coerced)
        return not (skip and skip.get("if")) and not (include is not None and not include.get("if"))

    def fields(selection_set: Any) -> list[FieldNode]:
        found: list[FieldNode] = []
        for node in selection_set.selections:
            if not included(node):
                continue
            if isinstance(node, FieldNode):
                found.append(node)
            elif isinstance(node, InlineFragmentNode):
                found.extend(fields(node.selection_set))
            elif isinstance(node, FragmentSpreadNode):
                found.extend(fields(fragments[node.name.value].selection_set))
        return found

    roots = fields(operation.selection_set)
    if len(roots) != 1 or roots[0].name.value == "__typename":
        raise SubscriptionRefused([{"message": "A subscription selects one channel's field."}])
    root = roots[0]
    assert schema.subscription_type is not None
    definition = schema.subscription_type.fields[root.name.value]
    after = get_argument_values(definition, root, coerced).get("after")
    selected: dict[str, str] = {}
    for node in fields(root.selection_set):
        key = node.alias.value if node.alias else node.name.value
        selected.setdefault(key, node.name.value)  # validation made repeated keys the same field
    return CompiledSubscription(
        channel=CHANNEL_FIELDS[root.name.value],
        after=after,
        key=root.alias.value if root.alias else root.name.value,
        fields=tuple(selected.items()),
    )
