"""The search group's use case: one ranked (or browsed) page of the tenant's index, with the
caller's filters and the tenant's license masking, on the group's ports (`SearchPorts`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from gui_core.errors import InvalidCursor
from gui_search.logic import MAX_RESULTS, hidden_fields, masked_hits
from gui_search.models import Facets, IndexInfo, SearchCriteria, SearchHit, SearchLicense, SearchPage
from gui_search.query import SearchQuery

if TYPE_CHECKING:
    from gui_core.context import RequestContext
    from gui_core.cursors import Pages
    from gui_core.tenancy import Tenant
    from gui_search.store import LocalIndexes


@dataclass(frozen=True)
class SearchPorts:
    """The tenants' indexes this container holds open (gui_search.ports)."""

    indexes: LocalIndexes


def search(
    ports: SearchPorts, caller: RequestContext, tenant: Tenant, criteria: SearchCriteria, pages: Pages
) -> SearchPage:
    """One page of the tenant's artifacts matching `criteria`: ranked by relevance for a query
    text, newest first without one; restricted fields neither searched nor shown unless the
    caller holds `gui:license:restricted`."""
    query = SearchQuery(
        text=criteria.text.strip(),
        kinds=tuple(sorted(set(criteria.kinds))),
        tags=tuple(sorted(set(criteria.tags))),
        owner=criteria.owner,
        license_tags=tuple(sorted(set(criteria.license_tags))),
        statuses=tuple(sorted(set(criteria.statuses))),
        updated_from=criteria.updated_from,
        updated_to=criteria.updated_to,
        limit=criteria.limit,
        offset=_offset(pages, criteria.cursor),
        hidden_fields=hidden_fields(tenant, caller.scopes),
    )
    index, manifest = ports.indexes.get(caller.tenant)
    masked_fields: set[str] = set(query.hidden_fields)
    hits: list[SearchHit] = []
    total, facets = 0, {}
    if index is not None:
        page = index.search(query)
        total, facets = page.total, dict(page.facets)
        documents, masked = masked_hits(page.hits, tenant, caller.scopes)
        hits = _hits().validate_python(documents)  # one call for the page
        masked_fields.update(masked)
    next_offset = query.offset + query.limit
    return SearchPage(
        query=query.text,
        mode="search" if query.text else "browse",
        total=total,
        hits=hits,
        facets=Facets(kind=facets),
        next_cursor=pages.issue({"o": next_offset} if next_offset < min(total, MAX_RESULTS) else None),
        index=(
            IndexInfo(version=manifest.version, documents=manifest.documents, built_at=manifest.built_at)
            if manifest is not None
            else None
        ),
        license=SearchLicense(tag=tenant.license.license_tag, masked_fields=sorted(masked_fields)),
    )


@functools.cache
def _hits() -> TypeAdapter[list[SearchHit]]:
    """The validator of a page's hits, built at the first search (not at the cold start)."""
    return TypeAdapter(list[SearchHit])


def _offset(pages: Pages, cursor: str | None) -> int:
    """Where the page starts: the cursor is bound to the query and its filters (gui_core.cursors)."""
    position = pages.read(cursor)
    if position is None:
        return 0
    offset = position.get("o")
    if not isinstance(offset, int) or not 0 <= offset < MAX_RESULTS:
        raise InvalidCursor
    return offset
