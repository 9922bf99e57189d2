"""Routes of the artifacts group: one artifact, its lineage graph, structured search. Each parses, calls
one use case (`gui_artifacts.use_cases`, where the license policy masks every answer) and answers its
model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from gui_artifacts import use_cases
from gui_artifacts.logic import MAX_EDGES_READ, MAX_NODES, Filters, SortField, SortOrder
from gui_artifacts.models import (
    ArtifactPage,
    ArtifactView,
    Direction,
    GovernanceStatus,
    Kind,
    LineageGraph,
)
from gui_artifacts.settings import ArtifactsSettings
from gui_artifacts.use_cases import ArtifactsPorts
from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime, iso
from gui_core.dependencies import CursorQuery, PageCursors, cursor_query, require_scope
from gui_core.guard import GroupPolicy, current_tenant, group_router
from gui_core.tenancy import Tenant

PREFIX = "/service/gui/artifacts"
router = group_router(prefix=PREFIX, policy=GroupPolicy("artifacts"))

Reader = Annotated[RequestContext, Depends(require_scope(rbac.ARTIFACTS))]
CallerTenant = Annotated[Tenant, Depends(current_tenant)]


def _ports(request: Request) -> ArtifactsPorts:
    ports: ArtifactsPorts = request.app.state.ports
    return ports


Ports = Annotated[ArtifactsPorts, Depends(_ports)]
# The order items one search page reads at most, unless the function's settings say otherwise.
SEARCH_READ_BUDGET = ArtifactsSettings.model_fields["search_read_budget"].default

_SEARCH_DESCRIPTION = (
    "Filters combine (all must hold; `tag` may repeat and every tag must be present). Sorted by "
    "`sort` then by id, so the order is total (a title orders by its first 200 case-folded "
    "characters). `cursor` is the `next_cursor` of the page before: it holds the position (sort "
    "value and id) where that page stopped, and is bound to the tenant and to this query (filters, "
    "sort and order; `limit` may change); artifacts published meanwhile do not make pages repeat or "
    "skip items. Every match is reachable by paging. "
    "A page reads the artifacts in the sort's order (an index) from its position and keeps those "
    "that match, one more than `limit` to know that more follow, so a `next_cursor` leads to a page "
    "that is not empty; the bounds of the sort's own time (`created_*` with sort=created, "
    "`updated_*` with sort=updated) are read as a key range, not filtered. A page reads at most "
    f"{SEARCH_READ_BUDGET} artifacts: when filters match fewer than that before the page is full, "
    "`partial` is true and the page holds the matches found (perhaps none) with a `next_cursor` "
    "where the reading stopped. `total` counts the tenant's artifacts when nothing is filtered "
    "(a count kept with each publication), and the matches when the first page read them all; "
    "otherwise it is null."
)


@router.get(
    "/search",
    response_model=ArtifactPage,
    summary="Structured artifact search",
    description=_SEARCH_DESCRIPTION,
    responses={
        400: {"description": "A cursor not issued for this tenant, sort and filters (`invalid_cursor`)"},
        422: {"description": "An unknown filter value, sort or order; a limit out of 1..100"},
    },
)
def search_artifacts(
    caller: Reader,
    tenant: CallerTenant,
    ports: Ports,
    pages: PageCursors,
    kind: Kind | None = None,
    tag: Annotated[
        list[str] | None, Query(max_length=20, description="Every tag given must be present.")
    ] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    license_tag: Annotated[str | None, Query(max_length=200)] = None,
    governance_status: GovernanceStatus | None = None,
    created_from: QueryTime | None = None,
    created_to: QueryTime | None = None,
    updated_from: QueryTime | None = None,
    updated_to: QueryTime | None = None,
    sort: SortField = "updated",
    order: SortOrder = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: CursorQuery = None,
) -> ArtifactPage:
    filters = Filters(
        kind=kind,
        tags=tuple(tag or ()),
        owner=owner,
        license_tag=license_tag,
        governance_status=governance_status,
        created_from=_bound(created_from),
        created_to=_bound(created_to),
        updated_from=_bound(updated_from),
        updated_to=_bound(updated_to),
    )
    return use_cases.search_artifacts(
        ports, caller, tenant, pages, filters, sort=sort, order=order, limit=limit, cursor=cursor
    )


def _bound(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


@router.get(
    "/{artifact_id}",
    response_model=ArtifactView,
    summary="One artifact",
    description="Fields the tenant's license policy restricts are removed or masked (`***`) unless the "
    "caller holds `gui:license:restricted`; `license` says which.",
    responses={
        404: {"description": "No such artifact in the caller's tenant"},
        422: {"description": "Invalid input (`validation_failed`)"},
    },
)
def get_artifact(artifact_id: str, caller: Reader, tenant: CallerTenant, ports: Ports) -> ArtifactView:
    return use_cases.read_artifact(ports, caller, tenant, artifact_id)


_LINEAGE_DESCRIPTION = f"""The artifact's lineage: `upstream` (what it was made from), `downstream`
(what was made from it) or `both`, up to `depth` hops.

