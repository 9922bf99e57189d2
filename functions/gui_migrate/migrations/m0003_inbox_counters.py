from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition, Put, Update
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

# The formats of gui_notifications.counting and .repository when this migration was written (a unit
# test keeps them equal while they should be).
COUNTED = "counted"
STATUS_KEY = "tenant_audience_status"
UNREAD_GEN = "unread_gen"
TENANT_WIDE = "*"
# Always true: the counter items may not exist yet.
ANYWAY = Condition("attribute_not_exists(#pk) OR attribute_exists(#pk)", names={"#pk": "pk"})


def status_key(item: Mapping[str, Any]) -> str:
    status = str(item.get("status") or "unread")
    return f"unread.{int(item.get(UNREAD_GEN) or 0)}" if status == "unread" else status


def counter_sk(audience: str, assignee: str | None = None) -> str:
    return f"COUNT#{audience}" + (f"#{assignee}" if assignee else "")


def cell(item: Mapping[str, Any], key: str | None = None) -> str:
    """The item's cell for `key` (a status key; its own by default)."""
    return f"{key or status_key(item)}|{item['severity']}|{item['category']}"


def counted_value(item: Mapping[str, Any]) -> str:
    """What the item counts as: its status key and assignee."""
    return f"{status_key(item)}#{item.get('assignee') or ''}"


def status_partition(item: Mapping[str, Any]) -> str:
    """The item's partition of the `by_status` index."""
    return f"{item['pk']}#{item.get('audience') or TENANT_WIDE}#{status_key(item)}"


def due_entry(item: Mapping[str, Any]) -> Put | None:
    """The due entry of a snoozed item (None for any other)."""
    until = item.get("snoozed_until")
    if item.get("status") != "snoozed" or not until:
        return None
    audience = str(item.get("audience") or TENANT_WIDE)
    return Put(
        {
            "pk": item["pk"],
            "sk": due_sk(audience, str(until), str(item["id"])),
            "id": item["id"],
            "audience": audience,
            "until": until,
        }
    )


def due_sk(audience: str, until: str, notification_id: str) -> str:
    return f"DUE#{audience}#{until}#{notification_id}"


class InboxCounters(ItemMigration):
    """Expand step of the inbox's counters (issue 14): every notification stored before them is
    counted once, in the same transaction that marks it counted (`counted`: what it counts as), keyed
    in the `by_status` index and, when snoozed, given its due entry.

    Exactly once while writers run: an item is counted only while it has no `counted`, and every
    writer of this release counts the item it writes (setting `counted`) in the same transaction as
    its counters, so of the migration and a writer one counts it, never both. A writer of the release
    before (during the deploy) changes an item without moving its counters: the counters stay
    consistent with what the item says it counts as, and the item's next write moves it (the next
    release's second pass of this migration finds the ones left)."""

    id = "0003_inbox_counters"
    description = (
        "Inbox notifications are counted in their audience's counters (and their assignee's), marked "
        "counted, keyed in the by_status index and, when snoozed, given their due entry."
    )
    phase = Phase.EXPAND
    store = "inbox"
    sort_prefix = "NOTE#"  # gui_notifications.repository.PREFIX

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if COUNTED in item:
            return None
        tenant = str(item["pk"])
        audience = str(item.get("audience") or TENANT_WIDE)
        assignee = item.get("assignee") or None
        counters = [counter_sk(audience)] + ([counter_sk(audience, str(assignee))] if assignee else [])
        also: list[Put | Update] = [
            Update({"pk": tenant, "sk": sk}, add={cell(item): 1}, condition=ANYWAY) for sk in counters
        ]
        due = due_entry(item)
        if due is not None:
            also.append(due)
        return ItemChange(
            values={COUNTED: counted_value(item), STATUS_KEY: status_partition(item)},
            # Counted once: not if a writer of this release counted it first.
            condition=Condition("attribute_not_exists(#counted)", names={"#counted": COUNTED}),
            also=tuple(also),
        )
