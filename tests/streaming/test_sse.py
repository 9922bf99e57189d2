"""The SSE path of docs/gui/live_channels.md: `GET /service/gui/stream/<channel>/<tenant>`, with
`Authorization: Bearer` (fetch-based clients) or a single-use `?ticket=` (EventSource, which
cannot send headers; a new ticket per connection), read by httpx as EventSource reads it (`id:`,
`event:`, `data:`, `retry:` frames). No JWT is accepted in the URL."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gui_core.dynamo import Table
from gui_core.replay_log import is_cursor
from gui_stream.settings import StreamSettings
from local.runtime import LocalBackend

from .support import (
    OTHER,
    UNKNOWN_CURSOR,
    Events,
    SseFrame,
    fresh_tenant,
    in_thread,
    read_sse,
    sse_url,
    ticket,
    ticket_answer,
    wait_logged,
)

# An answer that was held took the whole hold (20 s by default); one answered at once is far below
# half of it, however loaded the machine.
HELD_S = StreamSettings.model_fields["hold_s"].default / 2


def _has(event: str) -> Callable[[list[SseFrame]], bool]:
    return lambda frames: any(f.event == event for f in frames)


def test_a_new_stream_answers_ready_at_once_then_the_reconnect_gets_the_events_with_their_cursors(
    base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    """What EventSource does: the first answer (no cursor) is only `ready`, at once, its id the
    latest cursor; the reconnect with that id as Last-Event-ID is held until the next event. Each
    connection has a ticket of its own."""
    first = events.publish(tenant, "jobs")
    latest = wait_logged(events_table, tenant, "jobs", first["event_id"])
    token = mint(tenant)

    started = time.monotonic()
    answer = read_sse(sse_url(base, "jobs", tenant, ticket=ticket(base, token, "jobs")), timeout_s=30)
    assert time.monotonic() - started < HELD_S, "a new stream is not held"
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.retry is not None
    assert answer.retry > 0
    data_frames = [f for f in answer.frames if f.event != "retry"]
    assert [f.event for f in data_frames] == ["ready"], answer.frames
    ready = data_frames[0]
    assert ready.id == latest
    assert ready.json() == {"type": "ready", "channel": "jobs", "latest": latest}

    reconnect = sse_url(base, "jobs", tenant, ticket=ticket(base, token, "jobs"))
    reading = in_thread(
        lambda: read_sse(reconnect, headers={"Last-Event-ID": latest}, until=_has("event"), timeout_s=30)
    )
    time.sleep(1.0)  # held by now
    second = events.publish(tenant, "jobs")
    cursor = wait_logged(events_table, tenant, "jobs", second["event_id"])
    held = reading.get(timeout=30)
    if isinstance(held, BaseException):
        raise held
    assert held.status == 200, held.body
    delivered = held.of("event")
    assert [f.id for f in delivered] == [cursor], held.frames
    message = delivered[0].json()
    assert message["type"] == "event"
    assert message["channel"] == "jobs"
    assert message["cursor"] == cursor
    assert message["event_id"] == second["event_id"]
    assert message["kind"] == "JobStatusChanged"
    assert message["payload"]["job_id"] == second["job_id"]
    assert first["event_id"] not in {f.json().get("event_id") for f in delivered}


@pytest.mark.parametrize("how", ["Last-Event-ID", "since"])
def test_resume_from_a_cursor_sends_what_came_after_it_in_order(
    how: str, base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    published = [events.publish(tenant, "readiness") for _ in range(4)]
    cursors = [wait_logged(events_table, tenant, "readiness", d["event_id"]) for d in published]
    assert all(is_cursor(c) for c in cursors)

    bearer = {"Authorization": f"Bearer {mint(tenant)}"}  # a fetch-based client: the header
    if how == "since":
        url, headers = sse_url(base, "readiness", tenant, since=cursors[1]), bearer
    else:
        url, headers = sse_url(base, "readiness", tenant), {**bearer, "Last-Event-ID": cursors[1]}

    def two_events(frames: list[SseFrame]) -> bool:
        return len([f for f in frames if f.event == "event"]) >= 2

    answer = read_sse(url, headers=headers, until=two_events, timeout_s=30)
    assert answer.status == 200, answer.body
    assert answer.elapsed_s < HELD_S, "events were waiting: the answer need not be held"
    delivered = answer.of("event")
    assert [f.id for f in delivered] == cursors[2:], answer.frames
    assert [f.json()["event_id"] for f in delivered] == [d["event_id"] for d in published[2:]]
    assert answer.of("gap") == []


def test_resume_from_a_cursor_the_log_does_not_have_sends_gap_with_latest(
    base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    detail = events.publish(tenant, "prompt-pack")
    latest = wait_logged(events_table, tenant, "prompt-pack", detail["event_id"])
    url = sse_url(
        base, "prompt-pack", tenant, ticket=ticket(base, mint(tenant), "prompt-pack"), since=UNKNOWN_CURSOR
    )
    answer = read_sse(url, until=_has("gap"), timeout_s=30)
    assert answer.status == 200, answer.body
    gaps = answer.of("gap")
    assert len(gaps) == 1, answer.frames
    assert gaps[0].json() == {
        "type": "gap",
        "channel": "prompt-pack",
        "cursor": UNKNOWN_CURSOR,
        "latest": latest,
    }
    assert answer.of("event") == []


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("scope of the channel missing", 403),
        ("tenant other than the token's", 403),
        ("unknown channel", 404),
        ("tenant homed in the other region", 421),
    ],
)
def test_stream_refusals(
    case: str, status: int, base: str, backend: LocalBackend, tenant: str, mint: Callable[..., str]
) -> None:
    channel, where = "jobs", tenant
    token: str | None = mint(tenant)
    if case == "no token":
        token = None
    elif case == "scope of the channel missing":
        token = mint(tenant, scopes=("gui:notifications", "gui:dashboard"))  # jobs needs gui:jobs
    elif case == "tenant other than the token's":
        token = mint(fresh_tenant(backend.aws_endpoint_url))
    elif case == "unknown channel":
        channel = "payroll"
    elif case == "tenant homed in the other region":
        where = fresh_tenant(backend.aws_endpoint_url, home=OTHER)
        token = mint(where)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = read_sse(sse_url(base, channel, where), headers=headers, timeout_s=30)
    assert answer.status == status, (answer.status, answer.body)
    assert answer.frames == []


# -- tickets: what EventSource presents, since it cannot send a header ---------------------------


def test_a_ticket_opens_one_stream_once_and_expires_in_about_a_minute(
    base: str, tenant: str, mint: Callable[..., str]
) -> None:
    issued = ticket_answer(base, mint(tenant), ["jobs"])
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert set(body) == {"ticket", "channels", "expires_in", "expires_at"}
    assert body["channels"] == ["jobs"]
    assert 30 <= body["expires_in"] <= 60
    url = sse_url(base, "jobs", tenant, ticket=body["ticket"])
    assert read_sse(url, timeout_s=30).status == 200
    again = read_sse(url, timeout_s=30)  # what EventSource would do with the same URL
    assert again.status == 401, again.body


@pytest.mark.parametrize("case", ["another channel", "another tenant", "invented"])
def test_a_ticket_serves_only_its_tenant_and_channels(
    case: str, base: str, backend: LocalBackend, tenant: str, mint: Callable[..., str]
) -> None:
    value = ticket(base, mint(tenant), "jobs")
    channel, where = "jobs", tenant
    if case == "another channel":
        channel = "notifications"
    elif case == "another tenant":
        where = fresh_tenant(backend.aws_endpoint_url)
    else:
        value = "x" * len(value)
    answer = read_sse(sse_url(base, channel, where, ticket=value), timeout_s=30)
    assert answer.status == 401, (answer.status, answer.body)


def test_a_jwt_in_the_url_is_refused(base: str, tenant: str, mint: Callable[..., str]) -> None:
    """A long-lived credential in a URL ends up in access logs and browser history."""
    answer = read_sse(sse_url(base, "jobs", tenant, token=mint(tenant)), timeout_s=30)
    assert answer.status == 401, (answer.status, answer.body)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("scope of a channel missing", 403),
        ("unknown channel", 404),
        ("no channel", 422),
    ],
)
def test_ticket_refusals(case: str, status: int, base: str, tenant: str, mint: Callable[..., str]) -> None:
    token: str | None = mint(tenant)
    channels = ["jobs", "readiness"]
    if case == "no token":
        token = None
    elif case == "scope of a channel missing":
        token = mint(tenant, scopes=("gui:jobs",))  # readiness needs gui:dashboard
    elif case == "unknown channel":
        channels = ["jobs", "payroll"]
    else:
        channels = []
    answer = ticket_answer(base, token, channels)
    assert answer.status_code == status, answer.text
    assert "ticket" not in answer.json()
