from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gui_core.dynamo import Condition, Delete, Put
from gui_core.migrations.model import ItemChange, ItemMigration, Phase

# The layout of the saved views' list keys as gui_preferences.repository writes it (a unit test keeps
# them equal).
KEYED = "keyed_as"


def _part(value: str) -> str:
    return quote(value, safe="")


def key_items(tenant: str, view: Mapping[str, Any], keyed: str) -> list[dict[str, Any]]:
    """The view's key items for `keyed` (`<visibility>#<module>`), as
    `gui_preferences.repository.view_keys` writes them."""
    visibility, _, module = keyed.partition("#")
    owner = _part(str(view["owner"]))
    prefixes = [f"VK#o#{owner}#", f"VK#om#{owner}#{_part(module)}#"]
    if visibility == "tenant":
        prefixes += ["VK#t#", f"VK#tm#{_part(module)}#"]
    return [
        {"pk": tenant, "sk": prefix + _part(str(view["id"])), "kind": "view_key", "view_id": view["id"]}
        for prefix in prefixes
    ]


class ViewListKeys(ItemMigration):
    """Expand step of the saved views' lists (issue 14): every view gets its key items (the owner's
    range and, shared, the tenant's; each also by module) and `keyed_as`, the visibility and module
    they were written for. The writers of this release write them with each view; this writes them
    for the views stored before, each view with its key items in one transaction, only while the view
    still has the version and the key items it was read with. A view whose visibility or module moved
    since its key items were written (by a release that did not know them) has those moved. Run
    again, it is the second pass: it finds only views a release before this one wrote meanwhile."""

    id = "0011_view_list_keys"
    description = (
        "Saved views get their list keys (VK#<list>#<values>#<view id>: shared, owner, each by module) "
        "and keyed_as, so GET /preferences/views serves its lists from keys."
    )
    phase = Phase.EXPAND
    store = "preferences"
    sort_prefix = "VIEW#"  # gui_preferences.repository.VIEW_PREFIX

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        wanted = f"{item['visibility']}#{item['module']}"
        keyed = item.get(KEYED)
        if keyed == wanted:
            return None
        tenant = str(item["pk"])
        names = {"#v": "version", "#k": KEYED}
        new = {k["sk"]: k for k in key_items(tenant, item, wanted)}
        if keyed is None:
            old: set[str] = set()
            condition = Condition(
                "#v = :v AND attribute_not_exists(#k)", names=names, values={":v": item["version"]}
            )
        else:
            old = {k["sk"] for k in key_items(tenant, item, str(keyed))}
            condition = Condition(
                "#v = :v AND #k = :k", names=names, values={":v": item["version"], ":k": str(keyed)}
            )
        writes: tuple[Put | Delete, ...] = (
            *(Delete({"pk": tenant, "sk": sk}) for sk in sorted(old - new.keys())),
            *(Put(new[sk]) for sk in sorted(new.keys() - old)),
        )
        return ItemChange(values={KEYED: wanted}, condition=condition, also=writes)
