"""The artifacts' GraphQL fields through the real authorizer, gateway and handlers, against moto's
server: `artifacts`, `artifact` and `artifact_lineage` answer what `GET /artifacts/search`,
`GET /artifacts/{id}` and `GET /artifacts/{id}/lineage` answer (the same use cases, the same
masking), their cursors continue the REST lists and the other way round, a refusal is its field's
with REST's code and status, and a lineage node's `artifact` is read for all the nodes at once (the
AWS calls of a nested query, counted)."""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Iterator
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import quote

import pytest
from pydantic import BaseModel

from gui_artifacts.models import Artifact, ArtifactView, LineageGraph
from local.apigw import sample_event
from local.containers import Container
from local.runtime import LocalBackend
from stacks.manifest import ARTIFACT_EVENTS_FUNCTION
from tests.contract.conftest import REGION, Client, aws, group_backend, problem, provision, table
from tests.contract.items_read import ItemsRead

FUNCTIONS = (
    "gui_graphql",
    "gui_artifacts",
    ARTIFACT_EVENTS_FUNCTION.name,
    "gui_migrate",
    "gui_migrate_worker",
)
PUBLISHED = sample_event("eventbridge_artifact_published")
POLICY = {
    "license_tag": "acme-enterprise",
    "restricted_fields": {"source_text": "remove", "licensing_notes": "mask"},
}
# ing -> cov -> map -> ovl, a diamond cov -> map2 -> ovl, an input never published (ghost), and a
# hub with 12 leaves for cut counts, layer pages and batched reads.
CHAIN: dict[str, tuple[str, list[str]]] = {
    "ing": ("ingestion", []),
    "cov": ("coverage", ["ing", "ghost"]),
    "map": ("mapping", ["cov"]),
    "map2": ("mapping", ["cov"]),
    "ovl": ("overlay", ["map:overlays", "map2:overlays"]),
    "hub": ("coverage", ["ing"]),
}
LEAVES = [f"leaf-{i:02d}" for i in range(12)]
_numbers = itertools.count()
_events = itertools.count()


class CallsMade(ItemsRead):
    """ItemsRead, and the DynamoDB calls made, by operation and table."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: Counter[tuple[str, str]] = Counter()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.operations.clear()

    def _params(self, params: dict[str, Any], context: dict[str, Any], **extra: Any) -> None:
        super()._params(params, context, **extra)
        context["calls_made.tables"] = list(params.get("RequestItems") or ()) or [
            str(params.get("TableName"))
        ]

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **extra: Any) -> None:
        super()._after(parsed, model, context, **extra)
        with self._lock:
            for name in context.get("calls_made.tables") or ():
                self.operations[(model.name, name)] += 1

    def of(self, table_name: str) -> Counter[str]:
        """The calls made on one table, by operation."""
        with self._lock:
            return Counter({op: n for (op, name), n in self.operations.items() if name == table_name})


@pytest.fixture(scope="module")
def calls() -> Iterator[CallsMade]:
    """Installed before the backend starts, so its functions' clients carry the hook."""
    meter = CallsMade().install()
    yield meter
    meter.uninstall()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, calls: CallsMade) -> Iterator[LocalBackend]:
    # With the migrations' deploy step: the order items and edge counts are done at start.
    with group_backend(tmp_path_factory, *FUNCTIONS) as running:
        yield running


def _client(backend: LocalBackend, tenant: str, subject: str = "vic", *scopes: str) -> Client:
    assert backend.keys is not None
    roles = () if scopes else ("viewer",)  # a viewer reads artifacts, not restricted fields
    return Client(backend, backend.keys, tenant, subject, scopes=scopes, roles=roles)


def _publish(container: Container, tenant: str, artifact_id: str, **detail: Any) -> None:
    n = next(_events)
    event = copy.deepcopy(PUBLISHED)
    event["detail"].update(
        {
            "tenant": tenant,
            "event_id": f"gql-contract-{n}",
            "artifact_id": artifact_id,
            "diff_hash": f"sha256:{artifact_id}-1",
            "previous_diff_hash": None,
            "version": 1,
            "inputs": [],
            "published_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00.000+00:00",
            **detail,
        }
    )
    assert container.invoke(event)["outcome"] == "applied"


