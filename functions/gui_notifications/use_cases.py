"""The notifications group's use cases, one function per operation: the REST routes and the
WebSocket `ack` (gui_realtime) call these, on the group's ports (`NotificationsPorts`).

What one request costs does not depend on the inbox's size:
- **list**: the counter items of the caller's two audiences (tenant-wide and personal; the
  assignee's too for that filter), the due snoozes of both (usually none) and one index partition
  per audience and status, `limit + 1` items each (with `assignee`, the partitions of the copies
  of the items assigned); a filter the indexes do not key (severity, category) reads on within
  `FILTER_BUDGET` items and may answer a shorter page.
- **command**: the item and its audience's counter item (one read), one transaction.
- **read-all**: one write per audience (its read generation raised), whatever it marks read, after
  the due snoozes (`WAKE_LIMIT`).
Due snoozes (`WAKE_LIMIT` per audience, by the list and read-all) and items a read-all left stored
unread (`TIDY_LIMIT` per audience, by the list) are stored in their effective status by the requests
that meet them, so counts and indexes keep up with time without a scheduler; a backlog of due
snoozes beyond the limit answers `counts_complete` false (the counts of the items a read-all left
stored unread are exact meanwhile: the mark reads them as read).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gui_core.cursors import position_text
from gui_core.errors import Conflict, NotFound, PreconditionFailed
from gui_notifications.counting import UNREAD, Mark, counter_sk, item_status_key, status_key, tally
from gui_notifications.logic import (
    InboxFilter,
    apply_command,
    as_seen,
    check_command,
    etag,
    persisted,
    require_match,
    visible_to,
)
from gui_notifications.models import (
    TENANT_WIDE,
    CommandInput,
    InboxQuery,
    Notification,
    NotificationPage,
    ReadAllResult,
    StatusCounts,
)
from gui_notifications.repository import Contended, InboxRepository, ItemChanged, MarkMoved, Stream

if TYPE_CHECKING:
    from gui_core.context import RequestContext
    from gui_core.cursors import Pages
    from gui_core.migrations.gate import Gate

# The second pass of the migration that counts the items stored before the counters (and keys them
# in `by_status`), which also counts what the release before wrote during the first's deploy: until
# it is done for a tenant, counts are partial and the status filter reads `by_audience`.
COUNTERS_MIGRATION = "0005_inbox_counters_again"
# The second pass of the migration that copies the items assigned before the copies, which also
# makes the copies of what the release before changed during the first's deploy equal to their
# items: until it is done for a tenant, the assignee filter reads the audiences' partitions within
# `FILTER_BUDGET`.
ASSIGNEE_MIGRATION = "0006_inbox_assignee_copies_again"
WAKE_LIMIT = 10  # due snoozes stored as woken per audience and request (a transaction each)
TIDY_LIMIT = 5  # items of an earlier read generation stored read per audience and list request
FILTER_BUDGET = 500  # items a filtered list reads at most (both audiences, every status partition)
COMMAND_ATTEMPTS = 6


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NotificationsPorts:
    """What the use cases work on: the inbox store, the migration gate (whether a tenant's items
    are all counted), the clock and the pause between two tries of a contended write."""

    repository: InboxRepository
    gate: Gate
    clock: Callable[[], datetime] = field(default=_utc_now)
    sleep: Callable[[float], None] = field(default=time.sleep)


@dataclass(frozen=True)
class InboxPage:
    items: list[tuple[dict[str, Any], Mark]]  # each item with its audience's mark (its effective status)
    next_sk: str | None
    counts: dict[str, int]
    complete: bool


def audiences(subject: str) -> tuple[str, str]:
    """What a user sees: the tenant-wide items and their own."""
    return (TENANT_WIDE, subject)


def _model(item: dict[str, Any], now: datetime, mark: Mark) -> Notification:
    return Notification.model_validate(as_seen(item, now, mark))


# -- the operations ------------------------------------------------------------------------------


def list_notifications(
    ports: NotificationsPorts, caller: RequestContext, query: InboxQuery, pages: Pages
) -> NotificationPage:
    """One page of the caller's inbox (tenant-wide and personal items, newest first) after the
    cursor, with the counts per effective status over every item the filters but `status` keep."""
    position = pages.read(query.cursor)
    filters = InboxFilter(
        status=query.status,
        severity=query.severity,
        category=query.category,
        assignee=caller.subject if query.assignee == "me" else query.assignee,
    )
    page = _page(
        ports,
        caller.tenant,
        caller.subject,
        filters,
        before=position_text(position, "sk") if position else None,
        limit=query.limit,
    )
    now = ports.clock()
    return NotificationPage(
        items=[_model(item, now, mark) for item, mark in page.items],
        next_cursor=pages.issue({"sk": page.next_sk} if page.next_sk else None),
        counts=StatusCounts(**page.counts),
        counts_complete=page.complete,
    )


def get_notification(ports: NotificationsPorts, caller: RequestContext, notification_id: str) -> Notification:
    item, mark = _visible(ports, caller.tenant, caller.subject, notification_id)
    return _model(item, ports.clock(), mark)


def command_notification(
    ports: NotificationsPorts,
    caller: RequestContext,
    notification_id: str,
    command: str,
    arguments: CommandInput | None = None,
    *,
    if_match: str | None = None,
) -> Notification:
    """Apply one command (read, acknowledge, snooze, unsnooze, assign, archive) to one item of the
    caller's inbox; the item as it reads after it. `assignee` `me` is the caller."""
    arguments = arguments or CommandInput()
    assignee = arguments.assignee
    if command == "assign" and assignee == "me":
        assignee = caller.subject
    item, mark = _command(
        ports,
        caller.tenant,
        caller.subject,
        notification_id,
        command,
        if_match=if_match,
        until=arguments.until,
        assignee=assignee,
    )
    return _model(item, ports.clock(), mark)


