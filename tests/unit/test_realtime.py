"""The WebSocket function: connect checks, subscriptions, resume with replay frames or a gap,
acknowledge with the REST rules and audit, ping, and the errors of a bad message.

Every event starts from a sample in events/aws/ and changes only what the request sets; the
tables and the management API are in-memory fakes behind their interfaces.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from gui_core.pusher import FRAME_LIMIT_BYTES
from gui_core.rate_limit import MessageLimiter, RateLimiter
from gui_core.replay_log import ORIGIN, to_cursor
from gui_notifications.logic import notification_id
from gui_realtime.use_cases import PAGE_LIMIT, RESUME_BYTES, RESUME_CAP, RESUME_PAGES
from local.apigw import sample_event
from tests.fakes import FakeCounters, FakeLambdaContext
from tests.unit.realtime_support import (
    CONNECTION,
    NOW,
    SETTINGS,
    WINDOW_S,
    Backend,
    connect_event,
    message_event,
)


@pytest.fixture
def backend() -> Backend:
    return Backend()


def problem(answer: Mapping[str, Any], status: int, code: str) -> dict[str, Any]:
    assert answer["statusCode"] == status, answer
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(answer["body"])
    assert (body["status"], body["code"]) == (status, code)
    assert body["request_id"] == "Cq7nKFxyDoEFbZw="
    return body


def error(messages: list[dict[str, Any]], status: int, code: str) -> dict[str, Any]:
    assert len(messages) == 1, messages
    (message,) = messages
    assert (message["type"], message["status"], message["code"]) == ("error", status, code), message
    return message


# --- $connect ----------------------------------------------------------------------------------


def test_connect_with_the_token_in_the_query_registers_and_subscribes_the_channels(backend: Backend) -> None:
    answer = backend.connect()
    assert answer == {"statusCode": 200}  # no subprotocol offered, none selected
    connection = backend.registry.get("acme", CONNECTION)
    assert connection is not None
    assert connection.subject == "user-ada"
    assert backend.registry.channels("acme", CONNECTION) == {"jobs", "notifications"}
    assert connection.expires_at == int(NOW) + 3630  # the token's expiry and leeway, before the 2 h limit
    assert backend.registry.subscribers("acme", "jobs") == [CONNECTION]
    assert backend.registry.subscribers("acme", "readiness") == []
    assert ("Connects", None) in backend.metrics


def test_connect_with_the_channel_parameter_repeated_subscribes_every_value(backend: Backend) -> None:
    """`channel=jobs&channel=readiness,prompt-pack`: API Gateway keeps the last value in
    `queryStringParameters` and every one in `multiValueQueryStringParameters`."""
    event = connect_event(query={"tenant": "acme", "channel": "readiness,prompt-pack"})
    event["multiValueQueryStringParameters"]["channel"] = ["jobs", "readiness,prompt-pack"]
    assert backend.handle(event) == {"statusCode": 200}
    connection = backend.registry.get("acme", CONNECTION)
    assert connection is not None
    assert backend.registry.channels("acme", CONNECTION) == {"jobs", "readiness", "prompt-pack"}


def test_connect_with_the_token_as_subprotocol_selects_ddgui_v1(backend: Backend) -> None:
    answer = backend.connect(
        query={"tenant": "acme"},
        headers={"Sec-WebSocket-Protocol": "ddgui.v1, eyJhbGciOiJSUzI1NiJ9.sample.signature"},
    )
    assert answer == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "ddgui.v1"}}
    connection = backend.registry.get("acme", CONNECTION)
    assert connection is not None
    assert backend.registry.channels("acme", CONNECTION) == frozenset()  # no channel given: subscribe later


@pytest.mark.parametrize("named", ["globex", "no-such-tenant"])
def test_connect_naming_another_tenant_is_403_alike_whether_it_exists_or_not(
    backend: Backend, named: str
) -> None:
    body = problem(backend.connect(query={"tenant": named, "channel": "jobs"}), 403, "tenant_mismatch")
    assert named not in json.dumps(body)
    assert backend.registry.get("acme", CONNECTION) is None
    assert ("Refusals", "tenant_mismatch") in backend.metrics


def test_connect_without_a_tenant_is_400(backend: Backend) -> None:
    problem(backend.connect(query={"channel": "jobs"}), 400, "bad_request")


def test_connect_to_a_channel_without_its_scope_is_403(backend: Backend) -> None:
    answer = backend.connect(scopes="gui:notifications gui:dashboard")  # no gui:jobs
    body = problem(answer, 403, "insufficient_scope")
    assert body["required_scope"] == "gui:jobs"
    assert backend.registry.get("acme", CONNECTION) is None


def test_connect_to_an_unknown_channel_is_404(backend: Backend) -> None:
    problem(backend.connect(query={"tenant": "acme", "channel": "jobs,secrets"}), 404, "unknown_channel")
    assert backend.registry.get("acme", CONNECTION) is None


def test_connect_of_a_tenant_homed_elsewhere_is_421(backend: Backend) -> None:
    answer = backend.connect(query={"tenant": "globex", "channel": "jobs"}, tenant="globex")
    body = problem(answer, 421, "wrong_region")
    assert body["home_region"] == "us-east-1"
    assert backend.registry.get("globex", CONNECTION) is None
    assert ("Refusals", "wrong_region") in backend.metrics


def test_connect_of_a_tenant_with_realtime_turned_off_is_404(backend: Backend) -> None:
    answer = backend.connect(query={"tenant": "initech"}, tenant="initech")
    assert problem(answer, 404, "feature_disabled")["feature"] == "realtime"


def test_connects_beyond_the_tenants_live_limit_are_429(backend: Backend) -> None:
    assert backend.connect(query={"tenant": "umbrella"}, tenant="umbrella")["statusCode"] == 200
    answer = backend.connect(query={"tenant": "umbrella"}, tenant="umbrella")
    problem(answer, 429, "rate_limited")
    assert "Retry-After" in answer["headers"]


def test_connect_with_an_expired_token_context_is_401(backend: Backend) -> None:
    problem(backend.connect(expires_at=int(NOW) - 3600), 401, "unauthorized")


def test_a_token_admitted_at_connect_is_served_by_the_same_rule_until_its_leeway_ends(
    backend: Backend,
) -> None:
    """A token 5 s past its expiry is admitted (30 s of clock leeway): its messages are answered
    until the same 30 s have passed, then `not_connected`, as the next connect would be refused."""
    assert backend.connect(expires_at=int(NOW) - 5) == {"statusCode": 200}
    (pong,) = backend.send({"action": "ping"})
    assert pong["type"] == "pong"
    backend.clock.now = NOW + 24
    (pong,) = backend.send({"action": "ping"})
    assert pong["type"] == "pong"
    backend.clock.now = NOW + 26
    error(backend.send({"action": "ping"}), 401, "not_connected")
    assert backend.registry.subscribers("acme", "jobs") == []
    problem(backend.connect(expires_at=int(NOW) - 5), 401, "unauthorized")


def test_disconnect_forgets_the_connection_and_its_subscriptions(backend: Backend) -> None:
    backend.connect()
    assert backend.handle(sample_event("websocket_disconnect")) == {"statusCode": 200}
    assert backend.registry.get("acme", CONNECTION) is None
    assert backend.registry.subscribers("acme", "jobs") == []
    assert backend.connections.items == {}


# --- subscribe, unsubscribe ---------------------------------------------------------------------


def test_the_sample_message_subscribes_and_answers_the_latest_cursor(backend: Backend) -> None:
    backend.connect()
    cursors = backend.log("readiness", 3)
    answer = backend.handle(sample_event("websocket_message"))
    assert answer == {"statusCode": 200}
    (message,) = backend.management.sent[CONNECTION]
    assert message == {
        "type": "subscribed",
        "channels": ["readiness"],
        "latest": {"readiness": cursors[-1]},
        "request_id": "r-1",
    }
    assert backend.registry.subscribers("acme", "readiness") == [CONNECTION]
    assert ("Messages", None) in backend.metrics


def test_subscribe_answers_the_origin_for_a_channel_with_no_events(backend: Backend) -> None:
    backend.connect()
    (message,) = backend.send({"action": "subscribe", "channels": ["prompt-pack", "prompt-pack"]})
    assert message == {"type": "subscribed", "channels": ["prompt-pack"], "latest": {"prompt-pack": ORIGIN}}


def test_subscribe_without_the_channels_scope_is_an_error_and_subscribes_nothing(backend: Backend) -> None:
    backend.connect(query={"tenant": "acme", "channel": "notifications"}, scopes="gui:notifications")
    messages = backend.send(
        {"action": "subscribe", "channels": ["notifications", "jobs"], "request_id": "r-9"},
        scopes="gui:notifications",
    )
    assert error(messages, 403, "insufficient_scope")["request_id"] == "r-9"
    assert backend.registry.subscribers("acme", "jobs") == []


def test_subscribe_to_an_unknown_channel_is_a_404_error(backend: Backend) -> None:
    backend.connect()
    error(backend.send({"action": "subscribe", "channels": ["nope"]}), 404, "unknown_channel")


def test_unsubscribe_drops_the_subscription(backend: Backend) -> None:
    backend.connect()
    (message,) = backend.send({"action": "unsubscribe", "channels": ["jobs"]})
    assert message == {"type": "unsubscribed", "channels": ["jobs"]}
    assert backend.registry.subscribers("acme", "jobs") == []
    assert backend.registry.subscribers("acme", "notifications") == [CONNECTION]


def test_subscriptions_made_from_one_read_of_the_connection_are_all_kept_and_all_dropped(
    backend: Backend,
) -> None:
    """What concurrent messages of one connection do: each works from its own read of the
    connection, so no subscription may depend on what that read said of the others."""
    backend.connect(query={"tenant": "acme"})
    connection = backend.registry.get("acme", CONNECTION)
    assert connection is not None
    for channel in ("jobs", "readiness", "prompt-pack"):
        backend.registry.subscribe(connection, [channel])
    assert backend.registry.channels("acme", CONNECTION) == {"jobs", "readiness", "prompt-pack"}
    for channel in ("jobs", "readiness"):
        backend.registry.unsubscribe(connection, [channel])
    assert backend.registry.subscribers("acme", "jobs") == []
    assert backend.registry.subscribers("acme", "readiness") == []
    assert backend.registry.channels("acme", CONNECTION) == {"prompt-pack"}


def test_a_message_on_an_unregistered_connection_is_an_error(backend: Backend) -> None:
    error(backend.send({"action": "subscribe", "channels": ["jobs"]}), 401, "not_connected")


# --- message limits ----------------------------------------------------------------------------

OTHER_CONNECTION = "Dr8oLeXiEpFDK0B="


def _on(connection_id: str, event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["connectionId"] = connection_id
    return event


def _ping(backend: Backend, connection_id: str, tenant: str = "stark") -> dict[str, Any]:
    before = len(backend.management.sent.get(connection_id, []))
    backend.handle(_on(connection_id, message_event({"action": "ping"}, tenant=tenant)))
    (answer,) = backend.management.sent[connection_id][before:]
    return answer


def _connect_stark(backend: Backend, connection_id: str) -> None:
    event = connect_event(query={"tenant": "stark"}, tenant="stark")
    assert backend.handle(_on(connection_id, event))["statusCode"] == 200


def test_past_its_own_limit_a_connection_is_refused_and_the_tenants_other_connection_is_not(
    backend: Backend,
) -> None:
    _connect_stark(backend, CONNECTION)
    _connect_stark(backend, OTHER_CONNECTION)
    assert [_ping(backend, CONNECTION)["type"] for _ in range(3)] == ["pong"] * 3
    refused = [_ping(backend, CONNECTION) for _ in range(5)]
    assert {(m["type"], m["status"], m["code"], m["route_class"]) for m in refused} == {
        ("error", 429, "rate_limited", "live_connection_messages")
    }
    assert all(1 <= m["retry_after"] <= 60 for m in refused)
    # The refused ones did not count against the tenant: the other connection has its 2 of 5.
    assert [_ping(backend, OTHER_CONNECTION)["type"] for _ in range(2)] == ["pong"] * 2
    refused_by_tenant = _ping(backend, OTHER_CONNECTION)
    assert (refused_by_tenant["code"], refused_by_tenant["route_class"]) == ("rate_limited", "live_messages")
    assert ("RateLimitBreaches", None) in backend.metrics


def test_a_refusal_is_remembered_so_the_rest_of_a_flood_costs_no_store_call(backend: Backend) -> None:
    counters = FakeCounters()
    calls = []
    increment = counters.increment_below

    def counted(*args: Any, **kwargs: Any) -> int | None:
        calls.append(args[0]["sk"])
        return increment(*args, **kwargs)

    counters.increment_below = counted  # type: ignore[method-assign]
    limiter = RateLimiter(counters, clock=backend.clock)
    backend.service.message_limiter = MessageLimiter(limiter, clock=backend.clock)
    _connect_stark(backend, CONNECTION)
    for _ in range(50):
        _ping(backend, CONNECTION)
    own = [sk for sk in calls if sk.startswith("RATE#live_connection_messages#")]
    assert len(own) == 3  # three admitted, the third the last slot: the 47 others refused from memory
    backend.clock.now += 61  # a new window: the connection may send again
    assert _ping(backend, CONNECTION)["type"] == "pong"


def test_a_message_of_a_tenant_whose_live_feature_is_off_is_refused(backend: Backend) -> None:
    error(backend.send({"action": "ping"}, tenant="initech"), 404, "feature_disabled")


# --- resume ------------------------------------------------------------------------------------


def _replayed(frames: list[dict[str, Any]]) -> list[str]:
    assert all(frame["type"] == "replay" and frame["channel"] == "jobs" for frame in frames)
    return [event["cursor"] for frame in frames for event in frame["events"]]


def test_resume_replays_in_order_in_frames_under_32_kb_and_subscribes(backend: Backend) -> None:
    backend.connect(query={"tenant": "acme"})
    cursors = backend.log("jobs", 250, size=1000)  # ~1.2 KB each: several frames
    frames = backend.send({"action": "resume", "channel": "jobs", "cursor": cursors[9], "request_id": "r-2"})
    assert len(frames) > 5
    assert all(size <= FRAME_LIMIT_BYTES for size in backend.management.sizes)
    assert sum(backend.management.sizes) <= RESUME_BYTES + len(frames) * 300  # the events' bytes, bounded
    assert all(frame["more"] is True for frame in frames)  # ~290 KB of events: a second resume
    rest = backend.send({"action": "resume", "channel": "jobs", "cursor": frames[-1]["cursor"]})
    assert _replayed(frames) + _replayed(rest) == cursors[10:]
    assert all(frame["more"] is True for frame in rest[:-1])
    assert (rest[-1]["more"], rest[-1]["cursor"], rest[-1]["latest"]) == (False, cursors[-1], cursors[-1])
    assert all(frame["request_id"] == "r-2" for frame in frames)
    first = frames[0]["events"][0]
    assert first["type"] == "event"
    assert first["v"] == 1
    assert first["payload"]["job_id"] == "job-11"
    assert backend.registry.subscribers("acme", "jobs") == [CONNECTION]


def test_resume_stops_at_the_cap_and_says_more_then_carries_on(backend: Backend) -> None:
    backend.connect()
    cursors = backend.log("jobs", RESUME_CAP + 150)
    first = backend.send({"action": "resume", "channel": "jobs", "cursor": cursors[0]})
    assert _replayed(first) == cursors[1 : RESUME_CAP + 1]
    assert (first[-1]["more"], first[-1]["cursor"]) == (True, cursors[RESUME_CAP])
    second = backend.send({"action": "resume", "channel": "jobs", "cursor": first[-1]["cursor"]})
    assert _replayed(second) == cursors[RESUME_CAP + 1 :]
    assert second[-1]["more"] is False


def test_resume_reads_no_further_page_past_its_time_budget(backend: Backend) -> None:
    """A slow store must not make one message hold a container: past the budget, `more`."""
    backend.connect()
    cursors = backend.log("jobs", 350)
    ticks = iter(range(0, 100, 3))  # 3 s per read of the timer: the budget ends after the first page
    backend.service.ports = replace(backend.service.ports, timer=lambda: float(next(ticks)))
    first = backend.send({"action": "resume", "channel": "jobs", "cursor": cursors[0]})
    assert _replayed(first) == cursors[1:101]
    assert (first[-1]["more"], first[-1]["cursor"]) == (True, cursors[100])


def test_resume_reads_at_most_its_pages(backend: Backend) -> None:
    backend.connect()
    cursors = backend.log("jobs", RESUME_PAGES * PAGE_LIMIT + 50)
    reads = []
    after = backend.replay.after

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs.get("limit"))
        return after(*args, **kwargs)

    backend.replay.after = counted  # type: ignore[method-assign]
    first = backend.send({"action": "resume", "channel": "jobs", "cursor": cursors[0]})
    assert len(reads) <= RESUME_PAGES
    assert len(_replayed(first)) <= RESUME_CAP
    assert first[-1]["more"] is True


def test_resume_from_the_latest_cursor_answers_an_empty_last_frame(backend: Backend) -> None:
    backend.connect()
    cursors = backend.log("jobs", 2)
    (frame,) = backend.send({"action": "resume", "channel": "jobs", "cursor": cursors[-1]})
    assert frame == {
        "type": "replay",
        "channel": "jobs",
        "events": [],
        "more": False,
        "cursor": None,
        "latest": cursors[-1],
    }


def test_resume_from_an_expired_cursor_answers_a_gap_with_the_latest(backend: Backend) -> None:
    old = backend.log("jobs", 2)
    backend.clock.now += WINDOW_S + 60  # the first events left the window
    new = backend.log("jobs", 1, start=3)
    backend.connect(expires_at=int(backend.clock.now) + 3600)
    (gap,) = backend.send({"action": "resume", "channel": "jobs", "cursor": old[0]})
    assert gap == {"type": "gap", "channel": "jobs", "cursor": old[0], "latest": new[0]}


def test_resume_from_an_unknown_cursor_answers_a_gap(backend: Backend) -> None:
    backend.connect()
    cursors = backend.log("jobs", 2)
    (gap,) = backend.send({"action": "resume", "channel": "jobs", "cursor": to_cursor(5)})
    assert gap == {"type": "gap", "channel": "jobs", "cursor": to_cursor(5), "latest": cursors[-1]}


def test_resume_with_a_malformed_cursor_is_a_400_error(backend: Backend) -> None:
    backend.connect()
    error(backend.send({"action": "resume", "channel": "jobs", "cursor": "abc"}), 400, "invalid_cursor")


def test_resume_of_a_channel_without_its_scope_is_a_403_error(backend: Backend) -> None:
    backend.connect(query={"tenant": "acme"})
    messages = backend.send(
        {"action": "resume", "channel": "jobs", "cursor": to_cursor(1)}, scopes="gui:dashboard"
    )
    error(messages, 403, "insufficient_scope")
    assert backend.registry.subscribers("acme", "jobs") == []


# --- ack ---------------------------------------------------------------------------------------


def _notify(backend: Backend, *, audience: str = "*") -> str:
    created = datetime.fromtimestamp(NOW - 600, UTC)
    note_id = notification_id(created, audience)
    backend.inbox.append(
        "acme",
        {
            "id": note_id,
            "category": "job",
            "severity": "warning",
            "title": "Ingest job failed: loinc",
            "audience": audience,
            "created_at": created,
        },
    )
    return note_id


def test_ack_applies_the_rest_acknowledge_command_and_audits_it(backend: Backend) -> None:
    backend.connect()
    note_id = _notify(backend)
    (message,) = backend.send({"action": "ack", "id": note_id, "request_id": "r-3"})
    assert (message["type"], message["id"], message["request_id"]) == ("acked", note_id, "r-3")
    notification = message["notification"]
    assert (notification["status"], notification["version"], notification["etag"]) == (
        "acknowledged",
        2,
        '"n2"',
    )
    assert notification["acted_by"] == "user-ada"
    stored = backend.inbox.get("acme", note_id)
    assert stored is not None
    assert stored["status"] == "acknowledged"
    (record,) = backend.audit.records
    assert (record.tenant, record.actor, record.method, record.status, record.code) == (
        "acme",
        "user-ada",
        "POST",
        200,
        None,
    )
    assert record.endpoint == "/service/gui/notifications/{id}/{command}"
    assert record.path == f"/service/gui/notifications/{note_id}/acknowledge"
    assert record.request_id == "Cq7oEGJ1DoEFd6g="


def test_ack_twice_is_a_no_op_like_a_double_click(backend: Backend) -> None:
    backend.connect()
    note_id = _notify(backend)
    backend.send({"action": "ack", "id": note_id})
    (message,) = backend.send({"action": "ack", "id": note_id})
    assert message["notification"]["version"] == 2
    assert [r.status for r in backend.audit.records] == [200, 200]


def test_ack_of_another_users_personal_item_is_404_and_audited(backend: Backend) -> None:
    backend.connect()
    note_id = _notify(backend, audience="user-otto")
    error(backend.send({"action": "ack", "id": note_id}), 404, "not_found")
    stored = backend.inbox.get("acme", note_id)
    assert stored is not None
    assert stored["status"] == "unread"
    (record,) = backend.audit.records
    assert (record.status, record.code) == (404, "not_found")


def test_ack_needs_the_notifications_scope_and_feature(backend: Backend) -> None:
    backend.connect(query={"tenant": "acme"})
    note_id = _notify(backend)
    error(backend.send({"action": "ack", "id": note_id}, scopes="gui:jobs"), 403, "insufficient_scope")
    backend.connect(query={"tenant": "hooli"}, tenant="hooli")
    error(backend.send({"action": "ack", "id": note_id}, tenant="hooli"), 404, "feature_disabled")


# --- ping, unknown actions, bad messages ---------------------------------------------------------


def test_ping_answers_pong_with_the_time(backend: Backend) -> None:
    backend.connect()
    (message,) = backend.send({"action": "ping", "request_id": "r-4"})
    assert message == {"type": "pong", "at": "2026-11-27T18:30:00.000+00:00", "request_id": "r-4"}


def test_an_unknown_action_is_an_unknown_action_error(backend: Backend) -> None:
    backend.connect()
    message = error(backend.send({"action": "shout", "request_id": "r-5"}), 400, "unknown_action")
    assert message["request_id"] == "r-5"
    assert message["action"] == "shout"


def test_a_body_that_is_not_json_is_a_400_malformed_json_error(backend: Backend) -> None:
    backend.connect()
    error(backend.send("{not json", route="$default"), 400, "malformed_json")
    error(backend.send("[1, 2]", route="$default"), 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action":"ping","request_id":"\\ud800"}', "ping"),
        ('{"action":"ping","\\udc00":1}', "ping"),
        ('{"action":"subscribe","channels":["a\\udfffb"]}', "subscribe"),
        ('{"action":"ping","x":' + "[" * 5000 + "]" * 5000 + "}", "ping"),
        ('{"action":"ping","x":' + "[" * 32 + "]" * 32 + "}", "ping"),
        ("{" * 3000, "$default"),
        ("[" * 5000 + "]" * 5000, "$default"),
    ],
    ids=[
        "surrogate request_id",
        "surrogate key",
        "surrogate channel",
        "deep value",
        "33 levels",
        "deep garbage",
        "deep array",
    ],
)
def test_a_message_of_lone_surrogates_or_deep_nesting_is_a_400_without_echo(
    backend: Backend, body: str, route: str
) -> None:
    """JSON's escapes can spell a lone surrogate, which no UTF-8 answer can carry, and Python's
    parser gives up on deep nesting: both are messages that cannot be read. A message nests at most
    32 levels, as a REST body, whatever the interpreter's recursion limit."""
    backend.connect()
    message = error(backend.send(body, route=route), 400, "malformed_json")
    assert "request_id" not in message
    assert ("MessageFailures", None) not in backend.metrics


