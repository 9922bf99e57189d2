"""Pure rules of the artifacts group: how events change the registry, how lineage is walked, how
search filters, sorts and pages. No I/O: the graph arrives behind the small `Graph` protocol.

Edges point the way data flows: `source` is an input of `target`. Upstream of X are the sources of
X's edges in, downstream the targets of its edges out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from gui_artifacts.models import ArtifactDeprecated, ArtifactPublished, Side
from gui_core.masking import LicensePolicy, Masked, apply_license

MAX_EVENT_IDS = 20  # recent event ids kept on the record, to drop redeliveries
MAX_NODES = 1000  # nodes one lineage answer (or one layer scan) may visit

NotApplied = Literal["duplicate", "stale", "conflict", "unknown_artifact"]


def iso(value: datetime) -> str:
    """One timestamp format everywhere, so strings compare in time order."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str

    def neighbour(self, side: Side) -> str:
        return self.source if side == "upstream" else self.target


# -- events -> registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    record: dict[str, Any]
    added: tuple[Edge, ...]  # edges to write (new, or with another relation)
    removed: tuple[Edge, ...]  # edges of the previous version the new one no longer has


def _event_ids(stored: Mapping[str, Any] | None, event_id: str) -> list[str]:
    return [*list((stored or {}).get("event_ids") or []), event_id][-MAX_EVENT_IDS:]


def apply_published(
    stored: Mapping[str, Any] | None, event: ArtifactPublished, *, out_degree: int
) -> Publication | NotApplied:
    """The record and edge changes a publication makes, or why it changes nothing.

    A redelivery (event id seen, or same version and content hash) is a `duplicate`; an older
    version than the stored one is `stale`; the same version with another content hash is a
    `conflict` (versions are immutable)."""
    if stored is not None:
        if event.event_id in (stored.get("event_ids") or []):
            return "duplicate"
        version = int(stored["version"])
        if version > event.version:
            return "stale"
        if version == event.version:
            return "duplicate" if stored.get("diff_hash") == event.diff_hash else "conflict"
    at = iso(event.published_at)
    previous = stored.get("diff_hash") if stored else None
    record: dict[str, Any] = {
        "id": event.artifact_id,
        "kind": event.kind,
        "title": event.title,
        "summary": event.summary,
        "version": event.version,
        "owner": event.owner,
        "tags": sorted(set(event.tags)),
        "license_tag": event.license_tag,
        "diff_hash": event.diff_hash,
        "previous_diff_hash": event.previous_diff_hash or previous,
        "governance_status": event.governance_status,
        "licensing_notes": event.licensing_notes,
        "source_uri": event.source_uri,
        "source_text": event.source_text,
        "created_at": stored["created_at"] if stored else at,
        "updated_at": at,
        "deprecated_at": at if event.governance_status == "deprecated" else None,
        "inputs": [{"id": i.id, "relation": i.relation} for i in event.inputs],
        "in_degree": len(event.inputs),
        "out_degree": out_degree,
        "event_ids": _event_ids(stored, event.event_id),
        "revision": int(stored.get("revision") or 0) + 1 if stored else 1,
    }
    old = {str(i["id"]): str(i["relation"]) for i in (stored or {}).get("inputs") or []}
    new = {i.id: i.relation for i in event.inputs}
    added = tuple(Edge(i, event.artifact_id, r) for i, r in sorted(new.items()) if old.get(i) != r)
    removed = tuple(Edge(i, event.artifact_id, r) for i, r in sorted(old.items()) if i not in new)
    return Publication(record, added, removed)


def apply_deprecated(
    stored: Mapping[str, Any] | None, event: ArtifactDeprecated
) -> dict[str, Any] | NotApplied:
    """The deprecated record, or why nothing changes (a newer version than the one deprecated is
    `stale`: it was published after the deprecation was decided)."""
    if stored is None:
        return "unknown_artifact"
    if event.event_id in (stored.get("event_ids") or []) or stored.get("governance_status") == "deprecated":
        return "duplicate"
    if int(stored["version"]) > event.version:
        return "stale"
    at = iso(event.deprecated_at)
    return {
        **stored,
        "governance_status": "deprecated",
        "deprecated_at": at,
        "deprecation_reason": event.reason,
        "replaced_by": event.replaced_by,
        "updated_at": max(str(stored["updated_at"]), at),
        "event_ids": _event_ids(stored, event.event_id),
        "revision": int(stored.get("revision") or 0) + 1,
    }


