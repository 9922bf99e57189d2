"""Pure rules of the artifacts group: lineage walks (depth, fan-out cuts, cycles, both directions,
layers), masking of nodes, search filters, sorts and positions."""

from __future__ import annotations

from typing import Any

import pytest

from gui_artifacts.logic import (
    Edge,
    Filters,
    layer_members,
    layer_page,
    mask_all,
    node_document,
    search,
    traverse,
)
from gui_artifacts.models import Side
from gui_core.masking import LicensePolicy
from gui_core.rbac import LICENSE_RESTRICTED


class Graph:
    """Edges as (upstream, downstream) pairs; counts the reads and the edges they returned."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.edges = [Edge(a, b, "derived_from") for a, b in pairs]
        self.reads = 0
        self.edges_read = 0

    def _all(self, artifact_id: str, side: Side) -> list[Edge]:
        if side == "upstream":
            found = [e for e in self.edges if e.target == artifact_id]
        else:
            found = [e for e in self.edges if e.source == artifact_id]
        return sorted(found, key=lambda e: e.neighbour(side))

    def neighbours(self, artifact_id: str, side: Side, *, limit: int, after: str | None = None) -> list[Edge]:
        self.reads += 1
        found = [e for e in self._all(artifact_id, side) if after is None or e.neighbour(side) > after][
            :limit
        ]
        self.edges_read += len(found)
        return found

    def degree(self, artifact_id: str, side: Side) -> int:
        return len(self._all(artifact_id, side))


# ing -> cov -> map -> ovl -> rdy -> pp, with a diamond (cov -> map2 -> ovl) and a cycle (pp -> cov)
CHAIN = Graph(
    ("ing", "cov"),
    ("cov", "map"),
    ("cov", "map2"),
    ("map", "ovl"),
    ("map2", "ovl"),
    ("ovl", "rdy"),
    ("rdy", "pp"),
    ("pp", "cov"),
)


def _placed(walk: Any) -> dict[str, tuple[str, int]]:
    return {node: (p.side, p.hop) for node, p in walk.places.items()}


def test_depth_one_both_ways_shows_the_direct_neighbours() -> None:
    walk = traverse(CHAIN, "map", direction="both", depth=1, fan_out=25)
    assert _placed(walk) == {"map": ("root", 0), "cov": ("upstream", 1), "ovl": ("downstream", 1)}
    assert sorted(walk.edges) == [("cov", "map"), ("map", "ovl")]
    assert [(layer.side, layer.hop, layer.nodes, layer.cut) for layer in walk.layers] == [
        ("upstream", 1, 1, 0),
        ("downstream", 1, 1, 0),
    ]


def test_depth_limits_the_hops_on_one_side() -> None:
    walk = traverse(CHAIN, "ovl", direction="upstream", depth=2, fan_out=25)
    assert _placed(walk) == {
        "ovl": ("root", 0),
        "map": ("upstream", 1),
        "map2": ("upstream", 1),
        "cov": ("upstream", 2),
    }
    assert all(p.side != "downstream" for p in walk.places.values())


def test_a_diamond_places_its_join_once_and_lists_both_edges() -> None:
    walk = traverse(CHAIN, "cov", direction="downstream", depth=2, fan_out=25)
    assert _placed(walk)["ovl"] == ("downstream", 2)
    assert list(walk.places).count("ovl") == 1
    assert {("map", "ovl"), ("map2", "ovl")} <= set(walk.edges)


def test_a_cycle_never_loops_and_its_closing_edge_is_listed_once() -> None:
    walk = traverse(CHAIN, "cov", direction="both", depth=10, fan_out=25)
    assert set(walk.places) == {"ing", "cov", "map", "map2", "ovl", "rdy", "pp"}
    assert walk.places["pp"].side == "upstream"  # reached upstream first (pp -> cov)
    assert len(walk.edges) == len(CHAIN.edges)  # every edge exactly once
    # once a layer is empty the walk stops: far fewer reads than 10 hops of every node
    assert walk.layers[-1].nodes == 0


def test_fan_out_follows_the_first_neighbours_and_counts_the_rest() -> None:
    star = Graph(*[("hub", f"n{i:02d}") for i in range(30)], ("n00", "leaf"), ("n29", "hidden"))
    walk = traverse(star, "hub", direction="downstream", depth=2, fan_out=10)
    assert [n for n in walk.places if n != "hub"] == [*[f"n{i:02d}" for i in range(10)], "leaf"]
    assert walk.cut == {"hub": {"upstream": 0, "downstream": 20}}
    assert [(layer.hop, layer.nodes, layer.cut) for layer in walk.layers] == [(1, 10, 20), (2, 1, 0)]
    assert "hidden" not in walk.places  # behind a cut node


def test_the_node_limit_stops_the_walk_and_says_so() -> None:
    star = Graph(*[("hub", f"n{i:02d}") for i in range(30)])
    walk = traverse(star, "hub", direction="downstream", depth=1, fan_out=100, max_nodes=5)
    assert len(walk.places) == 5
    assert walk.truncated
    assert all(a in walk.places and b in walk.places for a, b in walk.edges)


def test_a_layer_pages_every_node_at_its_distance_without_cuts() -> None:
    star = Graph(*[("hub", f"n{i:02d}") for i in range(30)], ("root", "hub"), ("root", "n05"))
    first = layer_page(star, "root", "downstream", 2, after=None, limit=12)
    # n05 is one hop from root, so it is not in layer 2
    assert list(first.places) == [f"n{i:02d}" for i in range(13) if i != 5]
    assert first.layers[0].total == 29
    pages = [list(first.places)]
    after = first.layers[0].next_after
    while after:
        page = layer_page(star, "root", "downstream", 2, after=after, limit=12)
        pages.append(list(page.places))
        after = page.layers[0].next_after
    seen = [n for page in pages for n in page]
    assert seen == sorted(set(seen))
    assert len(seen) == 29
    assert set(first.edges) == {("hub", n) for n in first.places}


def test_a_walk_reads_only_the_edges_it_follows_whatever_the_degree() -> None:
    hub = Graph(*[("hub", f"n{i:05d}") for i in range(5000)], ("src", "hub"))
    walk = traverse(hub, "src", direction="downstream", depth=2, fan_out=10)
    assert walk.cut == {"hub": {"upstream": 0, "downstream": 4990}}  # from its degree, not its edges
    assert hub.edges_read == 1 + 10  # src's edge, then hub's first 10
    assert [(layer.nodes, layer.cut) for layer in walk.layers] == [(1, 0), (10, 4990)]


def test_the_first_layer_pages_a_page_and_one_more_with_its_total_from_the_degree() -> None:
    hub = Graph(*[("hub", f"n{i:05d}") for i in range(5000)])
    seen: list[str] = []
    after = None
    reads = []
    while True:
        before = hub.edges_read
        page = layer_page(hub, "hub", "downstream", 1, after=after, limit=100)
        reads.append(hub.edges_read - before)
        assert page.layers[0].total == 5000
        seen += list(page.places)
        assert set(page.edges) == {("hub", n) for n in page.places}
        after = page.layers[0].next_after
        if after is None:
            break
    assert seen == [f"n{i:05d}" for i in range(5000)]
    assert max(reads) <= 102  # the page, one more to know more follow, and the root's check of itself
    assert len(reads) == 50


def test_a_deeper_layer_walk_stops_at_its_edge_limit_and_says_so() -> None:
    wide = Graph(
        *[("root", f"a{i:03d}") for i in range(50)], *[(f"a{i:03d}", f"b{i:03d}") for i in range(50)]
    )
    members, into, truncated = layer_members(wide, "root", "downstream", 2, max_edges=60, chunk=20)
    assert truncated
    assert wide.edges_read <= 60
    assert set(into) == {(f"a{i:03d}", f"b{i:03d}") for i in range(10)}
    assert members == [f"b{i:03d}" for i in range(10)]


def test_a_layer_beyond_the_graph_is_empty() -> None:
    page = layer_page(CHAIN, "pp", "downstream", 9, after=None, limit=5)
    assert (list(page.places), page.layers[0].total, page.layers[0].next_after) == ([], 0, None)


POLICY = LicensePolicy.from_record(
    {
        "license_tag": "acme-enterprise",
        "restricted_fields": {"source_text": "remove", "licensing_notes": "mask"},
    }
)


def _nodes() -> list[dict[str, Any]]:
    walk = traverse(CHAIN, "map", direction="both", depth=1, fan_out=25)
    records = {
        "map": {"title": "Map", "source_text": "secret", "licensing_notes": "affiliate only", "in_degree": 1},
        "cov": {"title": "Cov", "licensing_notes": "internal"},
    }
    return [node_document(n, p, records.get(n), walk.cut.get(n)) for n, p in walk.places.items()]


def test_nodes_are_masked_for_callers_without_the_restricted_scope() -> None:
    nodes, block = mask_all(_nodes(), POLICY, frozenset({"gui:artifacts"}))
    by_id = {n["id"]: n for n in nodes}
    assert "source_text" not in by_id["map"]
    assert by_id["map"]["licensing_notes"] == by_id["cov"]["licensing_notes"] == "***"
    assert by_id["ovl"]["known"] is False  # an input never published: only its id
    assert block == {"tag": "acme-enterprise", "masked_fields": ["licensing_notes", "source_text"]}


def test_the_restricted_scope_sees_everything() -> None:
    nodes, block = mask_all(_nodes(), POLICY, frozenset({"gui:artifacts", LICENSE_RESTRICTED}))
    assert {n["id"]: n.get("source_text") for n in nodes}["map"] == "secret"
    assert block == {"tag": "acme-enterprise", "masked_fields": []}


RECORDS = [
    {
        "id": f"a{i:02d}",
        "kind": "coverage" if i % 2 else "mapping",
        "title": t,
        "owner": o,
        "tags": tags,
        "license_tag": "CC-BY-4.0",
        "governance_status": "approved",
        "created_at": f"2026-11-{10 + i % 5:02d}T00:00:00.000+00:00",
        "updated_at": "2026-11-27T00:00:00.000+00:00",
    }
    for i, (t, o, tags) in enumerate(
        [("beta", "ada", ["x"]), ("Alpha", "ada", ["x", "y"]), ("gamma", "bob", ["y"]), ("alpha", "bob", [])]
        * 3
    )
]


def test_filters_combine_and_tags_must_all_be_present() -> None:
    page, total, _ = search(
        RECORDS, Filters(tags=("x", "y"), owner="ada"), sort="title", order="asc", after=None, limit=50
    )
    assert total == 3
    assert {r["title"] for r in page} == {"Alpha"}
    _, total, _ = search(
        RECORDS,
        Filters(kind="coverage", created_from="2026-11-11", created_to="2026-11-12T23:59:59"),
        sort="created",
        order="desc",
        after=None,
        limit=50,
    )
    assert total == sum(
        1 for r in RECORDS if r["kind"] == "coverage" and "2026-11-11" <= r["created_at"][:10] <= "2026-11-12"
    )


@pytest.mark.parametrize(
    ("sort", "order"), [("title", "asc"), ("title", "desc"), ("created", "asc"), ("updated", "desc")]
)
def test_positions_page_through_every_record_once_in_a_total_order(sort: Any, order: Any) -> None:
    seen: list[str] = []
    after = None
    while True:
        page, total, after = search(RECORDS, Filters(), sort=sort, order=order, after=after, limit=5)
        seen += [str(r["id"]) for r in page]
        if after is None:
            break
    assert total == len(RECORDS) == len(seen) == len(set(seen))
    full, _, _ = search(RECORDS, Filters(), sort=sort, order=order, after=None, limit=100)
    assert seen == [r["id"] for r in full]
    if sort == "title":  # case-insensitive, ties broken by id
        titles = [str(r["title"]).casefold() for r in full]
        assert titles == sorted(titles, reverse=order == "desc")
