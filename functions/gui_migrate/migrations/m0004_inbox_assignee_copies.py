from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition, Put
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

# The formats of gui_notifications.repository and .counting when this migration was written (a unit
# test keeps them equal while they should be).
AUDIENCE_KEY = "tenant_audience"
STATUS_KEY = "tenant_audience_status"
ASSIGNED_KEY = "tenant_audience_assignee"
COUNTED = "counted"
UNREAD_GEN = "unread_gen"
TENANT_WIDE = "*"


def status_key(item: Mapping[str, Any]) -> str:
    status = str(item.get("status") or "unread")
    return f"unread.{int(item.get(UNREAD_GEN) or 0)}" if status == "unread" else status


def assigned_sk(notification_id: str) -> str:
    return f"ASG#{notification_id}"


def copy_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """An assigned item's copy: its attributes under `ASG#<id>`, keyed by audience and assignee."""
    partition = f"{item['pk']}#{item.get('audience') or TENANT_WIDE}#{item['assignee']}"
    return {
        **{k: v for k, v in item.items() if k not in (COUNTED, ASSIGNED_KEY) and v is not None},
        "sk": assigned_sk(str(item["id"])),
        AUDIENCE_KEY: partition,
        STATUS_KEY: f"{partition}#{status_key(item)}",
    }


class InboxAssigneeCopies(ItemMigration):
    """Expand step of the assignee filter's keys (issue 14): every notification assigned before the
    copies gets its copy (`ASG#<id>`, in its assignee's partitions of `by_audience` and `by_status`),
    in the same transaction that marks it copied (`tenant_audience_assignee`).

    Exactly once while writers run: the item is marked and copied only at the version read and while
    unmarked, and every writer of this release writes (or deletes) the copy and the mark with the
    item in one transaction, so a change between the read and the write leaves the migration's
    write undone (skipped), and the item's copy is the writer's."""

    id = "0004_inbox_assignee_copies"
    description = (
        "Inbox notifications assigned to someone get their copy keyed by audience, assignee and "
        "status, and are marked copied."
    )
    phase = Phase.EXPAND
    store = "inbox"
    sort_prefix = "NOTE#"  # gui_notifications.repository.PREFIX

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if not item.get("assignee") or ASSIGNED_KEY in item:
            return None
        copy = copy_of(item)
        return ItemChange(
            values={ASSIGNED_KEY: copy[AUDIENCE_KEY]},
            condition=Condition(
                "attribute_not_exists(#assigned) AND #version = :version",
                names={"#assigned": ASSIGNED_KEY, "#version": "version"},
                values={":version": item["version"]},
            ),
            also=(Put(copy),),
        )