# -- lineage -----------------------------------------------------------------------------------------


class Graph(Protocol):
    def neighbours(self, artifact_id: str, side: Side) -> list[Edge]:
        """Every edge of the artifact on `side`, ordered by the neighbour's id."""
        ...


@dataclass(frozen=True)
class Place:
    side: Literal["root", "upstream", "downstream"]
    hop: int


@dataclass
class Layer:
    side: Side
    hop: int
    nodes: int
    cut: int
    total: int | None = None
    next_after: str | None = None


@dataclass
class Traversal:
    places: dict[str, Place]  # in the order nodes were reached
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)
    cut: dict[str, dict[str, int]] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    truncated: bool = False


def _sides(direction: str) -> tuple[Side, ...]:
    if direction == "both":
        return ("upstream", "downstream")
    return ("upstream",) if direction == "upstream" else ("downstream",)


def traverse(
    graph: Graph, root: str, *, direction: str, depth: int, fan_out: int, max_nodes: int = MAX_NODES
) -> Traversal:
    """Breadth-first from `root`, hop by hop, on each side asked for.

    From each node at most `fan_out` neighbours (the first by id) are followed; the rest are
    counted in the node's `cut`. A node is placed once, at the first hop it is reached (the upstream
    walk goes first), so cycles and diamonds end; an edge to a node already placed is still listed,
    once."""
    result = Traversal(places={root: Place("root", 0)})
    for side in _sides(direction):
        frontier = [root]
        for hop in range(1, depth + 1):
            reached: list[str] = []
            layer_cut = 0
            for node in frontier:
                edges = graph.neighbours(node, side)
                kept, cut = edges[:fan_out], len(edges) - min(len(edges), fan_out)
                if cut:
                    result.cut.setdefault(node, {"upstream": 0, "downstream": 0})[side] += cut
                    layer_cut += cut
                for edge in kept:
                    other = edge.neighbour(side)
                    if other not in result.places:
                        if len(result.places) >= max_nodes:
                            result.truncated = True
                            continue
                        result.places[other] = Place(side, hop)
                        reached.append(other)
                    result.edges.setdefault((edge.source, edge.target), edge)
            result.layers.append(Layer(side, hop, len(reached), layer_cut))
            frontier = sorted(reached)
            if not frontier:
                break
    return result


def layer_members(
    graph: Graph, root: str, side: Side, hop: int, *, max_nodes: int = MAX_NODES
) -> tuple[list[str], list[str], bool]:
    """Every node whose shortest distance from `root` on `side` is `hop` (no fan-out), sorted by
    id; with the layer before it (sorted) and whether the node limit stopped the walk."""
    seen = {root}
    previous: list[str] = []
    frontier = [root]
    truncated = False
    for _ in range(hop):
        reached: set[str] = set()
        for node in frontier:
            for edge in graph.neighbours(node, side):
                other = edge.neighbour(side)
                if other in seen:
                    continue
                if len(seen) >= max_nodes:
                    truncated = True
                    continue
                seen.add(other)
                reached.add(other)
        previous, frontier = frontier, sorted(reached)
        if not frontier:
            break
    return frontier, previous, truncated


def layer_page(
    graph: Graph,
    root: str,
    side: Side,
    hop: int,
    *,
    after: str | None,
    limit: int,
    max_nodes: int = MAX_NODES,
) -> Traversal:
    """One page of one layer: the nodes at distance `hop` after id `after`, and the edges that
    reach them from the layer before."""
    members, previous, truncated = layer_members(graph, root, side, hop, max_nodes=max_nodes)
    remaining = [m for m in members if after is None or m > after]
    page = remaining[:limit]
    result = Traversal(places={m: Place(side, hop) for m in page}, truncated=truncated)
    wanted = set(page)
    for node in previous:
        for edge in graph.neighbours(node, side):
            if edge.neighbour(side) in wanted:
                result.edges.setdefault((edge.source, edge.target), edge)
    next_after = page[-1] if len(remaining) > limit else None
    result.layers.append(Layer(side, hop, len(page), 0, total=len(members), next_after=next_after))
    return result


