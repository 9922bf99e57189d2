"""The live console in headless Chromium: the page's protocol rules, then the whole path.

Against the scripted server (`fake_live`): the page loads without a script error, signs in, opens
one WebSocket for the four channels with the token as subprotocol, applies each cursor once,
resumes after the server drops it (buffering the live events that race the replay), marks a gap,
and does the same over EventSource.

Against the local runtime (`live_backend`): domain events put on the bus reach the page live over
WebSocket and over SSE; after the server deletes the connection through `@connections`, the page
reconnects and shows what was published meanwhile exactly once, in cursor order.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from gui_core.replay_log import CHANNELS
from stacks.manifest import MANIFEST

from .conftest import FAKE_TOKEN, FakeLive, PageProblems, base_url_of, state, wait_state

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from local.runtime import LocalBackend

pytestmark = pytest.mark.slow

ALL_SUBSCRIBED = "Object.values(d.subscribed).every(Boolean)"
REGION = "eu-west-1"  # acme's home region
TENANT = "acme"


def sign_in(page: Page, base_url: str, *, query: str = "", timeout_s: float = 20.0) -> None:
    page.goto(f"{base_url}/dev/console{query}")
    wait_state(page, "d.ready === true")
    page.get_by_test_id("sign-in").click()
    wait_state(page, f"d.connected && {ALL_SUBSCRIBED}", timeout_s)


def cursors_of(page: Page, channel: str) -> list[str]:
    return list(state(page, f"d.events[{channel!r}].map(e => e.cursor)"))


# -- the page alone -----------------------------------------------------------------------------


def test_console_renders_four_channels_without_errors(
    page: Page, problems: PageProblems, fake_live: FakeLive
) -> None:
    answer = httpx.get(f"{base_url_of(fake_live)}/dev/console")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "<script src" not in answer.text  # no external asset: the script is inline
    assert 'href="http' not in answer.text
    assert 'src="http' not in answer.text

    page.goto(f"{base_url_of(fake_live)}/dev/console")
    wait_state(page, "d.ready === true")
    for channel in CHANNELS:
        assert page.get_by_test_id(f"channel-{channel}").is_visible()
        assert page.get_by_test_id(f"count-{channel}").inner_text() == "0"
    assert page.get_by_test_id("status").inner_text() == "signed out"
    assert page.get_by_test_id("transport").inner_text() == "ws"
    assert page.get_by_test_id("tenant").input_value() == TENANT
    assert state(page, "d.connected") is False
    assert problems.errors == []


def test_websocket_applies_once_resumes_and_marks_a_gap(
    page: Page, problems: PageProblems, fake_live: FakeLive
) -> None:
    sign_in(page, base_url_of(fake_live))
    connect = fake_live.connects[0]
    assert connect["subprotocols"] == ["ddgui.v1", FAKE_TOKEN]
    assert connect["query"] == {"tenant": TENANT, "channel": ",".join(CHANNELS)}

    published = {channel: fake_live.publish(channel, "Kind", {"title": channel}) for channel in CHANNELS}
    wait_state(page, "Object.values(d.events).every(list => list.length === 1)")
    for channel in CHANNELS:
        assert page.get_by_test_id(f"events-{channel}").get_by_test_id("event").count() == 1
        assert state(page, f"d.cursors[{channel!r}]") == published[channel]["cursor"]

    # A frame delivered twice is applied once.
    fake_live._call(fake_live._push(published["jobs"]))
    wait_state(page, "d.duplicates === 1")
    assert page.get_by_test_id("events-jobs").get_by_test_id("event").count() == 1

    # The server drops the connection; five events are published meanwhile. On reconnect the page
    # resumes from its cursor (replay pages of two, the newest also arriving live mid-resume).
    fake_live.live_during_resume = True
    state(page, "d.holdReconnect = true")
    assert fake_live.drop_connections() == 1
    wait_state(page, "!d.connected")
    missed = [fake_live.append_only("jobs", "JobStatusChanged", {"status": f"s{i}"}) for i in range(5)]
    state(page, "d.holdReconnect = false")
    wait_state(page, "d.connects === 2 && d.connected && d.events.jobs.length === 6")
    time.sleep(0.5)  # anything late would show now
    expected = [published["jobs"]["cursor"], *(event["cursor"] for event in missed)]
    assert cursors_of(page, "jobs") == expected
    assert page.get_by_test_id("events-jobs").get_by_test_id("event").count() == 6
    resumes = [m for m in fake_live.received if m.get("action") == "resume" and m["channel"] == "jobs"]
    assert resumes[0]["cursor"] == published["jobs"]["cursor"]
    assert [m["cursor"] for m in resumes[1:]] == [missed[1]["cursor"], missed[3]["cursor"]]

    # Dropped again; the notifications log loses the page's cursor (past the replay window).
    fake_live.live_during_resume = False
    state(page, "d.holdReconnect = true")
    fake_live.drop_connections()
    wait_state(page, "!d.connected")
    for i in range(3):
        fake_live.append_only("notifications", "GovernanceAlert", {"title": f"n{i}"})
    fake_live.forget("notifications", keep=2)
    state(page, "d.holdReconnect = false")
    latest = fake_live.log["notifications"][-1]["cursor"]
    wait_state(page, "d.connects === 3 && d.connected && d.resyncs.notifications === 1")
    assert page.get_by_test_id("events-notifications").get_by_test_id("resync-marker").count() == 1
    assert state(page, "d.cursors.notifications") == latest
    after = fake_live.publish("notifications", "GovernanceAlert", {"title": "after the gap"})
    wait_state(page, "d.events.notifications.length === 2")
    assert cursors_of(page, "notifications")[-1] == after["cursor"]
    assert problems.errors == []


def test_sse_transport_follows_and_resumes(page: Page, problems: PageProblems, fake_live: FakeLive) -> None:
    sign_in(page, base_url_of(fake_live), query="?transport=sse")
    assert page.get_by_test_id("transport").inner_text() == "sse"
    assert {r["channel"] for r in fake_live.sse_requests} == set(CHANNELS)
    assert all("token" not in r["query"] for r in fake_live.sse_requests)  # no JWT in a URL

    first = [fake_live.publish("readiness", "ReadinessGateChanged", {"gate": f"g{i}"}) for i in range(3)]
    wait_state(page, "d.events.readiness.length === 3")
    # Each answer ends after ~2 s and the page opens the next request, with a new ticket and
    # `since`: nothing twice.
    time.sleep(2.5)
    later = fake_live.publish("readiness", "ReadinessGateChanged", {"gate": "g3"})
    wait_state(page, "d.events.readiness.length === 4")
    time.sleep(0.5)
    assert cursors_of(page, "readiness") == [e["cursor"] for e in (*first, later)]
    resumed = [r for r in fake_live.sse_requests if r["channel"] == "readiness" and r["since"]]
    assert resumed, "the page did not come back from its cursor"
    tickets = [r["ticket"] for r in fake_live.sse_requests]
    assert len(set(tickets)) == len(tickets), "a ticket was presented twice"
    assert fake_live.issued >= len(tickets)
    assert state(page, "d.errors.filter(e => e.type === 'sse-closed').length") == 0  # never refused
    assert page.get_by_test_id("events-readiness").get_by_test_id("event").count() == 4
    assert problems.errors == []


# -- the whole local runtime --------------------------------------------------------------------


def _governance_alert(marker: str) -> dict[str, Any]:
    """A GovernanceAlert detail of the demo tenant (gui_core.domain_events' model)."""
    return {
        "tenant": TENANT,
        "event_id": str(uuid.uuid4()),
        "time": "2026-11-27T10:15:30+00:00",
        "schema_version": "1",
        "region": REGION,
        "alert_id": marker,
        "severity": "warning",
        "title": f"browser test {marker}",
        "body": "raised by tests/browser",
    }


def _publish_alerts(backend: LocalBackend, markers: list[str]) -> None:
    for marker in markers:
        detail = _governance_alert(marker)
        backend.relays[REGION].publish("domaindetermine.governance", "GovernanceAlert", detail)


def _wait_markers(page: Page, markers: list[str], timeout_s: float = 30.0) -> None:
    wanted = repr(markers)
    wait_state(
        page,
        f"{wanted}.every(m => d.events.notifications"
        f".some(e => JSON.stringify(e.payload || {{}}).includes(m)))",
        timeout_s,
    )


def _connection_ids(backend: LocalBackend, subject: str) -> list[str]:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=backend.aws_endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    answer = dynamodb.query(
        TableName=MANIFEST.store("connections").local_table_name(),
        KeyConditionExpression="pk = :t AND begins_with(sk, :c)",
        ExpressionAttributeValues={":t": {"S": TENANT}, ":c": {"S": "CONN#"}},
    )
    return [i["connection_id"]["S"] for i in answer["Items"] if i.get("subject", {}).get("S") == subject]


def _wait_logged(backend: LocalBackend, markers: list[str], timeout_s: float = 30.0) -> None:
    """Until the fan-out has appended every marker to the notifications replay log."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=backend.aws_endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    deadline = time.monotonic() + timeout_s
    while True:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=MANIFEST.store("events").local_table_name(),
            KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
            ExpressionAttributeValues={":p": {"S": f"{TENANT}#notifications"}, ":c": {"S": "C#"}},
        )
        logged = str([item for answer in pages for item in answer["Items"]])
        if all(marker in logged for marker in markers):
            return
        assert time.monotonic() < deadline, f"not in the replay log within {timeout_s} s: {markers}"
        time.sleep(0.2)


def _in_payload_order(page: Page, markers: list[str]) -> list[str]:
    seen = []
    for payload in state(page, "d.events.notifications.map(e => JSON.stringify(e.payload || {}))"):
        seen += [m for m in markers if m in payload]
    return seen


def test_end_to_end_websocket_live_and_after_a_server_drop(
    page: Page, problems: PageProblems, live_backend: LocalBackend
) -> None:
    subject = f"browser-{uuid.uuid4().hex[:8]}@{TENANT}"
    base = live_backend.base_urls[REGION]
    sign_in(page, base, query=f"?tenant={TENANT}&subject={subject}")

    live = [f"live-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    _publish_alerts(live_backend, live)
    _wait_markers(page, live)
    assert _in_payload_order(page, live) == live

    # The server deletes the connection (`@connections` of the management API).
    deadline = time.monotonic() + 10
    while not (ids := _connection_ids(live_backend, subject)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(ids) == 1, ids
    management = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{base}/{MANIFEST.websocket.stage if MANIFEST.websocket else 'live'}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    state(page, "d.holdReconnect = true")  # published while the page is offline, for sure
    management.delete_connection(ConnectionId=ids[0])
    wait_state(page, "!d.connected", 10)

    missed = [f"missed-{uuid.uuid4().hex[:6]}-{i}" for i in range(4)]
    _publish_alerts(live_backend, missed)
    _wait_logged(live_backend, missed)
    state(page, "d.holdReconnect = false")
    wait_state(page, "d.connected && d.connects === 2", 30)
    _wait_markers(page, missed)
    time.sleep(1.0)  # a duplicate, late, would show now
    assert _in_payload_order(page, live + missed) == live + missed  # once each, in order
    cursors = cursors_of(page, "notifications")
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == len(cursors)
    assert state(page, "d.errors.filter(e => e.type === 'sse-closed').length") == 0  # never refused
    assert problems.errors == []


def test_end_to_end_sse(page: Page, problems: PageProblems, live_backend: LocalBackend) -> None:
    subject = f"browser-sse-{uuid.uuid4().hex[:8]}@{TENANT}"
    base = live_backend.base_urls[REGION]
    # The first request of each stream has no cursor: answered at once with `ready`; the page then
    # opens the next one (a new ticket, `since`), which is held. API Gateway REST buffers a held
    # answer, so events come when a hold ends.
    sign_in(page, base, query=f"?transport=sse&tenant={TENANT}&subject={subject}", timeout_s=45)
    markers = [f"sse-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    _publish_alerts(live_backend, markers)
    _wait_markers(page, markers, 45)
    time.sleep(1.0)
    assert _in_payload_order(page, markers) == markers
    cursors = cursors_of(page, "notifications")
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == len(cursors)
    assert state(page, "d.errors.filter(e => e.type === 'sse-closed').length") == 0  # never refused
    assert problems.errors == []
