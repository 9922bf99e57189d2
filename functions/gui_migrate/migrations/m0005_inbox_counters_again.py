from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition, Put, Update
from gui_core.migrations.model import ItemChange, Phase
from gui_migrate.migrations.m0003_inbox_counters import (
    ANYWAY,
    COUNTED,
    STATUS_KEY,
    TENANT_WIDE,
    InboxCounters,
    cell,
    counted_value,
    counter_sk,
    due_entry,
    status_partition,
)


def recount(item: Mapping[str, Any]) -> ItemChange | None:
    """The move of a counted item whose state changed without its counters (its `counted` is not
    what its state counts as, as a writer of the release before leaves it): out of the cells its
    `counted` names, into its own, keyed in `by_status` by its status and given its due entry when
    snoozed, in one transaction, only while it is as read (its `counted` and version), so a writer
    of this release that moved it first wins. None when its `counted` is its state's."""
    was, now = str(item[COUNTED]), counted_value(item)
    if was == now:
        return None
    tenant, audience = str(item["pk"]), str(item.get("audience") or TENANT_WIDE)
    moves: dict[str, Counter[str]] = {}
    for counted, amount in ((was, -1), (now, 1)):
        key, _, assignee = counted.partition("#")
        for sk in (counter_sk(audience), *((counter_sk(audience, assignee),) if assignee else ())):
            moves.setdefault(sk, Counter())[cell(item, key)] += amount
    also: list[Put | Update] = [
        Update({"pk": tenant, "sk": sk}, add=dict(cells), condition=ANYWAY)
        for sk, cells in sorted(moves.items())
    ]
    due = due_entry(item)
    if due is not None:
        also.append(due)
    condition = Condition("#counted = :counted", names={"#counted": COUNTED}, values={":counted": was})
    if "version" in item:
        condition = Condition(
            "#counted = :counted AND #version = :version",
            names={"#counted": COUNTED, "#version": "version"},
            values={":counted": was, ":version": item["version"]},
        )
    return ItemChange(
        values={COUNTED: now, STATUS_KEY: status_partition(item)}, condition=condition, also=tuple(also)
    )


class InboxCountersAgain(InboxCounters):
    """The second pass of 0003_inbox_counters, which the inbox's counts and status filter wait for:
    the release before kept writing while 0003's deploy ran, after the first pass had gone by. An
    item it appended has no `counted`: 0003's own upgrade counts it, once (only while it has none).
    An item it changed kept the `counted` (and `by_status` key) it had, so its counters still count
    its state before: `recount` moves it. Run only once that release's writers are gone (engine),
    so no writer that ignores `counted` races the move; an item whose `counted` is its state's costs
    a read."""

    id = "0005_inbox_counters_again"
    description = (
        "Second pass of 0003: inbox notifications the release before wrote during 0003's deploy are "
        "counted (or moved to the cells of their state), before the counts and status filter rely on "
        "the counters."
    )
    phase = Phase.MIGRATE
    requires = ("0003_inbox_counters",)
    repeats = "0003_inbox_counters"

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        return super().upgrade(item) or recount(item)
