"""Contract of every artifacts endpoint through the real authorizer and handler: schemas, scopes,
tenancy, license masking, lineage walks and their parameters, search filters, sorts, pages and
totals; the registry fed through the gui_artifact_events function from the sample events."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from gui_artifacts.models import ArtifactPage, ArtifactView, LineageGraph
from local.apigw import sample_event
from local.containers import Container
from local.runtime import LocalBackend
from stacks.manifest import ARTIFACT_EVENTS_FUNCTION, ARTIFACTS_FUNCTION, MANIFEST
from tests.contract.conftest import REGION, Client, aws, group_backend, problem, provision

PUBLISHED = sample_event("eventbridge_artifact_published")
DEPRECATED = sample_event("eventbridge_artifact_deprecated")
ARTIFACT_ROUTES = [(r.method, r.path) for r in MANIFEST.function("gui_artifacts").routes]
POLICY = {
    "license_tag": "acme-enterprise",
    "restricted_fields": {"source_text": "remove", "licensing_notes": "mask"},
}
_numbers = itertools.count()
_events = itertools.count()

# ing -> cov -> map -> ovl -> rdy -> pp, a diamond cov -> map2 -> ovl, a cycle pp -> cov (calibrates),
# and a hub with 30 leaves for fan-out and layer pages.
CHAIN: dict[str, tuple[str, list[str]]] = {
    "ing": ("ingestion", []),
    "cov": ("coverage", ["ing", "pp:calibrates"]),
    "map": ("mapping", ["cov"]),
    "map2": ("mapping", ["cov"]),
    "ovl": ("overlay", ["map:overlays", "map2:overlays"]),
    "rdy": ("readiness", ["ovl"]),
    "pp": ("prompt_pack", ["rdy"]),
    "hub": ("coverage", ["ing"]),
}
LEAVES = [f"leaf-{i:02d}" for i in range(30)]


# -- a backend with the artifacts functions only ----------------------------------------------------


MIGRATION_FUNCTIONS = ("gui_migrate", "gui_migrate_worker")


@pytest.fixture(scope="module")
def artifacts_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    # With the migrations' deploy step, as a deploy runs it: the order items and edge counts are done.
    with group_backend(
        tmp_path_factory, ARTIFACTS_FUNCTION.name, ARTIFACT_EVENTS_FUNCTION.name, *MIGRATION_FUNCTIONS
    ) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(artifacts_backend: LocalBackend) -> Any:
    return aws(artifacts_backend, "dynamodb")


@pytest.fixture(scope="module")
def artifact_events(artifacts_backend: LocalBackend) -> Container:
    """The backend's own container of the function its bus rule feeds."""
    return artifacts_backend.relays[REGION].containers[ARTIFACT_EVENTS_FUNCTION.name]


def _client(backend: LocalBackend, tenant: str, subject: str = "vic", *scopes: str) -> Client:
    assert backend.keys is not None
    roles = () if scopes else ("viewer",)
    return Client(backend, backend.keys, tenant, subject, scopes=scopes, roles=roles)


def publish(container: Container, tenant: str, artifact_id: str, **detail: Any) -> str:
    """An ArtifactPublished, delivered to gui_artifact_events as EventBridge would."""
    n = next(_events)
    event = copy.deepcopy(PUBLISHED)
    event["detail"].update(
        {
            "tenant": tenant,
            "event_id": f"contract-{n}",
            "artifact_id": artifact_id,
            "diff_hash": f"sha256:{artifact_id}-{detail.get('version', 1)}",
            "previous_diff_hash": None,
            "version": 1,
            "inputs": [],
            "published_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00.000+00:00",
            **detail,
        }
    )
    outcome: str = container.invoke(event)["outcome"]
    return outcome


def _inputs(names: list[str]) -> list[dict[str, str]]:
    return [{"id": i.partition(":")[0], "relation": i.partition(":")[2] or "derived_from"} for i in names]


