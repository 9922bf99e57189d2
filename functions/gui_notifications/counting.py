"""The inbox's counters and read marks, as pure rules: what an item counts as, where, and what the
counters of an audience say.

**Read marks.** Each audience of a tenant (`*`, the tenant-wide items, or one user's subject) has a
generation, `gen`, raised by every read-all. An item that becomes unread is stamped with the
generation of its audience at that moment (`unread_gen`, 0 before the first read-all); it reads
as unread only while its audience is still at that generation, so one write (the raise) marks
every unread item of the audience read, whatever their number. `read_at` is the time of the last
raise: a snooze that came due before it reads as read too (read-all saw it unread).

**Counters.** An audience's counter item (`COUNT#<audience>`) holds one number per cell
`<status key>|<severity>|<category>`: the items counted there. A status key is the stored status,
except that an unread item's names its generation (`unread.<gen>`); which cells read as unread is
decided when the counters are read, from the audience's generation, so a read-all moves no
counter. A counter item per audience and assignee (`COUNT#<audience>#<assignee>`) counts the
assigned items the same way, for the assignee filter. The audience's item also holds its mark
(`gen`, `read_at`) and `open_from`: the oldest generation whose unread items may still be stored
unread (read-all leaves them so; `InboxRepository.tidy` stores them read, a few per request).

**What an item counts as** is written on the item (`counted`: `<status key>#<assignee>`), in the
same transaction as the counters: a change moves the item from the cells its `counted` names to
its new ones, a removal takes it out of them. An item without `counted` was never counted (stored
before migration 0003_inbox_counters, which counts it) and moves nothing. A writer of the release
before this one (during a deploy) changes an item without touching `counted`: the counters stay
consistent with what the items say they count as, and the next write of the item, or the
migration's next pass, moves it to its cells.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gui_notifications.models import STATUSES

COUNTER_PREFIX = "COUNT#"
UNREAD = "unread"
COUNTED = "counted"  # on an item: what it counts as (see the module doc)
GEN = "gen"  # on an audience's counter item: its read generation
READ_AT = "read_at"  # on an audience's counter item: the time of its last read-all
OPEN_FROM = "open_from"  # on an audience's counter item: the oldest generation not tidied yet
UNREAD_GEN = "unread_gen"  # on an unread item: the generation it became unread in
STATUS_KEY = "tenant_audience_status"  # on an item: the partition of the `by_status` index
CELL_SEPARATOR = "|"
COUNTED_SEPARATOR = "#"  # no subject holds it (models.SUBJECT_PATTERN)


@dataclass(frozen=True)
class Mark:
    """An audience's read mark: its generation, the time of its last read-all, the oldest
    generation whose unread items are not tidied yet."""

    gen: int = 0
    read_at: str | None = None
    open_from: int = 0

    @classmethod
    def of(cls, counter: Mapping[str, Any] | None) -> Mark:
        if not counter:
            return cls()
        read_at = counter.get(READ_AT)
        return cls(
            gen=int(counter.get(GEN) or 0),
            read_at=str(read_at) if read_at else None,
            open_from=int(counter.get(OPEN_FROM) or 0),
        )

    @property
    def open_gens(self) -> range:
        """The generations before this one whose items may still be stored unread."""
        return range(min(self.open_from, self.gen), self.gen)


def status_key(status: str, gen: int | None = None) -> str:
    """The stored status as counters and the `by_status` index key it: `unread.<gen>` for unread."""
    return f"{UNREAD}.{gen or 0}" if status == UNREAD else status


def split_status_key(key: str) -> tuple[str, int | None]:
    status, _, gen = key.partition(".")
    return status, (int(gen) if status == UNREAD else None)


def item_status_key(item: Mapping[str, Any]) -> str:
    """The status key of an item as it is stored now."""
    return status_key(str(item.get("status") or UNREAD), int(item.get(UNREAD_GEN) or 0))


def counted_value(item: Mapping[str, Any]) -> str:
    """What an item counts as, once written: its status key and assignee."""
    return f"{item_status_key(item)}{COUNTED_SEPARATOR}{item.get('assignee') or ''}"


def parse_counted(value: str) -> tuple[str, str | None]:
    key, _, assignee = value.partition(COUNTED_SEPARATOR)
    return key, assignee or None


def counter_sk(audience: str, assignee: str | None = None) -> str:
    """The sort key of an audience's counter item, or of its counter item for one assignee."""
    return f"{COUNTER_PREFIX}{audience}" + (f"{COUNTED_SEPARATOR}{assignee}" if assignee else "")


def cell(key: str, severity: str, category: str) -> str:
    return CELL_SEPARATOR.join((key, severity, category))


def is_cell(name: str) -> bool:
    return name.count(CELL_SEPARATOR) == 2


def deltas(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """The changes to counter items (by sort key) that take an item from what `before` counts as to
    what `after` does. `before` None, or without `counted`: the item was not counted; `after` None:
    it leaves the counters (a removal). Severity, category and audience never change."""
    moves: dict[str, Counter[str]] = {}

    def add(item: Mapping[str, Any], counted: str, amount: int) -> None:
        key, assignee = parse_counted(counted)
        name = cell(key, str(item["severity"]), str(item["category"]))
        audience = str(item["audience"])
        for sk in (counter_sk(audience), counter_sk(audience, assignee) if assignee else None):
            if sk is not None:
                moves.setdefault(sk, Counter())[name] += amount

    if before is not None and before.get(COUNTED):
        add(before, str(before[COUNTED]), -1)
    if after is not None:
        add(after, str(after.get(COUNTED) or counted_value(after)), 1)
    return {sk: {n: v for n, v in cells.items() if v} for sk, cells in moves.items() if any(cells.values())}


def tally(
    counters: Iterable[tuple[Mapping[str, Any] | None, Mark]],
    *,
    severity: str | None = None,
    category: str | None = None,
) -> dict[str, int]:
    """Items per effective status in counter items, each read with its audience's mark; only the
    cells of `severity` and `category` when given."""
    counts = dict.fromkeys(STATUSES, 0)
    for counter, mark in counters:
        for name, value in (counter or {}).items():
            if not is_cell(name) or not value:
                continue
            key, cell_severity, cell_category = name.split(CELL_SEPARATOR)
            if (severity and cell_severity != severity) or (category and cell_category != category):
                continue
            status, gen = split_status_key(key)
            if status == UNREAD and gen != mark.gen:
                status = "read"  # a read-all raised the audience's generation since
            if status in counts:
                counts[status] += int(value)
    return counts


def unread_in(counter: Mapping[str, Any] | None, gen: int) -> int:
    """How many items a counter item counts as unread in generation `gen`."""
    prefix = f"{status_key(UNREAD, gen)}{CELL_SEPARATOR}"
    return sum(int(v) for n, v in (counter or {}).items() if n.startswith(prefix) and is_cell(n))


def tally_items(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The counter items that `items` make, by sort key: what the store must hold once every item
    is counted (tests and checks compare the two)."""
    total: dict[str, Counter[str]] = {}
    for item in items:
        for sk, cells in deltas(None, item).items():
            total.setdefault(sk, Counter()).update(cells)
    return {sk: {n: v for n, v in cells.items() if v} for sk, cells in total.items()}
