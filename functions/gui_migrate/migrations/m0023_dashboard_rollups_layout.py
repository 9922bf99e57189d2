"""The dashboard's rollup items in their fixed layout (issue 14): counters by their short stored names,
every one of the vocabularies present (`gui_dashboard.rollups`, "Stored")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.dynamo import Condition
from gui_core.migrations.model import ItemChange, ItemMigration, Phase
from gui_dashboard.rollups import LAYOUT, ROLLUP_PREFIX, WRITES, stored_name

# Spelled counters moved by one rewrite of an item: its expressions stay within DynamoDB's 4 KB.
MOVED_AT_MOST = 60


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class DashboardRollupsLayout(ItemMigration):
    """Expand step: a bucket (or totals) item written before the layout has its counters by their
    spelled names (`j|<verb>|<status>`) and only those it met. Its rewrite sets each one's stored
    name to the value found there plus the spelled one's, removes the spelled one, and sets the rest
    of the layout to zero, while the item is as read: no writer of this release came between (its
    `WRITES` unchanged) and none of the last release (each spelled value unchanged). An item with
    more spelled counters than `MOVED_AT_MOST` is rewritten in parts, its next pass finding the rest;
    readers take both names meanwhile. Counters outside the vocabularies keep their names."""

    id = "0023_dashboard_rollups_layout"
    description = "The dashboard's rollup items hold their counters by short names, the whole layout in each."
    phase = Phase.EXPAND
    store = "metrics"
    sort_prefix = ROLLUP_PREFIX  # buckets and totals, not the records' contributions (ROLLREC#)

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        spelled = {
            name: value
            for name, value in item.items()
            if "|" in name and _number(value) and stored_name(name) != name
        }
        moved = dict(sorted(spelled.items())[:MOVED_AT_MOST])
        values: dict[str, Any] = {short: 0 for short in LAYOUT.values() if short not in item}
        for name, value in moved.items():
            short = stored_name(name)
            found = item.get(short) if _number(item.get(short)) else 0
            values[short] = round(values.get(short, found) + value, 6)  # counters keep at most 6 decimals
        if not values and not moved:
            return None
        names = {"#w": WRITES, **{f"#o{i}": name for i, name in enumerate(moved)}}
        same = ["attribute_not_exists(#w)" if WRITES not in item else "#w = :w"]
        same += [f"#o{i} = :o{i}" for i in range(len(moved))]
        condition = Condition(
            " AND ".join(same),
            names=names,
            values={
                **({":w": item[WRITES]} if WRITES in item else {}),
                **{f":o{i}": value for i, value in enumerate(moved.values())},
            },
        )
        return ItemChange(condition=condition, values=values, remove=tuple(moved))
