"""DynamoDB layout of the inbox store, behind the methods the use cases, the fan-out and the
archiver need. Every read is a key, an index partition or a few counter items: no request reads in
proportion to the inbox.

Partition = tenant:
- `NOTE#<notification id>`: one notification; the id starts with its creation time, so a
  descending walk is newest first. Tenant-wide items (`audience` `*`) and personal ones (`audience`
  = a subject) share the partition; visibility is decided by the pure rules.
- `COUNT#<audience>` and `COUNT#<audience>#<assignee>`: the counters and the audience's read mark
  (gui_notifications.counting);
- `DUE#<audience>#<snoozed until>#<id>`: one per snoozed item, so the snoozes that came due are a
  key range (`due`), woken a few per request;
- `GONE#<stream record id>`: a TTL removal already taken out of the counters (`forget`); expires;
- `ASG#<notification id>`: the copy of an assigned item (`assigned_copy`), keyed in the two indexes
  below by its assignee too, so the assignee filter pages from keys like the others.

Indexes: `by_audience` (`tenant_audience` = `<tenant>#<audience>`, sort key `sk`: an audience's
items newest first, the unfiltered list) and `by_status` (`tenant_audience_status` =
`<tenant>#<audience>#<status key>`: an audience's items of one stored status, newest first). Both
keys are written with every item (`shaped`); migrations 0001/0002 set the first and 0003 the second
(with the counters) on the items stored before. An assigned item's copy holds the same keys with its
assignee after the audience (`<tenant>#<audience>#<assignee>[#<status key>]`: partitions no item of
the tenant holds, as no audience, assignee or status key holds `#`; a page keeps its tenant's items
only); migration 0004 wrote the copies of the items assigned before, and its second pass 0006
those the previous release changed during the deploy. Index reads are eventually consistent: a list
may show an item's state of a moment ago; counters and single items are read strongly consistent.

Every write of an item is one transaction with its counters, its due entry and its copy, conditional
on the item being as it was read (its version and what it counts as): a redelivered append, a command
racing another, a wake racing a command, each counts once or not at all.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gui_core.date_times import iso
from gui_core.dynamo import (
    Check,
    Condition,
    ConditionFailed,
    Delete,
    Put,
    Table,
    TransactionCancelled,
    Update,
    item_absent,
)
from gui_core.errors import Conflict
from gui_notifications.counting import (
    COUNTED,
    COUNTER_PREFIX,
    GEN,
    OPEN_FROM,
    READ_AT,
    STATUS_KEY,
    UNREAD,
    Mark,
    counted_value,
    counter_sk,
    deltas,
    item_status_key,
    status_key,
    unread_in,
)
from gui_notifications.models import CATEGORIES, SEVERITIES, NewNotification

PREFIX = "NOTE#"
DUE_PREFIX = "DUE#"
ASSIGNED_PREFIX = "ASG#"
GONE_PREFIX = "GONE#"
AUDIENCE_KEY = "tenant_audience"
BY_AUDIENCE = "by_audience"
BY_STATUS = "by_status"
# On an assigned item: its copy's `by_audience` partition, set in the transaction that writes the copy
# (so migration 0004 knows the items a writer of this release copied).
ASSIGNED_KEY = "tenant_audience_assignee"
GONE_TTL_S = 2 * 86400  # a stream record is delivered for 24 h at most: its removal's guard outlives it
WRITE_ATTEMPTS = 6  # a write that met a read-all or a concurrent transaction is tried again
# Always true: an Update of a counter item that may not exist yet (a Table.transact Update without
# a condition requires the item).
ANYWAY = Condition("attribute_not_exists(#pk) OR attribute_exists(#pk)", names={"#pk": "pk"})


def note_sk(notification_id: str) -> str:
    return f"{PREFIX}{notification_id}"


def audience_key(tenant: str, audience: str) -> str:
    """The partition key of the `by_audience` index: `<tenant>#<audience>` (`*`: tenant-wide)."""
    return f"{tenant}#{audience}"


def audience_status_key(tenant: str, audience: str, key: str) -> str:
    """The partition key of the `by_status` index: `<tenant>#<audience>#<status key>`."""
    return f"{tenant}#{audience}#{key}"


def due_sk(audience: str, until: str, notification_id: str) -> str:
    return f"{DUE_PREFIX}{audience}#{until}#{notification_id}"


def assigned_sk(notification_id: str) -> str:
    return f"{ASSIGNED_PREFIX}{notification_id}"


def shaped(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item with the keys and the `counted` its state calls for, as every writer stores it."""
    tenant, audience = str(item["pk"]), str(item["audience"])
    assignee = item.get("assignee")
    return {
        **item,
        AUDIENCE_KEY: audience_key(tenant, audience),
        STATUS_KEY: audience_status_key(tenant, audience, item_status_key(item)),
        COUNTED: counted_value(item),
        ASSIGNED_KEY: audience_key(tenant, f"{audience}#{assignee}") if assignee else None,
    }


