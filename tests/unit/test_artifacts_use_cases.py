"""The artifacts' use cases called as a door other than REST would call them (gui_artifacts.use_cases),
over the real repository on a registry in memory as the releases before issue 14 left it: before the
order backfill (0030) the search pages through the whole registry, every match once; once the edges
are counted (0031) a lineage walk cuts a node's neighbours beyond `fan_out` and says how many, exactly.
(The order items' path reads an index, which the table in memory has not: the contract suites
cover it on the local runtime.)"""

from __future__ import annotations

import pytest

from gui_artifacts.logic import Filters
from gui_artifacts.repository import ArtifactsRepository
from gui_artifacts.use_cases import ArtifactsPorts, read_artifact, read_lineage, search_artifacts
from gui_core.context import RequestContext
from gui_core.cursors import CursorPlace, Cursors, Pages, StaticCursorKeys
from gui_core.errors import NotFound
from gui_core.migrations.gate import Always
from gui_core.tenancy import Tenant
from gui_migrate.migrations import m0031_artifact_edge_counts as m0031
from tests.unit.test_artifact_migrations import TENANT, old_registry, run

CALLER = RequestContext(TENANT, "ada@acme", frozenset({"gui:artifacts"}), (), "eu-west-1", "r", None, None, 0)
ACME = Tenant(TENANT, TENANT, "eu-west-1")
KEYS = Cursors(StaticCursorKeys(b"k" * 32))


def pages(route: str, **query: str) -> Pages:
    return Pages(KEYS, CursorPlace(route, TENANT, tuple(sorted(query.items()))))


def registry(*, backfilled: bool) -> ArtifactsPorts:
    """The hub and 12 leaves made from it; with `backfilled`, the edges counted (0031) and the
    migration gate saying so."""
    table = old_registry(leaves=12)
    if backfilled:
        run(m0031.ArtifactEdgeCounts(), table)
    repository = ArtifactsRepository(table)  # type: ignore[arg-type]
    return ArtifactsPorts(repository, Always(backfilled), search_read_budget=100)


def every_page(ports: ArtifactsPorts, filters: Filters) -> tuple[list[str], int | None]:
    """The ids of every page of 5, in order, and the first page's total."""
    ids: list[str] = []
    cursor, total = None, None
    while True:
        page = search_artifacts(
            ports,
            CALLER,
            ACME,
            pages("GET /service/gui/artifacts/search", kind=str(filters.kind)),
            filters,
            sort="title",
            order="asc",
            limit=5,
            cursor=cursor,
        )
        total = page.total if cursor is None else total
        ids += [a.id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids, total


def test_before_the_order_backfill_the_search_pages_through_the_whole_registry() -> None:
    ports = registry(backfilled=False)
    assert every_page(ports, Filters()) == (["hub", *(f"leaf-{n:03d}" for n in range(12))], 13)
    odd = [f"leaf-{n:03d}" for n in range(1, 12, 2)]  # the old records' kind: mapping for odd n
    assert every_page(ports, Filters(kind="mapping")) == (odd, 6)


def test_a_lineage_walk_cuts_beyond_fan_out_and_counts_what_it_cut() -> None:
    ports = registry(backfilled=True)
    graph = read_lineage(
        ports,
        CALLER,
        ACME,
        pages("GET /service/gui/artifacts/hub/lineage"),
        "hub",
        direction="downstream",
        depth=1,
        fan_out=5,
        layer=None,
        cursor=None,
    )
    hub = next(n for n in graph.nodes if n.id == "hub")
    assert (len(graph.nodes), hub.cut.downstream, graph.layers[0].cut) == (6, 7, 7)
    assert read_artifact(ports, CALLER, ACME, "hub").out_degree == 12


def test_an_id_that_cannot_be_an_artifact_is_not_found() -> None:
    ports = registry(backfilled=True)
    for artifact_id in ("ghost", "../hub"):  # an input never published; no artifact's id
        with pytest.raises(NotFound):
            read_artifact(ports, CALLER, ACME, artifact_id)
