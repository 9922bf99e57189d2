from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition, Update
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

# The layout of the edges' counts as gui_artifacts.repository writes them when this migration was
# written (a unit test keeps them equal while they should be).
COUNTED = "counted"
OUT_ATTRIBUTE = "out"
# Always true: the count item may not exist yet.
ANYWAY = Condition("attribute_not_exists(#pk) OR attribute_exists(#pk)", names={"#pk": "pk"})


def deg_sk(artifact_id: str) -> str:
    return f"DEG#{artifact_id}"


class ArtifactEdgeCounts(ItemMigration):
    """Expand step of the exact lineage degrees (issue 14): every edge stored before the counts is
    counted once in its upstream artifact's DEG#<id> (`out`), in the same transaction that marks it
    `counted`.

    Exactly once while writers run: an edge is counted only while it is not `counted`; the writers of
    this release write each new edge counted with its count, and delete an edge with the count it
    holds (-1 when `counted`, on that condition, nothing when not, on that one), so a deletion that
    raced this migration is decided again."""

    id = "0031_artifact_edge_counts"
    description = (
        "Lineage edges are counted in their upstream artifact's DEG#<id> and marked counted, so "
        "out_degree and lineage cuts are exact at any size."
    )
    phase = Phase.EXPAND
    store = "artifacts"
    sort_prefix = "OUT#"  # gui_artifacts.repository.out_sk

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if item.get(COUNTED):
            return None
        tenant = str(item["pk"])
        return ItemChange(
            values={COUNTED: 1},
            condition=Condition("attribute_not_exists(#c)", names={"#c": COUNTED}),
            also=(
                Update(
                    {"pk": tenant, "sk": deg_sk(str(item["from"]))}, add={OUT_ATTRIBUTE: 1}, condition=ANYWAY
                ),
            ),
        )