def read_all(ports: NotificationsPorts, caller: RequestContext) -> ReadAllResult:
    """Mark every unread item the caller sees read: one write per audience (its generation
    raised), whatever the number. A tenant-wide item's status is shared, so tenant-wide items are
    read for everyone."""
    now = ports.clock()
    seen = audiences(caller.subject)
    _counters(ports, caller.tenant, seen, None, now)  # due snoozes first: they are unread until now
    marked = 0
    for audience in seen:
        count, _ = ports.repository.raise_mark(caller.tenant, audience, now)
        marked += count
    # The items it marked stay stored unread in the generation it ended: the list requests
    # store them read, `TIDY_LIMIT` per audience each, so a read-all costs its two writes only.
    return ReadAllResult(marked=marked, remaining=False)


# -- reads ---------------------------------------------------------------------------------------


def _page(
    ports: NotificationsPorts,
    tenant: str,
    subject: str,
    filters: InboxFilter,
    *,
    before: str | None,
    limit: int,
) -> InboxPage:
    """The caller's inbox below the sort key `before`, newest first, with counts per effective
    status over every item the filters but `status` keep."""
    now = ports.clock()
    seen = audiences(subject)
    counters, marks, backlog = _counters(ports, tenant, seen, filters.assignee, now)
    for audience in seen:
        _tidy(ports, tenant, audience, marks[audience], now, TIDY_LIMIT)
    ready = ports.gate.done(COUNTERS_MIGRATION, tenant)
    counts = tally(
        [
            (
                counters.get(counter_sk(a, filters.assignee) if filters.assignee else counter_sk(a)),
                marks[a],
            )
            for a in seen
        ],
        severity=filters.severity,
        category=filters.category,
    )
    complete = ready and not backlog
    if complete and (counts[filters.status] if filters.status else sum(counts.values())) == 0:
        # The counters say no item matches: no index read (a rare filter's empty answer is free).
        return InboxPage([], None, counts, complete=True)
    copies = filters.assignee if filters.assignee and ready else None
    if copies and not ports.gate.done(ASSIGNEE_MIGRATION, tenant):
        copies = None
    streams = _streams(ports, tenant, seen, filters.status if ready else None, marks, copies)
    narrowed = (
        bool(filters.severity or filters.category)
        or (filters.status is not None and not ready)
        or bool(filters.assignee and not copies)
    )

    def keep(item: dict[str, Any]) -> bool:
        audience = str(item.get("audience"))
        # The tenant too: an index partition's name joins tenant, audience and assignee with `#`.
        return (
            item.get("pk") == tenant
            and visible_to(item, subject)
            and filters.matches(item, now, marks.get(audience, Mark()))
        )

    items, next_sk = ports.repository.page(
        streams,
        before=before,
        limit=limit,
        keep=keep,
        budget=FILTER_BUDGET if narrowed else (limit + 1) * len(streams),
    )
    return InboxPage([(i, marks[str(i["audience"])]) for i in items], next_sk, counts, complete=complete)


def _counters(
    ports: NotificationsPorts, tenant: str, seen: Sequence[str], assignee: str | None, now: datetime
) -> tuple[dict[str, dict[str, Any]], dict[str, Mark], bool]:
    """The counter items a count reads and the audiences' marks, after the due snoozes were
    woken; and whether more were due than one request wakes."""
    repository = ports.repository
    keys = [counter_sk(a) for a in seen] + ([counter_sk(a, assignee) for a in seen] if assignee else [])
    due = {a: repository.due(tenant, a, now, WAKE_LIMIT) for a in seen}
    counters = repository.counters(tenant, keys)
    marks = {a: Mark.of(counters.get(counter_sk(a))) for a in seen}
    backlog = any(d.more for d in due.values())
    woken = False
    for audience, found in due.items():
        if found.entries:
            woke, stopped = _wake(ports, tenant, found.entries, marks[audience], now)
            woken |= woke > 0
            backlog |= stopped
    if woken:
        counters = repository.counters(tenant, keys)
        marks = {a: Mark.of(counters.get(counter_sk(a))) for a in seen}
    return counters, marks, backlog


