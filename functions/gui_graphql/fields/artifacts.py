"""The artifacts' fields: `artifacts` (the structured search, with its `total`, `partial` and license
block), `artifact` and `artifact_lineage` (`gui_artifacts.use_cases`), each as its REST route.

A lineage node's `artifact` is the artifact it names as `artifact` answers it (its inputs, its own
license block): the nodes' artifacts are read together, in one batched read (`read_artifacts`),
when the first of them is resolved, however many nodes the query asks it of (no read per node).

Lineage is a root field, not a field of `Artifact`: it is a walk of its own (depth, fan-out, a
layer's pages), with REST's cursor and refusals, that a GUI asks for beside the artifact (two root
fields of one query) or on its own when it pages a layer; under `Artifact` it would be a walk per
artifact of a search page, or of every node of another lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
)
from pydantic import BaseModel, Field

from gui_artifacts import use_cases
from gui_artifacts.models import (
    Artifact,
    ArtifactView,
    Direction,
    GovernanceStatus,
    Kind,
    LicenseBlock,
    LineageGraph,
    LineageNode,
)
from gui_artifacts.use_cases import Filters, SortField, SortOrder
from gui_core import rbac
from gui_core.date_times import QueryTime, iso
from gui_graphql.fields.base import (
    AN_ID,
    Access,
    Context,
    connected,
    connection,
    first_of,
    make_field,
    page_arguments,
    validated,
)

if TYPE_CHECKING:
    from datetime import datetime

    from gui_artifacts.settings import ArtifactsSettings
    from gui_artifacts.use_cases import ArtifactsPorts
    from gui_graphql.types import ModelTypes

GROUP = "artifacts"
ORDER = 20  # where its root fields come in the schema
# `GET /artifacts/search`'s `limit`, `GET /artifacts/{id}/lineage`'s `fan_out` (a layer's page).
PAGES = {"artifacts": 25, "artifact_lineage": 25}
ACCESS = Access("artifacts", rbac.ARTIFACTS)
# The query parameters of `GET /artifacts/search` that choose its items, as REST names them.
SEARCH_FILTERS = (
    "kind",
    "tag",
    "owner",
    "license_tag",
    "governance_status",
    "created_from",
    "created_to",
    "updated_from",
    "updated_to",
    "sort",
    "order",
)
# Those of `GET /artifacts/{id}/lineage` a layer's cursor is bound to (not `fan_out`, its page size).
LINEAGE_FILTERS = ("direction", "depth", "layer")
LINEAGE_ROUTE = "/artifacts/{artifact_id}/lineage"
_NAMED = "__artifacts"  # where a lineage node keeps the reader of the artifacts the lineage names


def settings() -> ArtifactsSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_artifacts.settings import ArtifactsSettings

    return ArtifactsSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: ArtifactsSettings) -> ArtifactsPorts:
    from gui_artifacts.ports import build_ports

    return build_ports(settings)


def _ports(context: Context) -> ArtifactsPorts:
    found: ArtifactsPorts = context.ports.of(GROUP)
    return found


class _Search(BaseModel):
    """`GET /artifacts/search`'s query, checked as REST checks it."""

    kind: Kind | None = None
    tag: Annotated[list[str] | None, Field(max_length=20)] = None
    owner: Annotated[str | None, Field(max_length=200)] = None
    license_tag: Annotated[str | None, Field(max_length=200)] = None
    governance_status: GovernanceStatus | None = None
    created_from: QueryTime | None = None
    created_to: QueryTime | None = None
    updated_from: QueryTime | None = None
    updated_to: QueryTime | None = None
    sort: SortField = "updated"
    order: SortOrder = "desc"
    limit: Annotated[int, Field(ge=1, le=100)] = PAGES["artifacts"]


class _Lineage(BaseModel):
    """`GET /artifacts/{id}/lineage`'s query, checked as REST checks it."""

    direction: Direction = "both"
    depth: Annotated[int, Field(ge=1, le=10)] = 1
    fan_out: Annotated[int, Field(ge=1, le=100)] = PAGES["artifact_lineage"]
    layer: Annotated[str | None, Field(pattern=r"^(upstream|downstream):([1-9]|10)$")] = None


