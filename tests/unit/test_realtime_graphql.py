"""GraphQL subscriptions over the WebSocket API (`graphql-transport-ws`): the handshake's
subprotocol, the protocol's messages and refusals, the replay after a cursor (the subscription's
`after` or the connection's `connection_init` cursors), and the fan-out's frames for a
subscription's selection. The service and the fan-out on the fakes of their suites."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from gui_core.connections import Connection
from gui_core.live_graphql import (
    PROTOCOL,
    LiveSelection,
    SubscriptionRefused,
    compile_subscription,
)
from gui_core.replay_log import ORIGIN, to_cursor
from local.apigw import sample_event
from tests.unit import fanout_support
from tests.unit.realtime_support import CONNECTION, Backend

JOBS = "subscription Jobs($after: String) { jobs(after: $after) { type cursor kind payload latest more } }"


@pytest.fixture
def backend() -> Backend:
    return Backend()


def open_graphql(backend: Backend, **query: str) -> dict[str, Any]:
    return backend.connect(query={"tenant": "acme", **query}, headers={"Sec-WebSocket-Protocol": PROTOCOL})


def init(backend: Backend, payload: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    return backend.send(message)


def subscribe(backend: Backend, sid: str, query: str = JOBS, **variables: Any) -> list[dict[str, Any]]:
    return backend.send({"id": sid, "type": "subscribe", "payload": {"query": query, "variables": variables}})


def closed(backend: Backend) -> bool:
    return CONNECTION in backend.management.gone


def test_the_handshake_selects_graphql_transport_ws_when_offered(backend: Backend) -> None:
    answer = open_graphql(backend)
    assert answer == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": PROTOCOL}}
    connection = backend.registry.get("acme", CONNECTION)
    assert connection is not None
    assert connection.protocol == PROTOCOL
    assert not connection.ready


def test_a_graphql_connection_names_no_channel_in_its_url(backend: Backend) -> None:
    answer = open_graphql(backend, channel="jobs")
    assert answer["statusCode"] == 400
    assert backend.registry.get("acme", CONNECTION) is None


def test_init_is_acknowledged_once_and_a_second_init_closes(backend: Backend) -> None:
    open_graphql(backend)
    assert init(backend) == [{"type": "connection_ack"}]
    assert not closed(backend)
    assert init(backend) == []
    assert closed(backend)  # 4429 in the protocol; API Gateway closes without a code


def test_a_subscribe_before_init_closes_the_connection(backend: Backend) -> None:
    open_graphql(backend)
    assert subscribe(backend, "1") == []
    assert closed(backend)
    assert backend.registry.subscribers("acme", "jobs") == []


def test_ping_answers_pong_and_pong_nothing(backend: Backend) -> None:
    open_graphql(backend)
    assert backend.send({"type": "ping"}) == [{"type": "pong"}]
    assert backend.send({"type": "pong"}) == []
    assert not closed(backend)


def test_a_subscription_without_after_starts_live(backend: Backend) -> None:
    open_graphql(backend)
    init(backend)
    backend.log("jobs", 2)
    answers = subscribe(backend, "s1")
    latest = to_cursor(1002)
    assert answers == [
        {
            "id": "s1",
            "type": "next",
            "payload": {
                "data": {
                    "jobs": {
                        "type": "LIVE",
                        "cursor": latest,
                        "kind": None,
                        "payload": None,
                        "latest": latest,
                        "more": None,
                    }
                }
            },
        }
    ]
    assert backend.registry.subscribers("acme", "jobs") == [CONNECTION]


def test_a_subscription_after_a_cursor_replays_then_says_live(backend: Backend) -> None:
    open_graphql(backend)
    init(backend)
    cursors = backend.log("jobs", 5)
    answers = subscribe(backend, "s1", after=cursors[1])
    data = [a["payload"]["data"]["jobs"] for a in answers]
    assert [d["type"] for d in data] == ["EVENT", "EVENT", "EVENT", "LIVE"]
    assert [d["cursor"] for d in data] == [*cursors[2:], cursors[-1]]
    assert data[0]["payload"] == {"job_id": "job-3", "note": "x" * 10}
    assert data[-1]["latest"] == cursors[-1]
    assert data[-1]["more"] is False
    assert {a["id"] for a in answers} == {"s1"}


def test_the_connection_s_init_cursor_resumes_a_resent_subscribe(backend: Backend) -> None:
    """graphql-ws re-sends its first `subscribe` on reconnect; the cursors of `connection_init`
    (its connectionParams, computed on each connect) say where the client really is."""
    open_graphql(backend)
    cursors = backend.log("jobs", 6)
    init(backend, {"cursors": {"jobs": cursors[3]}})
    answers = subscribe(backend, "s1", after=cursors[0])  # the first subscribe's, unchanged
    data = [a["payload"]["data"]["jobs"] for a in answers]
    assert [d["cursor"] for d in data] == [cursors[4], cursors[5], cursors[5]]
    assert [d["type"] for d in data] == ["EVENT", "EVENT", "LIVE"]


def test_an_expired_cursor_is_a_gap(backend: Backend) -> None:
    open_graphql(backend)
    init(backend)
    backend.log("jobs", 2)
    answers = subscribe(backend, "s1", after=to_cursor(5))  # older than anything logged
    (data,) = [a["payload"]["data"]["jobs"] for a in answers]
    assert data["type"] == "GAP"
    assert data["cursor"] == to_cursor(5)
    assert data["latest"] == to_cursor(1002)


def test_an_id_in_use_closes_and_complete_ends_a_subscription(backend: Backend) -> None:
    open_graphql(backend)
    init(backend)
    subscribe(backend, "s1")
    subscribe(backend, "s2")  # the same channel twice: two subscriptions of the connection
    assert len(backend.registry.subscriptions("acme", "jobs")) == 2
    assert backend.send({"type": "complete", "id": "s1"}) == []
    assert [s.selection.id for s in backend.registry.subscriptions("acme", "jobs") if s.selection] == ["s2"]
    subscribe(backend, "s2")
    assert closed(backend)  # 4409


def test_a_channel_outside_the_scopes_is_an_error_of_that_subscription(backend: Backend) -> None:
    open_graphql(backend)
    init(backend)
    answers = backend.send(
        {"id": "n", "type": "subscribe", "payload": {"query": "subscription { notifications { cursor } }"}},
        scopes="gui:jobs",
    )
    (answer,) = answers
    assert (answer["id"], answer["type"]) == ("n", "error")
    (error,) = answer["payload"]
    assert set(error) == {"message", "extensions"}
    assert error["message"]
    extensions = answers[0]["payload"][0]["extensions"]
    assert (extensions["code"], extensions["status"]) == ("insufficient_scope", 403)
    assert backend.registry.subscribers("acme", "notifications") == []
    assert not closed(backend)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("{ __typename }", "Only subscriptions"),
        ("subscription { jobs { nope } }", "Cannot query field 'nope'"),
        ("subscription { jobs { type } readiness { type } }", "only one top level field"),
        ("subscription {", "Syntax Error"),
    ],
)
def test_a_document_that_is_no_subscription_is_a_validation_error(
    backend: Backend, query: str, fragment: str
) -> None:
    open_graphql(backend)
    init(backend)
    (answer,) = subscribe(backend, "bad", query)
    assert answer["id"] == "bad"
    assert answer["type"] == "error"
    (error,) = answer["payload"]
    assert fragment in error["message"]
    assert error["extensions"]["code"] == "graphql_validation_failed"
    assert error["extensions"]["status"] == 400
    assert not closed(backend)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "subscribe", "payload": {"query": JOBS}},  # no id
        {"type": "subscribe", "id": "x", "payload": {"nothing": 1}},
        {"type": "connection_init", "payload": {"cursors": {"jobs": "not-a-cursor"}}},
        {"type": "connection_init", "payload": {"cursors": {"nope": ORIGIN}}},
        {"type": "complete"},
    ],
)
def test_a_message_outside_the_protocol_closes_the_connection(
    backend: Backend, message: dict[str, Any]
) -> None:
    open_graphql(backend)
    if message["type"] != "connection_init":
        init(backend)
    assert backend.send(message) == []
    assert closed(backend)


def test_a_live_protocol_connection_answers_a_graphql_message_as_an_unknown_action(backend: Backend) -> None:
    backend.connect(query={"tenant": "acme"})
    (answer,) = init(backend)
    assert answer["type"] == "error"
    assert answer["code"] == "unknown_action"
    assert not closed(backend)


def test_the_tenant_s_message_limit_refuses_a_subscribe_with_an_error_for_its_id(backend: Backend) -> None:
    backend.connect(query={"tenant": "stark"}, tenant="stark", headers={"Sec-WebSocket-Protocol": PROTOCOL})
    answers = [backend.send({"type": "ping"}, tenant="stark") for _ in range(3)]
    assert answers == [[{"type": "pong"}]] * 3
    (refused,) = backend.send({"id": "s", "type": "subscribe", "payload": {"query": JOBS}}, tenant="stark")
    assert refused["id"] == "s"
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "rate_limited"
    assert refused["payload"][0]["extensions"]["status"] == 429


def test_disconnect_forgets_the_graphql_subscriptions(backend: Backend) -> None:
    open_graphql(backend)
    init(backend)
    subscribe(backend, "a")
    subscribe(backend, "b", "subscription { readiness { cursor } }")
    assert backend.handle(sample_event("websocket_disconnect")) == {"statusCode": 200}
    assert backend.registry.subscriptions("acme", "jobs") == []
    assert backend.registry.subscriptions("acme", "readiness") == []
    assert backend.connections.items == {}  # nothing of the connection left


def test_compile_follows_fragments_aliases_and_directives() -> None:
    compiled = compile_subscription(
        "subscription S($a: String, $k: Boolean!) {"
        " j: jobs(after: $a) { t: type ...F kind @include(if: $k) } }"
        " fragment F on LiveMessage { __typename cursor }",
        {"a": ORIGIN, "k": False},
        "S",
    )
    assert (compiled.channel, compiled.after, compiled.key) == ("jobs", ORIGIN, "j")
    assert compiled.fields == (("t", "type"), ("__typename", "__typename"), ("cursor", "cursor"))
    with pytest.raises(SubscriptionRefused):
        compile_subscription("subscription { prompt_pack { cursor } }", None, "Other")


def test_the_fan_out_pushes_each_graphql_subscription_its_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = fanout_support.subscribed_backend()
    function: ModuleType = fanout_support.handler_on(monkeypatch, backend)
    connection = Connection(
        "acme", "c-gql", "alice", frozenset({"gui:jobs"}), expires_at=int(fanout_support.NOW) + 60
    )
    backend.registry.subscribe_graphql(
        connection, "jobs", LiveSelection("one", "jobs", (("cursor", "cursor"),))
    )
    backend.registry.subscribe_graphql(
        connection,
        "jobs",
        LiveSelection("two", "j", (("t", "type"), ("kind", "kind"), ("__typename", "__typename"))),
    )
    event = fanout_support.batch(fanout_support.record(fanout_support.SAMPLES["JobStatusChanged"], 401))
    assert fanout_support.invoke(function, event) == []
    cursor = to_cursor(401)
    assert sorted(backend.received("c-gql"), key=lambda m: m["id"]) == [
        {"id": "one", "type": "next", "payload": {"data": {"jobs": {"cursor": cursor}}}},
        {
            "id": "two",
            "type": "next",
            "payload": {
                "data": {"j": {"t": "EVENT", "kind": "JobStatusChanged", "__typename": "LiveMessage"}}
            },
        },
    ]
    assert [m["cursor"] for m in backend.received("c-jobs")] == [cursor]  # the live protocol's subscriber too


def test_the_gui_s_subscriptions_compile() -> None:
    """docs/gui/subscriptions.graphql (typed by `npm run gen:graphql`) is served as written."""
    from pathlib import Path

    document = (Path(__file__).resolve().parents[2] / "docs" / "gui" / "subscriptions.graphql").read_text()
    fragment = document[document.index("fragment") : document.index("subscription JobsLive")]
    for name, channel in [
        ("JobsLive", "jobs"),
        ("NotificationsLive", "notifications"),
        ("ReadinessLive", "readiness"),
    ]:
        compiled = compile_subscription(document, {"after": ORIGIN}, name)
        assert (compiled.channel, compiled.after) == (channel, ORIGIN)
        assert [f for _, f in compiled.fields] == fragment.split("{")[1].split("}")[0].split()
