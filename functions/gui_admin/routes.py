"""Routes of the admin group: the tenant's audit trail, its feature flags, and the region's schema
migrations with the tenant's part of each. Each parses the request, calls one use case of
`gui_admin.use_cases` and answers its model."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from gui_admin import use_cases
from gui_admin.logic import etag
from gui_admin.models import AuditPage, AuditQuery, FlagsInput, MigrationList, TenantDocument
from gui_admin.use_cases import AdminPorts
from gui_core import rbac
from gui_core.api_document import required_header
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.guard import GroupPolicy, group_router

POLICY = GroupPolicy("admin", read_class="admin", write_class="admin")
audit_router = group_router(prefix="/service/gui/audit", policy=POLICY)
tenant_router = group_router(prefix="/service/gui/admin/tenant", policy=POLICY)
migrations_router = group_router(prefix="/service/gui/admin/migrations", policy=POLICY)

Admin = Annotated[RequestContext, Depends(require_scope(rbac.ADMIN))]


def _ports(request: Request) -> AdminPorts:
    ports: AdminPorts = request.app.state.ports
    return ports


Ports = Annotated[AdminPorts, Depends(_ports)]


@audit_router.get("", response_model=AuditPage, summary="The tenant's audit trail, newest first")
def list_audit(
    caller: Admin,
    ports: Ports,
    pages: PageCursors,
    from_: Annotated[QueryTime | None, Query(alias="from", description="ISO 8601, inclusive.")] = None,
    to: Annotated[QueryTime | None, Query(description="ISO 8601, inclusive.")] = None,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorQuery = None,
) -> AuditPage:
    query = AuditQuery(requested_from=from_, requested_to=to, actor=actor, limit=limit, cursor=cursor)
    return use_cases.list_audit(ports, caller, query, pages)


@tenant_router.get("", response_model=TenantDocument, summary="The caller's tenant")
def get_tenant(caller: Admin, ports: Ports, response: Response) -> TenantDocument:
    document = use_cases.get_tenant(ports, caller)
    response.headers["ETag"] = etag(document.version)
    return document


@tenant_router.put("/flags", response_model=TenantDocument, summary="Replace the tenant's feature flags")
def put_flags(
    body: FlagsInput,
    caller: Admin,
    ports: Ports,
    response: Response,
    if_match: Annotated[
        str | None, required_header("If-Match", "The ETag of GET /service/gui/admin/tenant, or `*`.")
    ] = None,
) -> TenantDocument:
    document = use_cases.put_flags(ports, caller, body, if_match)
    response.headers["ETag"] = etag(document.version)
    return document


@migrations_router.get(
    "",
    response_model=MigrationList,
    summary="The region's schema migrations, with the tenant's part of each",
)
def list_migrations(caller: Admin, ports: Ports) -> MigrationList:
    return use_cases.list_migrations(ports, caller)
