"""The local Kinesis event source mapping on moto's stream, with stand-in functions: the event's
shape, where it starts, batches, partial batch failures, bisection on errors, the on-failure
destination, record age, shards independent of each other, and `LocalBackend.pump_stream`.

Each test reads a stream of its own (moto's state is shared by the whole pytest process, and the
session backend polls the application's stream)."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.apigw import sample_event
from local.containers import Container
from local.kinesis import KinesisPoller, failure_queue_name, lane_of
from local.pool import Throttled
from local.runtime import LocalBackend
from stacks.manifest import FANOUT_FUNCTION, MANIFEST, KinesisSource
from stacks.manifest_model import stream_consumer_name

pytestmark = pytest.mark.slow

REGION = "eu-west-1"


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class StandIn:
    """A Kinesis consumer: records each batch's payloads (and when it came, epoch seconds); `decide`
    answers or raises per batch."""

    def __init__(self, decide: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.decide = decide
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        payloads = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        with self._lock:
            self.batches.append(payloads)
            self.events.append(event)
            self.times.append(time.time())
        return self.decide(event["Records"]) if self.decide else None


class Stream:
    def __init__(self, endpoint: str, shards: int = 1) -> None:
        self.endpoint = endpoint
        self.name = f"it-stream-{uuid.uuid4().hex[:10]}"
        self.kinesis = client("kinesis", endpoint)
        self.kinesis.create_stream(StreamName=self.name, ShardCount=shards)
        self.shards = list(self.kinesis.list_shards(StreamName=self.name)["Shards"])

    def put(self, payload: str, shard: int = 0, key: str = "tenant") -> str:
        answer = self.kinesis.put_record(
            StreamName=self.name,
            Data=payload.encode(),
            PartitionKey=key,
            ExplicitHashKey=self.shards[shard]["HashKeyRange"]["StartingHashKey"],
        )
        return str(answer["SequenceNumber"])

    def poller(
        self, stand_in: StandIn, *, poll_s: float = 0.05, push_delay_s: float = 0.0, **source: Any
    ) -> KinesisPoller:
        fn = replace(FANOUT_FUNCTION, name=f"it_fanout_{uuid.uuid4().hex[:8]}", timeout_s=5)
        return KinesisPoller(
            Container(fn, REGION, stand_in),
            KinesisSource(self.name, **{"batch_size": 100, "max_retries": 2, **source}),
            endpoint_url=self.endpoint,
            stream_name=self.name,
            poll_s=poll_s,
            push_delay_s=push_delay_s,
        )


@pytest.fixture
def stream(moto_endpoint: str) -> Iterator[Stream]:
    made = Stream(moto_endpoint)
    yield made
    made.kinesis.delete_stream(StreamName=made.name)


def test_a_mapping_starts_at_the_oldest_record_kept(stream: Stream) -> None:
    """Issue 12, #9: a mapping made (or replaced) while events arrive must not skip the ones the
    stream already holds: TRIM_HORIZON, as the stack renders the manifest's starting position."""
    stream.put("before")
    stand_in = StandIn()
    poller = stream.poller(stand_in)
    stream.put("after")
    assert poller.pump() == 2
    assert stand_in.batches == [["before", "after"]]


def test_poller_started_at_latest_delivers_lambdas_kinesis_event(stream: Stream) -> None:
    stream.put("before")
    stand_in = StandIn()
    poller = stream.poller(stand_in, starting_position="LATEST")
    sequence = stream.put("after")
    assert poller.pump() == 1
    assert stand_in.batches == [["after"]]
    [record] = stand_in.events[0]["Records"]
    sample = sample_event("kinesis_stream_batch")["Records"][0]
    assert set(record) == set(sample)
    assert set(record["kinesis"]) == set(sample["kinesis"])
    assert record["eventID"] == f"{stream.shards[0]['ShardId']}:{sequence}"
    assert record["kinesis"]["sequenceNumber"] == sequence
    assert record["eventSourceARN"].endswith(f":stream/{stream.name}")
    assert record["awsRegion"] == REGION
    assert record["eventName"] == "aws:kinesis:record"
    assert record["eventSource"] == "aws:kinesis"
    assert poller.pump() == 0


def test_records_come_in_order_in_batches_of_the_batch_size(stream: Stream) -> None:
    stand_in = StandIn()
    poller = stream.poller(stand_in, batch_size=2)
    for n in range(5):
        stream.put(f"r{n}")
    assert poller.pump() == 5
    assert stand_in.batches == [["r0", "r1"], ["r2", "r3"], ["r4"]]


