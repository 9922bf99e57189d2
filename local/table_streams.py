"""Every change of a store whose stream feeds a function in full (a stream source without
`ttl_removals_only`, the dashboard's rollups), read from moto's DynamoDB Streams and delivered in
order, as Lambda's mapping would: batches of the source's batch size, a batch's records from the
first its function reports in `batchItemFailures` (or all, when the invocation fails) delivered
again on the next pump, dropped after the source's retries (logged; the on-failure destination).

moto leaves `eventSourceARN` out of its records; it is set here (the stream's ARN), with
`awsRegion` and `eventSource`. TTL removals reach such a function twice (moto's REMOVE of the
sweeper's delete, and the sweeper's own record, `local.ttl`): consumers are idempotent per record.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.aws import aws_client
from local.background import STOP_JOIN_S, endpoint_gone, join
from stacks.source_filters import accepts

if TYPE_CHECKING:
    from local.pool import Invoker
    from stacks.manifest import Function, Manifest, StreamSource

logger = logging.getLogger("local.table_streams")


@dataclass
class FullConsumer:
    fn: Function
    source: StreamSource
    region: str
    container: Invoker
    pending: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (record, attempts)


class TableStreams:
    def __init__(
        self, manifest: Manifest, *, endpoint_url: str, consumers: Sequence[FullConsumer], poll_s: float = 0.2
    ) -> None:
        self.manifest = manifest
        self.endpoint_url = endpoint_url
        self.consumers = [c for c in consumers if not c.source.ttl_removals_only]
        self.poll_s = poll_s
        self._iterators: dict[tuple[str, str, str], str | None] = {}
        self._arns: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pump(self) -> int:
        """Read every full stream and deliver until nothing waits; the records the functions took."""
        with self._lock:
            for region, store in sorted({(c.region, c.source.store) for c in self.consumers}):
                for record in self._read(region, store):
                    for consumer in self.consumers:
                        if (consumer.region, consumer.source.store) == (region, store) and accepts(
                            consumer.source, record
                        ):
                            consumer.pending.append((copy.deepcopy(record), 0))
            return sum(self._deliver(consumer) for consumer in self.consumers)

    def _read(self, region: str, store: str) -> list[dict[str, Any]]:
        arn = self._arns.get((region, store))
        if arn is None:
            table = self.manifest.store(store).local_table_name()
            dynamodb = aws_client("dynamodb", endpoint_url=self.endpoint_url, region=region)
            arn = dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
            if not arn:
                return []
            self._arns[(region, store)] = arn
        streams = aws_client("dynamodbstreams", endpoint_url=self.endpoint_url, region=region)
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"].get("Shards", []):
            key = (region, store, str(shard["ShardId"]))
            iterator = (
                self._iterators.get(key)
                or streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while iterator:
                answer = streams.get_records(ShardIterator=iterator)
                iterator = answer.get("NextShardIterator")
                self._iterators[key] = iterator
                if not answer.get("Records"):
                    break
                for record in answer["Records"]:
                    record.update(eventSourceARN=arn, awsRegion=region, eventSource="aws:dynamodb")
                    change = record.get("dynamodb", {})
                    if "ApproximateCreationDateTime" in change:
                        change["ApproximateCreationDateTime"] = float(
                            getattr(change["ApproximateCreationDateTime"], "timestamp", lambda: 0.0)()
                        )
                    records.append(record)
        return records

    def _deliver(self, consumer: FullConsumer) -> int:
        took = 0
        while consumer.pending:
            batch = consumer.pending[: consumer.source.batch_size]
            event = {"Records": [copy.deepcopy(record) for record, _ in batch]}
            try:
                answer = consumer.container.invoke(event)
                failures = (answer or {}).get("batchItemFailures") if isinstance(answer, dict) else None
            except Exception as exc:
                if self._stop.is_set() and endpoint_gone(exc):  # stopping: moto's server is gone
                    return took
                logger.exception("%s failed on a batch of %d record(s)", consumer.fn.name, len(batch))
                failures = [{"itemIdentifier": batch[0][0]["dynamodb"]["SequenceNumber"]}]
            if not failures:
                del consumer.pending[: len(batch)]
                took += len(batch)
                continue
            positions = {record["dynamodb"]["SequenceNumber"]: i for i, (record, _) in enumerate(batch)}
            first = min(positions.get((f or {}).get("itemIdentifier"), 0) for f in failures)
            del consumer.pending[:first]
            took += first
            record, attempts = consumer.pending[0]
            if attempts + 1 > consumer.source.max_retries:
                logger.error(
                    "%s dropped a record of the %s stream after %d attempts",
                    consumer.fn.name,
                    consumer.source.store,
                    attempts + 1,
                )
                del consumer.pending[0]
                continue
            consumer.pending[0] = (record, attempts + 1)
            return took
        return took

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ddgui-table-streams", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.pump()
            except Exception as exc:
                if self._stop.is_set() and endpoint_gone(exc):
                    logger.debug("table streams: the endpoint is gone")
                    return
                logger.exception("reading the stores' streams failed")

    def request_stop(self) -> None:
        """Ask the reader to end (it ends the pump it is in); `stop` waits for it."""
        self._stop.set()

    def stop(self, timeout_s: float = STOP_JOIN_S) -> bool:
        """`request_stop`, then wait up to `timeout_s` for the thread; True when it has ended."""
        self._stop.set()
        ended = join(self._thread, timeout_s)
        if ended:
            self._thread = None
        return ended