def node_document(
    artifact_id: str, place: Place, record: Mapping[str, Any] | None, cut: Mapping[str, int] | None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": artifact_id,
        "side": place.side,
        "hop": place.hop,
        "known": record is not None,
        "cut": dict(cut or {"upstream": 0, "downstream": 0}),
    }
    if record is not None:
        document.update({k: v for k, v in record.items() if k in NODE_FIELDS})
    return document


NODE_FIELDS = frozenset(
    {
        "kind",
        "title",
        "summary",
        "version",
        "owner",
        "tags",
        "license_tag",
        "diff_hash",
        "previous_diff_hash",
        "governance_status",
        "licensing_notes",
        "source_uri",
        "source_text",
        "created_at",
        "updated_at",
        "deprecated_at",
        "in_degree",
        "out_degree",
    }
)
ARTIFACT_FIELDS = NODE_FIELDS | {"id", "deprecation_reason", "replaced_by", "inputs"}


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a stored record an answer may carry (not keys, event ids or revisions)."""
    return {k: v for k, v in record.items() if k in ARTIFACT_FIELDS}


def mask_all(
    documents: Iterable[dict[str, Any]], policy: LicensePolicy, scopes: frozenset[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each document masked on its own (policy paths name artifact fields); one license block."""
    masked: list[dict[str, Any]] = []
    fields: set[str] = set()
    for document in documents:
        one: Masked = apply_license(document, policy, scopes)
        masked.append(one.document)
        fields.update(one.masked_fields)
    return masked, {"tag": policy.license_tag, "masked_fields": sorted(fields)}


# -- search ---------------------------------------------------------------------------------------------

SortField = Literal["updated", "created", "title"]
SortOrder = Literal["asc", "desc"]


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    license_tag: str | None = None
    governance_status: str | None = None
    created_from: str | None = None
    created_to: str | None = None
    updated_from: str | None = None
    updated_to: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        checks: list[tuple[str | None, Callable[[str], bool]]] = [
            (self.kind, lambda v: record.get("kind") == v),
            (self.owner, lambda v: record.get("owner") == v),
            (self.license_tag, lambda v: record.get("license_tag") == v),
            (self.governance_status, lambda v: record.get("governance_status") == v),
            (self.created_from, lambda v: str(record.get("created_at")) >= v),
            (self.created_to, lambda v: str(record.get("created_at")) <= v),
            (self.updated_from, lambda v: str(record.get("updated_at")) >= v),
            (self.updated_to, lambda v: str(record.get("updated_at")) <= v),
        ]
        if not all(check(value) for value, check in checks if value is not None):
            return False
        return set(self.tags) <= set(record.get("tags") or [])


def sort_key(record: Mapping[str, Any], sort: SortField) -> str:
    if sort == "title":
        return str(record.get("title") or "").casefold()
    return str(record.get("created_at" if sort == "created" else "updated_at") or "")


def search(
    records: Iterable[Mapping[str, Any]],
    filters: Filters,
    *,
    sort: SortField,
    order: SortOrder,
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[list[Mapping[str, Any]], int, tuple[str, str] | None]:
    """Matching records in (sort key, id) order, the page after `after`, the total and the position
    of the page's last record when more follow. The id breaks ties, so the order is total and a
    cursor (a position, not an offset) neither repeats nor skips records when others arrive."""
    matching = [r for r in records if filters.matches(r)]
    descending = order == "desc"
    matching.sort(key=lambda r: (sort_key(r, sort), str(r["id"])), reverse=descending)
    if after is not None:
        matching_after = [
            r
            for r in matching
            if (
                (sort_key(r, sort), str(r["id"])) < after
                if descending
                else (sort_key(r, sort), str(r["id"])) > after
            )
        ]
    else:
        matching_after = matching
    page = matching_after[:limit]
    last = (sort_key(page[-1], sort), str(page[-1]["id"])) if page and len(matching_after) > limit else None
    return page, len(matching), last
