"""Lambda's Kinesis event source mapping, played locally on moto's stream.

For each function with `kinesis_sources`, per region, a `KinesisPoller` reads every shard of the
stream and invokes the function with batches in the shape of `events/aws/kinesis_stream_batch.json`
(the record's data base64, `eventID` `<shard id>:<sequence number>`, the stream's ARN), applying
the mapping's semantics:

- batches of at most `batch_size` records, per shard and in order; a mapping with shared throughput
  reads every `poll_s` (0.1 s by default; Lambda polls each shard about once a second) and its
  batching window is that poll interval, shorter than the manifest's window so a local screen moves
  at once;
- a mapping with `enhanced_fan_out` reads through a consumer of its own, registered on moto's stream
  as the stack registers it (`RegisterStreamConsumer`; moto has no `SubscribeToShard`, so records
  are still read with `GetRecords`). The push is played by a notification: whoever puts records on
  the stream in this process (the bus relay, `local.bus`) calls `notify()`, and the poller reads at
  once instead of at its next poll (`poll_s` stays the fallback for records put by others). Each
  record is handed over `push_delay_s` after it arrived (0.07 s by default: Kinesis's typical
  average propagation to an enhanced fan-out consumer, so the local figure carries what AWS adds),
  with no batching window (the records' `eventSourceARN` stays the stream's);
- a response with `batchItemFailures` checkpoints before the lowest failed sequence number: the
  records before it are done, the batch is delivered again from it (an identifier that is not in
  the batch fails the whole batch, as Lambda does);
- an invocation that raises (or runs past the function's timeout) is split in halves, which are
  retried separately (splitting does not count as a retry, as in Lambda); a single record that
  keeps failing, or a partial failure, counts a retry;
- after `max_retries` retries the batch (from the failed record to the end of its batch) goes to
  the on-failure destination, and the shard moves on; so do records older than
  `max_record_age_s`. The destination is a local SQS queue (`ddgui-<function>-failures`, the
  description Lambda sends: `KinesisBatchInfo` and the condition) and `failures`, a list tests read;
- a failing shard waits (a short backoff) without holding up the other shards;
- `parallelization_factor` N: a shard's records are dealt to N lanes by their partition key (the MD5
  of the key, as Kinesis maps keys to shards), each lane delivered in order with its own batches,
  retries and backoff, and the lanes' batches invoked at once: records of one key stay in order
  while a key with a backlog (one large tenant) holds back only the keys of its own lane.

Each poller starts at LATEST (the shard's newest sequence number when the poller is made): moto
keeps one state per process, shared by every backend a test process starts, so a poller never
reads another backend's history. For the same reason, only one fan-out should poll per process and
region: a second backend's poller would deliver the same records again. `LocalBackend` starts the
pollers together with the bus relay (`bus_poll_s`); suites that start extra backends (contract,
security) start them without polling, and `pump()` (`LocalBackend.pump_stream`) delivers on demand.
Not played: resharding after the start, tumbling windows.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local.apigw import sample_event
from local.aws import aws_client
from local.background import STOP_JOIN_S, BackgroundLoop, endpoint_gone
from local.containers import LOCAL_ACCOUNT, function_arn
from local.pool import Throttled
from stacks.manifest_model import stream_consumer_name
from stacks.source_filters import kinesis_accepts

if TYPE_CHECKING:
    from local.pool import Invoker
    from stacks.manifest import KinesisSource

logger = logging.getLogger("local.kinesis")

SAMPLE = "kinesis_stream_batch"
DEFAULT_POLL_S = 0.1
# Kinesis documents an average propagation of about 70 ms from a put to an enhanced fan-out consumer.
DEFAULT_PUSH_DELAY_S = 0.07
MAX_BACKOFF_S = 2.0
THROTTLE_BACKOFF_S = 0.5  # before a batch Lambda refused is offered again
READ_LIMIT = 1000  # records per GetRecords call


def failure_queue_name(function_name: str) -> str:
    """The local on-failure destination of a function's stream mapping."""
    return f"ddgui-{function_name}-failures"


@dataclass
class _Pending:
    record: dict[str, Any]  # as the function receives it
    arrival: float  # approximate arrival time (epoch seconds)
    retries: int = 0

    @property
    def sequence_number(self) -> str:
        return str(self.record["kinesis"]["sequenceNumber"])