@pytest.fixture(scope="module")
def graph(artifacts_backend: LocalBackend, ddb: Any, artifact_events: Container) -> Client:
    """A tenant with the CHAIN and the hub's leaves; a viewer of it (no restricted scope)."""
    tenant = f"art-graph-{next(_numbers)}"
    provision(ddb, tenant, license_policy=POLICY)
    provision(ddb, f"{tenant}-other")
    for i, (artifact_id, (kind, inputs)) in enumerate(CHAIN.items()):
        assert (
            publish(
                artifact_events,
                tenant,
                artifact_id,
                kind=kind,
                title=f"{artifact_id.title()} artifact",
                owner="ada" if i % 2 else "bob",
                tags=["clinical", kind] if i % 3 else [kind],
                inputs=_inputs(inputs),
            )
            == "applied"
        )
    for i, leaf in enumerate(LEAVES):
        owner, status = ("carl", "approved") if i % 3 == 0 else ("dora", "draft")
        assert (
            publish(
                artifact_events,
                tenant,
                leaf,
                kind="readiness",
                title=f"Leaf {29 - i:02d}" if i % 4 else "leaf shared title",
                owner=owner,
                governance_status=status,
                tags=["leaf", f"group-{i % 2}"],
                license_tag="CC-BY-4.0" if i % 5 == 0 else "internal",
                inputs=_inputs(["hub"]),
            )
            == "applied"
        )
    return _client(artifacts_backend, tenant)


# -- authentication, scopes, tenancy -----------------------------------------------------------------


def _concrete(path: str) -> str:
    return path.removeprefix("/service/gui").replace("{id}", "map")


@pytest.mark.parametrize(("method", "path"), ARTIFACT_ROUTES)
def test_every_route_needs_a_token(graph: Client, method: str, path: str) -> None:
    problem(graph.call(method, _concrete(path), token=None), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), ARTIFACT_ROUTES)
def test_every_route_needs_gui_artifacts(graph: Client, method: str, path: str) -> None:
    dashboard_only = _client(graph.backend, graph.tenant, "dana", "gui:dashboard")
    body = problem(dashboard_only.call(method, _concrete(path)), 403, "insufficient_scope")
    assert body["required_scope"] == "gui:artifacts"


@pytest.mark.parametrize(("method", "path"), ARTIFACT_ROUTES)
def test_the_scope_granted_directly_or_by_the_viewer_role_is_enough(
    graph: Client, method: str, path: str
) -> None:
    direct = _client(graph.backend, graph.tenant, "svc", "gui:artifacts")
    assert direct.call(method, _concrete(path)).status == 200
    assert graph.call(method, _concrete(path)).status == 200


def test_another_tenant_sees_none_of_the_registry(graph: Client) -> None:
    outsider = _client(graph.backend, f"{graph.tenant}-other")
    problem(outsider.call("GET", "/artifacts/map"), 404, "not_found")
    problem(outsider.call("GET", "/artifacts/map/lineage"), 404, "not_found")
    page = outsider.call("GET", "/artifacts/search").json()
    assert (page["items"], page["total"]) == ([], 0)


# -- one artifact -----------------------------------------------------------------------------------


def test_an_artifact_is_answered_with_restricted_fields_masked(graph: Client) -> None:
    answer = graph.call("GET", "/artifacts/map")
    assert answer.status == 200, answer.body
    view = ArtifactView.model_validate(answer.json())
    assert (view.id, view.kind, view.version, view.governance_status) == ("map", "mapping", 1, "in_review")
    assert view.diff_hash == "sha256:map-1"
    assert (view.in_degree, view.out_degree) == (1, 1)
    assert [(i.id, i.relation) for i in view.inputs] == [("cov", "derived_from")]
    assert answer.json()["source_text"] is None  # removed by the policy
    assert view.licensing_notes == "***"
    assert view.license.model_dump() == {
        "tag": "acme-enterprise",
        "masked_fields": ["licensing_notes", "source_text"],
    }
    for hidden in ("pk", "sk", "event_ids", "revision"):
        assert hidden not in answer.json()


