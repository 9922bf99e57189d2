"""The SSE route: resume from Last-Event-ID or `since`, the gap event, the hold that ends with only
`ready`, and the REST checks (scope per channel, tenant in the path, cursor format).

Requests are REST proxy events built from events/aws/rest_proxy_request.json; the hold's clock and
sleep are fakes, so no test waits.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from mangum import Mangum

from gui_core.guard import Guard
from gui_core.rate_limit import RateLimiter
from gui_core.replay_log import ORIGIN, LiveEvent, ReplayLog, to_cursor
from gui_core.stream_tickets import StreamTickets, ticket_key
from gui_core.tenancy import TenantDirectory
from gui_stream.app import create_app
from gui_stream.settings import StreamSettings
from local.apigw import HttpRequest, proxy_event, response_headers
from local.memory_table import MemoryTable
from tests.fakes import FakeAudit, FakeCounters, FakeLambdaContext, ManualClock
from tests.unit.realtime_support import NOW, TENANTS, WINDOW_S

AUTH = {
    "principalId": "user-ada",
    "tenant": "acme",
    "subject": "user-ada",
    "scopes": "gui:dashboard gui:jobs gui:notifications",
    "roles": "",
    "region": "eu-west-1",
    "token_id": "0b8f6c1e-5d1e-4c77-8d8a-6a3f1f0f7a21",
    "expires_at": 4_000_000_000,
    "integrationLatency": 0,
}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.sample.signature"

SETTINGS = StreamSettings(
    POWERTOOLS_SERVICE_NAME="gui_stream",
    GUI_REGION="eu-west-1",
    AUDIT_TABLE="audit",
    TENANTS_TABLE="tenants",
    LIMITS_TABLE="limits",
    EVENTS_TABLE="events",
    REPLAY_WINDOW_S=WINDOW_S,
    STREAM_HOLD_S=20,
    STREAM_POLL_S=0.25,
)


class HoldClock:
    """The hold's monotonic clock; `sleep` moves it and may run a hook (an event arriving)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