def _streams(
    ports: NotificationsPorts,
    tenant: str,
    seen: Sequence[str],
    status: str | None,
    marks: dict[str, Mark],
    assignee: str | None = None,
) -> list[Stream]:
    """The index partitions a page merges: each audience's, or its partitions of one status
    (read: the read items, and those stored unread in the generations a read-all ended); with
    `assignee`, the same partitions of the copies of the items assigned to them."""
    repository = ports.repository
    if status is None:
        return [repository.audience_stream(tenant, a, assignee) for a in seen]
    streams = []
    for audience in seen:
        mark = marks[audience]
        if status == UNREAD:
            keys = [status_key(UNREAD, mark.gen)]
        elif status == "read":
            keys = ["read", *(status_key(UNREAD, g) for g in mark.open_gens)]
        else:
            keys = [status]
        streams += [repository.status_stream(tenant, audience, key, assignee) for key in keys]
    return streams


def _visible(
    ports: NotificationsPorts, tenant: str, subject: str, notification_id: str
) -> tuple[dict[str, Any], Mark]:
    item, counters = ports.repository.item_and_counters(tenant, notification_id, audiences(subject))
    if item is None or not visible_to(item, subject):
        # Another user's personal item is answered as absent, never as forbidden.
        raise NotFound(f"No notification {notification_id!r}.")
    return item, Mark.of(counters.get(counter_sk(str(item["audience"]))))


# -- writes --------------------------------------------------------------------------------------


def _command(
    ports: NotificationsPorts,
    tenant: str,
    subject: str,
    notification_id: str,
    command: str,
    *,
    if_match: str | None,
    until: datetime | None,
    assignee: str | None,
) -> tuple[dict[str, Any], Mark]:
    """Apply one command to one item; the item as stored after it, with its audience's mark.

    The write is conditional on the item as read. When it fails on a change that leaves the
    item's version (a due snooze woken, a marker written by the migration) or on a read-all
    meanwhile, the command is read and applied again; when another command raised the version,
    it is refused: 412 with If-Match, else 409."""
    check_command(command)
    expected: int | None = None
    for attempt in range(COMMAND_ATTEMPTS):
        item, mark = _visible(ports, tenant, subject, notification_id)
        version = int(item["version"])
        if expected is None:
            require_match(if_match, etag(version))
            expected = version
        elif version != expected:
            if if_match:
                # The version If-Match named was current when read, not when written: the
                # precondition failed at the write (RFC 9110 13.1.1), a 412, not a 409.
                raise PreconditionFailed(
                    "The notification changed since it was read; read it again.", id=notification_id
                )
            raise Conflict(
                "The notification changed while the command ran; read it again.", id=notification_id
            )
        updated = apply_command(
            item, command, actor=subject, now=ports.clock(), mark=mark, until=until, assignee=assignee
        )
        if updated is None:
            return item, mark
        try:
            return ports.repository.commit(item, updated, mark), mark
        except (ItemChanged, MarkMoved):
            continue
        except Contended:
            _pause(ports, attempt)
    raise Conflict("The notification stayed busy; try again.", id=notification_id)


# -- keeping stored statuses up with time --------------------------------------------------------


def _wake(
    ports: NotificationsPorts, tenant: str, entries: Sequence[dict[str, Any]], mark: Mark, now: datetime
) -> tuple[int, bool]:
    """Store due snoozes as they read (unread, or read after a read-all); how many were, and
    whether a read-all stopped it."""
    repository = ports.repository
    items = repository.items(tenant, [str(e["id"]) for e in entries])
    woken = 0
    for entry in entries:
        item = items.get(str(entry["id"]))
        if item is None or item.get("status") != "snoozed" or item.get("snoozed_until") != entry["until"]:
            repository.drop_due(entry)  # the item is gone, or was changed without it
            continue
        after = persisted(item, now, mark)
        if after is None:
            continue
        try:
            repository.commit(item, after, mark)
        except (ItemChanged, Contended):
            continue  # another write came first; the next request sees
        except MarkMoved:
            return woken, True
        woken += 1
    return woken, False


def _tidy(
    ports: NotificationsPorts, tenant: str, audience: str, mark: Mark, now: datetime, limit: int
) -> None:
    """Store read a few items a read-all left stored unread in the oldest open generation, and
    close the generation once its counters say none is left (its partition then leaves the read
    filter's merge). Only once the tenant's items are all counted: before, the counters do not
    know every item of generation 0."""
    if not mark.open_gens or not ports.gate.done(COUNTERS_MIGRATION, tenant):
        return
    repository = ports.repository
    gen = mark.open_gens[0]
    found = repository.generation_items(tenant, audience, gen, limit)
    for item in found:
        if item_status_key(item) != status_key(UNREAD, gen):
            continue  # stored read already: the index had not caught up
        after = persisted(item, now, mark)
        if after is None:
            continue
        try:
            repository.commit(item, after, mark)
        except (ItemChanged, MarkMoved, Contended):
            continue
    if len(found) < limit:
        repository.close_generation(tenant, audience, gen)


def _pause(ports: NotificationsPorts, attempt: int) -> None:
    ports.sleep(random.uniform(0.005, 0.02) * (2**attempt))  # noqa: S311 (jitter, not secrecy)
