"""DynamoDB layout of the preferences store, behind the methods the routes need.

One table, partition = tenant; sort keys by kind of item:
  USER#<subject>                      a user's overrides (version, updated_at, updated_by)
  HIST#<subject>#<time>#<version>     a change of a user's overrides, expires by TTL (archived)
  TENANT#POLICY                       tenant defaults and locked keys (version)
  VIEW#<view id>                      a saved view
  VIEWNAME#<owner>#<module>#<name>    guard making a view name unique per owner and module
Key components taken from callers are percent-encoded so `#` in a subject cannot forge a key.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gui_core.dynamo import (
    Check,
    ConditionFailed,
    Delete,
    Put,
    Table,
    TransactionCancelled,
    item_absent,
    version_is,
)
from gui_core.errors import Conflict, PreconditionFailed

POLICY_SK = "TENANT#POLICY"


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
    return f"VIEW#{_part(view_id)}"


def view_name_sk(owner: str, module: str, name: str) -> str:
    return f"VIEWNAME#{_part(owner)}#{_part(module)}#{_part(name.casefold())}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
                [Put(guard, item_absent("sk")), Put(self._view_item(tenant, view), item_absent("sk"))]
            )
        except TransactionCancelled as exc:
            raise self._name_taken(view) from exc

    def replace_view(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        operations: list[Put | Delete | Check] = [
            Put(self._view_item(tenant, new), version_is(int(old["version"])))
        ]
        old_guard, new_guard = self._guard(tenant, old), self._guard(tenant, new)
        if old_guard["sk"] != new_guard["sk"]:
            operations += [Delete({"pk": tenant, "sk": old_guard["sk"]}), Put(new_guard, item_absent("sk"))]
        try:
            self._table.transact(operations)
        except TransactionCancelled as exc:
            if 0 in exc.failed:
                raise PreconditionFailed("The view changed since it was read; read it again.") from exc
            raise self._name_taken(new) from exc

    def delete_view(self, tenant: str, view: dict[str, Any]) -> None:
        try:
            self._table.transact(
                [
                    Delete({"pk": tenant, "sk": view_sk(view["id"])}, version_is(int(view["version"]))),
                    Delete({"pk": tenant, "sk": self._guard(tenant, view)["sk"]}),
                ]
            )
        except TransactionCancelled as exc:
            raise PreconditionFailed("The view changed since it was read; read it again.") from exc

    def views_page(
        self, tenant: str, *, start_key: dict[str, Any] | None, limit: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        page = self._table.query(
            ("pk", tenant), sort_prefix=("sk", "VIEW#"), limit=limit, start_key=start_key
        )
        return page.items, page.last_key

    @staticmethod
    def _view_item(tenant: str, view: dict[str, Any]) -> dict[str, Any]:
        return {"pk": tenant, "sk": view_sk(view["id"]), "kind": "view", **view}

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
