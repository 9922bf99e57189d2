from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Check, Condition, Delete, Put
from gui_core.migrations.model import ItemChange, Phase
from gui_migrate.migrations.m0004_inbox_assignee_copies import (
    ASSIGNED_KEY,
    AUDIENCE_KEY,
    COUNTED,
    STATUS_KEY,
    InboxAssigneeCopies,
    assigned_sk,
    copy_of,
)

NOTE_PREFIX = "NOTE#"  # gui_notifications.repository.PREFIX
COPY_PREFIX = "ASG#"  # gui_notifications.repository.ASSIGNED_PREFIX


def as_read(item: Mapping[str, Any], also: str = "") -> Condition:
    """The item is as read: its version and what it counts as (a wake or a read-all's tidy changes
    its status, not its version), as the writers' own condition; `also`, a clause more."""
    names = {"#version": "version", "#counted": COUNTED}
    values: dict[str, Any] = {":version": item["version"]}
    counted = "attribute_not_exists(#counted)"
    if COUNTED in item:
        counted, values[":counted"] = "#counted = :counted", item[COUNTED]
    if also:
        names["#assigned"] = ASSIGNED_KEY
    return Condition(" AND ".join(filter(None, ("#version = :version", counted, also))), names, values)


def recopied(item: Mapping[str, Any]) -> ItemChange | None:
    """A marked item's copy made equal to what the item says now, in one transaction with the item
    as read: put again (assigned) unless it already holds the item's version and keys, so a run
    after it writes nothing; deleted with the mark (unassigned)."""
    if ASSIGNED_KEY not in item:
        return None  # never copied (0004's upgrade copies an assigned one), or a writer removed both
    sk = assigned_sk(str(item["id"]))
    if not item.get("assignee"):
        return ItemChange(
            condition=as_read(item, "attribute_exists(#assigned)"),
            remove=(ASSIGNED_KEY,),
            also=(Delete({"pk": item["pk"], "sk": sk}),),
        )
    copy = copy_of(item)
    stale = Condition(
        "attribute_not_exists(#sk) OR #version <> :version OR #a <> :a OR #s <> :s",
        names={"#sk": "sk", "#version": "version", "#a": AUDIENCE_KEY, "#s": STATUS_KEY},
        values={":version": copy["version"], ":a": copy[AUDIENCE_KEY], ":s": copy[STATUS_KEY]},
    )
    return ItemChange(
        condition=as_read(item), values={ASSIGNED_KEY: copy[AUDIENCE_KEY]}, also=(Put(copy, stale),)
    )


def unlisted(copy: Mapping[str, Any], now: float) -> ItemChange | None:
    """A copy whose item TTL removed (expired, the item absent), which the release before's removal
    left: out of both indexes (its keys removed) while its item is absent; TTL deletes it."""
    if AUDIENCE_KEY not in copy or int(copy.get("expires_at") or now + 1) > now:
        return None
    item_sk = NOTE_PREFIX + str(copy["sk"]).removeprefix(COPY_PREFIX)
    return ItemChange(
        condition=Condition("#version = :version", {"#version": "version"}, {":version": copy["version"]}),
        remove=(AUDIENCE_KEY, STATUS_KEY),
        also=(
            Check({"pk": copy["pk"], "sk": item_sk}, Condition("attribute_not_exists(#sk)", {"#sk": "sk"})),
        ),
    )


class InboxAssigneeCopiesAgain(InboxAssigneeCopies):
    """The second pass of 0004_inbox_assignee_copies, which the assignee filter waits for: the
    release before kept writing while 0004's deploy ran, after the first pass had gone by, whole
    items that carry the copy's mark over and never touch the copy. An item it appended (or assigned
    before 0004 reached it) has no mark: 0004's own upgrade copies it. An item it changed after 0004
    copied it keeps the mark and a copy of its state before: `recopied` puts it again or deletes it.
    An item it let TTL remove left its copy: `unlisted` takes that out of the indexes. Each write
    holds only on the item as read, so a writer of this release (which writes the copy with the
    item) wins; run only once that release's writers are gone (engine). It reads the tenant's whole
    partition (items and copies)."""

    id = "0006_inbox_assignee_copies_again"
    description = (
        "Second pass of 0004: inbox notifications the release before changed during 0004's deploy "
        "get their copy put again, or deleted, as they now say, before the assignee filter reads them."
    )
    phase = Phase.MIGRATE
    requires = ("0004_inbox_assignee_copies",)
    repeats = "0004_inbox_assignee_copies"
    sort_prefix = ""  # none: the items and their copies (`ASG#`) too

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        sk = str(item["sk"])
        if sk.startswith(COPY_PREFIX):
            return unlisted(item, time.time())
        if not sk.startswith(NOTE_PREFIX):
            return None
        return super().upgrade(item) or recopied(item)