def _inputs(names: list[str]) -> list[dict[str, str]]:
    return [{"id": i.partition(":")[0], "relation": i.partition(":")[2] or "derived_from"} for i in names]


@pytest.fixture(scope="module")
def viewer(backend: LocalBackend) -> Client:
    """A tenant with the CHAIN and the hub's leaves; a viewer of it (no restricted scope)."""
    ddb = aws(backend, "dynamodb")
    events = backend.relays[REGION].containers[ARTIFACT_EVENTS_FUNCTION.name]
    tenant = f"gql-art-{next(_numbers)}"
    provision(ddb, tenant, license_policy=POLICY)
    for i, (artifact_id, (kind, inputs)) in enumerate(CHAIN.items()):
        _publish(
            events,
            tenant,
            artifact_id,
            kind=kind,
            title=f"{artifact_id.title()} artifact",
            owner="ada" if i % 2 else "bob",
            tags=["clinical", kind] if i % 3 else [kind],
            inputs=_inputs(inputs),
        )
    for i, leaf in enumerate(LEAVES):
        _publish(
            events,
            tenant,
            leaf,
            kind="readiness",
            title=f"Leaf {11 - i:02d}",
            owner="carl" if i % 3 == 0 else "dora",
            governance_status="approved" if i % 2 else "draft",
            tags=["leaf", "clinical"] if i % 2 else ["leaf"],
            inputs=_inputs(["hub"]),
        )
    return _client(backend, tenant)


@pytest.fixture(scope="module")
def licensed(viewer: Client) -> Client:
    return _client(viewer.backend, viewer.tenant, "lic", "gui:artifacts", "gui:license:restricted")


def graphql(client: Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = client.call("POST", "/graphql", body={"query": query, "variables": variables})
    assert answer.status == 200, answer.body[:800]
    body: dict[str, Any] = answer.json()
    return body


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (alone, in a list, or optional), if it holds one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, UnionType):
        return next((m for a in get_args(annotation) if (m := _model_in(a)) is not None), None)
    return None


def selection(model: type[BaseModel]) -> str:
    """Every field of a REST model, as a GraphQL selection: what REST's JSON holds."""
    parts = []
    for name, info in model.model_fields.items():
        inner = _model_in(info.annotation)
        parts.append(f"{name} {{ {selection(inner)} }}" if inner is not None else name)
    return " ".join(parts)


SEARCH = (
    f"nodes {{ {selection(Artifact)} }} total partial license {{ tag masked_fields }} "
    "pageInfo { hasNextPage endCursor }"
)
SEARCH_ARGUMENTS = (
    "$first: Int, $after: String, $tag: [String!], $created_from: String, $sort: ArtifactSort, "
    "$order: SortOrder, $kind: ArtifactKind"
)
SEARCH_QUERY = (
    f"query({SEARCH_ARGUMENTS}) {{ artifacts(first: $first, after: $after, tag: $tag, "
    f"created_from: $created_from, sort: $sort, order: $order, kind: $kind) {{ {SEARCH} }} }}"
)
LINEAGE_ARGUMENTS = (
    "$id: String!, $direction: LineageDirection, $depth: Int, $fan_out: Int, $layer: String, $cursor: String"
)
LINEAGE_CALL = (
    "artifact_lineage(id: $id, direction: $direction, depth: $depth, fan_out: $fan_out, layer: $layer, "
    "cursor: $cursor)"
)


def lineage_query(nodes: str | None = None) -> str:
    """`artifact_lineage` with every field REST answers, or `nodes { <nodes> }` alone."""
    fields = selection(LineageGraph) if nodes is None else f"nodes {{ {nodes} }}"
    return f"query({LINEAGE_ARGUMENTS}) {{ {LINEAGE_CALL} {{ {fields} }} }}"


def _search(client: Client, **arguments: Any) -> dict[str, Any]:
    body = graphql(client, SEARCH_QUERY, arguments)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["artifacts"]
    return page


def _rest(client: Client, path: str, query: str = "") -> Any:
    answer = client.call("GET", path, query=query)
    assert answer.status == 200, answer.body[:800]
    return answer.json()


