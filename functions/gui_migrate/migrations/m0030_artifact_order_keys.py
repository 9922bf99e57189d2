from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition, Put, Update
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

# The layout of the artifacts' order items and count as gui_artifacts.repository writes them when
# this migration was written (a unit test keeps them equal while they should be).
SORTS = ("updated", "created", "title")
ORDER_SEPARATOR = "\x01"
ORDER_TITLE_CHARS = 200
ORDER_FIELDS = ("id", "kind", "owner", "license_tag", "governance_status", "tags", "created_at", "updated_at")
STAT_SK = "STAT#artifacts"
LISTED = "listed"
CREATED_ABSENT = Condition("attribute_not_exists(#sk)", names={"#sk": "sk"})
CREATED_PRESENT = Condition("attribute_exists(#sk)", names={"#sk": "sk"})
# Always true: the count item may not exist yet.
ANYWAY = Condition("attribute_not_exists(#pk) OR attribute_exists(#pk)", names={"#pk": "pk"})


def order_value(record: Mapping[str, Any], sort: str) -> str:
    if sort == "title":
        return str(record.get("title") or "").casefold()[:ORDER_TITLE_CHARS]
    return str(record.get("created_at" if sort == "created" else "updated_at") or "")


def order_items(tenant: str, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    fields = {k: record.get(k) for k in ORDER_FIELDS}
    return [
        {
            "pk": tenant,
            "sk": f"ORD#{sort}#{record['id']}",
            "kind_of_item": "order",
            "order_pk": f"{tenant}#{sort}",
            "order_sk": f"{order_value(record, sort)}{ORDER_SEPARATOR}{record['id']}",
            **fields,
        }
        for sort in SORTS
    ]


class ArtifactOrderKeys(ItemMigration):
    """Expand step of the artifact search's orders (issue 14): every artifact stored before them gets
    its three order items (its place in the `updated`, `created` and `title` orders of the `by_order`
    index, with the attributes the filters read) and is counted once in the tenant's STAT#artifacts,
    in the same transaction that marks it `listed`.

    Exactly once while writers run: an artifact is listed only while it is not `listed`, still has
    the revision read and has no `created` order item; every writer of this release lists the record
    it writes first (the same three items and count, on the same conditions), so of the migration
    and a writer one lists it, never both, and the order items are made from the record's current
    values. A record a release before rewrote after it was counted (no `listed`, its `created`
    order item there) is relisted without a count, as a writer of this release relists it: so a
    second pass (0032) finds exactly what the release before wrote during this one's deploy."""

    id = "0030_artifact_order_keys"
    description = (
        "Artifacts get their order items (ORD#<sort>#<id>, the by_order index) and are counted in "
        "STAT#artifacts, so GET /artifacts/search reads a page, not the registry."
    )
    phase = Phase.EXPAND
    store = "artifacts"
    sort_prefix = "ART#"  # gui_artifacts.repository.ART_PREFIX

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if item.get(LISTED) or "version" not in item:
            return None
        tenant = str(item["pk"])
        unlisted = Condition(
            "attribute_not_exists(#l) AND #r = :r",
            names={"#l": LISTED, "#r": "revision"},
            values={":r": int(item.get("revision") or 0)},
        )
        orders = order_items(tenant, item)
        return ItemChange(
            values={LISTED: 1},
            condition=unlisted,
            also=(
                # The `created` order item is the mark of a count: a record a release before rewrote
                # (dropping `listed`) after it was counted is not counted here again.
                *(
                    Put(order, CREATED_ABSENT if order["sk"].startswith("ORD#created#") else None)
                    for order in orders
                ),
                Update({"pk": tenant, "sk": STAT_SK}, add={"count": 1}, condition=ANYWAY),
            ),
            # Such a record is relisted instead: its order items made again from its values (the
            # rewrite left them stale), only while its `created` one exists, so it is counted once.
            otherwise=ItemChange(
                values={LISTED: 1},
                condition=unlisted,
                also=tuple(
                    Put(order, CREATED_PRESENT if order["sk"].startswith("ORD#created#") else None)
                    for order in orders
                ),
            ),
        )
