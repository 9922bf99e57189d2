"""Use cases of the artifacts group: one artifact, its lineage graph, structured search. One function
per operation, called by every door (REST today); each reads through the repository, applies the pure
rules (`gui_artifacts.logic`), and passes every answer through the tenant's license policy
(`gui_core.masking`), saying what it masked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gui_artifacts.logic import (
    Edge,
    Filters,
    SortField,
    SortOrder,
    Traversal,
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
    LineageGraph,
    Side,
)
from gui_artifacts.repository import MAX_REGISTRY_READ, ORDER_SEPARATOR, ArtifactsRepository
from gui_core.context import RequestContext
from gui_core.cursors import Pages, position_text
from gui_core.errors import NotFound, ValidationFailed
from gui_core.migrations.gate import Gate
from gui_core.tenancy import Tenant

# The migrations that backfill what the readers rely on (gui_migrate.migrations): before a tenant's is
# done, the search reads the registry as the releases before issue 14 did, and out_degree is their
# recount. The search waits for the order items' second pass (what the release before published
# during the deploy of their first).
ORDER_MIGRATION = "0032_artifact_order_keys_again"
COUNT_MIGRATION = "0031_artifact_edge_counts"
# Re-exported: what a door builds a search of (the REST route, the GraphQL field).
__all__ = ["Filters", "SortField", "SortOrder"]


@dataclass(frozen=True)
class ArtifactsPorts:
    """What the artifacts' use cases reach: the registry, the migration ledger (whether a tenant's
    order items and edge counts are backfilled, 0030 and 0031) and the order items a search page
    reads at most."""

    repository: ArtifactsRepository
    gate: Gate
    search_read_budget: int


class _TenantGraph:
    """The tenant's lineage, read as a walk needs it within one request: an artifact's edges in are
    its record's inputs; its edges out, the OUT# items a walk asks for (a query of `limit`); its
    degree out, its DEG count (exact) once the tenant's edges are counted."""

    def __init__(
        self, repository: ArtifactsRepository, tenant: str, *, counted: bool, root: dict[str, Any]
    ) -> None:
        self._repository = repository
        self._tenant = tenant
        self._counted = counted
        self._records: dict[str, dict[str, Any] | None] = {str(root["id"]): root}
        self._degrees: dict[str, int] = {}

    def record(self, artifact_id: str) -> dict[str, Any] | None:
        if artifact_id not in self._records:
            self._records[artifact_id] = self._repository.artifact(self._tenant, artifact_id)
        return self._records[artifact_id]

    def records(self, artifact_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        missing = [i for i in artifact_ids if i not in self._records]
        found = self._repository.artifacts(self._tenant, missing)
        self._records.update({i: found.get(i) for i in missing})
        return {i: self._records[i] for i in artifact_ids}

    def neighbours(self, artifact_id: str, side: Side, *, limit: int, after: str | None = None) -> list[Edge]:
        if side == "upstream":
            inputs = sorted(
                (str(i["id"]), str(i["relation"]))
                for i in (self.record(artifact_id) or {}).get("inputs") or []
            )
            return [Edge(i, artifact_id, r) for i, r in inputs if after is None or i > after][:limit]
        return self._repository.downstream(self._tenant, artifact_id, limit=limit, after=after)

    def degree(self, artifact_id: str, side: Side) -> int:
        if side == "upstream":
            return len((self.record(artifact_id) or {}).get("inputs") or [])
        return self.out_degrees([artifact_id])[artifact_id]

    def out_degrees(self, artifact_ids: list[str]) -> dict[str, int]:
        """Degrees out of these artifacts: one read for those not read yet."""
        missing = [i for i in artifact_ids if i not in self._degrees]
        if missing:
            self._degrees |= out_degrees(self._repository, self._tenant, missing, counted=self._counted)
        return {i: self._degrees[i] for i in artifact_ids}


def out_degrees(
    repository: ArtifactsRepository, tenant: str, artifact_ids: list[str], *, counted: bool
) -> dict[str, int]:
    """Exact (the DEG counts) once the tenant's edges are counted; before, counted as the releases
    before issue 14 did (up to 1,000 edges read per artifact)."""
    if counted:
        return repository.out_degrees(tenant, artifact_ids)
    return repository.counted_out_degrees(tenant, artifact_ids)


def _with_degrees(
    repository: ArtifactsRepository, tenant: str, records: list[dict[str, Any]], *, counted: bool
) -> list[dict[str, Any]]:
    """The records with their out_degree (`out_degrees`)."""
    degrees = out_degrees(repository, tenant, [str(r["id"]) for r in records], counted=counted)
    return [{**r, "out_degree": degrees[str(r["id"])]} for r in records]


def search_artifacts(
    ports: ArtifactsPorts,
    caller: RequestContext,
    tenant: Tenant,
    pages: Pages,
    filters: Filters,
    *,
    sort: SortField,
    order: SortOrder,
    limit: int,
    cursor: str | None,
) -> ArtifactPage:
    """One page of the tenant's artifacts that match `filters`, in (`sort`, id) order, from the
    position `cursor` holds: read from the order items once migration 0030 is done for the tenant
    (at most `search_read_budget` of them; `partial` says when that stopped the page), from the
    registry read whole before."""
    repository = ports.repository
    position = pages.read(cursor)
    after = (position_text(position, "k"), position_text(position, "id")) if position else None
    partial = False
    if not ports.gate.done(ORDER_MIGRATION, caller.tenant):
        # Before the tenant's order items are written: the registry read whole, as before issue 14.
        records, total, last = search(
            repository.registry(caller.tenant, limit=MAX_REGISTRY_READ),
            filters,
            sort=sort,
            order=order,
            after=after,
            limit=limit,
        )
        page = list(records)
    else:
        found = repository.order_page(
            caller.tenant,
            sort=sort,
            order=order,
            after=after,
            accept=filters.residual(sort).matches,
            limit=limit,
            budget=ports.search_read_budget,
            key_range=filters.key_range(sort, ORDER_SEPARATOR),
            filtered=filters.residual(sort).any(),
        )
        stored = repository.artifacts(caller.tenant, [str(i["id"]) for i in found.items])
        # An order item a release before this one left behind its record is skipped, never answered.
        page = [
            r for r in (stored.get(str(i["id"])) for i in found.items) if r is not None and filters.matches(r)
        ]
        last, partial = found.next_after, found.partial
        if not filters.any():
            total = repository.artifact_count(caller.tenant)
        elif cursor is None and last is None:
            total = len(page)
        else:
            total = None
    counted = ports.gate.done(COUNT_MIGRATION, caller.tenant)
    documents = (
        public(r) for r in _with_degrees(repository, caller.tenant, [dict(r) for r in page], counted=counted)
    )
    items, license_block = mask_all(documents, tenant.license, caller.scopes)
    next_cursor = pages.issue({"k": last[0], "id": last[1]} if last else None)
    return ArtifactPage(
        items=[Artifact.model_validate(i) for i in items],
        total=total,
        next_cursor=next_cursor,
        partial=partial,
        license=license_block,  # type: ignore[arg-type]
    )


def _stored(repository: ArtifactsRepository, tenant: str, artifact_id: str) -> dict[str, Any]:
    """The artifact's record; NotFound for an id that cannot be one, or none stored."""
    valid = re.fullmatch(ARTIFACT_ID_PATTERN, artifact_id) is not None
    record = repository.artifact(tenant, artifact_id) if valid else None
    if record is None:
        raise NotFound(f"No artifact {artifact_id!r}.")
    return record


def read_artifact(
    ports: ArtifactsPorts, caller: RequestContext, tenant: Tenant, artifact_id: str
) -> ArtifactView:
    """One artifact, masked by the tenant's license policy unless the caller may read it whole."""
    record = _stored(ports.repository, caller.tenant, artifact_id)
    counted = ports.gate.done(COUNT_MIGRATION, caller.tenant)
    (record,) = _with_degrees(ports.repository, caller.tenant, [record], counted=counted)
    (document,), license_block = mask_all([public(record)], tenant.license, caller.scopes)
    return ArtifactView.model_validate({**document, "license": license_block})


def read_artifacts(
    ports: ArtifactsPorts, caller: RequestContext, tenant: Tenant, artifact_ids: Sequence[str]
) -> dict[str, ArtifactView]:
    """Those of these artifacts that are stored, by id, each as `read_artifact` answers it (masked on
    its own, with its own license block): the records in one batched read (BatchGetItem, 100 a
    call) and their degrees out in another (once the tenant's edges are counted, migration 0031),
    whatever their number. An id that cannot be one is none, as an id not stored."""
    wanted = list(dict.fromkeys(i for i in artifact_ids if re.fullmatch(ARTIFACT_ID_PATTERN, i)))
    records = ports.repository.artifacts(caller.tenant, wanted)
    stored = [records[i] for i in wanted if i in records]
    if not stored:
        return {}
    counted = ports.gate.done(COUNT_MIGRATION, caller.tenant)
    views: dict[str, ArtifactView] = {}
    for record in _with_degrees(ports.repository, caller.tenant, stored, counted=counted):
        (document,), license_block = mask_all([public(record)], tenant.license, caller.scopes)
        views[str(record["id"])] = ArtifactView.model_validate({**document, "license": license_block})
    return views


def read_lineage(
    ports: ArtifactsPorts,
    caller: RequestContext,
    tenant: Tenant,
    pages: Pages,
    artifact_id: str,
    *,
    direction: Direction,
    depth: int,
    fan_out: int,
    layer: str | None,
    cursor: str | None,
) -> LineageGraph:
    """The artifact's lineage: the graph walk (`traverse`), or with `layer` (`<side>:<hop>`) one page
    of one layer (`layer_page`) from the position `cursor` holds."""
    root = _stored(ports.repository, caller.tenant, artifact_id)
    counted = ports.gate.done(COUNT_MIGRATION, caller.tenant)
    graph = _TenantGraph(ports.repository, caller.tenant, counted=counted, root=root)
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
        graph=graph,
        root=artifact_id,
        request=(direction, depth, fan_out, layer),
        pages=pages,
    )


def _graph_answer(
    walk: Traversal,
    *,
    caller: RequestContext,
    tenant: Tenant,
    graph: _TenantGraph,
    root: str,
    request: tuple[Direction, int, int, str | None],
    pages: Pages,
) -> LineageGraph:
    direction, depth, fan_out, layer = request
    records = graph.records(list(walk.places))
    degrees = graph.out_degrees([i for i, r in records.items() if r is not None])
    documents = []
    for node_id, place in walk.places.items():
        record = records[node_id]
        if record is not None:
            record = {**record, "out_degree": degrees[node_id]}
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
