"""The WebSocket path of docs/gui/live_channels.md, end to end: a domain event published on the bus
reaches the subscribed connections through Kinesis, the fan-out and `@connections`; the routes
subscribe, unsubscribe, resume, ack and ping; `$connect` refuses what it must."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gui_core.dynamo import Table
from gui_core.replay_log import ORIGIN, is_cursor, to_cursor
from local.keys import DevKeys
from local.runtime import LocalBackend
from tests.inbox_shape import migrate_inbox

from .support import (
    HOME,
    OTHER,
    UNKNOWN_CURSOR,
    Events,
    LiveClient,
    fresh_subject,
    fresh_tenant,
    parse_time,
    refused_status,
    table,
    ticket,
    wait_logged,
    ws_aws_url,
    ws_path_url,
)

NOTIFICATIONS = "/service/gui/notifications"
QUIET_S = 1.0  # how long a client must stay silent to count as "did not receive"


def _connect(base: str, channel: str, tenant: str, token: str) -> LiveClient:
    client = LiveClient.connect(ws_path_url(base, channel, tenant), token)
    assert client.subprotocol == "ddgui.v1"
    return client


def test_live_event_reaches_a_subscribed_client_and_not_an_unsubscribed_one(
    base: str,
    tenant: str,
    events: Events,
    mint: Callable[..., str],
    backend: LocalBackend,
    record_property: Callable[[str, object], None],
) -> None:
    """Delivery, not speed: the end-to-end latency is the notification bench's figure
    (bench/notification_stream.py); here it is recorded in the report, never a gate."""
    other_tenant = fresh_tenant(backend.aws_endpoint_url)
    with (
        _connect(base, "jobs", tenant, mint(tenant)) as subscribed,
        _connect(base, "readiness", tenant, mint(tenant)) as other_channel,
        _connect(base, "jobs", tenant, mint(tenant)) as unsubscribed,
        _connect(base, "jobs", other_tenant, mint(other_tenant)) as other_tenants,
    ):
        answer = subscribed.subscribe("jobs")
        assert answer["channels"] == ["jobs"]
        assert set(answer["latest"]) == {"jobs"}
        dropped = unsubscribed.request("unsubscribe", "unsubscribed", channels=["jobs"])
        assert dropped["type"] == "unsubscribed", dropped
        assert dropped["channels"] == ["jobs"]
        other_tenants.subscribe("jobs")

        # The first event may meet cold paths; the second one's latency is recorded.
        warm = events.publish(tenant, "jobs")
        subscribed.wait_event(warm["event_id"], timeout_s=10)

        mark = {c: c.mark() for c in (other_channel, unsubscribed, other_tenants)}
        published_at = time.monotonic()
        timed = events.publish(tenant, "jobs")
        message = subscribed.wait_event(timed["event_id"], timeout_s=10)
        record_property("latency_s", round(subscribed.arrival_of(message) - published_at, 3))

        assert message["type"] == "event"
        assert message["v"] == 1
        assert message["channel"] == "jobs"
        assert message["kind"] == "JobStatusChanged"
        assert is_cursor(message["cursor"])
        assert message["payload"]["job_id"] == timed["job_id"]
        assert parse_time(message["at"])

        time.sleep(QUIET_S)
        for client, start in mark.items():
            assert client.events("jobs", after=start) == [], "a client not subscribed to jobs received one"

        # The unsubscribed connections are alive: they receive what they do subscribe to.
        start = other_channel.mark()
        readiness = events.publish(tenant, "readiness")
        assert (
            other_channel.wait_event(readiness["event_id"], after=start, timeout_s=15)["channel"]
            == "readiness"
        )


def test_several_channels_on_one_connection(
    base: str, tenant: str, events: Events, mint: Callable[..., str]
) -> None:
    url = ws_aws_url(base, tenant, ["jobs", "readiness"])
    with LiveClient.connect(url, mint(tenant)) as client:
        assert client.subprotocol == "ddgui.v1"
        answer = client.subscribe("notifications", "prompt-pack")
        assert set(answer["channels"]) >= {"notifications", "prompt-pack"}

        published = {
            channel: events.publish(tenant, channel)
            for channel in ("jobs", "readiness", "prompt-pack", "notifications")
        }
        for channel, detail in published.items():
            message = client.wait_event(detail["event_id"], timeout_s=10)
            assert message["channel"] == channel, message
        received = client.events()
        assert sorted(m["channel"] for m in received) == ["jobs", "notifications", "prompt-pack", "readiness"]


def test_a_ticket_connects_like_the_subprotocol_but_only_once(
    base: str, tenant: str, events: Events, mint: Callable[..., str]
) -> None:
    token = mint(tenant)
    url = ws_aws_url(base, tenant, ["jobs"], ticket=ticket(base, token, "jobs"))
    with LiveClient.connect(url) as by_ticket:
        detail = events.publish(tenant, "jobs")
        assert by_ticket.wait_event(detail["event_id"], timeout_s=10)["channel"] == "jobs"
    assert refused_status(url) == 401  # spent
    with LiveClient.connect(ws_path_url(base, "jobs", tenant, ticket=ticket(base, token, "jobs"))) as by_path:
        assert by_path.request("ping", "pong")["type"] == "pong"


def test_a_ticket_carries_the_scopes_of_its_channels_only(
    base: str, tenant: str, mint: Callable[..., str]
) -> None:
    token = mint(tenant)  # an operator: every channel's scope
    assert refused_status(ws_aws_url(base, tenant, ["readiness"], ticket=ticket(base, token, "jobs"))) == 401
    with LiveClient.connect(ws_aws_url(base, tenant, ticket=ticket(base, token, "jobs"))) as client:
        refused = client.request("subscribe", "subscribed", channels=["notifications"])
        assert (refused["type"], refused["code"]) == ("error", "insufficient_scope")


def test_a_token_in_the_query_is_refused(base: str, tenant: str, mint: Callable[..., str]) -> None:
    """A long-lived credential does not ride in a URL: the subprotocol or a ticket, not `?token=`."""
    assert refused_status(ws_aws_url(base, tenant, ["jobs"], query={"token": mint(tenant)})) == 401


def test_every_repeated_channel_parameter_is_subscribed(
    base: str, tenant: str, events: Events, mint: Callable[..., str]
) -> None:
    url = ws_aws_url(base, tenant, ["jobs", "readiness"], repeated=True)  # channel=jobs&channel=readiness
    with LiveClient.connect(url, mint(tenant)) as client:
        published = [events.publish(tenant, channel) for channel in ("jobs", "readiness")]
        for detail, channel in zip(published, ("jobs", "readiness"), strict=True):
            assert client.wait_event(detail["event_id"], timeout_s=10)["channel"] == channel


def test_reconnect_and_resume_from_the_last_cursor_loses_and_repeats_nothing(
    base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    token = mint(tenant)
    with _connect(base, "jobs", tenant, token) as first:
        first.subscribe("jobs")
        before = [events.publish(tenant, "jobs") for _ in range(2)]
        for detail in before:
            first.wait_event(detail["event_id"], timeout_s=10)
        last_cursor = first.events("jobs")[-1]["cursor"]

    # Published while no connection is open: they land in the replay log only.
    missed = [events.publish(tenant, "jobs") for _ in range(3)]
    missed_cursors = [wait_logged(events_table, tenant, "jobs", d["event_id"]) for d in missed]
    assert missed_cursors == sorted(missed_cursors)

    with _connect(base, "jobs", tenant, token) as second:
        resumed = second.resume("jobs", last_cursor)
        assert resumed.gap is None, resumed.frames
        assert [e["event_id"] for e in resumed.events] == [d["event_id"] for d in missed]
        assert [e["cursor"] for e in resumed.events] == missed_cursors
        last_frame = resumed.frames[-1]
        assert last_frame["more"] is False
        assert last_frame["cursor"] == missed_cursors[-1]
        assert last_frame["latest"] == missed_cursors[-1]

        # Then live carries on, on the same connection (resume subscribed it).
        after = [events.publish(tenant, "jobs") for _ in range(2)]
        for detail in after:
            second.wait_event(detail["event_id"], timeout_s=10)
        time.sleep(0.5)  # anything sent twice would have come by now

        seen = resumed.events + second.events("jobs")
        ids = [e["event_id"] for e in seen]
        assert ids == [d["event_id"] for d in missed + after], "lost, repeated or out of order"
        cursors = [e["cursor"] for e in seen]
        assert all(a < b for a, b in itertools.pairwise(cursors)), cursors
        assert cursors[0] > last_cursor


def test_resume_with_a_cursor_the_log_does_not_have_answers_gap_with_latest(
    base: str, tenant: str, events: Events, mint: Callable[..., str], events_table: Table
) -> None:
    with _connect(base, "readiness", tenant, mint(tenant)) as client:
        empty = client.resume("readiness", UNKNOWN_CURSOR)
        assert empty.gap == {**empty.gap, "type": "gap", "channel": "readiness", "cursor": UNKNOWN_CURSOR}
        # Nothing logged on this channel yet: its latest cursor is the origin.
        assert empty.gap["latest"] == ORIGIN

        detail = events.publish(tenant, "readiness")
        latest = wait_logged(events_table, tenant, "readiness", detail["event_id"])
        for unknown in (UNKNOWN_CURSOR, to_cursor(int(latest) + 10**6)):
            resumed = client.resume("readiness", unknown)
            assert resumed.gap is not None, resumed.frames
            assert resumed.gap["cursor"] == unknown
            assert resumed.gap["latest"] == latest
            assert resumed.events == []

        # A malformed cursor is an error (not a gap): the client sent something no server gave it.
        malformed = client.resume("readiness", "not-a-cursor")
        assert malformed.gap is None
        assert malformed.frames[-1]["type"] == "error", malformed.frames
        assert malformed.frames[-1]["status"] == 400

        # Carrying on from `latest` is continuous: an empty replay, then live.
        carry_on = client.resume("readiness", latest)
        assert carry_on.gap is None
        assert carry_on.events == []
        assert carry_on.frames[-1]["latest"] == latest


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("token signed by another key", 401),
        ("tenant other than the token's", 403),
        ("scope of the channel missing", 403),
        ("unknown channel", 404),
        ("realtime off for the tenant", 404),
        ("tenant homed in the other region", 421),
    ],
)
def test_connect_refusals(
    case: str, status: int, base: str, backend: LocalBackend, tenant: str, mint: Callable[..., str]
) -> None:
    endpoint = backend.aws_endpoint_url
    channel, where, token = "jobs", tenant, mint(tenant)
    if case == "no token":
        token = None
    elif case == "token signed by another key":
        token = DevKeys.ephemeral().mint(tenant=tenant, subject=fresh_subject(tenant), roles=("operator",))
    elif case == "tenant other than the token's":
        token = mint(fresh_tenant(endpoint))
    elif case == "scope of the channel missing":
        token = mint(tenant, scopes=("gui:notifications", "gui:dashboard"))  # jobs needs gui:jobs
    elif case == "unknown channel":
        channel = "payroll"
    elif case == "realtime off for the tenant":
        where = fresh_tenant(endpoint, flags={"realtime": False})
        token = mint(where)
    elif case == "tenant homed in the other region":
        where = fresh_tenant(endpoint, home=OTHER)
        token = mint(where)
    assert refused_status(ws_path_url(base, channel, where), token) == status
    # The AWS form refuses alike.
    assert refused_status(ws_aws_url(base, where, [channel]), token) == status


def test_ack_over_websocket_changes_the_notification_as_rest_acknowledge_does(
    base: str, tenant: str, mint: Callable[..., str], backend: LocalBackend
) -> None:
    from local.demo_notifications import seed_notifications

    subject = fresh_subject(tenant)
    assert seed_notifications(
        backend.manifest, endpoint_url=backend.aws_endpoint_url, region=HOME, tenant=tenant, users=[subject]
    )
    migrate_inbox(table("inbox", HOME, backend.aws_endpoint_url), tenant)  # seeded in the shape before 0001
    token = mint(tenant, roles=("viewer",), subject=subject)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=30) as rest:
        unread = rest.get(NOTIFICATIONS, params={"status": "unread", "limit": 100})
        assert unread.status_code == 200, unread.text
        by_ws, by_rest = [i for i in unread.json()["items"] if i["audience"] == "*"][:2]

        with _connect(base, "notifications", tenant, token) as client:
            acked = client.request("ack", "acked", id=by_ws["id"])
            assert acked["type"] == "acked", acked
            assert acked["id"] == by_ws["id"]
            assert acked["notification"]["status"] == "acknowledged"

            unknown = client.request("ack", "acked", id="n000000000000nothing00")
            assert unknown["type"] == "error"
            assert unknown["status"] == 404

        answer = rest.post(f"{NOTIFICATIONS}/{by_rest['id']}/acknowledge")
        assert answer.status_code == 200, answer.text

        ws_after = rest.get(f"{NOTIFICATIONS}/{by_ws['id']}").json()
        rest_after = rest.get(f"{NOTIFICATIONS}/{by_rest['id']}").json()
    for before, after in ((by_ws, ws_after), (by_rest, rest_after)):
        assert after["status"] == "acknowledged"
        assert after["version"] == before["version"] + 1
        assert after["acted_by"] == subject
        assert after["etag"] == f'"n{after["version"]}"'
        assert parse_time(after["updated_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert {k: v for k, v in acked["notification"].items() if k in ws_after} == {
        k: v for k, v in ws_after.items() if k in acked["notification"]
    }


def test_ping_answers_pong_and_unknown_actions_an_error(
    base: str, tenant: str, mint: Callable[..., str]
) -> None:
    with _connect(base, "jobs", tenant, mint(tenant)) as client:
        pong = client.request("ping", "pong", request_id="ping-1")
        assert pong["type"] == "pong"
        assert pong.get("request_id") == "ping-1"
        assert abs(parse_time(pong["at"]) - datetime.now(UTC)) < timedelta(seconds=30)

        error = client.request("dance", "error")
        assert error["type"] == "error"
        assert error["code"] == "unknown_action"

        # The connection is still usable after the error.
        assert client.request("ping", "pong")["type"] == "pong"