def assigned_copy(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The copy of an assigned item (None for an unassigned one): the item's attributes under
    `ASG#<id>`, in its assignee's partitions of both indexes, of all its statuses and of its own.
    It expires with the item."""
    assignee = item.get("assignee")
    if not assignee:
        return None
    tenant, audience = str(item["pk"]), f"{item['audience']}#{assignee}"
    copy = {k: v for k, v in item.items() if k not in (COUNTED, ASSIGNED_KEY) and v is not None}
    return {
        **copy,
        "sk": assigned_sk(str(item["id"])),
        AUDIENCE_KEY: audience_key(tenant, audience),
        STATUS_KEY: audience_status_key(tenant, audience, item_status_key(item)),
    }


def due_entry(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The due entry of a snoozed item (None for any other)."""
    until = item.get("snoozed_until")
    if item.get("status") != "snoozed" or not until:
        return None
    return {
        "pk": item["pk"],
        "sk": due_sk(str(item["audience"]), str(until), str(item["id"])),
        "id": item["id"],
        "audience": item["audience"],
        "until": until,
    }


class ItemChanged(Exception):
    """The item is no longer as it was read (or, for an append, exists already)."""


class MarkMoved(Exception):
    """The audience's generation changed since its mark was read (a read-all came between)."""


class Contended(Exception):
    """DynamoDB cancelled the transaction for a concurrent one on the same items: try again."""


@dataclass
class Stream:
    """One index partition walked newest first for a page: what it gave, and how far it went."""

    index: str
    attribute: str
    value: str
    prefix: str = PREFIX  # of the sort keys it holds: items, or copies (`ASG#`) read as their items
    items: list[dict[str, Any]] = field(default_factory=list)
    frontier: str | None = None  # the item sort key of the last item read: below it, nothing read yet
    exhausted: bool = False
    read: int = 0


@dataclass(frozen=True)
class Due:
    """The due entries of an audience read for a wake: at most the limit, and whether more wait."""

    entries: list[dict[str, Any]]
    more: bool


class InboxRepository:
    def __init__(
        self, table: Table, *, retention_days: int, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._table = table
        self._retention_s = retention_days * 86400
        self._sleep = sleep
        self._marks: dict[tuple[str, str], Mark] = {}  # the appender's last known marks (see append)
        self.reads = 0  # items read by this repository (tests and benches)

    # -- single items and counters ------------------------------------------------------------

    def get(self, tenant: str, notification_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return self._table.get({"pk": tenant, "sk": note_sk(notification_id)})

    def item_and_counters(
        self, tenant: str, notification_id: str, audiences: Sequence[str]
    ) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
        """One item and the counter items of `audiences`, in one strongly consistent read."""
        keys = [{"pk": tenant, "sk": note_sk(notification_id)}]
        keys += [{"pk": tenant, "sk": counter_sk(a)} for a in audiences]
        found = {str(i["sk"]): i for i in self._batch_get(keys)}
        return found.pop(note_sk(notification_id), None), found

    def counters(self, tenant: str, sort_keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Counter items by sort key (strongly consistent); absent ones are not answered."""
        return {str(i["sk"]): i for i in self._batch_get([{"pk": tenant, "sk": sk} for sk in sort_keys])}

    def mark(self, tenant: str, audience: str) -> Mark:
        self.reads += 1
        return Mark.of(self._table.get({"pk": tenant, "sk": counter_sk(audience)}))

    def _batch_get(self, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        found = self._table.batch_get(keys, consistent=True)
        self.reads += len(found)
        return found

    # -- pages ---------------------------------------------------------------------------------

    def audience_stream(self, tenant: str, audience: str, assignee: str | None = None) -> Stream:
        """An audience's items, or (`assignee`) the copies of those assigned to `assignee`."""
        if assignee:
            value = audience_key(tenant, f"{audience}#{assignee}")
            return Stream(BY_AUDIENCE, AUDIENCE_KEY, value, ASSIGNED_PREFIX)
        return Stream(BY_AUDIENCE, AUDIENCE_KEY, audience_key(tenant, audience))

    def status_stream(self, tenant: str, audience: str, key: str, assignee: str | None = None) -> Stream:
        """An audience's items of one status key, or (`assignee`) the copies of those assigned."""
        if assignee:
            value = audience_status_key(tenant, f"{audience}#{assignee}", key)
            return Stream(BY_STATUS, STATUS_KEY, value, ASSIGNED_PREFIX)
        return Stream(BY_STATUS, STATUS_KEY, audience_status_key(tenant, audience, key))

    def page(
        self,
        streams: Sequence[Stream],
        *,
        before: str | None,
        limit: int,
        keep: Callable[[dict[str, Any]], bool],
        budget: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` items of the streams that `keep` keeps, newest first, below the sort key
        `before`; and the sort key the next page starts below (None: no more).

        Each stream is read `limit + 1` items first. The items at or above the highest frontier
        of the streams not exhausted are read in every stream, so they are complete and in order;
        when fewer than a page of them are kept, the stream at that frontier reads on (twice as
        many items as before each time), until `budget`
        items were read in all: a filter that keeps few items answers a shorter page, with the
        cursor where the reads stopped, rather than reading on."""
        for stream in streams:
            self._read(stream, before, limit + 1, keep)
        while True:
            live = [s for s in streams if not s.exhausted]
            boundary = max((str(s.frontier) for s in live), default=None)
            kept = sorted(
                (i for s in streams for i in s.items if (boundary is None or str(i["sk"]) >= boundary)),
                key=lambda i: str(i["sk"]),
                reverse=True,
            )
            if len(kept) > limit:
                return kept[:limit], str(kept[limit - 1]["sk"])
            read = sum(s.read for s in streams)
            if boundary is None or read >= budget:
                return kept, boundary
            # The stream at the boundary holds the others back: it reads on (each read moves its
            # frontier down or exhausts it, so this ends), each read as many items as it read
            # before: a filter that keeps few items costs a few calls, not one per page size.
            limiting = next(s for s in live if s.frontier == boundary)
            self._read(limiting, boundary, min(max(limit + 1, limiting.read), budget - read), keep)

    def _read(
        self, stream: Stream, before: str | None, limit: int, keep: Callable[[dict[str, Any]], bool]
    ) -> None:
        """The next `limit` items of a stream below the item sort key `before`; those `keep` keeps
        are added to it (a copy as its item: the item's sort key)."""
        if before is None:
            page = self._table.query(
                (stream.attribute, stream.value),
                index=stream.index,
                sort_prefix=("sk", stream.prefix),
                limit=limit,
                forward=False,
            )
            items = page.items
        else:
            # BETWEEN takes its bounds: ask one more and leave out the cursor's own item.
            below = stream.prefix + before.removeprefix(PREFIX)
            page = self._table.query(
                (stream.attribute, stream.value),
                index=stream.index,
                sort_between=("sk", stream.prefix, below),
                limit=limit + 1,
                forward=False,
            )
            items = [i for i in page.items if str(i["sk"]) != below][:limit]
        if stream.prefix != PREFIX:
            items = [{**i, "sk": note_sk(str(i["id"]))} for i in items]
        stream.read += len(page.items)
        self.reads += len(page.items)
        stream.items += [i for i in items if keep(i)]
        if len(items) < limit:
            stream.exhausted = True
        if items:
            stream.frontier = str(items[-1]["sk"])

    # -- due snoozes and old generations -------------------------------------------------------

    def due(self, tenant: str, audience: str, now: datetime, limit: int) -> Due:
        """The snoozes of an audience that came due by `now`, soonest first, at most `limit`."""
        prefix = f"{DUE_PREFIX}{audience}#"
        page = self._table.query(
            ("pk", tenant),
            sort_between=("sk", prefix, f"{prefix}{iso(now)}~"),
            limit=limit + 1,
            consistent=True,
        )
        self.reads += len(page.items)
        return Due(page.items[:limit], len(page.items) > limit)

    def items(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = self._batch_get([{"pk": tenant, "sk": note_sk(i)} for i in ids])
        return {str(i["id"]): i for i in found}

    def drop_due(self, entry: Mapping[str, Any]) -> None:
        """A due entry whose item is gone or no longer snoozed until that time."""
        self._table.delete({"pk": entry["pk"], "sk": entry["sk"]})

    def generation_items(self, tenant: str, audience: str, gen: int, limit: int) -> list[dict[str, Any]]:
        """Items stored unread in an earlier generation of the audience (read since), newest first."""
        page = self._table.query(
            (STATUS_KEY, audience_status_key(tenant, audience, status_key(UNREAD, gen))),
            index=BY_STATUS,
            limit=limit,
            forward=False,
        )
        self.reads += len(page.items)
        return page.items

    def close_generation(self, tenant: str, audience: str, gen: int) -> bool:
        """Close generation `gen` of an audience if no item counts as stored unread in it any more
        (its counter cells all zero, read strongly: exact, where the index may lag): its cells are
        dropped and `open_from` moves past it. False when some item still does."""
        names = {"#o": OPEN_FROM}
        values: dict[str, Any] = {":g": gen, ":z": 0}
        clauses = ["#o = :g" if gen else "(attribute_not_exists(#o) OR #o = :g)"]
        cells = []
        for i, (severity, category) in enumerate((s, c) for s in SEVERITIES for c in CATEGORIES):
            names[f"#c{i}"] = f"{status_key(UNREAD, gen)}|{severity}|{category}"
            cells.append(names[f"#c{i}"])
            clauses.append(f"(attribute_not_exists(#c{i}) OR #c{i} = :z)")
        try:
            self._table.update(
                {"pk": tenant, "sk": counter_sk(audience)},
                {OPEN_FROM: gen + 1},
                remove=cells,
                condition=Condition(" AND ".join(clauses), names, values),
            )
        except ConditionFailed:
            return False
        return True

    # -- writes --------------------------------------------------------------------------------

    def new_item(self, tenant: str, notification: Mapping[str, Any] | NewNotification) -> dict[str, Any]:
        """The stored item of a new notification (what `append` writes, before its keys)."""
        note = (
            notification
            if isinstance(notification, NewNotification)
            else NewNotification.model_validate(notification)
        )
        now = datetime.now(UTC)
        created = note.created_at or now
        return {
            "pk": tenant,
            "sk": note_sk(note.id),
            "kind": "notification",
            **note.model_dump(mode="json", exclude={"created_at", "snoozed_until"}),
            AUDIENCE_KEY: audience_key(tenant, note.audience),
            "snoozed_until": iso(note.snoozed_until) if note.snoozed_until else None,
            "version": 1,
            "created_at": iso(created),
            "updated_at": iso(now),
            "acted_by": None,
            # Retention counts from creation, so a late redelivery cannot extend an item's life.
            "expires_at": int(created.timestamp()) + self._retention_s,
        }

    def append(self, tenant: str, notification: Mapping[str, Any] | NewNotification) -> bool:
        """Write a new notification with its counters; False when one with this id exists (a
        redelivered event): the conditional put and the counters are one transaction, so a
        redelivery counts nothing.

        The audience's mark is remembered between appends (an unread item is stamped with its
        generation): a read-all since makes the write fail on the counter item's generation, and
        the mark is read again."""
        item = self.new_item(tenant, notification)
        audience = str(item["audience"])
        mark = self._marks.get((tenant, audience))
        for attempt in range(WRITE_ATTEMPTS):
            if mark is None:
                mark = self.mark(tenant, audience)
            stamped = {**item, "unread_gen": mark.gen if item["status"] == UNREAD else None}
            try:
                self.commit(None, stamped, mark)
            except ItemChanged:
                return False
            except MarkMoved:
                mark = None
                continue
            except Contended:
                self._pause(attempt)
                continue
            self._marks[(tenant, audience)] = mark
            return True
        raise Conflict("The inbox is busy; the notification was not written.", id=item["id"])

    def commit(
        self,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any],
        mark: Mark,
        *,
        also: Sequence[Put | Delete | Update | Check] = (),
    ) -> dict[str, Any]:
        """Write `after` (shaped: keys and `counted`) over `before` as it was read (None: a new
        item), with its counters, due entry and copy (assigned), in one transaction; the stored item.

        Raises ItemChanged when the item is not as read (its version or what it counts as moved),
        MarkMoved when `after` becomes unread and the audience's generation is no longer the mark's,
        Contended when DynamoDB cancelled it for a concurrent transaction."""
        stored = {k: v for k, v in shaped(after).items() if v is not None}
        tenant = str(stored["pk"])
        operations: list[Put | Delete | Update | Check] = [Put(stored, self._as_read(before))]
        audience_counter = counter_sk(str(stored["audience"]))
        stamps = stored.get("status") == UNREAD and (
            before is None or item_status_key(before) != item_status_key(stored)
        )
        on_audience = self._gen_is(mark.gen) if stamps else ANYWAY
        moves = deltas(before, stored)
        for sk, cells in moves.items():
            condition = on_audience if sk == audience_counter else ANYWAY
            operations.append(Update({"pk": tenant, "sk": sk}, add=cells, condition=condition))
        if stamps and audience_counter not in moves:
            operations.append(Check({"pk": tenant, "sk": audience_counter}, on_audience))
        old_due, new_due = due_entry(before) if before else None, due_entry(stored)
        if old_due and (new_due is None or old_due["sk"] != new_due["sk"]):
            operations.append(Delete({"pk": tenant, "sk": old_due["sk"]}))
        if new_due and (old_due is None or old_due["sk"] != new_due["sk"]):
            operations.append(Put(new_due))
        copy = assigned_copy(stored)
        if copy:
            operations.append(Put(copy))
        elif before and before.get("assignee"):
            operations.append(Delete({"pk": tenant, "sk": assigned_sk(str(stored["id"]))}))
        operations += list(also)
        try:
            self._table.transact(operations)
        except TransactionCancelled as exc:
            if 0 in exc.failed:
                raise ItemChanged(str(stored["id"])) from exc
            if exc.failed:
                raise MarkMoved(str(stored["audience"])) from exc
            raise Contended(str(exc.reasons)) from exc
        return stored

    @staticmethod
    def _as_read(before: Mapping[str, Any] | None) -> Condition:
        """The item is as it was read: absent for a new one; else the same version and the same
        `counted` (absent when it was)."""
        if before is None:
            return item_absent("sk")
        names = {"#version": "version", "#counted": COUNTED}
        if before.get(COUNTED):
            return Condition(
                "#version = :version AND #counted = :counted",
                names,
                {":version": int(before["version"]), ":counted": before[COUNTED]},
            )
        return Condition(
            "#version = :version AND attribute_not_exists(#counted)",
            names,
            {":version": int(before["version"])},
        )

    @staticmethod
    def _gen_is(gen: int) -> Condition:
        if gen == 0:
            return Condition("attribute_not_exists(#gen) OR #gen = :gen", {"#gen": GEN}, {":gen": 0})
        return Condition("#gen = :gen", {"#gen": GEN}, {":gen": gen})

    def raise_mark(self, tenant: str, audience: str, now: datetime) -> tuple[int, Mark]:
        """A read-all of an audience: its generation raised, in one write; how many items it marked
        read (those counted unread in the generation it ends) and the new mark."""
        counter = self._table.update(
            {"pk": tenant, "sk": counter_sk(audience)},
            {READ_AT: iso(now)},
            add={GEN: 1},
            condition=ANYWAY,
            returning=True,
        )
        mark = Mark.of(counter)
        return unread_in(counter, mark.gen - 1), mark

    def forget(self, removed: Mapping[str, Any], removal_id: str, *, now: float) -> bool:
        """Take an item that DynamoDB's TTL removed out of its counters, with its due entry; once
        per removal (a redelivered stream record finds its guard). False when there was nothing to
        do (not a notification, never counted, or done already)."""
        if not str(removed.get("sk", "")).startswith(PREFIX):
            return False
        tenant = str(removed["pk"])
        operations: list[Put | Delete | Update | Check] = [
            Put(
                {"pk": tenant, "sk": f"{GONE_PREFIX}{removal_id}", "expires_at": int(now) + GONE_TTL_S},
                item_absent("sk"),
            )
        ]
        for sk, cells in deltas(removed, None).items():
            operations.append(Update({"pk": tenant, "sk": sk}, add=cells, condition=ANYWAY))
        entry = due_entry(removed)
        if entry:
            operations.append(Delete({"pk": tenant, "sk": entry["sk"]}))
        if len(operations) == 1:
            return False
        if removed.get("assignee"):
            # Its copy expires too, but TTL may take it later: the assignee's pages drop it now.
            operations.append(Delete({"pk": tenant, "sk": assigned_sk(str(removed["id"]))}))
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self._table.transact(operations)
            except TransactionCancelled as exc:
                if exc.failed:
                    return False  # its guard: done by an earlier delivery
                self._pause(attempt)
                continue
            return True
        raise Contended(f"the counters of {tenant} stayed busy")

    def _pause(self, attempt: int) -> None:
        self._sleep(random.uniform(0.005, 0.02) * (2**attempt))  # noqa: S311 (jitter, not secrecy)

    # -- the whole-item write of the release before (compatibility) ------------------------------

    def save(self, updated: dict[str, Any]) -> None:
        """Write an item a command changed (its version raised by one) if nobody changed it since:
        the item as stored now is the one it was made from. The use cases write with `commit`,
        which knows the item as read; this is the whole-item write of the release before."""
        read = self.get(str(updated["pk"]), str(updated["id"]))
        if read is None or int(read["version"]) != int(updated["version"]) - 1:
            raise Conflict(
                "The notification changed while the command ran; read it again.", id=updated.get("id")
            )
        mark = self.mark(str(updated["pk"]), str(updated["audience"]))
        if updated.get("status") == UNREAD and read.get("status") != UNREAD:
            updated = {**updated, "unread_gen": mark.gen}  # it becomes unread now
        try:
            self.commit(read, updated, mark)
        except (ItemChanged, MarkMoved, Contended) as exc:
            raise Conflict(
                "The notification changed while the command ran; read it again.", id=updated.get("id")
            ) from exc

    def has_items(self, tenant: str) -> bool:
        """Whether the tenant has any notification (one key read)."""
        page = self._table.query(("pk", tenant), sort_prefix=("sk", PREFIX), limit=1)
        return bool(page.items)


def is_counter(item: Mapping[str, Any]) -> bool:
    return str(item.get("sk", "")).startswith(COUNTER_PREFIX)