# -- the same answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "query"),
    [
        ({}, ""),
        ({"first": 50, "sort": "title", "order": "asc"}, "limit=50&sort=title&order=asc"),
        ({"first": 50, "tag": ["leaf", "clinical"]}, "limit=50&tag=leaf&tag=clinical"),
        (
            {"kind": "mapping", "created_from": "2026-01-01T00:00:00Z"},
            "kind=mapping&created_from=2026-01-01T00%3A00%3A00Z",
        ),
    ],
    ids=["defaults", "sorted", "tags", "kind and time"],
)
def test_the_search_answers_what_rest_answers(viewer: Client, arguments: dict[str, Any], query: str) -> None:
    page = _search(viewer, **arguments)
    rest = _rest(viewer, "/artifacts/search", query)
    assert page["nodes"] == rest["items"]
    assert page["nodes"], "the query finds artifacts"
    assert (page["total"], page["partial"], page["license"]) == (
        rest["total"],
        rest["partial"],
        rest["license"],
    )
    assert page["pageInfo"]["hasNextPage"] is (rest["next_cursor"] is not None)


def test_an_artifact_answers_what_rest_answers(viewer: Client) -> None:
    body = graphql(viewer, f'{{ artifact(id: "map") {{ {selection(ArtifactView)} }} }}')
    assert "errors" not in body, body
    assert body["data"]["artifact"] == _rest(viewer, "/artifacts/map")


@pytest.mark.parametrize(
    ("artifact_id", "arguments", "query"),
    [
        ("ovl", {}, ""),
        ("ing", {"direction": "downstream", "depth": 10}, "direction=downstream&depth=10"),
        ("cov", {"direction": "upstream", "depth": 2}, "direction=upstream&depth=2"),
        ("hub", {"direction": "downstream", "fan_out": 5}, "direction=downstream&fan_out=5"),
        ("hub", {"layer": "downstream:1", "fan_out": 4}, "layer=downstream:1&fan_out=4"),
    ],
    ids=["defaults", "deep", "upstream with a ghost", "cut", "layer"],
)
def test_lineage_answers_what_rest_answers(
    viewer: Client, artifact_id: str, arguments: dict[str, Any], query: str
) -> None:
    body = graphql(viewer, lineage_query(), {"id": artifact_id, **arguments})
    assert "errors" not in body, body
    rest = _rest(viewer, f"/artifacts/{artifact_id}/lineage", query)
    assert body["data"]["artifact_lineage"] == rest
    if arguments.get("fan_out") == 5 and "layer" not in arguments:
        (hub,) = (n for n in rest["nodes"] if n["id"] == "hub")
        assert hub["cut"]["downstream"] == len(LEAVES) - 5  # the cut counts are REST's own


def test_a_lineage_node_names_its_artifact_as_artifact_answers_it(viewer: Client) -> None:
    body = graphql(
        viewer,
        lineage_query(f"id known artifact {{ {selection(ArtifactView)} }}"),
        {"id": "cov", "direction": "upstream"},
    )
    assert "errors" not in body, body
    nodes = {n["id"]: n for n in body["data"]["artifact_lineage"]["nodes"]}
    assert set(nodes) == {"cov", "ing", "ghost"}
    assert nodes["ghost"] == {"id": "ghost", "known": False, "artifact": None}  # never published
    for artifact_id in ("cov", "ing"):
        assert nodes[artifact_id]["artifact"] == _rest(viewer, f"/artifacts/{artifact_id}")


# -- cursors ------------------------------------------------------------------------------------------


