"""DynamoDB layout of the preferences store, behind the methods the routes need.

One table, partition = tenant; sort keys by kind of item:
  USER#<subject>                      a user's overrides (version, updated_at, updated_by)
  HIST#<subject>#<time>#<version>     a change of a user's overrides, expires by TTL (archived)
  TENANT#POLICY                       tenant defaults and locked keys (version)
  VIEW#<view id>                      a saved view
  VIEWNAME#<owner>#<module>#<name>    guard making a view name unique per owner and module
  VK#<list>#<values>#<view id>        a key item of one list of views (below), naming the view
Key components taken from callers are percent-encoded so `#` in a subject cannot forge a key.

The lists of saved views are served from key items, written in the same transaction as the view:
  VK#t#<view id>                      a view shared with the tenant (visibility `tenant`)
  VK#tm#<module>#<view id>            the same, by module
  VK#o#<owner>#<view id>              a view of its owner (any visibility)
  VK#om#<owner>#<module>#<view id>    the same, by module
so a caller's list is the shared range merged with its own (`gui_core.key_pages`), in view id order,
and a page reads its page of key items and the views they name, whatever the tenant holds. The owner
and the id never change; a change of visibility or module moves the key items that hold them. The
view records what its key items were written for (`keyed_as`: `<visibility>#<module>`; absent: no
key items yet), so a writer removes exactly the ones that exist, even after a release that did not
know them rewrote the view (it carries the attribute over). Migration 0011_view_list_keys wrote them
for the views stored before.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gui_core.date_times import iso
from gui_core.dynamo import (
    Check,
    Condition,
    ConditionFailed,
    Delete,
    Page,
    Put,
    Table,
    TransactionCancelled,
    item_absent,
    version_is,
)
from gui_core.errors import Conflict, PreconditionFailed

POLICY_SK = "TENANT#POLICY"
VIEW_PREFIX = "VIEW#"
VIEW_KEY_PREFIX = "VK#"
KEYED = "keyed_as"  # `<visibility>#<module>`: what the view's key items were written for
# A write that lost a race with the migration writing the view's key items is written again (the
# view itself did not change); this many times at most.
KEY_RACES = 3
# The migration that wrote the key items of the views stored before them, and the release before wrote
# during its deploy: the list is served from the keys once its second pass is done for the tenant
# (gui_core.migrations.gate).
VIEW_KEYS_MIGRATION = "0013_view_list_keys_again"


class ViewNameTaken(Conflict):
    code, title = "view_name_taken", "A view with this name exists"


def _part(value: str) -> str:
    return quote(value, safe="")


def user_sk(subject: str) -> str:
    return f"USER#{_part(subject)}"


def history_sk(subject: str, at: str, version: int) -> str:
    # The time keeps keys unique after an admin reset, when versions start again from 1.
    return f"HIST#{_part(subject)}#{at}#{version:010d}"


def view_sk(view_id: str) -> str:
    return f"{VIEW_PREFIX}{_part(view_id)}"


def shared_prefix(module: str | None = None) -> str:
    """The key range of the views shared with the tenant (of one module)."""
    return f"{VIEW_KEY_PREFIX}t#" if module is None else f"{VIEW_KEY_PREFIX}tm#{_part(module)}#"


def owned_prefix(owner: str, module: str | None = None) -> str:
    """The key range of one owner's views (of one module)."""
    if module is None:
        return f"{VIEW_KEY_PREFIX}o#{_part(owner)}#"
    return f"{VIEW_KEY_PREFIX}om#{_part(owner)}#{_part(module)}#"


def keyed_as(view: Mapping[str, Any]) -> str:
    """What a view's key items hold besides its owner and id."""
    return f"{view['visibility']}#{view['module']}"


def view_keys(tenant: str, view: Mapping[str, Any], keyed: str | None = None) -> list[dict[str, Any]]:
    """The view's key items; with `keyed`, those written for that visibility and module."""
    visibility, _, module = (keyed or keyed_as(view)).partition("#")
    prefixes = [owned_prefix(str(view["owner"])), owned_prefix(str(view["owner"]), module)]
    if visibility == "tenant":
        prefixes += [shared_prefix(), shared_prefix(module)]
    return [
        {"pk": tenant, "sk": prefix + _part(str(view["id"])), "kind": "view_key", "view_id": view["id"]}
        for prefix in prefixes
    ]


def key_changes(tenant: str, keyed: str | None, view: Mapping[str, Any]) -> list[Put | Delete]:
    """The writes that make the view's key items those of its visibility and module, from the ones
    that exist (`keyed`, the stored view's `keyed_as`: None for none)."""
    new = {item["sk"]: item for item in view_keys(tenant, view)}
    old = {item["sk"] for item in view_keys(tenant, view, keyed)} if keyed is not None else set()
    return [
        *(Delete({"pk": tenant, "sk": sk}) for sk in sorted(old - new.keys())),
        *(Put(new[sk]) for sk in sorted(new.keys() - old)),
    ]


