"""The admin group's ports built from settings: one way for every door (the REST app, the GraphQL API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_admin.repository import AuditTrail, TenantRecords
from gui_admin.use_cases import AdminPorts
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.ledger import Ledger

if TYPE_CHECKING:
    from gui_admin.settings import AdminSettings
    from gui_admin.use_cases import TenantCache


class NoTenantCache:
    """No cache to tell of a change: the tenants' records cached by a guard then expire at its
    `GUI_TENANT_CACHE_S`, as every other function's copies do after a change."""

    def forget(self, tenant_id: str) -> None:
        return None


def build_ports(settings: AdminSettings, *, tenant_cache: TenantCache | None = None) -> AdminPorts:
    """`tenant_cache`: the guard's cache of the tenants' records, forgotten on a change of the flags
    so that its next request sees them (the REST app gives its guard's); none: `NoTenantCache`."""
    client = dynamodb_client(settings.region)
    return AdminPorts(
        audit=AuditTrail(Table(settings.audit_table, client)),
        tenants=TenantRecords(Table(settings.tenants_table, client)),
        tenant_cache=NoTenantCache() if tenant_cache is None else tenant_cache,
        ledger=Ledger(Table(settings.migrations_table, client)),
    )
