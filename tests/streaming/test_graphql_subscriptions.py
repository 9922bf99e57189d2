"""GraphQL subscriptions end to end (docs/gui/live_channels.md, "GraphQL subscriptions"): a
`websockets` client speaking `graphql-transport-ws` to the local WebSocket API, a domain event
published on the bus reaching it as a `next` message with the fields it selected, and a client
that drops its connection resuming through `connection_init`'s cursors without loss or repeats."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import connect

from gui_core.dynamo import Table
from gui_core.live_graphql import PROTOCOL

from .support import Events, LiveClient, wait_logged, ws_aws_url

JOBS = "subscription Jobs($after: String) { jobs(after: $after) { type cursor event_id kind latest more } }"


class GraphQLClient(LiveClient):
    """A LiveClient that speaks graphql-transport-ws."""

    @classmethod
    def open(cls, base: str, tenant: str, token: str) -> GraphQLClient:
        opener = connect(
            ws_aws_url(base, tenant),
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=10,
            close_timeout=2,
        )
        client = cls(opener.__enter__(), opener)
        assert client.subprotocol == PROTOCOL
        return client

    def init(self, payload: dict[str, Any] | None = None) -> None:
        start = self.mark()
        self.ws.send(json.dumps({"type": "connection_init", **({"payload": payload} if payload else {})}))
        assert self.wait_for(lambda m: "type" in m, after=start)["type"] == "connection_ack"

    def subscribe_graphql(self, sid: str, query: str = JOBS, **variables: Any) -> None:
        self.ws.send(
            json.dumps({"id": sid, "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )

    def data(self, sid: str, *, after: int = 0) -> list[dict[str, Any]]:
        return [
            m["payload"]["data"]["jobs"]
            for m in self.received(after)
            if m.get("id") == sid and m["type"] == "next"
        ]

    def wait_data(
        self, sid: str, done: Callable[[list[dict[str, Any]]], bool], *, after: int = 0
    ) -> list[dict[str, Any]]:
        self.wait_until(lambda _: done(self.data(sid, after=after)), after=after)
        return self.data(sid, after=after)


def test_a_subscription_receives_the_channel_s_events_with_its_fields(
    base: str, tenant: str, events: Events, mint: Callable[..., str]
) -> None:
    with GraphQLClient.open(base, tenant, mint(tenant)) as client:
        client.init()
        client.subscribe_graphql("s1")
        (live,) = client.wait_data("s1", lambda d: len(d) >= 1)
        assert live["type"] == "LIVE"
        published = events.publish(tenant, "jobs")
        data = client.wait_data("s1", lambda d: any(e["event_id"] == published["event_id"] for e in d))
        (event,) = [e for e in data if e["type"] == "EVENT"]
        assert event["event_id"] == published["event_id"]
        assert event["kind"] == "JobStatusChanged"
        assert set(event) == {"type", "cursor", "event_id", "kind", "latest", "more"}
        assert event["cursor"] > live["cursor"]

        client.ws.send(json.dumps({"id": "s1", "type": "complete"}))
        time.sleep(0.3)  # the complete is applied before the next event is logged
        mark = client.mark()
        later = events.publish(tenant, "jobs")
        client.ws.send(json.dumps({"type": "ping"}))
        client.wait_for(lambda m: m.get("type") == "pong", after=mark)
        time.sleep(1.0)
        assert not [e for e in client.data("s1", after=mark) if e.get("event_id") == later["event_id"]]


def test_a_dropped_connection_resumes_from_its_init_cursor_without_loss_or_repeats(
    base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    token = mint(tenant)
    with GraphQLClient.open(base, tenant, token) as first:
        first.init()
        first.subscribe_graphql("jobs-1")
        first.wait_data("jobs-1", lambda d: len(d) >= 1)
        before = [events.publish(tenant, "jobs") for _ in range(2)]
        ids = {d["event_id"] for d in before}
        seen = first.wait_data("jobs-1", lambda d: ids <= {e.get("event_id") for e in d})
        applied = [e for e in seen if e["type"] == "EVENT"]
        last_cursor = applied[-1]["cursor"]

    missed = [events.publish(tenant, "jobs") for _ in range(3)]  # no connection open
    missed_cursors = [wait_logged(events_table, tenant, "jobs", d["event_id"]) for d in missed]

    with GraphQLClient.open(base, tenant, token) as second:
        # graphql-ws re-sends the first subscribe unchanged; the init carries where the client is.
        second.init({"cursors": {"jobs": last_cursor}})
        second.subscribe_graphql("jobs-1")
        replayed = second.wait_data("jobs-1", lambda d: any(e["type"] == "LIVE" for e in d))
        assert [e["type"] for e in replayed] == ["EVENT"] * 3 + ["LIVE"]
        assert [e["event_id"] for e in replayed[:3]] == [d["event_id"] for d in missed]
        assert [e["cursor"] for e in replayed[:3]] == missed_cursors
        assert replayed[-1]["more"] is False

        after = [events.publish(tenant, "jobs") for _ in range(2)]
        want = {d["event_id"] for d in after}
        data = second.wait_data("jobs-1", lambda d: want <= {e.get("event_id") for e in d})
        time.sleep(0.5)  # anything sent twice would have come by now
        data = second.data("jobs-1")
        got = [e for e in applied + data if e["type"] == "EVENT"]
        assert [e["event_id"] for e in got] == [d["event_id"] for d in before + missed + after]
        cursors = [e["cursor"] for e in got]
        assert all(a < b for a, b in itertools.pairwise(cursors)), cursors


def test_a_subscription_over_http_points_to_the_websocket_api(
    base: str, tenant: str, mint: Callable[..., str]
) -> None:
    answer = httpx.post(
        f"{base}/service/gui/graphql",
        json={"query": JOBS},
        headers={"Authorization": f"Bearer {mint(tenant)}"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "subscription_over_http"
