"""The stores the admin group reads and writes: the region's audit trail (records keyed
`<ISO time>#<request id>` per tenant, index `by_actor` per tenant and actor) and the tenant's record
in the tenants store, replaced only at the version it was read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gui_core.dynamo import ConditionFailed, Page, Table, version_is
from gui_core.tenancy import TENANT_SK

if TYPE_CHECKING:
    from collections.abc import Mapping


class AuditTrail:
    def __init__(self, table: Table) -> None:
        self._table = table

    def page(
        self,
        tenant: str,
        *,
        actor: str | None,
        low: str,
        high: str,
        start_key: Mapping[str, Any] | None,
        limit: int,
    ) -> Page:
        """Records of the tenant (of one actor, when given) whose key is between `low` and `high`,
        newest first. The last key is the store's own (the index's keys too, by actor)."""
        if actor:
            return self._table.query(
                ("tenant_actor", f"{tenant}#{actor}"),
                sort_between=("sk", low, high),
                index="by_actor",
                limit=limit,
                start_key=start_key,
                forward=False,
            )
        return self._table.query(
            ("pk", tenant), sort_between=("sk", low, high), limit=limit, start_key=start_key, forward=False
        )


class TenantRecords:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's record, read consistently (an admin reads what it just wrote)."""
        return self._table.get({"pk": tenant, "sk": TENANT_SK})

    def replace(self, item: Mapping[str, Any], *, version: int) -> bool:
        """Write `item` if the stored record is still at `version`; False when another write won."""
        try:
            self._table.put(item, condition=version_is(version))
        except ConditionFailed:
            return False
        return True