**Graph mode** (no `layer`): breadth-first, hop by hop. From each node at most `fan_out` neighbours
(the first by id) are read and followed; each node's `cut` counts, per side, the neighbours not
followed (its degree on that side less those followed: exact, whatever the degree), and
each entry of `layers` (one per side and hop) sums them. A node appears once, at the first hop it is
reached (upstream first), so cycles end; an edge appears once, even when it closes a cycle or a
diamond.

**Layer mode** (`layer=<side>:<hop>`, e.g. `downstream:2`): every node whose shortest distance from the
artifact on that side is `hop`, with no fan-out cut, ordered by id, `fan_out` per page, with the edges
reaching them from the layer before. The layer's entry in `layers` gives its `total` and a
`next_cursor`; pass it back as `cursor` with the same request for the next page (a cursor is bound
to the tenant, the artifact and the query; `fan_out` may change). `depth` and `direction` are
ignored in layer mode. This is how a GUI shows what `cut` hid. The first layer (`<side>:1`) is read
a page at a time (`fan_out` + 1 neighbours), its `total` the artifact's degree: exact at any size. A
deeper layer is found by walking the layers before it, reading at most {MAX_EDGES_READ} edges.

At most {MAX_NODES} nodes are visited per answer (`truncated` says when that, or the edge limit of a
deeper layer's walk, stopped the walk). `out_degree` and `in_degree` are exact at any size.
Nodes carry degree counts, metadata, diff hashes and licensing notes, masked like the artifact;
an input never published to the registry is a node with `known: false`."""


@router.get(
    "/{artifact_id}/lineage",
    response_model=LineageGraph,
    summary="An artifact's lineage graph",
    description=_LINEAGE_DESCRIPTION,
    responses={
        400: {"description": "A cursor not issued for this tenant, artifact and layer (`invalid_cursor`)"},
        404: {"description": "No such artifact in the caller's tenant"},
        422: {"description": "Invalid direction, depth, fan_out or layer; a cursor without a layer"},
    },
)
def get_artifact_lineage(
    artifact_id: str,
    caller: Reader,
    tenant: CallerTenant,
    ports: Ports,
    pages: PageCursors,
    direction: Direction = "both",
    depth: Annotated[int, Query(ge=1, le=10, description="Hops on each side.")] = 1,
    fan_out: Annotated[
        int, Query(ge=1, le=100, description="Neighbours followed per node and hop; page size in layer mode.")
    ] = 25,
    layer: Annotated[
        str | None,
        Query(pattern=r"^(upstream|downstream):([1-9]|10)$", description="`<side>:<hop>`: layer mode."),
    ] = None,
    cursor: Annotated[
        str | None, cursor_query("Layer mode: the layer's `next_cursor`, with the request that gave it.")
    ] = None,
) -> LineageGraph:
    return use_cases.read_lineage(
        ports,
        caller,
        tenant,
        pages,
        artifact_id,
        direction=direction,
        depth=depth,
        fan_out=fan_out,
        layer=layer,
        cursor=cursor,
    )