class Stream:
    def __init__(self) -> None:
        self.hold = HoldClock()
        self.replay = ReplayLog(MemoryTable(), window_s=WINDOW_S, clock=ManualClock(NOW))
        guard = Guard(
            region="eu-west-1",
            region_urls={"us-east-1": "https://us.example.com/prod"},
            tenants=TenantDirectory(MemoryTable(TENANTS)),
            rate_limiter=RateLimiter(FakeCounters()),
            replay=None,
        )
        self.tickets_table = MemoryTable()
        self.audit = FakeAudit()
        app = create_app(
            SETTINGS,
            replay=self.replay,
            tickets=StreamTickets(self.tickets_table),
            audit=self.audit,
            guard=guard,
            clock=self.hold,
            sleep=self.hold.sleep,
        )
        self.asgi = Mangum(
            app, lifespan="off", text_mime_types=["application/problem+json", "text/event-stream"]
        )

    def log(self, count: int, *, channel: str = "jobs", start: int = 1) -> list[str]:
        cursors = []
        for n in range(start, start + count):
            cursor = to_cursor(5000 + n)
            self.replay.append(
                LiveEvent(
                    "acme",
                    channel,
                    cursor,
                    f"ev-{n}",
                    "JobStatusChanged",
                    "2026-11-27T18:29:00.000+00:00",
                    {"job_id": f"j{n}"},
                )
            )
            cursors.append(cursor)
        return cursors

    def get(
        self,
        channel: str = "jobs",
        *,
        tenant: str = "acme",
        path_tenant: str | None = None,
        query: str = "",
        headers: tuple[tuple[str, str], ...] = (),
        context: FakeLambdaContext | None = None,
        **authorizer: Any,
    ) -> tuple[int, dict[str, list[str]], str]:
        in_path = path_tenant or tenant
        path = f"/service/gui/stream/{channel}/{in_path}"
        event = proxy_event(
            HttpRequest("GET", path, headers=(("Accept", "text/event-stream"), *headers), query=query),
            resource="/service/gui/stream/{channel}/{tenant}",
            path_parameters={"channel": channel, "tenant": in_path},
            authorizer={**AUTH, "tenant": tenant, **authorizer},
            stage="prod",
            host="a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        )
        answer = self.asgi(event, context or FakeLambdaContext("ddgui-gui-stream", remaining_ms=27_000))
        return answer["statusCode"], response_headers(answer), answer["body"]

    def ticket(self, body: Any, **authorizer: Any) -> tuple[int, dict[str, list[str]], Any]:
        event = proxy_event(
            HttpRequest(
                "POST",
                "/service/gui/live/tickets",
                headers=(("Content-Type", "application/json"), ("Authorization", f"Bearer {TOKEN}")),
                body=json.dumps(body).encode(),
            ),
            resource="/service/gui/live/tickets",
            path_parameters={},
            authorizer={**AUTH, **authorizer},
            stage="prod",
            host="a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        )
        answer = self.asgi(event, FakeLambdaContext("ddgui-gui-stream", remaining_ms=27_000))
        raw = answer["body"]
        text = base64.b64decode(raw).decode() if answer.get("isBase64Encoded") else raw
        return answer["statusCode"], response_headers(answer), json.loads(text)


@pytest.fixture
def stream() -> Stream:
    return Stream()


def _event_block(cursor: str, n: int) -> str:
    message = {
        "type": "event",
        "v": 1,
        "channel": "jobs",
        "cursor": cursor,
        "event_id": f"ev-{n}",
        "kind": "JobStatusChanged",
        "at": "2026-11-27T18:29:00.000+00:00",
        "payload": {"job_id": f"j{n}"},
    }
    return f"id: {cursor}\nevent: event\ndata: {json.dumps(message, separators=(',', ':'))}\n\n"


def _ready(resume: str, latest: str | None, channel: str = "jobs") -> str:
    data = json.dumps({"type": "ready", "channel": channel, "latest": latest}, separators=(",", ":"))
    return f"retry: 1000\n\nid: {resume}\nevent: ready\ndata: {data}\n\n"


def test_resume_from_last_event_id_sends_the_later_events_in_the_documented_format(stream: Stream) -> None:
    cursors = stream.log(3)
    status, headers, body = stream.get(headers=(("Last-Event-ID", cursors[0]),))
    assert status == 200
    assert headers["content-type"][0].startswith("text/event-stream")
    assert "no-cache" in headers["cache-control"]
    assert body == _ready(cursors[0], cursors[2]) + _event_block(cursors[1], 2) + _event_block(cursors[2], 3)
    assert TOKEN not in body
    assert stream.hold.sleeps == []  # events were there: no hold


def test_resume_from_since_and_last_event_id_wins_over_it(stream: Stream) -> None:
    cursors = stream.log(3)
    _, _, body = stream.get(query=f"since={cursors[1]}")
    assert body == _ready(cursors[1], cursors[2]) + _event_block(cursors[2], 3)
    _, _, body = stream.get(query=f"since={cursors[1]}", headers=(("Last-Event-ID", cursors[0]),))
    assert body.count("event: event") == 2


def test_an_unknown_cursor_answers_a_gap_event_and_ready_carries_on_from_the_latest(stream: Stream) -> None:
    cursors = stream.log(2)
    unknown = to_cursor(42)
    status, _, body = stream.get(query=f"since={unknown}")
    gap = json.dumps(
        {"type": "gap", "channel": "jobs", "cursor": unknown, "latest": cursors[1]}, separators=(",", ":")
    )
    assert status == 200
    assert body == _ready(cursors[1], cursors[1]) + f"event: gap\ndata: {gap}\n\n"


def test_a_new_stream_answers_at_once_with_ready_at_the_latest(stream: Stream) -> None:
    """Without a cursor nothing is held: the client learns at once that it is connected, and where
    its stream starts."""
    cursors = stream.log(2)
    status, _, body = stream.get()
    assert status == 200
    assert body == _ready(cursors[1], cursors[1])
    assert stream.hold.sleeps == []


def test_with_a_cursor_the_hold_ends_with_only_ready_when_nothing_arrives(stream: Stream) -> None:
    cursors = stream.log(2)
    status, _, body = stream.get(query=f"since={cursors[1]}")
    assert status == 200
    assert body == _ready(cursors[1], cursors[1])
    assert 18 <= sum(stream.hold.sleeps) <= 20  # held the whole 20 s


def test_an_idle_hold_backs_off_between_empty_reads_so_it_reads_the_log_a_few_times(stream: Stream) -> None:
    """Quick reads first (an event on a busy channel is seen within 0.25 s, then 0.5 s...), then a
    read every 2 s: an idle 20 s hold reads DynamoDB 14 times instead of 81."""
    (cursor,) = stream.log(1)
    reads: list[float] = []
    read, peek = stream.replay.after, stream.replay.newer

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(stream.hold.now)
        return read(*args, **kwargs)

    def peeked(*args: Any, **kwargs: Any) -> Any:
        reads.append(stream.hold.now)
        return peek(*args, **kwargs)

    stream.replay.after = counted  # type: ignore[method-assign]
    stream.replay.newer = peeked  # type: ignore[method-assign]
    stream.get(query=f"since={cursor}")
    assert stream.hold.sleeps[:5] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert max(stream.hold.sleeps) == 2.0
    assert len(reads) == 14  # at 0, 0.25, 0.75, 1.75, 3.75, every 2 s to 19.75, and at 20
    assert 18 <= reads[-1] - reads[0] <= 20  # the hold still lasts its 20 s


class ReadLog(MemoryTable):
    """The replay log's table, recording each read: (operation, strongly consistent)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, bool]] = []
        self.lagging = 0  # eventually consistent reads still to answer as if the last write were not in

    def get(self, key: Any, *, consistent: bool = True) -> dict[str, Any] | None:
        self.reads.append(("get", consistent))
        return super().get(key, consistent=consistent)

    def query(self, partition: Any, **kwargs: Any) -> Any:
        consistent = bool(kwargs.get("consistent"))
        self.reads.append(("query", consistent))
        page = super().query(partition, **kwargs)
        if not consistent and self.lagging:
            self.lagging -= 1
            return type(page)([], None)
        return page


def _on_read_log(stream: Stream) -> ReadLog:
    table = ReadLog()
    stream.replay = ReplayLog(table, window_s=WINDOW_S, clock=ManualClock(NOW))
    state = stream.asgi.app.state  # type: ignore[attr-defined]
    state.ports = replace(state.ports, replay=stream.replay)
    return table


def test_an_idle_hold_makes_one_consistent_read_and_then_only_eventually_consistent_peeks(
    stream: Stream,
) -> None:
    """The issue's "consistent reads every 0.25 s per open client": the hold's first read checks the
    cursor and reads after it (strongly consistent, 2 reads); each later poll is one eventually
    consistent Query of one item. 20 s idle: 2 + 13 x 0.5 = 8.5 read units, before 14 x 2 = 28."""
    table = _on_read_log(stream)
    (cursor,) = stream.log(1)
    table.reads.clear()
    status, _, body = stream.get(query=f"since={cursor}")
    assert (status, body) == (200, _ready(cursor, cursor))
    assert table.reads[:2] == [("get", True), ("query", True)]
    assert table.reads[2:] == [("query", False)] * 13
    units = sum(1.0 if consistent else 0.5 for _, consistent in table.reads)
    assert units == 8.5


def test_an_event_a_peek_misses_is_answered_one_poll_later_from_a_consistent_read(stream: Stream) -> None:
    """The eventually consistent peek may not see an event yet: the next one does, and the events
    answered come from the consistent read, with the latest cursor, as before."""
    table = _on_read_log(stream)
    cursors = stream.log(1)

    def arrive(sleeps: int) -> None:
        if sleeps == 2:
            stream.log(2, start=2)
            table.lagging = 1  # the next peek meets a replica without them

    stream.hold.on_sleep = arrive
    table.reads.clear()
    _, _, body = stream.get(query=f"since={cursors[0]}")
    first, second = to_cursor(5002), to_cursor(5003)
    assert body == _ready(cursors[0], second) + _event_block(first, 2) + _event_block(second, 3)
    assert len(stream.hold.sleeps) == 3  # seen at the third poll, not the second
    assert table.reads[-2:] == [("get", True), ("query", True)]  # answered from a consistent read


def test_an_event_soon_after_the_hold_starts_is_answered_within_the_first_short_reads(stream: Stream) -> None:
    cursors = stream.log(1)

    def arrive(sleeps: int) -> None:
        if sleeps == 2:  # 0.75 s into the hold
            stream.log(1, start=2)

    stream.hold.on_sleep = arrive
    _, _, body = stream.get(query=f"since={cursors[0]}")
    assert _event_block(to_cursor(5002), 2) in body
    assert sum(stream.hold.sleeps) == 0.75


def test_an_event_arriving_during_the_hold_ends_it_with_that_event(stream: Stream) -> None:
    cursors = stream.log(1)

    def arrive(sleeps: int) -> None:
        if sleeps == 3:
            stream.log(1, start=2)

    stream.hold.on_sleep = arrive
    _, _, body = stream.get(query=f"since={cursors[0]}")
    new = to_cursor(5002)
    assert body == _ready(cursors[0], new) + _event_block(new, 2)
    assert len(stream.hold.sleeps) == 3


def test_the_hold_is_cut_to_the_invocations_remaining_time(stream: Stream) -> None:
    (cursor,) = stream.log(1)
    stream.get(query=f"since={cursor}", context=FakeLambdaContext("ddgui-gui-stream", remaining_ms=5_000))
    assert 2.5 <= sum(stream.hold.sleeps) <= 3.0  # 5 s left, 2 s kept to answer


def test_an_empty_channel_from_now_answers_ready_with_the_origin_cursor(stream: Stream) -> None:
    """A client always holds a cursor: on a channel without events it is the origin, and the
    channel's first event follows it without a gap."""
    _, _, body = stream.get("readiness")
    assert (
        body
        == f"retry: 1000\n\nid: {ORIGIN}\nevent: ready\ndata: "
        + json.dumps({"type": "ready", "channel": "readiness", "latest": ORIGIN}, separators=(",", ":"))
        + "\n\n"
    )


def test_a_channel_without_its_scope_is_403(stream: Stream) -> None:
    status, _, body = stream.get("jobs", scopes="gui:notifications gui:dashboard")
    problem = json.loads(body)
    assert (status, problem["code"], problem["required_scope"]) == (403, "insufficient_scope", "gui:jobs")
    status, _, body = stream.get("notifications", scopes="gui:jobs")
    assert (status, json.loads(body)["code"]) == (403, "insufficient_scope")


def test_readiness_and_prompt_pack_need_the_dashboard_scope(stream: Stream) -> None:
    assert stream.get("prompt-pack", scopes="gui:dashboard")[0] == 200
    assert stream.get("readiness", scopes="gui:jobs")[0] == 403


def test_an_unknown_channel_is_404(stream: Stream) -> None:
    status, _, body = stream.get("secrets")
    assert (status, json.loads(body)["code"]) == (404, "unknown_channel")


def test_another_tenant_in_the_path_is_403(stream: Stream) -> None:
    status, _, body = stream.get(path_tenant="globex")
    assert (status, json.loads(body)["code"]) == (403, "tenant_mismatch")


def test_a_tenant_homed_elsewhere_is_421(stream: Stream) -> None:
    status, headers, body = stream.get(tenant="globex")
    assert (status, json.loads(body)["code"]) == (421, "wrong_region")
    assert headers["location"][0].startswith("https://us.example.com/prod/service/gui/stream/jobs/globex")


def test_the_realtime_feature_flag_and_the_live_rate_class_apply(stream: Stream) -> None:
    status, _, body = stream.get(tenant="initech")
    assert (status, json.loads(body)["code"]) == (404, "feature_disabled")
    assert stream.get(tenant="umbrella")[0] == 200
    status, headers, body = stream.get(tenant="umbrella")
    assert (status, json.loads(body)["route_class"]) == (429, "live")
    assert "retry-after" in headers


def test_a_malformed_cursor_is_400(stream: Stream) -> None:
    status, _, body = stream.get(query="since=12ab")
    assert (status, json.loads(body)["code"]) == (400, "invalid_cursor")
    status, _, body = stream.get(headers=(("Last-Event-ID", "x" * 40),))
    assert (status, json.loads(body)["code"]) == (400, "invalid_cursor")


def test_the_hold_ends_when_the_callers_token_does(stream: Stream) -> None:
    """A token that expires during a hold gets no event past its expiry (and its 30 s of leeway):
    the reconnect then meets the expiry check and is refused."""
    (cursor,) = stream.log(1)
    expires_at = int(time.time()) - 30 + 5  # 5 s of leeway left
    status, _, body = stream.get(query=f"since={cursor}", expires_at=str(expires_at))
    assert status == 200
    assert body == _ready(cursor, cursor)
    assert 3.5 <= sum(stream.hold.sleeps) <= 5.0


# -- tickets ------------------------------------------------------------------------------------


def test_a_ticket_is_issued_for_channels_the_caller_may_follow(stream: Stream) -> None:
    status, headers, body = stream.ticket({"channels": ["jobs", "readiness"]})
    assert status == 201, body
    assert headers["cache-control"] == ["no-store"]
    assert body["channels"] == ["jobs", "readiness"]
    assert body["expires_in"] == 60
    ((_, sk),) = stream.tickets_table.items
    assert sk == ticket_key("acme", body["ticket"])["sk"]  # kept hashed, under the tenant
    assert [r.status for r in stream.audit.records] == [201]  # a mutation: audited
    assert body["ticket"] not in repr(stream.audit.records)


@pytest.mark.parametrize(
    ("body", "scopes", "status", "code"),
    [
        ({"channels": ["jobs", "notifications"]}, "gui:jobs", 403, "insufficient_scope"),
        ({"channels": ["payroll"]}, "gui:jobs", 404, "unknown_channel"),
        ({"channels": []}, "gui:jobs", 422, "validation_failed"),
        ({"channels": ["jobs"], "tenant": "globex"}, "gui:jobs", 403, "tenant_mismatch"),
    ],
)
def test_a_ticket_is_refused_for_what_the_caller_may_not_follow(
    stream: Stream, body: Any, scopes: str, status: int, code: str
) -> None:
    answered, _, problem = stream.ticket(body, scopes=scopes)
    assert (answered, problem["code"]) == (status, code)
    assert stream.tickets_table.items == {}
