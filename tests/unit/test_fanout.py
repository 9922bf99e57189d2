"""gui_fanout: Kinesis batches built from the EventBridge samples in events/aws/, through the real
handler (BatchProcessor, partial failures) onto in-memory tables and a fake management API.

A record's data is the EventBridge envelope exactly as the rule `gui-events-to-stream` puts it on
the stream (base64 of its JSON); the partition key is the tenant.
"""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest

from gui_core import replay_log
from gui_core.connections import CONNECTION_PREFIX, SUBSCRIPTION_PREFIX, Subscription
from gui_core.domain_events import EVENT_ROUTING
from gui_core.metric_names import FanoutMetric, QuarantineMetric, declared
from gui_core.replay_log import LiveEvent, to_cursor
from local.apigw import sample_event
from tests.unit.fanout_support import (
    CHANNEL_OF_CONNECTION,
    NOW,
    SAMPLES,
    Backend,
    batch,
    envelope,
    handler_on,
    invoke,
    metrics_of,
    record,
    subscribed_backend,
)


@pytest.fixture
def backend() -> Backend:
    return subscribed_backend()


@pytest.fixture
def function(monkeypatch: pytest.MonkeyPatch, backend: Backend) -> ModuleType:
    return handler_on(monkeypatch, backend)


# --- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(k for k, r in EVENT_ROUTING.items() if r.channels))
def test_each_kind_reaches_the_subscribers_of_its_channels_only(
    function: ModuleType, backend: Backend, kind: str
) -> None:
    assert invoke(function, batch(record(SAMPLES[kind], 1001))) == []
    channels = EVENT_ROUTING[kind].channels
    for connection_id, channel in CHANNEL_OF_CONNECTION.items():
        messages = backend.received(connection_id)
        if channel not in channels:
            assert messages == []
            continue
        assert len(messages) == 1
        message = messages[0]
        assert message["type"] == "event"
        assert message["v"] == 1
        assert (message["channel"], message["kind"]) == (channel, kind)
        assert message["cursor"] == to_cursor(1001)
        assert message["event_id"] == SAMPLES[kind]["detail"]["event_id"]
        assert message["at"].endswith("+00:00")
        assert len(json.dumps(message["payload"])) < 2000  # small: ids and short texts
        assert len(backend.logged("acme", channel)) == 1


def test_a_job_status_payload_names_the_job_and_its_progress(function: ModuleType, backend: Backend) -> None:
    invoke(function, batch(record(envelope("JobStatusChanged", verb="reindex"), 7)))
    (message,) = backend.received("c-jobs")
    assert message["payload"] == {
        "job_id": SAMPLES["JobStatusChanged"]["detail"]["job_id"],
        "verb": "reindex",
        "status": "running",
        "progress": 25,
    }


def test_an_alert_payload_is_the_inbox_item(function: ModuleType, backend: Backend) -> None:
    invoke(function, batch(record(SAMPLES["CostAlert"], 8)))
    (message,) = backend.received("c-notes")
    (item,) = backend.inbox()
    payload = message["payload"]
    assert payload["notification_id"] == item["id"]
    assert (
        (payload["category"], payload["severity"])
        == ("cost", "warning")
        == (item["category"], item["severity"])
    )
    assert payload["title"] == item["title"] == "Cost alert: 90 % of the monthly budget monthly-compute"
    assert payload["source"] == {"module": "mapping"}
    assert payload["budget_usd"] == 5000.0