@dataclass
class _Lane:
    """The records of a shard whose partition keys Lambda hands to one of its concurrent batchers
    (one lane per shard without a parallelization factor)."""

    pending: list[_Pending] = field(default_factory=list)
    limit: int = 0  # the size of the next batch (halved while bisecting)
    not_before: float = 0.0  # monotonic time before which a failing lane is not retried


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    last_read: str | None = None  # the last sequence number read, to get a new iterator
    lanes: list[_Lane] = field(default_factory=list)

    @property
    def pending(self) -> list[_Pending]:
        """Every record waiting, lane by lane."""
        return [record for lane in self.lanes for record in lane.pending]


def lane_of(partition_key: str, lanes: int) -> int:
    """The lane of a partition key among a shard's `lanes` (the MD5 of the key, as Kinesis hashes a
    key to its shard): one key, one lane, so its records keep their order."""
    if lanes <= 1:
        return 0
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest()) % lanes


@dataclass(frozen=True)
class FailedBatch:
    """What went to the on-failure destination."""

    function: str
    region: str
    shard_id: str
    condition: str  # RetryAttemptsExhausted or RecordAgeExceeded
    records: tuple[dict[str, Any], ...]  # the records as the function received them
    description: dict[str, Any]  # the message sent to the destination queue


class KinesisPoller(BackgroundLoop):
    """One function's mapping of the stream in one region. `pump()` delivers what is waiting;
    `start()` pumps in a thread every `poll_s`."""

    def __init__(
        self,
        invoker: Invoker,
        source: KinesisSource,
        *,
        endpoint_url: str,
        stream_name: str,
        poll_s: float = DEFAULT_POLL_S,
        push_delay_s: float = DEFAULT_PUSH_DELAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.invoker = invoker
        self.fn = invoker.fn
        self.region = invoker.region
        self.source = source
        self.stream_name = stream_name
        self.poll_s = poll_s
        self.push_delay_s = push_delay_s if source.enhanced_fan_out else 0.0
        self._pushed = threading.Event()  # set by `notify`: records were put on the stream
        self.failures: list[FailedBatch] = []
        self._clock = clock
        self._lock = threading.Lock()
        super().__init__(f"ddgui-kinesis-{self.region}-{self.fn.name}")
        self._kinesis = aws_client("kinesis", endpoint_url=endpoint_url, region=self.region)
        self._sqs = aws_client("sqs", endpoint_url=endpoint_url, region=self.region)
        summary = self._kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        self.stream_arn: str = summary["StreamARN"]
        # The consumer an enhanced fan-out mapping reads through (None: shared throughput).
        self.consumer_arn: str | None = (
            self._consumer(stream_consumer_name(self.fn.name, source.stream))
            if source.enhanced_fan_out
            else None
        )
        self.failure_queue_url: str = self._sqs.create_queue(QueueName=failure_queue_name(self.fn.name))[
            "QueueUrl"
        ]
        self._shards = [
            # From where the mapping starts (the manifest's, as the stack's): TRIM_HORIZON replays
            # what the stream kept from before the mapping existed.
            _Shard(
                shard["ShardId"],
                self._iterator(shard["ShardId"], source.starting_position),
                lanes=[_Lane(limit=source.batch_size) for _ in range(max(1, source.parallelization_factor))],
            )
            for shard in self._kinesis.list_shards(StreamName=stream_name)["Shards"]
        ]

    # -- use ---------------------------------------------------------------------------------

    def pump(self) -> int:
        """Read every shard and deliver until nothing waits (retries included, without backoff or
        the push's delay); the number of records the function took."""
        with self._lock:
            return sum(self._pump_shard(shard, backoff=False) for shard in self._shards)

    def notify(self) -> None:
        """Records were put on the stream: an enhanced fan-out mapping reads at once (the push);
        a shared one waits for its next poll, as Lambda's poller does."""
        if self.source.enhanced_fan_out:
            self._pushed.set()

    def request_stop(self) -> None:
        super().request_stop()
        self._pushed.set()  # a loop waiting for a push ends now

    def stop(self, timeout_s: float = STOP_JOIN_S) -> bool:
        self._pushed.set()
        return super().stop(timeout_s)

    # -- polling -----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._pushed.clear()  # a push from here on wakes the wait below
            try:
                with self._lock:
                    for shard in self._shards:
                        if self._stop.is_set():
                            break
                        self._pump_shard(shard, backoff=True)
            except Exception as exc:  # a broken poll must not end the mapping
                if self._stop.is_set() and endpoint_gone(exc):
                    logger.debug("kinesis poller (%s, %s): the endpoint is gone", self.fn.name, self.region)
                    return
                logger.exception("kinesis poller error (%s, %s)", self.fn.name, self.region)
                self._stop.wait(1)
            if self.source.enhanced_fan_out:
                self._pushed.wait(self._next_wait())
            else:
                self._stop.wait(self.poll_s)

    def _next_wait(self) -> float:
        """How long an enhanced fan-out loop may sleep: until its next poll, or sooner when a lane's
        first record falls due (its push delay past, and the lane's backoff after a failure)."""
        wait = self.poll_s
        now, monotonic = self._clock(), time.monotonic()
        for shard in self._shards:
            for lane in shard.lanes:
                if lane.pending:
                    due_in = max(
                        lane.pending[0].arrival + self.push_delay_s - now, lane.not_before - monotonic
                    )
                    wait = min(wait, due_in)
        return max(0.0, wait)

    def _consumer(self, name: str) -> str:
        """The ARN of the stream's consumer `name`, registered if the stream has none of that name
        (the stack's `AWS::Kinesis::StreamConsumer`)."""
        consumers = self._kinesis.list_stream_consumers(StreamARN=self.stream_arn).get("Consumers", [])
        for consumer in consumers:
            if consumer["ConsumerName"] == name:
                return str(consumer["ConsumerARN"])
        answer = self._kinesis.register_stream_consumer(StreamARN=self.stream_arn, ConsumerName=name)
        return str(answer["Consumer"]["ConsumerARN"])

    def _iterator(self, shard_id: str, kind: str, sequence_number: str | None = None) -> str | None:
        params: dict[str, Any] = {
            "StreamName": self.stream_name,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if sequence_number is not None:
            params["StartingSequenceNumber"] = sequence_number
        iterator: str | None = self._kinesis.get_shard_iterator(**params).get("ShardIterator")
        return iterator

    def _read(self, shard: _Shard) -> None:
        while shard.iterator is not None and not self._stop.is_set():
            try:
                answer = self._kinesis.get_records(ShardIterator=shard.iterator, Limit=READ_LIMIT)
            except self._kinesis.exceptions.ExpiredIteratorException:
                kind = "AFTER_SEQUENCE_NUMBER" if shard.last_read else self.source.starting_position
                shard.iterator = self._iterator(shard.shard_id, kind, shard.last_read)
                continue
            shard.iterator = answer.get("NextShardIterator")
            records = answer.get("Records", [])
            for record in records:
                # The mapping's filter: a record it does not let through is done without an invocation.
                if kinesis_accepts(self.source, record["Data"]):
                    lane = shard.lanes[lane_of(str(record["PartitionKey"]), len(shard.lanes))]
                    lane.pending.append(self._lambda_record(shard.shard_id, record))
                shard.last_read = record["SequenceNumber"]
            if len(records) < READ_LIMIT:
                return

    def _lambda_record(self, shard_id: str, record: Mapping[str, Any]) -> _Pending:
        arrived = record.get("ApproximateArrivalTimestamp")
        arrival = arrived.timestamp() if isinstance(arrived, datetime) else self._clock()
        entry = copy.deepcopy(sample_event(SAMPLE)["Records"][0])
        entry["kinesis"].update(
            {
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": record["SequenceNumber"],
                "data": base64.b64encode(record["Data"]).decode(),
                "approximateArrivalTimestamp": round(arrival, 3),
            }
        )
        entry.update(
            {
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "invokeIdentityArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{self.fn.name}-role",
                "awsRegion": self.region,
                "eventSourceARN": self.stream_arn,
            }
        )
        return _Pending(entry, arrival)

    # -- delivery ----------------------------------------------------------------------------

    def _pump_shard(self, shard: _Shard, *, backoff: bool) -> int:
        """Deliver one shard's waiting records, each lane in order, the lanes' batches at once; a
        lane stops at a failure when `backoff`, the others go on."""
        self._read(shard)
        delivered = 0
        active = list(shard.lanes)
        while active and not self._stop.is_set():
            batches: list[tuple[_Lane, list[_Pending], Future[Any] | None]] = []
            for lane in active:
                if backoff and time.monotonic() < lane.not_before:
                    continue
                self._drop_old(shard, lane)
                # Polling (`backoff`), an enhanced fan-out mapping hands over a record once the
                # push would have brought it; `pump()` delivers what is there.
                due = self._due(lane) if backoff else len(lane.pending)
                if due:
                    batch = lane.pending[: min(due, max(1, lane.limit))]
                    batches.append((lane, batch, self._submit(batch)))
            if not batches:
                break
            active = []
            for lane, batch, future in batches:
                done, again = self._settle(shard, lane, batch, future, backoff=backoff)
                delivered += done
                if again:
                    active.append(lane)
        return delivered

    def _due(self, lane: _Lane) -> int:
        """How many of a lane's first records the push has brought by now (all without a delay)."""
        if self.push_delay_s <= 0:
            return len(lane.pending)
        now = self._clock()
        due = 0
        while due < len(lane.pending) and lane.pending[due].arrival + self.push_delay_s <= now:
            due += 1
        return due

    def _submit(self, batch: list[_Pending]) -> Future[Any] | None:
        """Invoke with one batch; None when Lambda refused the invocation (throttled) at once."""
        try:
            return self.invoker.submit({"Records": [copy.deepcopy(p.record) for p in batch]})
        except Throttled:
            return None

    def _settle(
        self, shard: _Shard, lane: _Lane, batch: list[_Pending], future: Future[Any] | None, *, backoff: bool
    ) -> tuple[int, bool]:
        """A lane's batch answered: (records done, whether the lane goes on now)."""
        try:
            failed_at, raised = self._outcome(batch, future)
        except Throttled:
            # Lambda refused the invocation (reserved concurrency in use): the same batch again
            # later, neither split nor counted as a retry, until the records' maximum age.
            lane.not_before = time.monotonic() + THROTTLE_BACKOFF_S
            return 0, False
        if failed_at is None:  # the whole batch is done
            del lane.pending[: len(batch)]
            lane.limit = self.source.batch_size
            return len(batch), True
        delivered = 0
        if raised and len(batch) > 1:  # split the batch; not counted as a retry
            lane.limit = len(batch) // 2
        else:
            # Checkpoint before the failed record; the batch is retried from it.
            del lane.pending[:failed_at]
            delivered = failed_at
            retried = batch[failed_at:]
            retried[0].retries += 1
            if retried[0].retries > self.source.max_retries:
                self._to_destination(shard, retried, "RetryAttemptsExhausted", retried[0].retries)
                del lane.pending[: len(retried)]
                lane.limit = self.source.batch_size
                return delivered, True
            lane.limit = self.source.batch_size if not raised else 1
        if backoff:
            attempt = max(1, batch[0].retries)
            lane.not_before = time.monotonic() + min(MAX_BACKOFF_S, 0.1 * 2**attempt)
            return delivered, False
        return delivered, True

    def _outcome(self, batch: list[_Pending], future: Future[Any] | None) -> tuple[int | None, bool]:
        """A batch's answer: (index of the first record to retry or None, whether it raised)."""
        if future is None:
            raise Throttled(self.fn, self.region)
        try:
            answer = future.result(timeout=float(self.fn.timeout_s))
        except Throttled:
            raise
        except Exception as exc:
            if self._stop.is_set() and endpoint_gone(exc):  # stopping: moto's server is gone
                logger.debug("%s: the endpoint is gone", self.fn.name)
            else:
                logger.exception("%s failed on a batch of %d record(s)", self.fn.name, len(batch))
            return 0, True
        failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures:
            return None, False
        positions = {p.sequence_number: i for i, p in enumerate(batch)}
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in positions:
                logger.warning("%s reported an unknown item %r: the batch failed", self.fn.name, identifier)
                return 0, False
            indexes.append(positions[identifier])
        return min(indexes), False

    def _drop_old(self, shard: _Shard, lane: _Lane) -> None:
        now = self._clock()
        old = 0
        while old < len(lane.pending) and now - lane.pending[old].arrival > self.source.max_record_age_s:
            old += 1
        if old:
            self._to_destination(shard, lane.pending[:old], "RecordAgeExceeded", 0)
            del lane.pending[:old]

    def _to_destination(
        self, shard: _Shard, records: list[_Pending], condition: str, invocations: int
    ) -> None:
        first, last = records[0], records[-1]
        description = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn(self.fn, self.region),
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": _iso(self._clock()),
            "KinesisBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": _iso(first.arrival),
                "approximateArrivalOfLastRecord": _iso(last.arrival),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        logger.error(
            "%s: %d record(s) of %s to the on-failure destination (%s)",
            self.fn.name,
            len(records),
            shard.shard_id,
            condition,
        )
        self.failures.append(
            FailedBatch(
                function=self.fn.name,
                region=self.region,
                shard_id=shard.shard_id,
                condition=condition,
                records=tuple(copy.deepcopy(p.record) for p in records),
                description=description,
            )
        )
        try:
            self._sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(description))
        except Exception as exc:  # the in-memory list keeps it; the endpoint may be stopping
            if self._stop.is_set() and endpoint_gone(exc):
                logger.debug("could not send to %s: the endpoint is gone", self.failure_queue_url)
            else:
                logger.exception("could not send to %s", self.failure_queue_url)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