def test_a_search_cursor_crosses_between_graphql_and_rest(viewer: Client) -> None:
    arguments = {"tag": ["leaf"], "sort": "title", "order": "asc", "created_from": "2026-01-01T00:00:00Z"}
    filters = "tag=leaf&sort=title&order=asc&created_from=" + quote("2026-01-01T00:00:00Z")
    whole = [a["id"] for a in _rest(viewer, "/artifacts/search", f"{filters}&limit=100")["items"]]
    assert len(whole) == len(LEAVES)
    first = _search(viewer, first=3, **arguments)
    assert first["pageInfo"]["hasNextPage"] is True
    # GraphQL's cursor continues the REST list ...
    second = _rest(viewer, "/artifacts/search", f"{filters}&limit=4&cursor={first['pageInfo']['endCursor']}")
    # ... and REST's continues GraphQL's.
    third = _search(viewer, first=50, after=second["next_cursor"], **arguments)
    seen = (
        [a["id"] for a in first["nodes"]]
        + [a["id"] for a in second["items"]]
        + [a["id"] for a in third["nodes"]]
    )
    assert seen == whole
    assert third["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    # A cursor of other filters is REST's 400 invalid_cursor, on the field.
    other = graphql(
        viewer, SEARCH_QUERY, {**arguments, "sort": "created", "after": first["pageInfo"]["endCursor"]}
    )
    assert other["data"] == {"artifacts": None}
    (error,) = other["errors"]
    assert (error["path"], error["extensions"]["code"], error["extensions"]["status"]) == (
        ["artifacts"],
        "invalid_cursor",
        400,
    )
    problem(
        viewer.call("GET", "/artifacts/search", query=f"tag=leaf&cursor={first['pageInfo']['endCursor']}"),
        400,
        "invalid_cursor",
    )


def test_a_layer_cursor_crosses_between_graphql_and_rest(viewer: Client) -> None:
    arguments = {"id": "hub", "layer": "downstream:1"}
    first = graphql(viewer, lineage_query(), {**arguments, "fan_out": 5})["data"]["artifact_lineage"]
    (layer,) = first["layers"]
    assert (layer["total"], layer["nodes"]) == (len(LEAVES), 5)
    second = _rest(
        viewer, "/artifacts/hub/lineage", f"layer=downstream:1&fan_out=4&cursor={layer['next_cursor']}"
    )
    third = graphql(
        viewer, lineage_query(), {**arguments, "fan_out": 10, "cursor": second["layers"][0]["next_cursor"]}
    )
    third = third["data"]["artifact_lineage"]
    assert third["layers"][0]["next_cursor"] is None
    members = [n["id"] for page in (first, second, third) for n in page["nodes"] if n["side"] == "downstream"]
    assert members == LEAVES  # every leaf once, in id order
    # Bound to the artifact and the layer, as REST's.
    wrong = graphql(
        viewer, lineage_query(), {"id": "ing", "layer": "downstream:1", "cursor": layer["next_cursor"]}
    )
    assert wrong["errors"][0]["extensions"]["code"] == "invalid_cursor"
    assert wrong["data"] == {"artifact_lineage": None}


# -- refusals and masking -------------------------------------------------------------------------------


def test_a_token_without_gui_artifacts_gets_an_error_on_those_fields_only(viewer: Client) -> None:
    inbox_only = _client(viewer.backend, viewer.tenant, "nina", "gui:notifications")
    body = graphql(
        inbox_only,
        "{ notifications(first: 1) { nodes { id } } artifacts(first: 1) { nodes { id } } "
        'artifact(id: "map") { id } artifact_lineage(id: "map") { root } }',
    )
    assert body["data"] == {
        "notifications": {"nodes": []},
        "artifacts": None,
        "artifact": None,
        "artifact_lineage": None,
    }
    assert sorted(e["path"][0] for e in body["errors"]) == ["artifact", "artifact_lineage", "artifacts"]
    for error in body["errors"]:
        assert error["extensions"] == {
            "code": "insufficient_scope",
            "status": 403,
            "required_scope": "gui:artifacts",
        }


def test_restricted_fields_are_masked_as_rest_masks_them(viewer: Client, licensed: Client) -> None:
    query = (
        '{ artifact(id: "map") { source_text licensing_notes license { tag masked_fields } } '
        "artifacts(kind: mapping) { nodes { id source_text licensing_notes } license { masked_fields } } "
        'artifact_lineage(id: "map") { nodes { id source_text licensing_notes '
        "artifact { source_text licensing_notes license { masked_fields } } } license { masked_fields } } }"
    )
    for client, masked in ((viewer, True), (licensed, False)):
        data = graphql(client, query)["data"]
        rest = _rest(client, "/artifacts/map")
        assert data["artifact"] == {
            "source_text": rest["source_text"],
            "licensing_notes": rest["licensing_notes"],
            "license": rest["license"],
        }
        search = _rest(client, "/artifacts/search", "kind=mapping")
        assert data["artifacts"]["nodes"] == [
            {"id": a["id"], "source_text": a["source_text"], "licensing_notes": a["licensing_notes"]}
            for a in search["items"]
        ]
        walk = _rest(client, "/artifacts/map/lineage")
        assert [
            {k: n[k] for k in ("id", "source_text", "licensing_notes")}
            for n in data["artifact_lineage"]["nodes"]
        ] == [{k: n[k] for k in ("id", "source_text", "licensing_notes")} for n in walk["nodes"]]
        assert data["artifact_lineage"]["license"]["masked_fields"] == walk["license"]["masked_fields"]
        for node in data["artifact_lineage"]["nodes"]:
            assert node["artifact"]["license"] == {"masked_fields": rest["license"]["masked_fields"]}
        if masked:
            assert (rest["source_text"], rest["licensing_notes"]) == (None, "***")
            assert rest["license"]["masked_fields"] == ["licensing_notes", "source_text"]
        else:
            assert rest["source_text"] == PUBLISHED["detail"]["source_text"]
            assert rest["license"]["masked_fields"] == []


@pytest.mark.parametrize("artifact_id", ["nope", "has#hash", "x" * 129])
def test_an_unknown_id_is_rests_404_on_the_field(viewer: Client, artifact_id: str) -> None:
    problem(viewer.call("GET", f"/artifacts/{quote(artifact_id, safe='')}"), 404, "not_found")
    body = graphql(
        viewer,
        "query($id: String!) { artifact(id: $id) { id } artifact_lineage(id: $id) { root } "
        "artifacts(first: 1) { nodes { id } } }",
        {"id": artifact_id},
    )
    assert body["data"]["artifact"] is None
    assert body["data"]["artifact_lineage"] is None
    assert len(body["data"]["artifacts"]["nodes"]) == 1  # the rest stands
    assert sorted(
        (e["path"][0], e["extensions"]["code"], e["extensions"]["status"]) for e in body["errors"]
    ) == [
        ("artifact", "not_found", 404),
        ("artifact_lineage", "not_found", 404),
    ]


def test_invalid_arguments_are_rests_422(viewer: Client) -> None:
    for query in (
        '{ artifact_lineage(id: "map", depth: 11) { root } }',
        '{ artifact_lineage(id: "map", layer: "sideways:1") { root } }',
        '{ artifact_lineage(id: "map", cursor: "x.y") { root } }',  # a cursor without a layer
        "{ artifacts(first: 101) { nodes { id } } }",
        '{ artifacts(created_from: "yesterday") { nodes { id } } }',
    ):
        (error,) = graphql(viewer, query)["errors"]
        assert (error["extensions"]["code"], error["extensions"]["status"]) == ("validation_failed", 422), (
            query
        )


# -- no read per node ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fan_out", [3, 12])
def test_the_artifacts_of_a_lineage_are_read_in_one_batch(
    viewer: Client, calls: CallsMade, fan_out: int
) -> None:
    """The nested query makes the walk's calls (REST's, the same use case) and two more, whatever the
    number of nodes: one BatchGetItem of their records, one of their degrees; no GetItem per node."""
    artifacts = table("artifacts")
    arguments = {"id": "hub", "direction": "downstream", "fan_out": fan_out}
    _rest(viewer, "/artifacts/hub/lineage", f"direction=downstream&fan_out={fan_out}")  # warm: the gates
    graphql(viewer, lineage_query("id"), arguments)
    calls.reset()
    _rest(viewer, "/artifacts/hub/lineage", f"direction=downstream&fan_out={fan_out}")
    rest = calls.of(artifacts)
    calls.reset()
    flat = graphql(viewer, lineage_query("id"), arguments)
    assert calls.of(artifacts) == rest  # the same walk
    calls.reset()
    nested = graphql(
        viewer,
        lineage_query("id artifact { id title out_degree inputs { id } license { masked_fields } }"),
        arguments,
    )
    made = calls.of(artifacts)
    assert "errors" not in nested, nested
    nodes = nested["data"]["artifact_lineage"]["nodes"]
    assert len(nodes) == fan_out + 1 == len(flat["data"]["artifact_lineage"]["nodes"])
    assert all(n["artifact"]["id"] == n["id"] for n in nodes)
    assert made == rest + Counter({"BatchGetItem": 2}), (made, rest)
    assert made["GetItem"] == 1  # the root's record, read by the walk