@pytest.mark.parametrize("kind", ["MetricsReported", "JobCancelRequested", "NotAGuiThing"])
def test_kinds_without_a_channel_are_counted_and_skipped(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    event = SAMPLES.get(kind) or {**SAMPLES["CostAlert"], "detail-type": kind}
    assert invoke(function, batch(record(event, 3))) == []
    assert all(backend.received(c) == [] for c in CHANNEL_OF_CONNECTION)
    assert backend.events.items == {}
    assert metrics_of(capsys.readouterr().out)["NotForGui"] == 1


# --- inbox --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(k for k, r in EVENT_ROUTING.items() if r.inbox))
def test_a_notification_kind_writes_its_inbox_item_once(
    function: ModuleType, backend: Backend, kind: str
) -> None:
    invoke(function, batch(record(SAMPLES[kind], 11)))
    invoke(function, batch(record(SAMPLES[kind], 11)))  # the batch again
    invoke(function, batch(record(SAMPLES[kind], 12)))  # the producer sent it twice
    (item,) = backend.inbox()
    assert item["category"] == EVENT_ROUTING[kind].category
    assert item["audience"] == "*"
    assert item["status"] == "unread"
    assert item["title"]
    assert [m["payload"]["notification_id"] for m in backend.received("c-notes")] == [item["id"]]


@pytest.mark.parametrize("kind", sorted(k for k, r in EVENT_ROUTING.items() if r.channels and not r.inbox))
def test_other_kinds_write_no_inbox_item(function: ModuleType, backend: Backend, kind: str) -> None:
    invoke(function, batch(record(SAMPLES[kind], 13)))
    assert backend.inbox() == []


# --- refusals -----------------------------------------------------------------------------------


def test_an_unknown_schema_version_is_refused_and_counted_not_raised(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    future = envelope("GovernanceAlert", schema_version="2")
    after = envelope("JobStatusChanged")
    assert invoke(function, batch(record(future, 21), record(after, 22))) == []
    assert backend.inbox() == []
    assert backend.received("c-notes") == []
    assert len(backend.received("c-jobs")) == 1  # the record after it was not held back
    figures = metrics_of(capsys.readouterr().out)
    assert figures["UnknownSchemaVersion"] == 1
    assert figures["Records"] == 2


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        json.dumps({"detail-type": "GovernanceAlert", "detail": {"tenant": "acme"}}).encode(),
        json.dumps(["an", "array"]).encode(),
    ],
)
def test_an_invalid_record_is_counted_and_skipped(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    assert invoke(function, batch(record(data, 31, tenant="acme"))) == []
    assert backend.events.items == {}
    assert metrics_of(capsys.readouterr().out)["InvalidEvent"] == 1


@pytest.mark.parametrize("tenant", ["globex", "nobody"])
def test_a_tenant_not_homed_here_is_refused_and_counted(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str], tenant: str
) -> None:
    backend.connect("c-globex", "notifications", tenant=tenant)
    assert invoke(function, batch(record(envelope("IncidentOpened", tenant=tenant), 41))) == []
    assert backend.received("c-globex") == []
    assert backend.inbox(tenant) == []
    assert backend.events.items == {}
    assert metrics_of(capsys.readouterr().out)["ResidencyRefused"] == 1


def test_a_sequence_number_no_cursor_can_hold_is_counted_not_failed(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    too_long = "9" * 130  # longer than Kinesis allows: never a valid cursor
    assert invoke(function, batch(record(SAMPLES["JobStatusChanged"], too_long))) == []
    assert backend.received("c-jobs") == []
    assert metrics_of(capsys.readouterr().out)["CursorUnrepresentable"] == 1


# --- the quarantine (issue 12, #14) -------------------------------------------------------------

POISON: dict[str, tuple[Any, str]] = {
    # reason: (the record's data, or an envelope; its sequence number)
    "undecodable": (b"not json at all", "61"),
    "unknown_schema_version": (envelope("GovernanceAlert", schema_version="2"), "62"),
    "invalid": (envelope("JobStatusChanged", status="exploded"), "63"),
    "wrong_region": (envelope("IncidentOpened", tenant="globex"), "64"),
    "unknown_tenant": (envelope("IncidentOpened", tenant="nobody"), "65"),
    "unrepresentable_cursor": (SAMPLES["JobStatusChanged"], "9" * 130),
}


@pytest.mark.parametrize("reason", sorted(POISON))
def test_a_poison_record_is_quarantined_raw_with_its_reason(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str], reason: str
) -> None:
    """GIVEN a record no redelivery can cure WHEN the fan-out gets it THEN the record, exactly as
    Lambda gave it, is kept in the quarantine with why, and the batch goes on (not failed)."""
    data, sequence = POISON[reason]
    poison = record(data, sequence, tenant="acme")
    assert invoke(function, batch(poison, record(SAMPLES["JobStatusChanged"], 70))) == []
    (kept,) = backend.quarantine.kept
    assert kept.record == poison  # base64 data, partition key, sequence number, event id, arrival
    assert kept.reason == reason
    assert kept.error
    assert backend.logged("acme", "jobs")[0]["event_id"] == SAMPLES["JobStatusChanged"]["detail"]["event_id"]
    assert metrics_of(capsys.readouterr().out)["RecordsQuarantined"] == 1