def test_the_restricted_scope_sees_the_restricted_fields(graph: Client) -> None:
    licensed = _client(graph.backend, graph.tenant, "lic", "gui:artifacts", "gui:license:restricted")
    view = ArtifactView.model_validate(licensed.call("GET", "/artifacts/map").json())
    assert view.source_text == PUBLISHED["detail"]["source_text"]
    assert view.licensing_notes == PUBLISHED["detail"]["licensing_notes"]
    assert view.license.masked_fields == []


@pytest.mark.parametrize("artifact_id", ["nope", "has%23hash", "x" * 129])
def test_an_unknown_artifact_is_404(graph: Client, artifact_id: str) -> None:
    problem(graph.call("GET", f"/artifacts/{artifact_id}"), 404, "not_found")
    problem(graph.call("GET", f"/artifacts/{artifact_id}/lineage"), 404, "not_found")


# -- lineage ----------------------------------------------------------------------------------------


def _lineage(client: Client, artifact_id: str, query: str = "") -> LineageGraph:
    answer = client.call("GET", f"/artifacts/{artifact_id}/lineage", query=query)
    assert answer.status == 200, answer.body
    return LineageGraph.model_validate(answer.json())


def test_lineage_defaults_to_one_hop_both_ways(graph: Client) -> None:
    walk = _lineage(graph, "ovl")
    assert (walk.direction, walk.depth, walk.fan_out, walk.layer) == ("both", 1, 25, None)
    assert {(n.id, n.side, n.hop) for n in walk.nodes} == {
        ("ovl", "root", 0),
        ("map", "upstream", 1),
        ("map2", "upstream", 1),
        ("rdy", "downstream", 1),
    }
    assert {(e.source, e.target, e.relation) for e in walk.edges} == {
        ("map", "ovl", "overlays"),
        ("map2", "ovl", "overlays"),
        ("ovl", "rdy", "derived_from"),
    }
    root = next(n for n in walk.nodes if n.id == "ovl")
    assert (root.in_degree, root.out_degree, root.diff_hash, root.kind) == (2, 1, "sha256:ovl-1", "overlay")


def test_deep_lineage_follows_the_diamond_and_the_cycle_without_looping(graph: Client) -> None:
    walk = _lineage(graph, "cov", "direction=downstream&depth=10")
    ids = [n.id for n in walk.nodes]
    assert len(ids) == len(set(ids))
    assert set(ids) == {"cov", "map", "map2", "ovl", "rdy", "pp"}
    edges = [(e.source, e.target) for e in walk.edges]
    assert len(edges) == len(set(edges))
    assert ("pp", "cov") in edges  # the cycle's closing edge, once
    assert {n.id: n.hop for n in walk.nodes}["ovl"] == 2


def test_direction_upstream_only_walks_inputs(graph: Client) -> None:
    walk = _lineage(graph, "rdy", "direction=upstream&depth=2")
    assert {n.id for n in walk.nodes} == {"rdy", "ovl", "map", "map2"}
    assert all(n.side in {"root", "upstream"} for n in walk.nodes)
    assert [(layer.side, layer.hop) for layer in walk.layers] == [("upstream", 1), ("upstream", 2)]


def test_fan_out_cuts_are_counted_per_node_and_layer(graph: Client) -> None:
    walk = _lineage(graph, "hub", "direction=downstream&fan_out=10")
    assert [n.id for n in walk.nodes if n.side == "downstream"] == LEAVES[:10]
    hub = next(n for n in walk.nodes if n.id == "hub")
    assert hub.cut.model_dump() == {"upstream": 0, "downstream": 20}
    assert hub.out_degree == 30
    assert [(layer.nodes, layer.cut) for layer in walk.layers] == [(10, 20)]


def test_a_layer_pages_through_every_node_without_duplicates_or_gaps(graph: Client) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "layer=downstream:2&fan_out=7" + (f"&cursor={cursor}" if cursor else "")
        page = _lineage(graph, "ing", query)
        assert page.layer == "downstream:2"
        (summary,) = page.layers
        assert summary.total == 32  # map and map2 (through cov), the 30 leaves (through hub)
        seen += [n.id for n in page.nodes]
        assert {e.target for e in page.edges} == {n.id for n in page.nodes}
        pages += 1
        cursor = summary.next_cursor
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 32
    assert seen == sorted(seen)


