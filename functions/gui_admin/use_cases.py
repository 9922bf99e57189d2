"""The admin group's use cases, one function per operation, whatever door calls it (REST today):
the tenant's audit trail, its record and feature flags, and the region's migrations with the
tenant's part of each. Each takes the group's ports, the caller and the operation's input; the
rules are in `gui_admin.logic` and `gui_admin.migrations`, the stores behind `gui_admin.repository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gui_admin.logic import audit_bounds, check_if_match, check_protected, etag, tenant_document
from gui_admin.migrations import migration_run
from gui_admin.models import AuditEntry, AuditPage, MigrationList
from gui_core.errors import PreconditionFailed
from gui_core.tenancy import Tenant

if TYPE_CHECKING:
    from gui_admin.models import AuditQuery, FlagsInput, TenantDocument
    from gui_admin.repository import AuditTrail, TenantRecords
    from gui_core.context import RequestContext
    from gui_core.cursors import Pages
    from gui_core.migrations.ledger import Checkpoint, RunRecord


class LedgerReader(Protocol):
    """What the migrations' list reads of `gui_core.migrations.ledger.Ledger`."""

    def runs(self) -> list[RunRecord]: ...

    def checkpoint(self, migration_id: str, tenant: str) -> Checkpoint: ...


class TenantCache(Protocol):
    """The guard's cache of tenant records (`gui_core.tenancy.TenantDirectory`), told of a change."""

    def forget(self, tenant_id: str) -> None: ...


@dataclass(frozen=True)
class AdminPorts:
    """What the admin's use cases read and write: the audit trail, the tenants' records (and the
    guard's cache of them, forgotten on a change), and the region's migration ledger."""

    audit: AuditTrail
    tenants: TenantRecords
    tenant_cache: TenantCache
    ledger: LedgerReader


def list_audit(ports: AdminPorts, caller: RequestContext, query: AuditQuery, pages: Pages) -> AuditPage:
    """A page of the tenant's audit trail, newest first, between two times, of one actor."""
    low, high = audit_bounds(query.requested_from, query.requested_to)
    # The position is the store's own last key (the index's keys too when by actor): signed, it is
    # the key this query's page ended on.
    page = ports.audit.page(
        caller.tenant,
        actor=query.actor,
        low=low,
        high=high,
        start_key=pages.read(query.cursor),
        limit=query.limit,
    )
    return AuditPage(
        items=[AuditEntry.model_validate(i) for i in page.items], next_cursor=pages.issue(page.last_key)
    )


def get_tenant(ports: AdminPorts, caller: RequestContext) -> TenantDocument:
    """The caller's tenant: plan, flags, effective rate limits, version (its ETag: `logic.etag`)."""
    return tenant_document(Tenant.from_item(_record(ports, caller.tenant)))


def put_flags(
    ports: AdminPorts, caller: RequestContext, body: FlagsInput, if_match: str | None
) -> TenantDocument:
    """Replace the tenant's feature flags, if the tenant is still at the ETag `if_match` names; the
    guard's cached record of the tenant is forgotten so the next request sees the flags."""
    item = _record(ports, caller.tenant)
    version = int(item.get("version") or 0)
    check_if_match(if_match, version)
    check_protected(body.flags)
    updated = {**item, "flags": body.flags, "version": version + 1}
    if not ports.tenants.replace(updated, version=version):
        raise PreconditionFailed("The tenant changed since it was read; read it again.")
    ports.tenant_cache.forget(caller.tenant)
    return tenant_document(Tenant.from_item(updated))


def tenant_etag(document: TenantDocument) -> str:
    """The tenant's entity tag at the document's version (REST's `ETag`), which `put_flags` takes back."""
    return etag(document.version)


def list_migrations(ports: AdminPorts, caller: RequestContext) -> MigrationList:
    """Every migration run the region recorded, in order, each with the caller's tenant's checkpoint."""
    return MigrationList(
        items=[
            migration_run(record, ports.ledger.checkpoint(record.migration, caller.tenant), caller.tenant)
            for record in ports.ledger.runs()
        ]
    )


def _record(ports: AdminPorts, tenant: str) -> dict[str, Any]:
    item = ports.tenants.get(tenant)
    assert item is not None  # the guard found this tenant a moment ago
    return item