def _version_and_keys(version: int, keyed: str | None) -> Condition:
    """The stored view is the one read: its version and the key items it had then."""
    names = {"#v": "version", "#k": KEYED}
    if keyed is None:
        return Condition("#v = :v AND attribute_not_exists(#k)", names=names, values={":v": version})
    return Condition("#v = :v AND #k = :k", names=names, values={":v": version, ":k": keyed})


def view_name_sk(owner: str, module: str, name: str) -> str:
    return f"VIEWNAME#{_part(owner)}#{_part(module)}#{_part(name.casefold())}"


def now_iso() -> str:
    return iso(datetime.now(UTC))


class PreferencesRepository:
    def __init__(self, table: Table, *, history_days: int) -> None:
        self._table = table
        self._history_s = history_days * 86400

    # -- user preferences ---------------------------------------------------------------------

    def user_preferences(self, tenant: str, subject: str) -> dict[str, Any] | None:
        return self._table.get({"pk": tenant, "sk": user_sk(subject)})

    def tenant_policy(self, tenant: str) -> dict[str, Any] | None:
        return self._table.get({"pk": tenant, "sk": POLICY_SK})

    def save_user_preferences(
        self,
        tenant: str,
        subject: str,
        overrides: dict[str, Any],
        *,
        expected_version: int,
        tenant_version: int,
        actor: str,
        reason: str,
    ) -> dict[str, Any]:
        """Write the user's overrides if neither they nor the tenant policy moved since they were read,
        with a history record of the change, in one transaction."""
        version = expected_version + 1
        at = now_iso()
        item = {
            "pk": tenant,
            "sk": user_sk(subject),
            "subject": subject,
            "overrides": overrides,
            "version": version,
            "updated_at": at,
            "updated_by": actor,
        }
        try:
            self._table.transact(
                [
                    Put(item, version_is(expected_version)),
                    Check({"pk": tenant, "sk": POLICY_SK}, version_is(tenant_version)),
                    Put(
                        self._history(tenant, subject, overrides, version, at, actor, reason),
                        item_absent("sk"),
                    ),
                ]
            )
        except TransactionCancelled as exc:
            raise PreconditionFailed(
                "The preferences changed since they were read; read them again."
            ) from exc
        return item

    def reset_user_preferences(self, tenant: str, subject: str, *, actor: str) -> bool:
        """Remove a user's overrides (admin reset); False when the user had none."""
        current = self.user_preferences(tenant, subject)
        if current is None:
            return False
        version = int(current["version"]) + 1
        at = now_iso()
        try:
            self._table.transact(
                [
                    Delete({"pk": tenant, "sk": user_sk(subject)}, version_is(int(current["version"]))),
                    Put(
                        self._history(tenant, subject, {}, version, at, actor, "admin_reset"),
                        item_absent("sk"),
                    ),
                ]
            )
        except TransactionCancelled as exc:
            raise Conflict("The preferences changed during the reset; try again.") from exc
        return True

    def _history(
        self,
        tenant: str,
        subject: str,
        overrides: dict[str, Any],
        version: int,
        at: str,
        actor: str,
        reason: str,
    ) -> dict[str, Any]:
        return {
            "pk": tenant,
            "sk": history_sk(subject, at, version),
            "kind": "preference_history",
            "subject": subject,
            "overrides": overrides,
            "version": version,
            "changed_at": at,
            "changed_by": actor,
            "reason": reason,
            "expires_at": int(time.time()) + self._history_s,
        }

    def save_tenant_policy(
        self,
        tenant: str,
        defaults: dict[str, Any],
        locked_keys: list[str],
        *,
        expected_version: int | None,
        actor: str,
    ) -> dict[str, Any]:
        """`expected_version` None: write whatever is stored (If-Match: *)."""
        current = self.tenant_policy(tenant)
        stored_version = int(current["version"]) if current else 0
        base = stored_version if expected_version is None else expected_version
        item = {
            "pk": tenant,
            "sk": POLICY_SK,
            "defaults": defaults,
            "locked_keys": locked_keys,
            "version": base + 1,
            "updated_at": now_iso(),
            "updated_by": actor,
        }
        try:
            self._table.put(item, condition=version_is(base))
        except ConditionFailed as exc:
            raise PreconditionFailed("The tenant policy changed since it was read; read it again.") from exc
        return item

    # -- saved views --------------------------------------------------------------------------

    def view(self, tenant: str, view_id: str) -> dict[str, Any] | None:
        return self._table.get({"pk": tenant, "sk": view_sk(view_id)})

    def create_view(self, tenant: str, view: dict[str, Any]) -> None:
        guard = self._guard(tenant, view)
        try:
            self._table.transact(
                [
                    Put(guard, item_absent("sk")),
                    Put(self._view_item(tenant, view), item_absent("sk")),
                    *key_changes(tenant, None, view),
                ]
            )
        except TransactionCancelled as exc:
            raise self._name_taken(view) from exc

    def replace_view(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Write `new` with its name guard and key items if the stored view is still `old`."""
        old_guard, new_guard = self._guard(tenant, old), self._guard(tenant, new)
        guards: list[Put | Delete] = []
        if old_guard["sk"] != new_guard["sk"]:
            guards = [Delete({"pk": tenant, "sk": old_guard["sk"]}), Put(new_guard, item_absent("sk"))]

        def operations(keyed: str | None) -> list[Put | Delete]:
            condition = _version_and_keys(int(old["version"]), keyed)
            return [Put(self._view_item(tenant, new), condition), *key_changes(tenant, keyed, new), *guards]

        try:
            self._write(tenant, old, operations)
        except TransactionCancelled as exc:
            raise self._name_taken(new) from exc

    def delete_view(self, tenant: str, view: dict[str, Any]) -> None:
        """Remove the view, its name guard and its key items if the stored view is still `view`."""

        def operations(keyed: str | None) -> list[Put | Delete]:
            existing = view_keys(tenant, view, keyed) if keyed is not None else []
            return [
                Delete(
                    {"pk": tenant, "sk": view_sk(view["id"])}, _version_and_keys(int(view["version"]), keyed)
                ),
                Delete({"pk": tenant, "sk": self._guard(tenant, view)["sk"]}),
                *(Delete({"pk": tenant, "sk": item["sk"]}) for item in existing),
            ]

        self._write(tenant, view, operations)

    def _write(self, tenant: str, old: dict[str, Any], operations: Any) -> None:
        """One transaction whose first write is the view's, conditional on `old` (its version and
        key items). When the migration wrote the view's key items since `old` was read (the version
        is the same, `keyed_as` moved), it is made again from them; any other change of the view is
        PreconditionFailed. A failure of another write is the caller's (TransactionCancelled)."""
        keyed = old.get(KEYED)
        for _ in range(KEY_RACES):
            try:
                self._table.transact(operations(keyed))
            except TransactionCancelled as exc:
                if 0 not in exc.failed:
                    raise
                stored = self.view(tenant, str(old["id"]))
                if (
                    stored is None
                    or int(stored["version"]) != int(old["version"])
                    or stored.get(KEYED) == keyed
                ):
                    raise PreconditionFailed("The view changed since it was read; read it again.") from exc
                keyed = stored.get(KEYED)
            else:
                return
        raise PreconditionFailed("The view's list keys kept changing; read it again.")

    def views_page(
        self, tenant: str, *, start_key: Mapping[str, Any] | None, limit: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Every view of the tenant in id order (the path before the key items)."""
        page = self._table.query(
            ("pk", tenant), sort_prefix=("sk", VIEW_PREFIX), limit=limit, start_key=start_key
        )
        return page.items, page.last_key

    def view_keys_page(
        self, tenant: str, prefix: str, *, after: str | None, start_key: Mapping[str, Any] | None, limit: int
    ) -> Page:
        """Key items of one range in view id order, after the view `after`."""
        first = {"pk": tenant, "sk": prefix + _part(after)} if after is not None else None
        return self._table.query(
            ("pk", tenant), sort_prefix=("sk", prefix), limit=limit, start_key=start_key or first
        )

    def views(self, tenant: str, view_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored views among `view_ids`, by id (one BatchGetItem per 100)."""
        found = self._table.batch_get([{"pk": tenant, "sk": view_sk(i)} for i in view_ids])
        return {str(view["id"]): view for view in found}

    @staticmethod
    def _view_item(tenant: str, view: dict[str, Any]) -> dict[str, Any]:
        return {"pk": tenant, "sk": view_sk(view["id"]), "kind": "view", **view, KEYED: keyed_as(view)}

    @staticmethod
    def _guard(tenant: str, view: dict[str, Any]) -> dict[str, Any]:
        return {
            "pk": tenant,
            "sk": view_name_sk(view["owner"], view["module"], view["name"]),
            "kind": "view_name",
            "view_id": view["id"],
        }

    @staticmethod
    def _name_taken(view: dict[str, Any]) -> ViewNameTaken:
        return ViewNameTaken(
            f"You already have a {view['module']} view named {view['name']!r}.",
            field="name",
        )
