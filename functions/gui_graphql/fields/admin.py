"""The admin's fields (`gui_admin.use_cases`): `audit`, `tenant`, `migrations`; `replace_tenant_flags`,
one per REST route, all for the tenant's admins (`gui:admin`) behind the `admin` feature, as REST's.

The audit trail is a connection over the cursors of `GET /audit`, with REST's filters by their names
(`from`, `to`, `actor`), parsed as REST parses them (ISO 8601, UTC without an offset: a bad one is
REST's 422 at `/from`). The tenant is a `TaggedTenantDocument`, REST's body with its `ETag`, which
`replace_tenant_flags` takes back as `if_match` (REST's `If-Match`: 428 without it, 412 stale).

A change of the flags here is not told to this function's guard, which keeps its copy of the tenant
up to `GUI_TENANT_CACHE_S` (30 s), as every function but the admin's REST one does (`gui_admin.ports`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import GraphQLArgument, GraphQLField, GraphQLNonNull, GraphQLString
from pydantic import BaseModel, ConfigDict, Field

from gui_admin import use_cases
from gui_admin.models import AuditEntry, AuditQuery, FlagsInput, MigrationList, TenantDocument
from gui_core import rbac
from gui_core.date_times import QueryTime
from gui_graphql.fields.base import (
    Access,
    Context,
    connected,
    connection,
    first_of,
    make_field,
    page_arguments,
    validated,
)
from gui_graphql.types import JSON

if TYPE_CHECKING:
    from gui_admin.settings import AdminSettings
    from gui_admin.use_cases import AdminPorts
    from gui_graphql.types import ModelTypes

GROUP = "admin"
ORDER = 60  # where its root fields come in the schema
PAGES = {"audit": 50}  # REST's default `limit` of `GET /audit`
AUDIT_MAX_PAGE = 200  # `GET /audit`'s `limit` is 1 to 200
# As REST's routers: `GroupPolicy("admin")`, each route needing the admin scope.
ACCESS = Access("admin", rbac.ADMIN, read_class="admin", write_class="admin")


class TaggedTenantDocument(BaseModel):
    """A TenantDocument with the entity tag REST sends with it."""

    etag: str = Field(
        description="REST's `ETag`: send it as `if_match` to replace the flags (412 if the tenant changed)."
    )
    body: TenantDocument = Field(description="REST's body.")


class _AuditFilters(BaseModel):
    """The audit trail's filters as `GET /audit` parses its query (REST's names and pointers)."""

    model_config = ConfigDict(populate_by_name=True)

    start: QueryTime | None = Field(default=None, alias="from")
    end: QueryTime | None = Field(default=None, alias="to")
    actor: str | None = Field(default=None, max_length=256)


def settings() -> AdminSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_admin.settings import AdminSettings

    return AdminSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: AdminSettings) -> AdminPorts:
    """As the admin's function builds them, without its guard's cache of the tenants (see above)."""
    from gui_admin.ports import build_ports

    return build_ports(settings)


def _ports(context: Context) -> AdminPorts:
    found: AdminPorts = context.ports.of(GROUP)
    return found


def _tagged(document: TenantDocument) -> TaggedTenantDocument:
    return TaggedTenantDocument(etag=use_cases.tenant_etag(document), body=document)


def _audit(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    # REST's query parameters, by their names: the cursors are those of `GET /audit`.
    filters = {k: arguments.get(k) for k in ("from", "to", "actor")}
    parsed: _AuditFilters = validated(_AuditFilters, filters)
    query = AuditQuery(
        requested_from=parsed.start,
        requested_to=parsed.end,
        actor=parsed.actor,
        limit=first_of(arguments, PAGES["audit"], AUDIT_MAX_PAGE),
        cursor=arguments.get("after"),
    )
    page = use_cases.list_audit(_ports(context), context.caller, query, context.pages("/audit", filters))
    return connected(page.items, page.next_cursor)


def _tenant(context: Context, _arguments: Mapping[str, Any]) -> TaggedTenantDocument:
    return _tagged(use_cases.get_tenant(_ports(context), context.caller))


def _migrations(context: Context, _arguments: Mapping[str, Any]) -> MigrationList:
    return use_cases.list_migrations(_ports(context), context.caller)


def _replace_tenant_flags(context: Context, arguments: Mapping[str, Any]) -> TaggedTenantDocument:
    body: FlagsInput = validated(FlagsInput, {"flags": arguments["flags"]})
    if_match = arguments.get("if_match")
    document = use_cases.put_flags(
        _ports(context), context.caller, body, None if if_match is None else str(if_match)
    )
    return _tagged(document)


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    return {
        "audit": make_field(
            connection(types, "AuditEntry", types.object(AuditEntry)),
            _audit,
            args={
                **page_arguments(PAGES["audit"], AUDIT_MAX_PAGE),
                "from": GraphQLArgument(GraphQLString, description="At or after (ISO 8601, inclusive)."),
                "to": GraphQLArgument(GraphQLString, description="At or before (ISO 8601, inclusive)."),
                "actor": GraphQLArgument(GraphQLString, description="Only the records of this actor."),
            },
            description="The tenant's audit trail, newest first (`GET /audit`, admin).",
            access=ACCESS,
        ),
        "tenant": make_field(
            GraphQLNonNull(types.object(TaggedTenantDocument)),
            _tenant,
            description="The caller's tenant: plan, flags, limits, license tag (`GET /admin/tenant`, admin).",
            access=ACCESS,
        ),
        "migrations": make_field(
            GraphQLNonNull(types.object(MigrationList)),
            _migrations,
            description=(
                "The region's schema migrations, with the tenant's part of each "
                "(`GET /admin/migrations`, admin)."
            ),
            access=ACCESS,
        ),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    return {
        "replace_tenant_flags": make_field(
            GraphQLNonNull(types.object(TaggedTenantDocument)),
            _replace_tenant_flags,
            args={
                "flags": GraphQLArgument(
                    GraphQLNonNull(JSON),
                    description="REST's body's `flags` (FlagsInput): each feature's flag by its name.",
                ),
                "if_match": GraphQLArgument(
                    GraphQLString,
                    description=(
                        "The tenant's `etag`, or `*` (REST's `If-Match`; without it, 428 "
                        "`precondition_required`); a stale one is 412."
                    ),
                ),
            },
            description="Replace the tenant's feature flags (`PUT /admin/tenant/flags`, admin).",
            mutation=True,
            access=ACCESS,
        ),
    }
