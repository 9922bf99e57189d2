"""DynamoDB's TTL and the stream records it makes, played locally.

moto stores a table's TTL setting but never expires an item, so the sweeper does: it deletes the
items of every store with a TTL attribute whose expiry time has passed, as DynamoDB's TTL process
would, and hands their removal records (REMOVE, by the DynamoDB service, in the shape of
`events/aws/dynamodb_stream_ttl_remove.json`) to the functions that read the store's stream, through
the same filters as their event source mappings.

Delivery keeps Lambda's stream semantics: batches of the source's batch size, in order; records
the function reports in `batchItemFailures` (and those after the first of them, as Lambda resumes
from that checkpoint), or a whole batch whose invocation failed, are delivered again on the next
sweep; after the source's retries they go to `dead_letters`, the local on-failure destination.
Not played: bisecting a failing batch. A source without `ttl_removals_only` gets every other change
from `local.table_streams` (moto's streams), and these removals too.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from local.apigw import sample_event
from local.aws import aws_client
from local.containers import LOCAL_ACCOUNT
from stacks.source_filters import accepts

if TYPE_CHECKING:
    from local.pool import Invoker
    from stacks.manifest import Function, Manifest, Store, StreamSource

logger = logging.getLogger("local.ttl")

SAMPLE = "dynamodb_stream_ttl_remove"
# DynamoDB's TTL leaves alone items whose expiry time lies more than five years in the past (such a
# value is taken for a mistake, e.g. milliseconds read as seconds).
MAX_AGE_S = 5 * 365 * 24 * 3600
_OLD_IMAGE_VIEWS = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")


@dataclass
class Consumer:
    """One function reading one store's stream in one region: its event source mapping."""

    fn: Function
    source: StreamSource
    region: str
    container: Invoker
    pending: list[_Pending] = field(default_factory=list)


@dataclass
class _Pending:
    record: dict[str, Any]
    attempts: int = 0


@dataclass(frozen=True)
class DeadLetter:
    """What reached the on-failure destination: the records of a batch that kept failing."""

    function: str
    store: str
    region: str
    records: tuple[dict[str, Any], ...]


@dataclass
class SweepReport:
    expired: dict[tuple[str, str], int] = field(default_factory=dict)  # (region, store) -> items
    delivered: int = 0  # records the functions took
    retrying: int = 0  # records to deliver again on the next sweep
    dead_lettered: int = 0

    @property
    def expired_total(self) -> int:
        return sum(self.expired.values())


