"""The search route: parses the query and filters, calls the search use case (`use_cases.search`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.domain_events import ArtifactKind, GovernanceStatus
from gui_core.guard import GroupPolicy, current_tenant, group_router
from gui_core.tenancy import Tenant
from gui_search import use_cases
from gui_search.logic import MAX_RESULTS
from gui_search.models import (
    DEFAULT_PAGE,
    MAX_KINDS,
    MAX_LICENSES,
    MAX_OWNER_CHARS,
    MAX_PAGE,
    MAX_QUERY_CHARS,
    MAX_STATUSES,
    MAX_TAGS,
    SearchCriteria,
    SearchPage,
)
from gui_search.use_cases import SearchPorts

PREFIX = "/service/gui"
router = group_router(prefix=PREFIX, policy=GroupPolicy("search", read_class="search"))

Searcher = Annotated[RequestContext, Depends(require_scope(rbac.SEARCH))]
CallerTenant = Annotated[Tenant, Depends(current_tenant)]

_DESCRIPTION = f"""One ranked list over every artifact kind (coverage, mapping, overlay, readiness,
prompt packs, ingestions, governance records) from the tenant's full-text index.

`q` takes words (all of them rank higher, any of them match), `"phrases"`, `AND`/`OR`/`NOT`,
`-word`, `word*` (words starting with it, in a query of optional words; `"lab res"*` anywhere) and
`field:word` on `title`, `summary`, `tags`, `owner`. A query that cannot be
parsed is a 400 (`invalid_query`). Without `q` (or with a blank one) the answer lists the
artifacts that pass the filters, newest first (`mode: browse`).

Filters combine: `kind`, `license` and `status` may repeat (any of them), `tag` may repeat (every
tag), `owner` is exact, `updated_from`/`updated_to` bound the last update ([from, to)). `facets.kind`
counts the matches per kind with every filter but `kind`. `cursor` is the `next_cursor` of the page
before, bound to the tenant and to this query and filters; pages reach {MAX_RESULTS} results.

Fields the tenant's license policy restricts are neither searched nor highlighted and are removed
or masked (`***`) in the hits unless the caller holds `gui:license:restricted`; `license` says
which. The index is updated within seconds of an artifact event; `index.version` says which
version answered."""


async def _ports(request: Request) -> SearchPorts:
    ports: SearchPorts = request.app.state.ports
    return ports


Ports = Annotated[SearchPorts, Depends(_ports)]


@router.get(
    "/search",
    response_model=SearchPage,
    summary="Federated search over every artifact kind",
    description=_DESCRIPTION,
    responses={
        400: {"description": "An unparsable query (`invalid_query`); a foreign cursor (`invalid_cursor`)"},
        422: {"description": "An unknown kind or status, a limit out of 1..100, a query over 512 characters"},
    },
)
async def search(  # async: see gui_core.guard.group_router (one request per container)
    caller: Searcher,
    ports: Ports,
    tenant: CallerTenant,
    pages: PageCursors,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="The query; blank: browse.")] = "",
    kind: Annotated[list[ArtifactKind] | None, Query(max_length=MAX_KINDS)] = None,
    tag: Annotated[
        list[str] | None, Query(max_length=MAX_TAGS, description="Every tag given must be present.")
    ] = None,
    owner: Annotated[str | None, Query(max_length=MAX_OWNER_CHARS)] = None,
    license: Annotated[
        list[str] | None, Query(max_length=MAX_LICENSES, description="License tags, any of.")
    ] = None,
    status: Annotated[list[GovernanceStatus] | None, Query(max_length=MAX_STATUSES)] = None,
    updated_from: QueryTime | None = None,
    updated_to: QueryTime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: CursorQuery = None,
) -> SearchPage:
    criteria = SearchCriteria(
        text=q,
        kinds=kind or [],
        tags=tag or [],
        owner=owner,
        license_tags=license or [],
        statuses=status or [],
        updated_from=updated_from,
        updated_to=updated_to,
        limit=limit,
        cursor=cursor,
    )
    return use_cases.search(ports, caller, tenant, criteria, pages)