def test_only_the_poison_record_of_a_batch_is_quarantined(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good record is delivered and a kind the GUI does not show is skipped: neither is kept."""
    not_for_gui = [SAMPLES["MetricsReported"], {**SAMPLES["CostAlert"], "detail-type": "NotAGuiThing"}]
    records = [record(event, 72 + n) for n, event in enumerate(not_for_gui)]
    poison = record(envelope("GovernanceAlert", schema_version="2"), 74)
    good = record(SAMPLES["JobStatusChanged"], 75)

    assert invoke(function, batch(*records, poison, good)) == []

    assert backend.quarantine.reasons() == [("74", "unknown_schema_version")]
    assert len(backend.received("c-jobs")) == 1
    figures = metrics_of(capsys.readouterr().out)
    assert (figures["RecordsQuarantined"], figures["NotForGui"]) == (1, 2)


def test_a_record_whose_quarantine_fails_is_reported_failed_then_kept_on_the_retry(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    poison = record(envelope("GovernanceAlert", schema_version="2"), 81)
    later_of_acme = record(envelope("JobStatusChanged", event_id="acme-after-poison"), 82)
    other_tenant = record(envelope("JobStatusChanged", tenant="umbrella", event_id="umb-1"), 83)
    backend.quarantine.unreachable.add("acme")

    assert invoke(function, batch(poison, later_of_acme, other_tenant)) == ["81", "82"]
    assert backend.quarantine.kept == []
    assert [e["event_id"] for e in backend.logged("umbrella", "jobs")] == ["umb-1"]
    figures = metrics_of(capsys.readouterr().out)
    assert figures["RecordsFailed"] == 1
    assert "RecordsQuarantined" not in figures

    backend.quarantine.unreachable.clear()  # Lambda delivers the batch again from the failed record
    assert invoke(function, batch(poison, later_of_acme, other_tenant)) == []
    assert backend.quarantine.reasons() == [("81", "unknown_schema_version")]
    assert [e["event_id"] for e in backend.logged("acme", "jobs")] == ["acme-after-poison"]


# --- failures and order -------------------------------------------------------------------------


def test_a_failing_record_fails_the_later_records_of_its_tenant_only(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.connect("u-jobs", "jobs", tenant="umbrella")
    acme = [envelope("JobStatusChanged", event_id=f"acme-{n}", progress=10 * n) for n in range(1, 4)]
    umbrella = [envelope("JobStatusChanged", tenant="umbrella", event_id=f"umb-{n}") for n in range(1, 3)]
    backend.events.poison.add("acme-2")
    event = batch(
        record(acme[0], 101),
        record(umbrella[0], 102),
        record(acme[1], 103),  # fails
        record(umbrella[1], 104),
        record(acme[2], 105),  # after a failure of its tenant: not processed
    )
    assert invoke(function, event) == ["103", "105"]
    assert [m["event_id"] for m in backend.received("c-jobs")] == ["acme-1"]
    assert [m["event_id"] for m in backend.received("u-jobs")] == ["umb-1", "umb-2"]
    assert [i["event_id"] for i in backend.logged("acme", "jobs")] == ["acme-1"]
    figures = metrics_of(capsys.readouterr().out)
    assert (figures["RecordsFailed"], figures["RecordsDeferred"], figures["Records"]) == (1, 1, 5)

    # Lambda retries from the lowest failed sequence number: 103 onwards, in order
    backend.events.poison.clear()
    assert invoke(function, batch(*event["Records"][2:])) == []
    assert [m["event_id"] for m in backend.received("c-jobs")] == ["acme-1", "acme-2", "acme-3"]
    assert [m["event_id"] for m in backend.received("u-jobs")] == [
        "umb-1",
        "umb-2",
    ]  # 104 again: not re-pushed


def test_every_record_failing_is_a_partial_answer_not_an_exception(
    function: ModuleType, backend: Backend
) -> None:
    backend.events.poison.update({"a-1", "a-2"})
    event = batch(
        record(envelope("JobStatusChanged", event_id="a-1"), 1),
        record(envelope("JobStatusChanged", event_id="a-2"), 2),
    )
    assert invoke(function, event) == ["1", "2"]


def test_a_redelivered_batch_pushes_nothing_twice(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    kinds = [
        "JobRequested",
        "JobStatusChanged",
        "WaiverGranted",
        "ReadinessGateChanged",
        "PromptPackCalibrationStatus",
    ]
    event = batch(*(record(SAMPLES[kind], 200 + n) for n, kind in enumerate(kinds)))
    assert invoke(function, event) == []
    first = {c: list(backend.received(c)) for c in CHANNEL_OF_CONNECTION}
    capsys.readouterr()
    assert invoke(function, event) == []
    assert {c: backend.received(c) for c in CHANNEL_OF_CONNECTION} == first
    assert [m["kind"] for m in first["c-jobs"]] == ["JobRequested", "JobStatusChanged"]
    figures = metrics_of(capsys.readouterr().out)
    assert figures["AlreadyPushed"] == 6  # WaiverGranted is on two channels
    assert "Pushed" not in figures


def test_an_event_logged_but_not_pushed_is_pushed_on_the_retry_once(
    function: ModuleType, backend: Backend
) -> None:
    def unavailable(tenant: str, channel: str) -> list[Subscription]:
        raise RuntimeError("connections store unavailable")

    original = backend.registry.subscriptions
    backend.registry.subscriptions = unavailable  # type: ignore[method-assign]
    event = batch(record(SAMPLES["JobStatusChanged"], 301))
    assert invoke(function, event) == ["301"]
    assert backend.logged("acme", "jobs")[0]["pushed"] is False
    backend.registry.subscriptions = original  # type: ignore[method-assign]
    assert invoke(function, event) == []
    assert invoke(function, event) == []
    assert [m["cursor"] for m in backend.received("c-jobs")] == [to_cursor(301)]
    assert backend.logged("acme", "jobs")[0]["pushed"] is True


def test_the_same_event_in_a_later_record_keeps_its_first_cursor(
    function: ModuleType, backend: Backend
) -> None:
    invoke(function, batch(record(SAMPLES["ReadinessGateChanged"], 401)))
    invoke(function, batch(record(SAMPLES["ReadinessGateChanged"], 409)))
    assert [m["cursor"] for m in backend.received("c-ready")] == [to_cursor(401)]
    assert [i["cursor"] for i in backend.logged("acme", "readiness")] == [to_cursor(401)]


# --- connections --------------------------------------------------------------------------------


def test_gone_connections_are_removed_and_the_others_still_receive(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.connect("c-gone", "jobs", "notifications")
    backend.connect("c-also", "jobs")
    backend.management.gone.add("c-gone")
    assert invoke(function, batch(record(SAMPLES["JobStatusChanged"], 501))) == []
    assert len(backend.received("c-jobs")) == len(backend.received("c-also")) == 1
    assert not any(
        sk
        in {
            f"{CONNECTION_PREFIX}c-gone",
            f"{SUBSCRIPTION_PREFIX}jobs#c-gone",
            f"{SUBSCRIPTION_PREFIX}notifications#c-gone",
        }
        for (_, sk) in backend.connections.items
    )
    assert "c-gone" not in backend.registry.subscribers("acme", "jobs")
    figures = metrics_of(capsys.readouterr().out)
    assert (figures["Gone"], figures["Pushed"]) == (1, 2)


def test_a_slow_or_failing_connection_does_not_stop_the_others(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(6):
        backend.connect(f"c-{n}", "jobs")
    backend.connect("c-slow", "jobs")
    backend.connect("c-broken", "jobs")
    backend.management.slow.add("c-slow")
    backend.management.broken.add("c-broken")
    assert invoke(function, batch(record(SAMPLES["JobStatusChanged"], 601))) == []
    fast = [f"c-{n}" for n in range(6)] + ["c-jobs"]
    assert all(len(backend.received(c)) == 1 for c in [*fast, "c-slow"])
    assert backend.received("c-broken") == []
    assert max(backend.management.finished[c] for c in fast) < backend.management.finished["c-slow"]
    assert "c-broken" in backend.registry.subscribers("acme", "jobs")  # not gone: kept
    assert backend.logged("acme", "jobs")[0]["pushed"] is True
    figures = metrics_of(capsys.readouterr().out)
    assert (figures["Pushed"], figures["PushFailed"]) == (8, 1)


# --- metrics ------------------------------------------------------------------------------------


def test_lag_and_record_counts_are_reported_once_per_batch(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = record(SAMPLES["JobStatusChanged"], 701), record(SAMPLES["JobRequested"], 702)
    first["kinesis"]["approximateArrivalTimestamp"] = NOW - 4.0
    backend.clock.now = NOW
    invoke(function, batch(first, second))
    figures = metrics_of(capsys.readouterr().out)
    assert figures["Records"] == 2
    assert figures["Pushed"] == 2
    assert figures["FanoutLagMs"] == pytest.approx(4000)


def test_every_metric_the_fanout_prints_is_one_it_declares(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample Kinesis batch, then pushes, an inbox write, a poison record and an event of a
    tenant homed elsewhere: every figure printed is a name gui_fanout declares (gui_core.metric_names),
    the panels' and alarms' among them."""
    assert invoke(function, sample_event("kinesis_stream_batch")) == []
    arrived = record(SAMPLES["CostAlert"], 701)
    arrived["kinesis"]["approximateArrivalTimestamp"] = NOW - 1.0
    backend.clock.now = NOW
    elsewhere = envelope("IncidentOpened", tenant="globex")
    poison, refused = record(b"not json", 702, tenant="acme"), record(elsewhere, 703)
    assert invoke(function, batch(arrived, poison, refused)) == []
    figures = metrics_of(capsys.readouterr().out)
    assert {
        FanoutMetric.RECORDS,
        FanoutMetric.PUSHED,
        FanoutMetric.INBOX_WRITTEN,
        FanoutMetric.LAG_MS,
        FanoutMetric.INVALID_EVENT,
        FanoutMetric.RESIDENCY_REFUSED,
        QuarantineMetric.RECORDS_QUARANTINED,
    } <= set(figures)
    assert set(figures) <= declared("gui_fanout")


# --- the streaming work's sample batch ----------------------------------------------------------


def test_the_sample_kinesis_batch_is_delivered(function: ModuleType, backend: Backend) -> None:
    """Real sequence numbers (56 digits) make cursors as moto's (1, 2, ...) do."""
    assert invoke(function, sample_event("kinesis_stream_batch")) == []
    assert len(backend.received("c-jobs")) == 1
    assert len(backend.received("c-ready")) == 1


def test_a_live_event_as_pushed_is_the_one_logged(function: ModuleType, backend: Backend) -> None:
    invoke(function, batch(record(SAMPLES["WaiverExpired"], 801)))
    (pushed,) = backend.received("c-ready")
    (logged,) = backend.logged("acme", "readiness")
    assert LiveEvent.from_item(logged).message() == pushed


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ("9", "10"),
        ("1", "49590338271490256608559692538361571095921575989136588898"),
        (
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692540925702759324208523137515618",
        ),
        ("0", "1" + "0" * 128),
    ],
)
def test_cursors_sort_as_strings_in_the_order_of_sequence_numbers(smaller: str, larger: str) -> None:
    assert replay_log.to_cursor(smaller) < replay_log.to_cursor(larger)
    assert replay_log.is_cursor(replay_log.to_cursor(smaller))
    assert replay_log.is_cursor(replay_log.to_cursor(larger))