def test_partial_batch_failure_is_redelivered_from_the_lowest_failed_record(stream: Stream) -> None:
    failed_once: set[str] = set()

    def decide(records: list[dict[str, Any]]) -> Any:
        failures = []
        for record in records:
            payload = base64.b64decode(record["kinesis"]["data"]).decode()
            if payload in ("r2", "r3") and payload not in failed_once:
                failed_once.add(payload)
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
        return {"batchItemFailures": failures}

    stand_in = StandIn(decide)
    poller = stream.poller(stand_in)
    for n in range(5):
        stream.put(f"r{n}")
    assert poller.pump() == 5
    assert stand_in.batches == [["r0", "r1", "r2", "r3", "r4"], ["r2", "r3", "r4"]]
    assert poller.failures == []


def test_a_failing_batch_is_bisected_and_the_poison_record_goes_to_the_destination(
    stream: Stream, moto_endpoint: str
) -> None:
    def decide(records: list[dict[str, Any]]) -> Any:
        if any(base64.b64decode(r["kinesis"]["data"]) == b"poison" for r in records):
            raise RuntimeError("cannot handle poison")
        return {"batchItemFailures": []}

    stand_in = StandIn(decide)
    poller = stream.poller(stand_in, max_retries=2)
    for payload in ("a", "b", "poison", "c"):
        stream.put(payload)
    assert poller.pump() == 3
    assert stand_in.batches == [
        ["a", "b", "poison", "c"],  # raises: split in halves (not a retry)
        ["a", "b"],
        ["poison", "c"],  # raises: split again
        ["poison"],  # raises: retry 1
        ["poison"],  # retry 2
        ["poison"],  # retry 3 > max_retries: to the destination
        ["c"],
    ]
    [failed] = poller.failures
    assert failed.condition == "RetryAttemptsExhausted"
    assert [base64.b64decode(r["kinesis"]["data"]) for r in failed.records] == [b"poison"]
    info = failed.description["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == failed.records[0]["kinesis"]["sequenceNumber"]
    sqs = client("sqs", moto_endpoint)
    url = sqs.get_queue_url(QueueName=failure_queue_name(poller.fn.name))["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["KinesisBatchInfo"]["streamArn"] for m in messages] == [poller.stream_arn]


def test_a_partial_failure_past_its_retries_goes_to_the_destination(stream: Stream) -> None:
    def decide(records: list[dict[str, Any]]) -> Any:
        bad = [r for r in records if base64.b64decode(r["kinesis"]["data"]) == b"bad"]
        return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in bad]}

    stand_in = StandIn(decide)
    poller = stream.poller(stand_in, max_retries=1)
    for payload in ("ok", "bad", "later"):
        stream.put(payload)
    assert poller.pump() == 1
    assert stand_in.batches == [["ok", "bad", "later"], ["bad", "later"]]
    [failed] = poller.failures
    assert [base64.b64decode(r["kinesis"]["data"]) for r in failed.records] == [b"bad", b"later"]


class Throttling:
    """A container Lambda refuses `times` invocations of first (its reserved concurrency in use)."""

    def __init__(self, container: Container, times: int) -> None:
        self.container, self.times = container, times
        self.fn, self.region = container.fn, container.region

    def submit(self, event: dict[str, Any]) -> Future[Any]:
        if self.times > 0:
            self.times -= 1
            refused: Future[Any] = Future()
            refused.set_exception(Throttled(self.fn, self.region))
            return refused
        return self.container.submit(event)

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.submit(event).result()

    def close(self) -> None:
        self.container.close()


def test_a_throttled_batch_is_offered_again_whole_and_uncounted(stream: Stream) -> None:
    """Lambda retries a batch it refused for concurrency until the records' maximum age: no split,
    no retry counted, nothing to the on-failure destination."""
    stand_in = StandIn()
    poller = stream.poller(stand_in, max_retries=0)
    poller.invoker = Throttling(poller.invoker, times=3)  # type: ignore[assignment]
    for payload in ("a", "b", "c"):
        stream.put(payload)
    deadline = time.monotonic() + 30
    poller.start()
    try:
        while not stand_in.batches and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert stand_in.batches == [["a", "b", "c"]]
    assert poller.failures == []