def test_lineage_nodes_are_masked_like_the_artifact(graph: Client) -> None:
    walk = _lineage(graph, "map", "depth=2")
    assert walk.license.model_dump() == {
        "tag": "acme-enterprise",
        "masked_fields": ["licensing_notes", "source_text"],
    }
    assert all(n.source_text is None and n.licensing_notes == "***" for n in walk.nodes)
    licensed = _client(graph.backend, graph.tenant, "lic", "gui:artifacts", "gui:license:restricted")
    clear = _lineage(licensed, "map", "depth=2")
    assert all(n.source_text and n.licensing_notes != "***" for n in clear.nodes)
    assert clear.license.masked_fields == []


@pytest.mark.parametrize(
    "query",
    [
        "depth=0",
        "depth=11",
        "fan_out=0",
        "fan_out=101",
        "direction=sideways",
        "layer=up:1",
        "layer=downstream:11",
        "layer=downstream:0",
        "cursor=abc",
        "depth=two",
    ],
)
def test_invalid_lineage_parameters_are_422(graph: Client, query: str) -> None:
    problem(graph.call("GET", "/artifacts/map/lineage", query=query), 422, "validation_failed")


def test_a_layer_cursor_of_another_tenant_artifact_or_layer_is_refused(graph: Client, ddb: Any) -> None:
    cursor = _lineage(graph, "hub", "layer=downstream:1&fan_out=5").layers[0].next_cursor
    assert cursor
    problem(
        graph.call("GET", "/artifacts/hub/lineage", query=f"layer=downstream:2&cursor={cursor}"),
        400,
        "invalid_cursor",
    )
    problem(
        graph.call("GET", "/artifacts/cov/lineage", query=f"layer=downstream:1&cursor={cursor}"),
        400,
        "invalid_cursor",
    )


# -- search -----------------------------------------------------------------------------------------


def _search(client: Client, query: str = "") -> ArtifactPage:
    answer = client.call("GET", "/artifacts/search", query=query)
    assert answer.status == 200, answer.body
    return ArtifactPage.model_validate(answer.json())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=mapping", {"map", "map2"}),
        ("tag=clinical&tag=mapping", {"map"}),
        ("tag=leaf&tag=group-1", {leaf for i, leaf in enumerate(LEAVES) if i % 2}),
        ("owner=carl", {leaf for i, leaf in enumerate(LEAVES) if i % 3 == 0}),
        ("license_tag=CC-BY-4.0", {leaf for i, leaf in enumerate(LEAVES) if i % 5 == 0}),
        ("governance_status=approved&kind=readiness", {leaf for i, leaf in enumerate(LEAVES) if i % 3 == 0}),
        ("kind=prompt_pack&owner=bob", {"pp"}),
    ],
)
def test_search_filters_combine(graph: Client, query: str, expected: set[str]) -> None:
    page = _search(graph, f"{query}&limit=100")
    assert {a.id for a in page.items} == expected
    assert page.total == len(expected)


def test_search_date_ranges_bound_created_and_updated(graph: Client) -> None:
    everything = _search(graph, "limit=100&sort=created&order=asc").items
    middle = everything[10].created_at
    later = _search(graph, f"limit=100&created_from={quote(middle)}").items
    assert {a.id for a in later} == {a.id for a in everything if a.created_at >= middle}
    earlier = _search(graph, f"limit=100&updated_to={quote(middle)}").items
    assert {a.id for a in earlier} == {a.id for a in everything if a.updated_at <= middle}
    assert _search(graph, "created_from=2099-01-01T00:00:00Z").total == 0


