"""The local bus relay: the manifest's rules deliver real PutEvents to their targets on moto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.aws import MotoServer, aws_client, create_resources
from local.bus import BusRelay
from local.pool import Throttled
from stacks.manifest import MANIFEST, Rule

# moto keeps one state per process: a region no running backend uses keeps its relays out of ours.
REGION = "eu-central-1"


class RecordingContainer:
    """A target function: fails `fail_times` invocations, then Lambda refuses `throttle_times`
    (its reserved concurrency in use), then takes every event."""

    def __init__(self, fail_times: int = 0, throttle_times: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_times = fail_times
        self.throttle_times = throttle_times
        self.fn = MANIFEST.function("gui_job_events")
        self.region = REGION

    def invoke(self, event: dict[str, Any]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("simulated failure")
        if self.throttle_times:
            self.throttle_times -= 1
            raise Throttled(self.fn, self.region)
        self.events.append(event)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        create_resources(MANIFEST, endpoint_url=server.endpoint_url, region=REGION)
        yield server


def _relay(moto: MotoServer, container: RecordingContainer) -> BusRelay:
    targets = {rule.function: container for rule in MANIFEST.rules if rule.function}
    return BusRelay(MANIFEST, moto.endpoint_url, REGION, containers=targets)  # type: ignore[arg-type]


def _read_stream(moto: MotoServer) -> list[dict[str, Any]]:
    kinesis = aws_client("kinesis", endpoint_url=moto.endpoint_url, region=REGION)
    name = MANIFEST.stream.local_stream_name()
    records: list[dict[str, Any]] = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += kinesis.get_records(ShardIterator=iterator)["Records"]
    return [{"partition": r["PartitionKey"], **json.loads(r["Data"])} for r in records]


def test_patterns_render_prefixes_detail_types_and_required_detail() -> None:
    rule = Rule("r", "domain", ("domaindetermine.",), ("JobStatusChanged",), function="f")
    assert rule.event_pattern() == {
        "source": [{"prefix": "domaindetermine."}],
        "detail-type": ["JobStatusChanged"],
    }
    to_stream = Rule("s", "domain", ("domaindetermine.",), stream="x", required_detail=("tenant",))
    assert to_stream.event_pattern() == {
        "source": [{"prefix": "domaindetermine."}],
        "detail": {"tenant": [{"exists": True}]},
    }


def test_the_relay_mirrors_the_manifest_patterns(moto: MotoServer) -> None:
    """The mirror rules on moto's bus carry each rule's own pattern (`Rule.event_pattern`, as the
    stack renders it), not a copy of it."""
    relay = _relay(moto, RecordingContainer())
    events = aws_client("events", endpoint_url=moto.endpoint_url, region=REGION)
    try:
        for rule in MANIFEST.rules:
            described = events.describe_rule(Name=relay.mirror_name(rule.name), EventBusName=relay.bus_name)
            assert json.loads(described["EventPattern"]) == rule.event_pattern(), rule.name
    finally:
        relay.stop()


def test_an_event_without_a_tenant_never_reaches_the_stream(moto: MotoServer) -> None:
    """The stream rule requires `detail.tenant` (its partition key): moto's EventBridge matches
    `exists`, so such an event never reaches the relay's mirror of the rule, as EventBridge would
    never match it, instead of failing the delivery until it is dead-lettered."""
    relay = _relay(moto, RecordingContainer())
    sqs = aws_client("sqs", endpoint_url=moto.endpoint_url, region=REGION)
    (to_stream,) = [rule for rule in MANIFEST.rules if rule.stream]
    queue_url = sqs.get_queue_url(QueueName=f"ddgui-bus-{relay.mirror_name(to_stream.name)}")["QueueUrl"]

    def waiting() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    try:
        relay.publish("domaindetermine.jobs", "JobRequested", {"job_id": "no-tenant"})
        assert waiting() == 0
        relay.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "with-tenant"})
        assert waiting() == 1  # the same event with its tenant matches
    finally:
        relay.stop()  # never pumped: nothing reaches the stream


def test_events_reach_the_stream_by_tenant_the_function_and_subscribers(moto: MotoServer) -> None:
    container = RecordingContainer()
    relay = _relay(moto, container)
    seen: list[dict[str, Any]] = []
    relay.subscribe(("JobRequested",), seen.append)
    relay.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "j1"})
    relay.publish("domaindetermine.executor", "JobStatusChanged", {"tenant": "acme", "job_id": "j1"})
    relay.publish("elsewhere.service", "JobStatusChanged", {"tenant": "acme"})  # matches no rule
    assert relay.pump() >= 4
    assert [e["detail"]["job_id"] for e in seen] == ["j1"]
    assert [e["detail-type"] for e in container.events] == ["JobStatusChanged"]
    assert container.events[0]["source"] == "domaindetermine.executor"
    assert container.events[0]["account"]
    streamed = _read_stream(moto)
    assert sorted(e["detail-type"] for e in streamed) == ["JobRequested", "JobStatusChanged"]
    assert {e["partition"] for e in streamed} == {"acme"}


def test_a_failing_delivery_is_retried_then_dead_lettered(moto: MotoServer) -> None:
    container = RecordingContainer(fail_times=1)
    relay = _relay(moto, container)
    relay.publish("domaindetermine.executor", "JobStatusChanged", {"tenant": "acme", "job_id": "j2"})
    relay.pump()
    assert container.events == []
    deadline = time.monotonic() + 10
    while not container.events and time.monotonic() < deadline:
        time.sleep(0.5)
        relay.pump()
    assert [e["detail"]["job_id"] for e in container.events] == ["j2"]

    always = RecordingContainer(fail_times=100)
    relay = _relay(moto, always)
    relay.max_receives = 2
    relay.publish("domaindetermine.executor", "JobStatusChanged", {"tenant": "acme", "job_id": "j3"})
    deadline = time.monotonic() + 15
    while not relay.dead_letters and time.monotonic() < deadline:
        relay.pump()
        time.sleep(0.5)
    assert [e["detail"]["job_id"] for e in relay.dead_letters] == ["j3"]


def test_a_throttled_delivery_is_retried_without_counting_toward_the_dead_letters(moto: MotoServer) -> None:
    """Lambda retries an asynchronous invocation it refused for concurrency until the event's maximum
    age: refusals are not failed attempts, so they never dead-letter the event."""
    container = RecordingContainer(throttle_times=4)
    relay = _relay(moto, container)
    relay.max_receives = 2
    relay.publish("domaindetermine.executor", "JobStatusChanged", {"tenant": "acme", "job_id": "j4"})
    deadline = time.monotonic() + 30
    while not container.events and not relay.dead_letters and time.monotonic() < deadline:
        relay.pump()
        time.sleep(0.5)
    assert relay.dead_letters == []
    assert [e["detail"]["job_id"] for e in container.events] == ["j4"]


def _rule_names(moto: MotoServer) -> set[str]:
    events = aws_client("events", endpoint_url=moto.endpoint_url, region=REGION)
    return {r["Name"] for r in events.list_rules(EventBusName=MANIFEST.bus.local_bus_name())["Rules"]}


def test_every_manifest_rule_is_mirrored_and_the_mirrors_go_with_the_relay(moto: MotoServer) -> None:
    relay = _relay(moto, RecordingContainer())
    rule: Rule
    for rule in MANIFEST.rules:
        assert relay.mirror_name(rule.name) in _rule_names(moto)
    relay.stop()
    assert not {relay.mirror_name(rule.name) for rule in MANIFEST.rules} & _rule_names(moto)


def test_a_relay_sees_neither_the_backlog_nor_the_deliveries_of_another(moto: MotoServer) -> None:
    """Backends of one process share moto's state: what one relay left undelivered (a backend that
    never pumps) must not reach a relay started later, and each live relay gets each event once."""
    idle = _relay(moto, RecordingContainer())
    idle.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "old"})
    first_seen: list[dict[str, Any]] = []
    second_seen: list[dict[str, Any]] = []
    first = _relay(moto, RecordingContainer())
    first.subscribe(("JobRequested",), first_seen.append)
    second = _relay(moto, RecordingContainer())
    second.subscribe(("JobRequested",), second_seen.append)
    idle.stop()
    first.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "new"})
    first.pump()
    second.pump()
    first.pump()
    first.stop()
    second.stop()
    assert [e["detail"]["job_id"] for e in first_seen] == ["new"]
    assert [e["detail"]["job_id"] for e in second_seen] == ["new"]


def test_a_stream_rule_is_delivered_at_once_and_its_listeners_told(moto: MotoServer) -> None:
    """EventBridge puts a matching event on the stream at once: with `stream_wait_s` the stream
    rule's mirror is long-polled by a thread of its own, so an event reaches the stream well before
    the relay's next round (`poll_s`, here 30 s), and the relay tells its stream listeners (the
    local mappings' `notify`) after the put."""
    targets = {rule.function: RecordingContainer() for rule in MANIFEST.rules if rule.function}
    relay = BusRelay(MANIFEST, moto.endpoint_url, REGION, containers=targets, poll_s=30, stream_wait_s=1)  # type: ignore[arg-type]
    told: list[float] = []
    relay.stream_listeners.append(lambda: told.append(time.monotonic()))
    relay.start()
    try:
        time.sleep(1)  # the relay's first round (nothing waiting) is over: it sleeps `poll_s`
        published = time.monotonic()
        relay.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "at-once"})
        deadline = published + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.02)
        assert told, "the event did not reach the stream before the relay's next round"
        assert told[0] - published < 10
        assert "at-once" in [e["detail"].get("job_id") for e in _read_stream(moto)]
    finally:
        assert relay.stop(timeout_s=10)  # the listener ends its long poll (1 s) and stops


def test_without_a_wait_the_stream_rule_waits_for_the_relays_round(moto: MotoServer) -> None:
    targets = {rule.function: RecordingContainer() for rule in MANIFEST.rules if rule.function}
    relay = BusRelay(MANIFEST, moto.endpoint_url, REGION, containers=targets, poll_s=30)  # type: ignore[arg-type]
    told: list[float] = []
    relay.stream_listeners.append(lambda: told.append(time.monotonic()))
    relay.start()
    try:
        time.sleep(1)  # the relay's first round (nothing waiting) is over: it sleeps `poll_s`
        relay.publish("domaindetermine.jobs", "JobRequested", {"tenant": "acme", "job_id": "next-round"})
        time.sleep(2)
        assert told == []  # still waiting for the relay's next round
        assert relay.pump() >= 1
        assert len(told) == 1
    finally:
        relay.stop(timeout_s=10)