def test_records_older_than_the_maximum_age_go_to_the_destination_unread(stream: Stream) -> None:
    stand_in = StandIn()
    poller = stream.poller(stand_in, max_record_age_s=60)
    poller._clock = lambda: time.time() + 3600  # an hour later
    stream.put("stale")
    assert poller.pump() == 0
    assert stand_in.batches == []
    assert [f.condition for f in poller.failures] == ["RecordAgeExceeded"]


def test_a_failing_shard_does_not_hold_up_another(moto_endpoint: str) -> None:
    stream = Stream(moto_endpoint, shards=2)

    def decide(records: list[dict[str, Any]]) -> Any:
        if any(base64.b64decode(r["kinesis"]["data"]) == b"stuck" for r in records):
            raise RuntimeError("stuck")
        return None

    stand_in = StandIn(decide)
    poller = stream.poller(stand_in, max_retries=1000)
    poller.start()
    try:
        stream.put("stuck", shard=0)
        time.sleep(0.3)
        stream.put("free", shard=1)
        deadline = time.monotonic() + 10
        while ["free"] not in stand_in.batches and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ["free"] in stand_in.batches
        assert ["stuck"] in stand_in.batches
    finally:
        poller.stop()
        stream.kinesis.delete_stream(StreamName=stream.name)


def test_a_tenant_with_a_backlog_holds_back_only_the_tenants_of_its_own_lane(stream: Stream) -> None:
    """The fan-out's parallelization factor (10): a shard's records go to 10 lanes by partition key
    (the tenant), each in order, the lanes' batches at once. A large tenant's 200 events ahead of a
    small tenant's one delay it by one batch, not twenty; a tenant sharing the large one's lane
    waits behind it, as in Lambda."""
    stand_in = StandIn()
    poller = stream.poller(stand_in, batch_size=10, parallelization_factor=10)
    big = "tenant-large"
    small = next(f"tenant-{n}" for n in range(100) if lane_of(f"tenant-{n}", 10) != lane_of(big, 10))
    neighbour = next(f"tenant-{n}" for n in range(1000) if lane_of(f"tenant-{n}", 10) == lane_of(big, 10))
    for n in range(200):
        stream.put(f"big-{n}", key=big)
    stream.put("small", key=small)
    stream.put("neighbour", key=neighbour)

    assert poller.pump() == 202

    order = [payload for batch in stand_in.batches for payload in batch]
    assert ["small"] in stand_in.batches[:2]  # with the large tenant's first batch
    assert stand_in.batches.index(["small"]) < stand_in.batches.index(["neighbour"])
    assert order.index("neighbour") > order.index("big-199")  # its lane's order: after the backlog
    assert [p for p in order if p.startswith("big-")] == [f"big-{n}" for n in range(200)]
    assert all(len(batch) <= 10 for batch in stand_in.batches)