@pytest.mark.parametrize(
    ("sort", "order"),
    [("updated", "desc"), ("updated", "asc"), ("created", "desc"), ("title", "asc"), ("title", "desc")],
)
def test_search_pages_in_a_stable_order_without_duplicates_or_gaps(
    graph: Client, sort: str, order: str
) -> None:
    full = _search(graph, f"sort={sort}&order={order}&limit=100")
    assert full.total == len(full.items) == len(CHAIN) + len(LEAVES)
    seen: list[str] = []
    cursor = None
    while True:
        page = _search(graph, f"sort={sort}&order={order}&limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert page.total == full.total
        seen += [a.id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [a.id for a in full.items]
    keys = [
        (
            (
                a.title.casefold()
                if sort == "title"
                else (a.created_at if sort == "created" else a.updated_at)
            ),
            a.id,
        )
        for a in full.items
    ]
    assert keys == sorted(keys, reverse=order == "desc")


def test_search_results_are_masked(graph: Client) -> None:
    page = _search(graph, "kind=mapping")
    assert all(a.source_text is None and a.licensing_notes == "***" for a in page.items)
    assert page.license.masked_fields == ["licensing_notes", "source_text"]


def test_a_search_cursor_is_bound_to_its_tenant_and_sort(graph: Client) -> None:
    cursor = _search(graph, "limit=3").next_cursor
    outsider = _client(graph.backend, f"{graph.tenant}-other")
    problem(outsider.call("GET", "/artifacts/search", query=f"cursor={cursor}"), 400, "invalid_cursor")
    problem(
        graph.call("GET", "/artifacts/search", query=f"sort=title&cursor={cursor}"), 400, "invalid_cursor"
    )
    problem(graph.call("GET", "/artifacts/search", query="cursor=not-a-cursor"), 400, "invalid_cursor")


@pytest.mark.parametrize(
    "query",
    [
        "sort=size",
        "order=up",
        "limit=0",
        "limit=101",
        "kind=spreadsheet",
        "governance_status=live",
        "created_from=yesterday",
    ],
)
def test_invalid_search_queries_are_422(graph: Client, query: str) -> None:
    problem(graph.call("GET", "/artifacts/search", query=query), 422, "validation_failed")


# -- the registry feed through gui_artifact_events -------------------------------------------------------


@pytest.fixture
def fresh(artifacts_backend: LocalBackend, ddb: Any) -> Client:
    tenant = f"art-{next(_numbers)}"
    provision(ddb, tenant, license_policy=POLICY)
    return _client(artifacts_backend, tenant)


def _sample(event: dict[str, Any], tenant: str, **detail: Any) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    copied["detail"].update({"tenant": tenant, **detail})
    return copied


def test_the_sample_events_publish_then_deprecate_and_redeliveries_change_nothing(
    fresh: Client, artifact_events: Container
) -> None:
    artifact_id = PUBLISHED["detail"]["artifact_id"]
    assert artifact_events.invoke(_sample(PUBLISHED, fresh.tenant))["outcome"] == "applied"
    first = fresh.call("GET", f"/artifacts/{artifact_id}").json()
    assert artifact_events.invoke(_sample(PUBLISHED, fresh.tenant))["outcome"] == "ignored"
    assert fresh.call("GET", f"/artifacts/{artifact_id}").json() == first
    assert artifact_events.invoke(_sample(DEPRECATED, fresh.tenant))["outcome"] == "applied"
    assert artifact_events.invoke(_sample(DEPRECATED, fresh.tenant))["outcome"] == "ignored"
    view = ArtifactView.model_validate(fresh.call("GET", f"/artifacts/{artifact_id}").json())
    assert (view.governance_status, view.replaced_by) == ("deprecated", "map-icd10-snomed-2027")
    assert _search(fresh, "governance_status=deprecated").total == 1
    # the inputs were never published: they are lineage nodes known only by id
    walk = _lineage(fresh, artifact_id, "direction=upstream")
    assert {(n.id, n.known) for n in walk.nodes if n.side == "upstream"} == {
        ("cov-icd10", False),
        ("ing-snomed-2026", False),
    }


def test_a_new_version_replaces_the_record_and_its_edges(fresh: Client, artifact_events: Container) -> None:
    publish(artifact_events, fresh.tenant, "src-a", kind="ingestion")
    publish(artifact_events, fresh.tenant, "src-b", kind="ingestion")
    publish(artifact_events, fresh.tenant, "cov", kind="coverage", inputs=_inputs(["src-a"]))
    assert fresh.call("GET", "/artifacts/src-a").json()["out_degree"] == 1
    assert publish(
        artifact_events, fresh.tenant, "cov", kind="coverage", version=2, inputs=_inputs(["src-b"])
    ) == ("applied")
    view = ArtifactView.model_validate(fresh.call("GET", "/artifacts/cov").json())
    assert (view.version, view.diff_hash, view.previous_diff_hash) == (2, "sha256:cov-2", "sha256:cov-1")
    assert [n.id for n in _lineage(fresh, "cov", "direction=upstream").nodes] == ["cov", "src-b"]
    assert (
        fresh.call("GET", "/artifacts/src-a").json()["out_degree"],
        fresh.call("GET", "/artifacts/src-b").json()["out_degree"],
    ) == (0, 1)


def test_events_of_a_tenant_homed_elsewhere_or_of_an_unknown_schema_are_refused(
    fresh: Client, ddb: Any, artifact_events: Container
) -> None:
    abroad = f"{fresh.tenant}-abroad"
    provision(ddb, abroad, home_region="us-east-1")
    assert artifact_events.invoke(_sample(PUBLISHED, abroad))["outcome"] == "wrong_region"
    assert artifact_events.invoke(_sample(PUBLISHED, fresh.tenant, schema_version="2"))["outcome"] == (
        "unsupported_schema"
    )
    problem(fresh.call("GET", f"/artifacts/{PUBLISHED['detail']['artifact_id']}"), 404, "not_found")


# -- demo data --------------------------------------------------------------------------------------------


def test_demo_artifacts_fill_the_registry_with_multi_level_lineage(
    artifacts_backend: LocalBackend, ddb: Any
) -> None:
    from local.demo import TENANTS
    from local.demo_artifacts import seed_artifacts

    demo = next(t for t in TENANTS if t.home_region == REGION)
    provision(ddb, demo.tenant, license_policy=demo.license_policy)
    seeded = seed_artifacts(
        artifacts_backend.manifest, endpoint_url=artifacts_backend.aws_endpoint_url, regions=(REGION,)
    )
    assert seeded == 37  # 30 artifacts, 3 later versions, 4 deprecations
    assert (
        seed_artifacts(
            artifacts_backend.manifest, endpoint_url=artifacts_backend.aws_endpoint_url, regions=(REGION,)
        )
        == 0
    )
    viewer = _client(artifacts_backend, demo.tenant)
    page = _search(viewer, "limit=100")
    assert page.total == 30
    assert {a.kind for a in page.items} == {
        "ingestion",
        "coverage",
        "mapping",
        "overlay",
        "readiness",
        "prompt_pack",
        "governance",
    }
    assert _search(viewer, "governance_status=deprecated").total == 4
    assert all(a.source_text is None for a in page.items)  # acme's policy restricts source_text
    walk = _lineage(viewer, "rdy-triage", "depth=10")
    kinds = {n.kind for n in walk.nodes}
    assert kinds >= {"ingestion", "coverage", "mapping", "overlay", "readiness", "prompt_pack", "governance"}
    ids = [n.id for n in walk.nodes]
    assert len(ids) == len(set(ids))
    assert ("pp-triage-v2", "rdy-triage") in {(e.source, e.target) for e in walk.edges}  # the cycle


def test_a_publication_on_the_domain_bus_reaches_the_registry_through_the_rule(
    fresh: Client, artifacts_backend: LocalBackend
) -> None:
    events = aws(artifacts_backend, "events")
    detail = {**PUBLISHED["detail"], "tenant": fresh.tenant, "artifact_id": "via-bus"}
    answer = events.put_events(
        Entries=[
            {
                "EventBusName": MANIFEST.bus.local_bus_name(),
                "Source": PUBLISHED["source"],
                "DetailType": PUBLISHED["detail-type"],
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    assert artifacts_backend.pump_events() >= 1
    view = ArtifactView.model_validate(fresh.call("GET", "/artifacts/via-bus").json())
    assert (view.kind, view.version) == ("mapping", 3)
