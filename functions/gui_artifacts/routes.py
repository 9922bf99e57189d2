"""Routes of the artifacts group: one artifact, its lineage graph, structured search. Every answer
passes through the tenant's license policy (`gui_core.masking`) and says what it masked."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from gui_artifacts.logic import (
    MAX_NODES,
    Filters,
    SortField,
    SortOrder,
    Traversal,
    iso,
    layer_page,
    mask_all,
    node_document,
    public,
    search,
    traverse,
)
from gui_artifacts.models import (
    ARTIFACT_ID_PATTERN,
    Artifact,
    ArtifactPage,
    ArtifactView,
    Direction,
    GovernanceStatus,
    Kind,
    LineageGraph,
    Side,
)
from gui_artifacts.repository import MAX_REGISTRY_READ, ArtifactsRepository
from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.cursors import Pages, position_text
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, cursor_query, require_scope
from gui_core.errors import NotFound, ValidationFailed
from gui_core.guard import GroupPolicy, current_tenant, group_router
from gui_core.tenancy import Tenant

PREFIX = "/service/gui/artifacts"
router = group_router(prefix=PREFIX, policy=GroupPolicy("artifacts"))
logger = logging.getLogger("gui_artifacts")

Reader = Annotated[RequestContext, Depends(require_scope(rbac.ARTIFACTS))]
CallerTenant = Annotated[Tenant, Depends(current_tenant)]


def _repository(request: Request) -> ArtifactsRepository:
    repository: ArtifactsRepository = request.app.state.repository
    return repository


Repository = Annotated[ArtifactsRepository, Depends(_repository)]


class _TenantGraph:
    """The tenant's lineage edges, read once per node and side within one request."""

    def __init__(self, repository: ArtifactsRepository, tenant: str) -> None:
        self._repository = repository
        self._tenant = tenant
        self._seen: dict[tuple[str, Side], list[Any]] = {}

    def neighbours(self, artifact_id: str, side: Side) -> list[Any]:
        key = (artifact_id, side)
        if key not in self._seen:
            self._seen[key] = self._repository.neighbours(self._tenant, artifact_id, side)
        return self._seen[key]


_SEARCH_DESCRIPTION = (
    "Filters combine (all must hold; `tag` may repeat and every tag must be present). Sorted by "
    "`sort` then by id, so the order is total. `cursor` is the `next_cursor` of the page before: it "
    "holds the position (sort value and id) of that page's last item, and is bound to the tenant and "
    "to this query (filters, sort and order; `limit` may change); artifacts published meanwhile do "
    "not make pages repeat or skip items. "
    "`total` counts every match. Scale assumption: the search reads the tenant's registry (up to "
    f"{MAX_REGISTRY_READ} artifacts) and filters in memory; structured queries over the telemetry "
    "store replace this when registries grow."
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
    repository: Repository,
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
    position = pages.read(cursor)
    after = (position_text(position, "k"), position_text(position, "id")) if position else None
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
    page, total, last = search(
        repository.registry(caller.tenant), filters, sort=sort, order=order, after=after, limit=limit
    )
    items, license_block = mask_all((public(r) for r in page), tenant.license, caller.scopes)
    next_cursor = pages.issue({"k": last[0], "id": last[1]} if last else None)
    return ArtifactPage(
        items=[Artifact.model_validate(i) for i in items],
        total=total,
        next_cursor=next_cursor,
        license=license_block,  # type: ignore[arg-type]
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
def get_artifact(
    artifact_id: str, caller: Reader, tenant: CallerTenant, repository: Repository
) -> ArtifactView:
    record = repository.artifact(caller.tenant, artifact_id) if _valid_id(artifact_id) else None
    if record is None:
        raise NotFound(f"No artifact {artifact_id!r}.")
    (document,), license_block = mask_all([public(record)], tenant.license, caller.scopes)
    return ArtifactView.model_validate({**document, "license": license_block})


def _valid_id(artifact_id: str) -> bool:
    return re.fullmatch(ARTIFACT_ID_PATTERN, artifact_id) is not None


_LINEAGE_DESCRIPTION = f"""The artifact's lineage: `upstream` (what it was made from), `downstream`
(what was made from it) or `both`, up to `depth` hops.

**Graph mode** (no `layer`): breadth-first, hop by hop. From each node at most `fan_out` neighbours
(the first by id) are followed; each node's `cut` counts, per side, the neighbours not followed, and
each entry of `layers` (one per side and hop) sums them. A node appears once, at the first hop it is
reached (upstream first), so cycles end; an edge appears once, even when it closes a cycle or a
diamond.

**Layer mode** (`layer=<side>:<hop>`, e.g. `downstream:2`): every node whose shortest distance from the
artifact on that side is `hop`, with no fan-out cut, ordered by id, `fan_out` per page, with the edges
reaching them from the layer before. The layer's entry in `layers` gives its `total` and a
`next_cursor`; pass it back as `cursor` with the same request for the next page (a cursor is bound
to the tenant, the artifact and the query; `fan_out` may change). `depth` and `direction` are
ignored in layer mode. This is how a GUI shows what `cut` hid.

At most {MAX_NODES} nodes are visited per answer (`truncated` says when that stopped the walk).
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
    repository: Repository,
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
    root = repository.artifact(caller.tenant, artifact_id) if _valid_id(artifact_id) else None
    if root is None:
        raise NotFound(f"No artifact {artifact_id!r}.")
    graph = _TenantGraph(repository, caller.tenant)
    if layer is None:
        if cursor is not None:
            raise ValidationFailed("A cursor pages one layer: give `layer` with it.")
        walk = traverse(graph, artifact_id, direction=direction, depth=depth, fan_out=fan_out)
    else:
        side_name, _, hop_text = layer.partition(":")
        side: Side = "upstream" if side_name == "upstream" else "downstream"
        position = pages.read(cursor)  # bound to the artifact (the path) and the layer (the query)
        after = position_text(position, "after") if position else None
        walk = layer_page(graph, artifact_id, side, int(hop_text), after=after, limit=fan_out)
    return _graph_answer(
        walk,
        caller=caller,
        tenant=tenant,
        repository=repository,
        root=artifact_id,
        root_record=root,
        request=(direction, depth, fan_out, layer),
        pages=pages,
    )


def _graph_answer(
    walk: Traversal,
    *,
    caller: RequestContext,
    tenant: Tenant,
    repository: ArtifactsRepository,
    root: str,
    root_record: dict[str, Any],
    request: tuple[Direction, int, int, str | None],
    pages: Pages,
) -> LineageGraph:
    direction, depth, fan_out, layer = request
    documents = []
    for node_id, place in walk.places.items():
        record = root_record if node_id == root else repository.artifact(caller.tenant, node_id)
        documents.append(node_document(node_id, place, record, walk.cut.get(node_id)))
    nodes, license_block = mask_all(documents, tenant.license, caller.scopes)
    layers = [
        {
            "side": entry.side,
            "hop": entry.hop,
            "nodes": entry.nodes,
            "cut": entry.cut,
            "total": entry.total,
            "next_cursor": pages.issue({"after": entry.next_after} if entry.next_after else None),
        }
        for entry in walk.layers
    ]
    edges = [
        {"source": e.source, "target": e.target, "relation": e.relation}
        for e in sorted(walk.edges.values(), key=lambda e: (e.source, e.target))
    ]
    return LineageGraph.model_validate(
        {
            "root": root,
            "direction": direction,
            "depth": depth,
            "fan_out": fan_out,
            "layer": layer,
            "nodes": nodes,
            "edges": edges,
            "layers": layers,
            "truncated": walk.truncated,
            "license": license_block,
        }
    )