def _wait_for(done: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return done()


def test_an_enhanced_fan_out_mapping_reads_through_a_consumer_registered_on_the_stream(
    stream: Stream,
) -> None:
    """As the stack registers `AWS::Kinesis::StreamConsumer` for it (named by
    `stream_consumer_name`); a second poller of the same mapping finds it rather than adding one."""
    poller = stream.poller(StandIn(), enhanced_fan_out=True)
    consumers = stream.kinesis.list_stream_consumers(StreamARN=poller.stream_arn)["Consumers"]
    assert [(c["ConsumerName"], c["ConsumerARN"]) for c in consumers] == [
        (stream_consumer_name(poller.fn.name, stream.name), poller.consumer_arn)
    ]
    shared = stream.poller(StandIn())
    assert shared.consumer_arn is None
    assert len(stream.kinesis.list_stream_consumers(StreamARN=poller.stream_arn)["Consumers"]) == 1


def test_a_push_is_delivered_at_once_a_shared_mapping_waits_for_its_poll(stream: Stream) -> None:
    """Both poll every 30 s; told that records were put (the bus relay's `notify`), the enhanced
    fan-out mapping reads at once, the shared one at its next poll, as Lambda's poller does."""
    pushed, polled = StandIn(), StandIn()
    efo = stream.poller(pushed, poll_s=30, enhanced_fan_out=True)
    shared = stream.poller(polled, poll_s=30)
    stream.put("first")  # read by the first rounds: once both have it, both wait for 30 s
    efo.start()
    shared.start()
    try:
        assert _wait_for(lambda: pushed.batches == [["first"]] and polled.batches == [["first"]], 10)
        stream.put("second")
        efo.notify()
        shared.notify()
        assert _wait_for(lambda: len(pushed.batches) == 2, 10)
        assert pushed.batches[1] == ["second"]
        time.sleep(1)
        assert polled.batches == [["first"]]
    finally:
        efo.stop()
        shared.stop()


def test_a_pushed_record_is_handed_over_its_push_delay_after_it_arrived(stream: Stream) -> None:
    """The push's latency is played: each record reaches the function no sooner than `push_delay_s`
    (0.07 s by default, Kinesis's typical average; here 0.4 s) after the stream took it, and then at
    once (no batching window to wait out, no poll: this one polls every 30 s); `pump()` does not
    wait."""
    stand_in = StandIn()
    poller = stream.poller(stand_in, poll_s=30, push_delay_s=0.4, enhanced_fan_out=True)
    poller.start()
    try:
        time.sleep(0.5)  # its first round is over: it waits for a push
        for payload in ("a", "b"):
            stream.put(payload)
        poller.notify()
        assert _wait_for(lambda: sum(map(len, stand_in.batches)) == 2, 10)
        assert [p for batch in stand_in.batches for p in batch] == ["a", "b"]
        for event, came in zip(stand_in.events, stand_in.times, strict=True):
            for record in event["Records"]:
                waited = came - record["kinesis"]["approximateArrivalTimestamp"]
                assert 0.4 - 0.002 <= waited < 10  # the timestamp is rounded to the millisecond
    finally:
        poller.stop()
    eager = stream.poller(StandIn(), push_delay_s=60, enhanced_fan_out=True, starting_position="LATEST")
    stream.put("now")
    assert eager.pump() == 1


def test_backend_pump_stream_takes_bus_events_to_the_consumer(keys_dir: Path) -> None:
    """On a backend of its own (its own moto server): the session backend's relay would put a second
    copy of the event on a shared stream."""
    stand_in = StandIn()
    with LocalBackend(
        regions=(REGION,),
        port=0,
        keys_dir=keys_dir,
        seed=False,
        manifest=MANIFEST.only("gui_fanout"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        handlers={"gui_fanout": stand_in},
    ) as backend:
        event_id = str(uuid.uuid4())
        backend.relays[REGION].publish(
            "domaindetermine.readiness",
            "ReadinessGateChanged",
            {"tenant": "acme", "gate": "coverage", "status": "open", "event_id": event_id},
        )
        assert backend.pump_events() >= 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            backend.pump_stream()
            if any(event_id in payload for batch in stand_in.batches for payload in batch):
                break
            time.sleep(0.05)
        envelopes = [json.loads(p) for batch in stand_in.batches for p in batch]
        [mine] = [e for e in envelopes if e["detail"].get("event_id") == event_id]
        assert mine["detail-type"] == "ReadinessGateChanged"
        assert mine["source"] == "domaindetermine.readiness"


def test_a_backends_relay_pushes_to_the_fanouts_mapping_without_waiting_for_a_poll(keys_dir: Path) -> None:
    """The live path's local emulation, wired: the relay long-polls the stream rule's mirror and
    tells the region's mappings of each put; the fan-out's (enhanced fan-out) reads at once. Both
    the relay's round and the mappings' poll are 30 s here: only that path delivers in time."""
    assert MANIFEST.function("gui_fanout").kinesis_sources[0].enhanced_fan_out
    stand_in = StandIn()
    with LocalBackend(
        regions=(REGION,),
        port=0,
        keys_dir=keys_dir,
        seed=False,
        migrate=False,
        manifest=MANIFEST.only("gui_fanout"),
        ttl_sweep_s=None,
        bus_poll_s=30,
        stream_poll_s=30,
        handlers={"gui_fanout": stand_in},
    ) as backend:
        [poller] = backend.pollers[REGION]
        assert poller.consumer_arn is not None
        time.sleep(1)  # the first rounds are over
        event_id = str(uuid.uuid4())
        backend.relays[REGION].publish(
            "domaindetermine.readiness",
            "ReadinessGateChanged",
            {"tenant": "acme", "gate": "coverage", "status": "open", "event_id": event_id},
        )
        assert _wait_for(lambda: any(event_id in p for batch in stand_in.batches for p in batch), 10)
