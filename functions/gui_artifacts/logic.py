"""Pure rules of the artifacts group: how events change the registry, how lineage is walked, how
search filters, sorts and pages. No I/O: the graph arrives behind the small `Graph` protocol.

Edges point the way data flows: `source` is an input of `target`. Upstream of X are the sources of
X's edges in, downstream the targets of its edges out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from gui_artifacts.models import MAX_INPUTS, ArtifactDeprecated, ArtifactPublished, Side
from gui_core.date_times import iso
from gui_core.masking import LicensePolicy, Masked, apply_license

MAX_EVENT_IDS = 20  # recent event ids kept on the record, to drop redeliveries
MAX_NODES = 1000  # nodes one lineage answer (or one layer scan) may visit
MAX_EDGES_READ = 5000  # edges one layer walk may read (a deeper layer's walk: bounded, says so)
EDGE_CHUNK = 200  # edges one query of a layer walk reads
ORDER_TITLE_CHARS = 200  # a title's case-folded characters that order it (the index key's limit)

NotApplied = Literal["duplicate", "stale", "conflict", "unknown_artifact"]


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


def apply_published(stored: Mapping[str, Any] | None, event: ArtifactPublished) -> Publication | NotApplied:
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
        # The count the releases before issue 14 kept (a recount, up to 1,000): answered only until
        # migration 0031 has counted the tenant's edges in their DEG items.
        "out_degree": int((stored or {}).get("out_degree") or 0),
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
    def neighbours(self, artifact_id: str, side: Side, *, limit: int, after: str | None = None) -> list[Edge]:
        """The first `limit` edges of the artifact on `side` whose neighbour's id is after `after`,
        ordered by the neighbour's id."""
        ...

    def degree(self, artifact_id: str, side: Side) -> int:
        """How many edges the artifact has on `side` (exact, whatever their number)."""
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

    From each node at most `fan_out` neighbours (the first by id) are followed, and only those are
    read; the rest (its degree on that side less the followed) are counted in the node's `cut`. A
    node is placed once, at the first hop it is reached (the upstream walk goes first), so cycles and
    diamonds end; an edge to a node already placed is still listed, once."""
    result = Traversal(places={root: Place("root", 0)})
    for side in _sides(direction):
        frontier = [root]
        for hop in range(1, depth + 1):
            reached: list[str] = []
            layer_cut = 0
            for node in frontier:
                kept = graph.neighbours(node, side, limit=fan_out)
                cut = max(0, graph.degree(node, side) - len(kept))
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


@dataclass
class _Budget:
    """Edges a layer walk may still read (`MAX_EDGES_READ`): the walk stops, truncated, beyond."""

    left: int
    spent: bool = False


def _every_neighbour(graph: Graph, node: str, side: Side, budget: _Budget, chunk: int) -> Iterator[Edge]:
    """The node's edges on `side`, a query of `chunk` at a time, while the budget lasts."""
    after: str | None = None
    while budget.left > 0:
        want = min(chunk, budget.left)
        edges = graph.neighbours(node, side, limit=want, after=after)
        budget.left -= len(edges)
        yield from edges
        if len(edges) < want:
            return
        after = edges[-1].neighbour(side)
    budget.spent = True


def layer_members(
    graph: Graph,
    root: str,
    side: Side,
    hop: int,
    *,
    max_nodes: int = MAX_NODES,
    max_edges: int = MAX_EDGES_READ,
    chunk: int = EDGE_CHUNK,
) -> tuple[list[str], dict[tuple[str, str], Edge], bool]:
    """Every node whose shortest distance from `root` on `side` is `hop` (no fan-out), sorted by
    id; the edges reaching them from the layer before; and whether the node or edge limit stopped
    the walk."""
    seen = {root}
    frontier = [root]
    truncated = False
    budget = _Budget(max_edges)
    into: dict[tuple[str, str], Edge] = {}
    for step in range(1, hop + 1):
        reached: set[str] = set()
        for node in frontier:
            for edge in _every_neighbour(graph, node, side, budget, chunk):
                other = edge.neighbour(side)
                if other in reached and step == hop:
                    into.setdefault((edge.source, edge.target), edge)
                if other in seen:
                    continue
                if len(seen) >= max_nodes:
                    truncated = True
                    break
                seen.add(other)
                reached.add(other)
                if step == hop:
                    into.setdefault((edge.source, edge.target), edge)
        frontier = sorted(reached)
        if not frontier:
            break
    return frontier, into, truncated or budget.spent


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
    reach them from the layer before.

    The first layer is the root's neighbours: the page reads `limit + 1` of them after `after` (one
    more tells that more follow) and its total is the root's degree, whatever its size. A deeper
    layer is found by walking the layers before it, at most `MAX_NODES` nodes and `MAX_EDGES_READ`
    edges (`truncated` says when that stopped the walk)."""
    if hop == 1:
        edges = [
            e for e in graph.neighbours(root, side, limit=limit + 2, after=after) if e.neighbour(side) != root
        ]
        page = edges[:limit]
        # An edge from the root to itself (it named itself as an input) is no member of a layer.
        looped = any(e.source == root for e in graph.neighbours(root, "upstream", limit=MAX_INPUTS))
        total = graph.degree(root, side) - (1 if looped else 0)
        result = Traversal(places={e.neighbour(side): Place(side, hop) for e in page})
        result.edges = {(e.source, e.target): e for e in page}
        next_after = page[-1].neighbour(side) if len(edges) > limit else None
        result.layers.append(Layer(side, hop, len(page), 0, total=total, next_after=next_after))
        return result
    members, into, truncated = layer_members(graph, root, side, hop, max_nodes=max_nodes)
    remaining = [m for m in members if after is None or m > after]
    page_members = remaining[:limit]
    result = Traversal(places={m: Place(side, hop) for m in page_members}, truncated=truncated)
    wanted = set(page_members)
    result.edges = {k: e for k, e in sorted(into.items()) if e.neighbour(side) in wanted}
    next_after = page_members[-1] if len(remaining) > limit else None
    result.layers.append(Layer(side, hop, len(page_members), 0, total=len(members), next_after=next_after))
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

    def any(self) -> bool:
        return any(value not in (None, ()) for value in vars(self).values())

    def residual(self, sort: SortField) -> Filters:
        """What is left to filter once the order's key range (`key_range`) is read."""
        if sort == "created":
            return replace(self, created_from=None, created_to=None)
        if sort == "updated":
            return replace(self, updated_from=None, updated_to=None)
        return self

    def key_range(self, sort: SortField, separator: str) -> tuple[str, str] | None:
        """The order's key range the time bounds of its own timestamp give (`updated` by
        updated_from/to, `created` by created_from/to): read as a key condition, not filtered."""
        if sort == "title":
            return None
        low, high = (
            (self.created_from, self.created_to)
            if sort == "created"
            else (
                self.updated_from,
                self.updated_to,
            )
        )
        if low is None and high is None:
            return None
        # Timestamps have one length (`iso`), so `<value><separator><id>` compares as the value.
        # Open ends: "0" comes before and "A" after every year (0001 to 9999); a key condition takes
        # no empty string.
        return (low or "0"), (high + chr(ord(separator) + 1)) if high else "A"


def order_value(record: Mapping[str, Any], sort: SortField) -> str:
    """What orders a record in `sort`: a timestamp, or the first 200 case-folded characters of its
    title (an index key holds at most 1,024 bytes); the id breaks ties."""
    if sort == "title":
        return str(record.get("title") or "").casefold()[:ORDER_TITLE_CHARS]
    return str(record.get("created_at" if sort == "created" else "updated_at") or "")


sort_key = order_value


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
