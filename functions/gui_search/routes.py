"""The search route: the tenant's index, the caller's filters and masking, one ranked page."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.cursors import Pages
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.domain_events import ArtifactKind, GovernanceStatus
from gui_core.errors import InvalidCursor
from gui_core.guard import GroupPolicy, current_tenant, group_router
from gui_core.masking import apply_license
from gui_core.tenancy import Tenant
from gui_search.engine import Hit, SearchQuery
from gui_search.models import SearchPage
from gui_search.store import LocalIndexes

PREFIX = "/service/gui"
router = group_router(prefix=PREFIX, policy=GroupPolicy("search", read_class="search"))

Searcher = Annotated[RequestContext, Depends(require_scope(rbac.SEARCH))]
CallerTenant = Annotated[Tenant, Depends(current_tenant)]
MAX_QUERY_CHARS = 512
MAX_RESULTS = 10_000  # pages reach this far; a GUI refines the query before

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


def _indexes(request: Request) -> LocalIndexes:  # a plain call, not a dependency
    indexes: LocalIndexes = request.app.state.indexes
    return indexes


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
    request: Request,
    caller: Searcher,
    tenant: CallerTenant,
    pages: PageCursors,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="The query; blank: browse.")] = "",
    kind: Annotated[list[ArtifactKind] | None, Query(max_length=10)] = None,
    tag: Annotated[
        list[str] | None, Query(max_length=20, description="Every tag given must be present.")
    ] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    license: Annotated[list[str] | None, Query(max_length=20, description="License tags, any of.")] = None,
    status: Annotated[list[GovernanceStatus] | None, Query(max_length=10)] = None,
    updated_from: QueryTime | None = None,
    updated_to: QueryTime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    query = SearchQuery(
        text=q.strip(),
        kinds=tuple(sorted(set(kind or ()))),
        tags=tuple(sorted(set(tag or ()))),
        owner=owner,
        license_tags=tuple(sorted(set(license or ()))),
        statuses=tuple(sorted(set(status or ()))),
        updated_from=updated_from,
        updated_to=updated_to,
        limit=limit,
        hidden_fields=_hidden_fields(tenant, caller.scopes),
    )
    query = replace(query, offset=_offset(pages, cursor))
    index, manifest = _indexes(request).get(caller.tenant)
    masked_fields: set[str] = set(query.hidden_fields)
    hits: list[dict[str, Any]] = []
    total, facets = 0, {}
    if index is not None:
        page = index.search(query)
        total, facets = page.total, dict(page.facets)
        for hit in page.hits:
            document, masked = _masked_hit(hit, tenant, caller.scopes)
            hits.append(document)
            masked_fields.update(masked)
    text, offset = query.text, query.offset
    reach = min(total, MAX_RESULTS)
    next_offset = offset + limit
    return {
        "query": text,
        "mode": "search" if text else "browse",
        "total": total,
        "hits": hits,
        "facets": {"kind": facets},
        "next_cursor": pages.issue({"o": next_offset} if next_offset < reach else None),
        "index": (
            {"version": manifest.version, "documents": manifest.documents, "built_at": manifest.built_at}
            if manifest is not None
            else None
        ),
        "license": {"tag": tenant.license.license_tag, "masked_fields": sorted(masked_fields)},
    }


def _offset(pages: Pages, cursor: str | None) -> int:
    """Where the page starts: the cursor is bound to the query and its filters (gui_core.cursors)."""
    position = pages.read(cursor)
    if position is None:
        return 0
    offset = position.get("o")
    if not isinstance(offset, int) or not 0 <= offset < MAX_RESULTS:
        raise InvalidCursor
    return offset


def _hidden_fields(tenant: Tenant, scopes: frozenset[str]) -> frozenset[str]:
    """The top-level fields the tenant's policy restricts, when the caller may not see them."""
    if rbac.LICENSE_RESTRICTED in scopes:
        return frozenset()
    return frozenset(path.split(".", 1)[0] for path in tenant.license.restricted)


def _masked_hit(hit: Hit, tenant: Tenant, scopes: frozenset[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    masked = apply_license(dict(hit.document), tenant.license, scopes)
    document: dict[str, Any] = masked.document
    return (
        {
            **document,
            "id": hit.id,
            "kind": hit.kind,
            "score": hit.score,
            "highlights": [
                {"field": h.field, "text": h.text, "ranges": [list(r) for r in h.ranges]}
                for h in hit.highlights
            ],
        },
        masked.masked_fields,
    )