@pytest.mark.parametrize("value", ["", "abc", "0021", "003012", "1" * 140, None, "00", "0020"])
def test_anything_but_a_cursor_is_refused(value: object) -> None:
    assert not replay_log.is_cursor(value)


def test_a_batch_reads_a_channels_subscribers_once_and_stops_pushing_to_a_gone_one(
    function: ModuleType, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.connect("c-gone", "jobs")
    backend.management.gone.add("c-gone")
    reads: list[tuple[str, str]] = []
    original = backend.registry.subscriptions

    def counted(tenant: str, channel: str) -> list[Subscription]:
        reads.append((tenant, channel))
        return original(tenant, channel)

    backend.registry.subscriptions = counted  # type: ignore[method-assign]
    events = [copy.deepcopy(SAMPLES["JobStatusChanged"]) for _ in range(10)]
    for n, event in enumerate(events):
        event["detail"]["event_id"] = f"e-{n}"
    records = [record(event, 700 + n) for n, event in enumerate(events)]
    assert invoke(function, batch(*records)) == []
    assert reads == [("acme", "jobs")]
    assert [m["cursor"] for m in backend.received("c-jobs")] == [to_cursor(700 + n) for n in range(10)]
    figures = metrics_of(capsys.readouterr().out)
    assert (figures["Gone"], figures["SubscriberReads"]) == (1, 1)  # not posted to again after its 410
