"""The dashboard's rollups in the metrics store (`gui_dashboard.rollups` says what they count).

Items, partition the tenant:
  ROLLUP#h#<yyyy-mm-ddThh>, ROLLUP#d#<yyyy-mm-dd>, ROLLUP#m#<yyyy-mm>   a bucket's counters
  ROLLUP#total                                                        the artifacts' totals
    (counters by their stored names, the whole layout in each: `gui_dashboard.rollups`)
  ROLLREC#<store>#<record sk>   what one stored record contributes now (`contribution`, JSON), and
                                the stream position of the change it reflects (`seq`, 40 digits;
                                empty for a backfill's); a removed record's stays two days (its
                                `expires_at`), so a redelivered older change finds it
A change of a record moves the counters by (its new contribution - the stored one) in one
transaction with the new ROLLREC item, conditional on the ROLLREC item being as read: a redelivered
or older change (its `seq` not above the stored one) changes nothing, two writers racing on one
record are serialized by the condition (the loser reads again), and counters only ever move by
ADD, so writers of different records never lose each other's changes. A backfill writes a record's
contribution only where no change did (`attribute_not_exists`): what the stream applied is newer.
A backfill of a page (`backfill_page`) writes several records a transaction, each bucket once with
the sum of what they move in it: a tenant's backfill costs about one bucket write per bucket, not
three per record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gui_core.dynamo import Condition, Put, Table, TransactionCancelled, Update, read_up_to
from gui_dashboard.logic import TimeRange
from gui_dashboard.rollups import (
    HOUR,
    ROLLUP_PREFIX,
    TOTAL_SK,
    WRITES,
    Counters,
    Period,
    Segment,
    add_up,
    bucket_sk,
    ceil_hour,
    contribution,
    cover,
    dashboard_document,
    difference,
    less,
    metrics_document,
    parse_bucket,
    stored_counters,
)

RECORD_PREFIX = "ROLLREC#"
REMOVED_KEEP_S = 2 * 24 * 3600  # a stream keeps a record 24 hours
ATTEMPTS = 8
# A backfill transaction holds at most this many writes (DynamoDB takes 100): fewer conflicts with
# the stream consumer writing the same buckets, and a bucket's first write carries its whole layout.
TRANSACTION_ACTIONS = 25
_PAGE = 1000
_ANY = Condition("attribute_not_exists(#k) OR attribute_exists(#k)", names={"#k": "pk"})
_LAID_OUT = Condition("attribute_exists(#w)", names={"#w": WRITES})
_ABSENT = Condition("attribute_not_exists(#k)", names={"#k": "pk"})


Moves = dict[str, Counters]  # what a write adds to each bucket item: {sk: {counter: n}}


def _seq(sequence: str | int) -> str:
    return str(sequence).rjust(40, "0")


def _unchanged(stored: Mapping[str, Any]) -> Condition:
    """The record's contribution item is still the one read."""
    return Condition("#s = :s", names={"#s": "seq"}, values={":s": stored.get("seq", "")})


def _change_key(change: Change) -> tuple[str, str]:
    return change.tenant, f"{RECORD_PREFIX}{change.store}#{change.sk}"


def _record_key(tenant: str, store: str, record: Mapping[str, Any]) -> dict[str, str]:
    return {"pk": tenant, "sk": f"{RECORD_PREFIX}{store}#{record['sk']}"}


