"""Routes of the admin group: the tenant's audit trail, its feature flags, and the region's schema
migrations with the tenant's part of each."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from gui_admin.migrations import LedgerReader, tenant_migrations
from gui_admin.models import AuditEntry, AuditPage, FlagsInput, MigrationList, TenantDocument
from gui_core import rbac
from gui_core.api_document import required_header
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.dynamo import ConditionFailed, Table, version_is
from gui_core.errors import PreconditionFailed, PreconditionRequired, ValidationFailed
from gui_core.guard import GroupPolicy, Guard, group_router
from gui_core.rate_limit import DEFAULT_LIMITS, limit_for
from gui_core.tenancy import TENANT_SK, Tenant

POLICY = GroupPolicy("admin", read_class="admin", write_class="admin")
audit_router = group_router(prefix="/service/gui/audit", policy=POLICY)
tenant_router = group_router(prefix="/service/gui/admin/tenant", policy=POLICY)
migrations_router = group_router(prefix="/service/gui/admin/migrations", policy=POLICY)

Admin = Annotated[RequestContext, Depends(require_scope(rbac.ADMIN))]
# The admin feature cannot be turned off through the API: it is the way back.
PROTECTED_FLAGS = frozenset({"admin"})


def _audit_table(request: Request) -> Table:
    table: Table = request.app.state.audit_table
    return table


def _tenants_table(request: Request) -> Table:
    table: Table = request.app.state.tenants_table
    return table


def _ledger(request: Request) -> LedgerReader:
    ledger: LedgerReader = request.app.state.migrations_ledger
    return ledger


def _iso(value: datetime | None, default: str) -> str:
    return value.isoformat(timespec="microseconds") if value else default


@audit_router.get("", response_model=AuditPage, summary="The tenant's audit trail, newest first")
def list_audit(
    caller: Admin,
    table: Annotated[Table, Depends(_audit_table)],
    pages: PageCursors,
    from_: Annotated[QueryTime | None, Query(alias="from", description="ISO 8601, inclusive.")] = None,
    to: Annotated[QueryTime | None, Query(description="ISO 8601, inclusive.")] = None,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorQuery = None,
) -> AuditPage:
    if from_ and to and from_ > to:
        raise ValidationFailed("`from` is after `to`.", errors=[{"pointer": "/from", "message": "after to"}])
    # Records are keyed `<ISO time>#<request id>`: "0" sorts before and "~" after any such key.
    low, high = _iso(from_, "0"), _iso(to, "~") + "~"
    # The position is the store's own last key (the index's keys too when by actor): signed, it is
    # the key this query's page ended on.
    start = pages.read(cursor)
    if actor:
        page = table.query(
            ("tenant_actor", f"{caller.tenant}#{actor}"),
            sort_between=("sk", low, high),
            index="by_actor",
            limit=limit,
            start_key=start,
            forward=False,
        )
    else:
        page = table.query(
            ("pk", caller.tenant), sort_between=("sk", low, high), limit=limit, start_key=start, forward=False
        )
    return AuditPage(
        items=[AuditEntry.model_validate(i) for i in page.items], next_cursor=pages.issue(page.last_key)
    )


def _document(tenant: Tenant) -> TenantDocument:
    classes = sorted({*DEFAULT_LIMITS, *tenant.rate_limits})
    return TenantDocument(
        tenant=tenant.id,
        name=tenant.name,
        home_region=tenant.home_region,
        plan=tenant.plan,
        flags=dict(tenant.flags),
        rate_limits={c: limit_for(c, plan=tenant.plan, overrides=tenant.rate_limits) for c in classes},
        license_tag=tenant.license.license_tag,
        version=tenant.version,
    )


def _etag(version: int) -> str:
    return f'"r{version}"'


def _fresh_record(table: Table, tenant: str) -> dict[str, Any]:
    item = table.get({"pk": tenant, "sk": TENANT_SK})
    assert item is not None  # the guard found this tenant a moment ago
    return item


@tenant_router.get("", response_model=TenantDocument, summary="The caller's tenant")
def get_tenant(
    caller: Admin, table: Annotated[Table, Depends(_tenants_table)], response: Response
) -> TenantDocument:
    tenant = Tenant.from_item(_fresh_record(table, caller.tenant))
    response.headers["ETag"] = _etag(tenant.version)
    return _document(tenant)


@tenant_router.put("/flags", response_model=TenantDocument, summary="Replace the tenant's feature flags")
def put_flags(
    body: FlagsInput,
    caller: Admin,
    request: Request,
    table: Annotated[Table, Depends(_tenants_table)],
    response: Response,
    if_match: Annotated[
        str | None, required_header("If-Match", "The ETag of GET /service/gui/admin/tenant, or `*`.")
    ] = None,
) -> TenantDocument:
    item = _fresh_record(table, caller.tenant)
    version = int(item.get("version") or 0)
    if not if_match:
        raise PreconditionRequired("Send If-Match with the ETag of GET /service/gui/admin/tenant.")
    if if_match.strip() != "*" and _etag(version) not in [t.strip() for t in if_match.split(",")]:
        raise PreconditionFailed("The tenant changed since it was read; read it again.")
    turned_off = sorted(name for name, on in body.flags.items() if not on and name in PROTECTED_FLAGS)
    if turned_off:
        raise ValidationFailed(
            "The admin feature cannot be turned off.",
            errors=[{"pointer": f"/flags/{n}", "message": "protected"} for n in turned_off],
        )
    updated = {**item, "flags": body.flags, "version": version + 1}
    try:
        table.put(updated, condition=version_is(version))
    except ConditionFailed as exc:
        raise PreconditionFailed("The tenant changed since it was read; read it again.") from exc
    guard: Guard = request.app.state.guard
    guard.tenants.forget(caller.tenant)
    tenant = Tenant.from_item(updated)
    response.headers["ETag"] = _etag(tenant.version)
    return _document(tenant)


@migrations_router.get(
    "",
    response_model=MigrationList,
    summary="The region's schema migrations, with the tenant's part of each",
)
def list_migrations(caller: Admin, ledger: Annotated[LedgerReader, Depends(_ledger)]) -> MigrationList:
    return tenant_migrations(ledger, tenant=caller.tenant)