class TtlSweeper:
    """Expires TTL items of every region and feeds their removal records to the stream consumers.

    One sweep at a time (a lock): the runtime's periodic sweep and a test's `sweep_now` may meet.
    """

    def __init__(
        self,
        manifest: Manifest,
        *,
        endpoint_url: str,
        regions: Sequence[str],
        consumers: Sequence[Consumer] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.manifest = manifest
        self.endpoint_url = endpoint_url
        self.regions = tuple(regions)
        self.consumers = list(consumers)
        self.dead_letters: list[DeadLetter] = []
        self._clock = clock
        self._lock = threading.Lock()
        self._sequence = itertools.count(10**20)  # stream sequence numbers: increasing digit strings
        self._stream_arns: dict[tuple[str, str], str] = {}

    def sweep(self, stores: Collection[str] | None = None) -> SweepReport:
        """One sweep of every TTL store (or of those named in `stores`)."""
        report = SweepReport()
        with self._lock:
            now = self._clock()
            for region in self.regions:
                for store in self.manifest.stores:
                    if store.ttl_attribute and (stores is None or store.name in stores):
                        report.expired[(region, store.name)] = self._expire(region, store, now)
            for consumer in self.consumers:
                self._deliver(consumer, report)
        return report

    # -- expiry ------------------------------------------------------------------------------

    def _expire(self, region: str, store: Store, now: float) -> int:
        """Delete the expired items of one store; queue their removal records for its consumers."""
        assert store.ttl_attribute is not None
        consumers = [c for c in self.consumers if c.region == region and c.source.store == store.name]
        dynamodb = aws_client("dynamodb", endpoint_url=self.endpoint_url, region=region)
        key_names = [k.name for k in (store.partition_key, store.sort_key) if k is not None]
        names = {"#t": store.ttl_attribute, **{f"#k{i}": name for i, name in enumerate(key_names)}}
        # A TTL attribute that is not a Number never expires. The type is tested first because moto
        # raises on comparing a String with a Number, where DynamoDB just finds no match.
        values = {
            ":n": {"S": "N"},
            ":now": {"N": str(int(now))},
            ":floor": {"N": str(int(now) - MAX_AGE_S)},
        }
        scan: dict[str, Any] = {
            "TableName": store.local_table_name(),
            "FilterExpression": "attribute_type(#t, :n) AND #t < :now AND #t >= :floor",
            "ProjectionExpression": ", ".join(["#t", *(f"#k{i}" for i in range(len(key_names)))]),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        expired = 0
        while True:
            page = dynamodb.scan(**scan)
            for found in page.get("Items", []):
                old_image = self._delete_if_still_expired(dynamodb, store, found, key_names)
                if old_image is None:
                    continue
                expired += 1
                if consumers:
                    keys = {name: found[name] for name in key_names}
                    record = self._removal_record(dynamodb, region, store, keys, old_image, now)
                    for consumer in consumers:
                        if accepts(consumer.source, record):
                            consumer.pending.append(_Pending(copy.deepcopy(record)))
            if "LastEvaluatedKey" not in page:
                return expired
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _delete_if_still_expired(
        dynamodb: Any, store: Store, found: Mapping[str, Any], key_names: Sequence[str]
    ) -> dict[str, Any] | None:
        """The deleted item, or None when it changed since the scan (its TTL was moved on)."""
        assert store.ttl_attribute is not None
        try:
            answer = dynamodb.delete_item(
                TableName=store.local_table_name(),
                Key={name: found[name] for name in key_names},
                ConditionExpression="#t = :expired",
                ExpressionAttributeNames={"#t": store.ttl_attribute},
                ExpressionAttributeValues={":expired": found[store.ttl_attribute]},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        old: dict[str, Any] | None = answer.get("Attributes")
        return old

    def _removal_record(
        self,
        dynamodb: Any,
        region: str,
        store: Store,
        keys: dict[str, Any],
        old_image: dict[str, Any],
        now: float,
    ) -> dict[str, Any]:
        """A TTL removal record in the shape AWS delivers, from the stored sample."""
        record: dict[str, Any] = copy.deepcopy(sample_event(SAMPLE)["Records"][0])
        record.update(
            eventID=uuid.uuid4().hex,
            awsRegion=region,
            eventSourceARN=self._stream_arn(dynamodb, region, store),
        )
        change = record["dynamodb"]
        change.pop("OldImage", None)
        change.update(
            ApproximateCreationDateTime=float(int(now)),
            Keys=keys,
            SequenceNumber=str(next(self._sequence)),
            SizeBytes=len(json.dumps(old_image)),
            StreamViewType=store.stream,
        )
        if store.stream in _OLD_IMAGE_VIEWS:
            change["OldImage"] = old_image
        return record

    def _stream_arn(self, dynamodb: Any, region: str, store: Store) -> str:
        cached = self._stream_arns.get((region, store.name))
        if cached is None:
            table = dynamodb.describe_table(TableName=store.local_table_name())["Table"]
            cached = table.get("LatestStreamArn") or (
                f"arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT}:table/{store.local_table_name()}/stream/local"
            )
            self._stream_arns[(region, store.name)] = cached
        return cached

    # -- delivery ----------------------------------------------------------------------------

    def _deliver(self, consumer: Consumer, report: SweepReport) -> None:
        """Batches in order until one fails: the stream waits for it, as a shard does."""
        while consumer.pending:
            batch = consumer.pending[: consumer.source.batch_size]
            first_failed = self._invoke(consumer, batch)
            if first_failed is None:
                del consumer.pending[: len(batch)]
                report.delivered += len(batch)
                continue
            report.delivered += first_failed
            del consumer.pending[:first_failed]
            retry = batch[first_failed:]
            for pending in retry:
                pending.attempts += 1
            if retry[0].attempts <= consumer.source.max_retries:
                report.retrying += len(retry)
                return
            del consumer.pending[: len(retry)]
            self.dead_letters.append(
                DeadLetter(
                    function=consumer.fn.name,
                    store=consumer.source.store,
                    region=consumer.region,
                    records=tuple(p.record for p in retry),
                )
            )
            report.dead_lettered += len(retry)
            logger.error(
                "%s failed %d record(s) of the %s stream %d times: sent to the on-failure destination",
                consumer.fn.name,
                len(retry),
                consumer.source.store,
                retry[0].attempts,
            )

    @staticmethod
    def _invoke(consumer: Consumer, batch: Sequence[_Pending]) -> int | None:
        """Index of the first record to deliver again, or None when the batch succeeded."""
        event = {"Records": [copy.deepcopy(p.record) for p in batch]}
        try:
            answer = consumer.container.invoke(event)
        except Exception:
            logger.exception("%s failed on a batch of %d record(s)", consumer.fn.name, len(batch))
            return 0
        failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures:  # no answer, or an empty list: the whole batch succeeded
            return None
        positions = {p.record["dynamodb"]["SequenceNumber"]: i for i, p in enumerate(batch)}
        failed = [positions.get((item or {}).get("itemIdentifier")) for item in failures]
        if any(index is None for index in failed):
            # An identifier that names no record of the batch: Lambda takes the whole batch as failed.
            logger.error("%s reported unknown item identifiers: %r", consumer.fn.name, failures)
            return 0
        return min(index for index in failed if index is not None)