def _record_item(
    key: Mapping[str, str], seq: str, new: Moves, image: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The item of what a record contributes now (a removed one's expires)."""
    item: dict[str, Any] = {**key, "kind": "rollup_record", "seq": seq, "contribution": json.dumps(new)}
    if image is None:
        item["expires_at"] = int(datetime.now().timestamp()) + REMOVED_KEEP_S
    return item


@dataclass(frozen=True)
class Change:
    """A change of a record the dashboard counts, from its store's stream: its image after (None:
    removed) at stream position `sequence`."""

    tenant: str
    store: str
    sk: str
    image: Mapping[str, Any] | None
    sequence: str | int


@dataclass(frozen=True)
class _Write:
    """A record's new contribution item (conditional) and what it moves in each bucket."""

    tenant: str
    item: Put
    moves: Moves
    origin: Any  # what to write record by record if the chunk is refused


class BatchStopped(Exception):
    """`apply_batch` stopped on an error; the changes from `first_unapplied` on (by their position
    in the batch) may not be applied, those before it are."""

    def __init__(self, first_unapplied: int, error: Exception) -> None:
        super().__init__(f"stopped at change {first_unapplied}: {error}")
        self.first_unapplied = first_unapplied


def _chunked(writes: Sequence[_Write]) -> Iterator[list[_Write]]:
    """The writes in order, in chunks of at most TRANSACTION_ACTIONS writes: a put per record and an
    update per bucket the chunk's records move."""
    chunk: list[_Write] = []
    buckets: set[tuple[str, str]] = set()
    for write in writes:
        moved = {(write.tenant, sk) for sk in write.moves}
        touched = buckets | moved
        if chunk and len(chunk) + 1 + len(touched) > TRANSACTION_ACTIONS:
            yield chunk
            chunk, touched = [], moved
        chunk.append(write)
        buckets = touched
    if chunk:
        yield chunk


class RollupStore:
    def __init__(self, table: Table) -> None:
        self._table = table
        self.items_read = 0  # rollup items read by this store (tests, bench)

    # -- writing ---------------------------------------------------------------------------------

    def apply(
        self, tenant: str, store: str, record_sk: str, image: Mapping[str, Any] | None, sequence: str | int
    ) -> bool:
        """The record's contribution set to its image's (None: removed) as of stream position
        `sequence`; False when a change at or after it was applied already."""
        key = {"pk": tenant, "sk": f"{RECORD_PREFIX}{store}#{record_sk}"}
        seq = _seq(sequence)
        for _ in range(ATTEMPTS):
            stored = self._table.get(key, consistent=True)
            if stored is not None and str(stored.get("seq", "")) >= seq:
                return False
            unchanged = _ABSENT if stored is None else _unchanged(stored)
            if self._write(tenant, key, store, image, stored, seq, unchanged):
                return True
        raise RuntimeError(f"rollups of {store} {record_sk}: {ATTEMPTS} writers raced it")

    def backfill(self, tenant: str, store: str, record: Mapping[str, Any]) -> bool:
        """The record's contribution, unless a change of it was applied (that one is newer)."""
        return self._write(tenant, _record_key(tenant, store, record), store, record, None, "", _ABSENT)

    def backfill_page(self, tenant: str, store: str, records: Sequence[Mapping[str, Any]]) -> int:
        """`backfill` of each record, in transactions of TRANSACTION_ACTIONS writes at most: each
        record's item (where there is none) and each bucket once, with the sum of what the chunk's
        records move in it. A chunk where a record got its item meanwhile (the stream's, newer) is
        written record by record. The records written."""
        keys = sorted(_record_key(tenant, store, record)["sk"] for record in records)
        if not keys:
            return 0
        # The records of the page that have their item already (most, where the stream's consumer
        # ran before the backfill): one query over the page's range, in the records' key order.
        have = {str(item["sk"]) for item in self._query(tenant, keys[0], keys[-1])}
        writes = []
        for record in records:
            key = _record_key(tenant, store, record)
            if key["sk"] not in have:
                new = contribution(store, record)
                item = Put(_record_item(key, "", new, record), condition=_ABSENT)
                writes.append(_Write(tenant, item, difference(new, {}), record))
        written = 0
        for chunk in _chunked(writes):
            if self._transact_chunk(chunk):
                written += len(chunk)
            else:
                written += sum(self.backfill(tenant, store, write.origin) for write in chunk)
        return written

    def apply_batch(self, changes: Sequence[Change]) -> None:
        """`apply` of a stream batch's changes, in transactions of TRANSACTION_ACTIONS writes at
        most: a record's latest change in the batch is the one applied (it overtakes those before
        it), the records' stored contributions are read together (BatchGetItem), and each bucket is
        written once a chunk with the sum of what the chunk's records move in it. A chunk a writer
        raced (a record's item changed since it was read) is applied record by record. On an error,
        `BatchStopped` names the first change that may not be applied."""
        last: dict[tuple[str, str], int] = {}
        for position, change in enumerate(changes):
            key = _change_key(change)
            if key not in last or _seq(change.sequence) >= _seq(changes[last[key]].sequence):
                last[key] = position  # a record's latest change (a redelivered older one changes nothing)
        applied: set[int] = set()
        try:
            stored = {
                (str(item["pk"]), str(item["sk"])): item
                for item in self._table.batch_get([{"pk": t, "sk": sk} for t, sk in last], consistent=True)
            }
            writes = []
            for (tenant, sk), position in last.items():
                change, seq, before = (
                    changes[position],
                    _seq(changes[position].sequence),
                    stored.get((tenant, sk)),
                )
                if before is not None and str(before.get("seq", "")) >= seq:
                    applied.add(position)  # a change at or after it was applied already
                    continue
                new = contribution(change.store, change.image)
                old = json.loads(str(before["contribution"])) if before is not None else {}
                unchanged = _ABSENT if before is None else _unchanged(before)
                item = Put(
                    _record_item({"pk": tenant, "sk": sk}, seq, new, change.image), condition=unchanged
                )
                writes.append(_Write(tenant, item, difference(new, old), position))
            for chunk in _chunked(writes):
                if not self._transact_chunk(chunk):
                    for write in chunk:
                        change = changes[write.origin]
                        self.apply(change.tenant, change.store, change.sk, change.image, change.sequence)
                applied.update(write.origin for write in chunk)
        except Exception as exc:
            done = applied | {p for p in range(len(changes)) if last.get(_change_key(changes[p])) in applied}
            first = min((p for p in range(len(changes)) if p not in done), default=len(changes))
            raise BatchStopped(first, exc) from exc

    def _transact_chunk(self, chunk: list[_Write]) -> bool:
        totals: dict[tuple[str, str], Counters] = {}
        for write in chunk:
            for sk, moved in write.moves.items():
                bucket = totals.setdefault((write.tenant, sk), {})
                for name, value in moved.items():
                    bucket[name] = round(bucket.get(name, 0) + value, 6)
        return self._transact([write.item for write in chunk], sorted(totals.items()))

    def _write(
        self,
        tenant: str,
        key: dict[str, str],
        store: str,
        image: Mapping[str, Any] | None,
        stored: Mapping[str, Any] | None,
        seq: str,
        condition: Condition,
    ) -> bool:
        new = contribution(store, image)
        old = json.loads(str(stored["contribution"])) if stored is not None else {}
        record = _record_item(key, seq, new, image)
        moves = sorted(difference(new, old).items())
        return self._transact(
            [Put(record, condition=condition)], [((tenant, sk), moved) for sk, moved in moves]
        )

    def _transact(self, head: list[Put], buckets: list[tuple[tuple[str, str], Counters]]) -> bool:
        """`head` (records' items, each conditional) and what `buckets` move, all or nothing; False
        when an item of `head` refused (its record changed since it was read). A bucket laid out
        already takes what the write moves. One that refuses that is made whole (its first write: a
        put of the layout with what moves, where there is no item), and one that refuses that too
        (an item written before the layout, or made meanwhile) takes the whole layout by ADD: most
        writes carry a few counters, not the layout's 120. A refusal that names no condition (a
        conflict with another transaction) is raised."""
        tries = [0] * len(buckets)  # 0: what moves; 1: made whole; 2: the layout added
        for _ in range(2 * len(buckets) + 1):
            operations: list[Put | Update] = [*head]
            for ((tenant, sk), moved), tried in zip(buckets, tries, strict=True):
                key = {"pk": tenant, "sk": sk}
                counters = stored_counters(moved, whole_layout=tried > 0)
                if tried == 1:
                    operations.append(Put({**key, **counters}, condition=_ABSENT))
                else:
                    operations.append(Update(key, add=counters, condition=_ANY if tried else _LAID_OUT))
            try:
                self._table.transact(operations)
            except TransactionCancelled as exc:
                if any(index < len(head) for index in exc.failed):
                    return False
                refused = [index - len(head) for index in exc.failed]
                if not refused or any(tries[index] == 2 for index in refused):
                    raise
                for index in refused:
                    tries[index] += 1
            else:
                return True
        raise AssertionError("unreachable: each refusal moves a bucket on, the last try cannot refuse")

    # -- reading ---------------------------------------------------------------------------------

    def _query(self, tenant: str, low: str, high: str) -> list[dict[str, Any]]:
        items = read_up_to(
            self._table, ("pk", tenant), limit=None, chunk=_PAGE, sort_between=("sk", low, high)
        ).items
        self.items_read += len(items)
        return items

    def _segment(self, tenant: str, segment: Segment) -> list[dict[str, Any]]:
        return self._query(tenant, *segment.bounds())

    def counters(self, tenant: str, period: TimeRange) -> Counters:
        """The sum of the buckets of an hour-aligned range."""
        return add_up(item for segment in cover(period) for item in self._segment(tenant, segment))

    def _from(self, tenant: str, at: datetime, *, now: datetime) -> Counters:
        """The counters of every bucket from `at` on (artifacts dated ahead of now included)."""
        horizon = ceil_hour(now) + HOUR
        found = self.counters(tenant, TimeRange(at, horizon)) if at < horizon else {}
        later = self._query(tenant, bucket_sk("h", max(at, horizon)), f"{ROLLUP_PREFIX}h#~")
        return add_up([found, *later])

    def _totals(self, tenant: str) -> Counters:
        item = self._table.get({"pk": tenant, "sk": TOTAL_SK}, consistent=False)
        self.items_read += item is not None
        return add_up([item] if item else [])

    def dashboard(self, tenant: str, period: TimeRange, *, now: datetime) -> dict[str, Any]:
        """The dashboard of an hour-aligned range, from its buckets and its previous period's."""
        current = self.counters(tenant, period)
        previous = self.counters(tenant, period.previous())
        existing_end = less(self._totals(tenant), self._from(tenant, period.end, now=now))
        existing_start = less(existing_end, current)
        return dashboard_document(
            period, Period(current, existing_end), Period(previous, existing_start), as_of=now
        )

    def series(
        self, tenant: str, module: str, period: TimeRange, bucket: str, *, now: datetime
    ) -> dict[str, Any]:
        """One module's series: hour items for `1h` and `6h`; for `1d` and `7d`, day items for the
        whole days and hour items for the rest."""
        items: Iterable[dict[str, Any]]
        if bucket in {"1h", "6h"}:
            items = self._segment(tenant, Segment("h", period.start, period.end - HOUR))
        else:
            day_from = period.start.replace(hour=0)
            day_from = day_from if day_from == period.start else day_from + timedelta(days=1)
            day_to = period.end.replace(hour=0)
            if day_from >= day_to:
                items = self._segment(tenant, Segment("h", period.start, period.end - HOUR))
            else:
                items = [
                    *(
                        self._segment(tenant, Segment("h", period.start, day_from - HOUR))
                        if period.start < day_from
                        else []
                    ),
                    *self._segment(tenant, Segment("d", day_from, day_to - timedelta(days=1))),
                    *(
                        self._segment(tenant, Segment("h", day_to, period.end - HOUR))
                        if day_to < period.end
                        else []
                    ),
                ]
        starts = {parse_bucket(str(item["sk"])): add_up([item]) for item in items}
        current = add_up(starts.values())
        existing_end = less(self._totals(tenant), self._from(tenant, period.end, now=now))
        return metrics_document(module, period, bucket, starts, Period(current, existing_end), as_of=now)