def test_a_request_id_too_long_to_echo_is_refused_without_it(backend: Backend) -> None:
    backend.connect()
    message = error(backend.send({"action": "ping", "request_id": "r" * 129}), 422, "validation_failed")
    assert "request_id" not in message


def test_wrong_fields_are_a_validation_error_with_the_field(backend: Backend) -> None:
    backend.connect()
    message = error(backend.send({"action": "subscribe", "channels": []}), 422, "validation_failed")
    assert message["errors"][0]["pointer"] == "/channels"
    message = error(backend.send({"action": "ack", "id": "n1", "extra": 1}), 422, "validation_failed")
    assert message["errors"][0]["pointer"] == "/extra"


def test_an_answer_to_a_closed_connection_is_dropped_quietly(backend: Backend) -> None:
    backend.connect()
    backend.management.gone.add(CONNECTION)
    assert backend.handle(message_event({"action": "ping"})) == {"statusCode": 200}


# --- the Lambda entry point ----------------------------------------------------------------------


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """The entry point, imported with the manifest's environment (its logger writes to capsys)."""
    for name, value in SETTINGS.model_dump(by_alias=True).items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "DomainDetermine/GUI")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    sys.modules.pop("gui_realtime.handler", None)
    module = importlib.import_module("gui_realtime.handler")
    yield module
    sys.modules.pop("gui_realtime.handler", None)