def _bound(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _given(arguments: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The arguments of these names the query gave (REST binds a cursor to the parameters sent)."""
    return {k: arguments[k] for k in names if arguments.get(k) is not None}


def _artifacts(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    filters = _given(arguments, SEARCH_FILTERS)
    query: _Search = validated(_Search, {**filters, "limit": first_of(arguments, PAGES["artifacts"])})
    page = use_cases.search_artifacts(
        _ports(context),
        context.caller,
        context.tenant,
        context.pages("/artifacts/search", filters),
        Filters(
            kind=query.kind,
            tags=tuple(query.tag or ()),
            owner=query.owner,
            license_tag=query.license_tag,
            governance_status=query.governance_status,
            created_from=_bound(query.created_from),
            created_to=_bound(query.created_to),
            updated_from=_bound(query.updated_from),
            updated_to=_bound(query.updated_to),
        ),
        sort=query.sort,
        order=query.order,
        limit=query.limit,
        cursor=arguments.get("after"),
    )
    return connected(
        page.items,
        page.next_cursor,
        total=page.total,
        partial=page.partial,
        license=page.license.model_dump(mode="json"),
    )


def _artifact(context: Context, arguments: Mapping[str, Any]) -> ArtifactView:
    return use_cases.read_artifact(_ports(context), context.caller, context.tenant, str(arguments["id"]))


class _NamedArtifacts:
    """The artifacts a lineage names, read together (one batched read) when the first is asked for,
    then kept for the other nodes of the same answer."""

    def __init__(self, context: Context, artifact_ids: list[str]) -> None:
        self._context = context
        self._ids = artifact_ids
        self._read: dict[str, ArtifactView] | None = None
        self._failed: Exception | None = None

    def get(self, artifact_id: str) -> dict[str, Any] | None:
        if self._failed is not None:
            raise self._failed  # the same error for every node, not a read again per node
        if self._read is None:
            context = self._context
            try:
                self._read = use_cases.read_artifacts(
                    _ports(context), context.caller, context.tenant, self._ids
                )
            except Exception as error:
                self._failed = error
                raise
        view = self._read.get(artifact_id)
        return None if view is None else view.model_dump(mode="json")


def _lineage(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    artifact_id = str(arguments["id"])
    filters = _given(arguments, LINEAGE_FILTERS)
    query: _Lineage = validated(_Lineage, _given(arguments, (*LINEAGE_FILTERS, "fan_out")))
    # The REST route's place: its template with the artifact's id, as `CursorPlace.of` spells it.
    pages = context.pages(f"{LINEAGE_ROUTE};artifact_id={artifact_id}", filters)
    graph = use_cases.read_lineage(
        _ports(context),
        context.caller,
        context.tenant,
        pages,
        artifact_id,
        direction=query.direction,
        depth=query.depth,
        fan_out=query.fan_out,
        layer=query.layer,
        cursor=arguments.get("cursor"),
    )
    answer = graph.model_dump(mode="json")
    named = _NamedArtifacts(context, [n["id"] for n in answer["nodes"] if n["known"]])
    for node in answer["nodes"]:
        node[_NAMED] = named
    return answer


def _node_artifact(node: Mapping[str, Any], _info: Any) -> dict[str, Any] | None:
    if not node.get("known"):
        return None
    named: _NamedArtifacts = node[_NAMED]
    return named.get(str(node["id"]))


def _with_fields(made: GraphQLObjectType, fields: Callable[[], dict[str, GraphQLField]]) -> GraphQLObjectType:
    """A type of the same name as `made` (a REST model's), with its fields and `fields()` (added or
    replacing some): the schema holds this one, `made` is reached by no field."""
    return GraphQLObjectType(made.name, lambda: {**made.fields, **fields()}, description=made.description)


def _lineage_graph(types: ModelTypes, view: GraphQLOutputType) -> GraphQLObjectType:
    """`LineageGraph`, whose nodes have an `artifact` besides their REST fields."""
    node = _with_fields(
        types.object(LineageNode),
        lambda: {
            "artifact": GraphQLField(
                view,
                resolve=_node_artifact,
                description="The artifact, as `artifact` answers it; null for a node not known. "
                "The nodes' artifacts are read together, in one batched read.",
            )
        },
    )
    made = types.object(LineageGraph)
    return _with_fields(
        made,
        lambda: {
            "nodes": GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(node))),
                description=made.fields["nodes"].description,
            )
        },
    )


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    search = _Search.model_fields
    view = types.object(ArtifactView)
    return {
        "artifacts": make_field(
            connection(
                types,
                "Artifact",
                types.object(Artifact),
                total=GraphQLField(
                    GraphQLInt,
                    description="The tenant's artifacts when nothing is filtered; with filters, the "
                    "matches when this first page read them all, else null.",
                ),
                partial=GraphQLField(
                    GraphQLNonNull(GraphQLBoolean),
                    description="The page's read budget ran out before the page was full.",
                ),
                license=GraphQLField(GraphQLNonNull(types.object(LicenseBlock))),
            ),
            _artifacts,
            args={
                **page_arguments(PAGES["artifacts"]),
                "kind": GraphQLArgument(types.literal_enum(search["kind"].annotation, "ArtifactKind")),
                "tag": GraphQLArgument(
                    GraphQLList(GraphQLNonNull(GraphQLString)),
                    description="Every tag given must be present (at most 20).",
                ),
                "owner": GraphQLArgument(GraphQLString),
                "license_tag": GraphQLArgument(GraphQLString),
                "governance_status": GraphQLArgument(
                    types.literal_enum(search["governance_status"].annotation, "ArtifactGovernanceStatus")
                ),
                **{
                    bound: GraphQLArgument(GraphQLString, description="ISO 8601 date-time.")
                    for bound in ("created_from", "created_to", "updated_from", "updated_to")
                },
                "sort": GraphQLArgument(
                    types.literal_enum(search["sort"].annotation, "ArtifactSort"),
                    description="Default `updated`; then by id.",
                ),
                "order": GraphQLArgument(
                    types.literal_enum(search["order"].annotation, "SortOrder"),
                    description="Default `desc`.",
                ),
            },
            description="Structured artifact search (`GET /artifacts/search`): its cursors, bound to "
            "the filters given, continue the REST list and the other way round.",
            access=ACCESS,
        ),
        "artifact": make_field(
            GraphQLNonNull(view),
            _artifact,
            args=AN_ID,
            description="One artifact, masked by the tenant's license policy (`GET /artifacts/{id}`).",
            access=ACCESS,
        ),
        "artifact_lineage": make_field(
            GraphQLNonNull(_lineage_graph(types, view)),
            _lineage,
            args={
                **AN_ID,
                "direction": GraphQLArgument(
                    types.literal_enum(_Lineage.model_fields["direction"].annotation, "LineageDirection"),
                    description="Default `both`.",
                ),
                "depth": GraphQLArgument(GraphQLInt, description="Hops on each side, 1 to 10 (default 1)."),
                "fan_out": GraphQLArgument(
                    GraphQLInt,
                    description="Neighbours followed per node and hop; page size in layer mode "
                    f"(1 to 100, default {PAGES['artifact_lineage']}).",
                ),
                "layer": GraphQLArgument(
                    GraphQLString, description="`<side>:<hop>` (e.g. `downstream:2`): layer mode."
                ),
                "cursor": GraphQLArgument(
                    GraphQLString,
                    description="Layer mode: the layer's `next_cursor`, with the arguments that gave it.",
                ),
            },
            description="An artifact's lineage graph (`GET /artifacts/{id}/lineage`): the same walk, "
            "cut counts and masking; a layer's cursor continues the REST layer and the other way round.",
            access=ACCESS,
        ),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    return {}