def test_the_handler_runs_every_route_with_the_tenant_and_connection_on_its_log_lines(
    handler_module: Any, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(handler_module, "service", backend.service)
    backend.service.logger = handler_module.logger
    backend.service.ports = replace(backend.service.ports, count=handler_module.count)
    log = io.StringIO()
    handler_module.logger.registered_handler.stream = log  # type: ignore[attr-defined]
    context = FakeLambdaContext("gui_realtime", aws_request_id="4b5c3f2e-0d1a-4c5b-9e8f-7a6b5c4d3e2f")
    assert handler_module.handler(sample_event("websocket_connect"), context) == {"statusCode": 200}
    assert handler_module.handler(sample_event("websocket_message"), context) == {"statusCode": 200}
    refused = connect_event(query={"tenant": "globex"})
    assert handler_module.handler(refused, context)["statusCode"] == 403
    assert handler_module.handler(sample_event("websocket_disconnect"), context) == {"statusCode": 200}
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    assert len(logged) == 3
    assert all(line["tenant"] == "acme" and line["connection_id"] == CONNECTION for line in logged)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emitted = [line["_aws"]["CloudWatchMetrics"][0] for line in lines if "_aws" in line]
    names = {metric["Name"] for entry in emitted for metric in entry["Metrics"]}
    assert {"Connects", "Messages", "Refusals"} <= names
    refusal = next(line for line in lines if "_aws" in line and "Refusals" in line)
    assert refusal["reason"] == "tenant_mismatch"


def test_a_failure_behind_a_message_answers_internal_error_and_keeps_the_socket(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.connect()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("table unavailable")

    monkeypatch.setattr(backend.replay, "latest", broken)
    message = error(backend.send({"action": "subscribe", "channels": ["jobs"]}), 500, "internal_error")
    assert "table unavailable" not in json.dumps(message)
    assert ("MessageFailures", None) in backend.metrics


def test_resume_accepts_a_cursor_of_a_full_length_sequence_number(backend: Backend) -> None:
    backend.connect()
    long = to_cursor("4" * 56)  # Kinesis sequence numbers are 56 digits in practice
    (gap,) = backend.send({"action": "resume", "channel": "jobs", "cursor": long})
    assert (gap["type"], gap["cursor"]) == ("gap", long)
