"""The federated search's field: `search` (`gui_search.use_cases.search`), the answer of
`GET /search` with the same arguments (REST's query parameter names), its hits a connection over
REST's cursors, with the page's `total`, `facets` (matches per kind), `highlights`, `index` and
`license` block (fields the tenant's license restricts are null or `***`, as REST removes or masks
them).

The search runs here, on this function's own copy of the tenant's index in /tmp (fetched from S3
by version, as the search function's: `gui_search.ports`). The search library and the index store
are loaded on the first search of a container, not at its cold start: a GraphQL container that
serves no search never pays for them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args

from graphql import GraphQLArgument, GraphQLField, GraphQLInt, GraphQLList, GraphQLNonNull, GraphQLString
from pydantic import BaseModel, Field

from gui_core import rbac
from gui_core.date_times import QueryTime
from gui_core.domain_events import ArtifactKind, GovernanceStatus
from gui_core.objects import ObjectStore, s3_client
from gui_graphql.fields.base import Access, Context, connected, connection, first_of, make_field, validated
from gui_search.models import (
    DEFAULT_PAGE,
    MAX_KINDS,
    MAX_LICENSES,
    MAX_OWNER_CHARS,
    MAX_PAGE,
    MAX_QUERY_CHARS,
    MAX_STATUSES,
    MAX_TAGS,
    Facets,
    IndexInfo,
    SearchCriteria,
    SearchHit,
    SearchLicense,
)

if TYPE_CHECKING:
    from gui_graphql.types import ModelTypes
    from gui_search.settings import SearchSettings
    from gui_search.use_cases import SearchPorts

GROUP = "search"
ORDER = 45  # after the artifacts' fields
PAGES = {"search": DEFAULT_PAGE}
ACCESS = Access("search", rbac.SEARCH, read_class="search")
# The arguments, named as REST's query parameters (so a cursor of one continues the other).
FILTERS = ("q", "kind", "tag", "owner", "license", "status", "updated_from", "updated_to")


class _Search(BaseModel):
    """The arguments as REST's route checks its query parameters (422 `validation_failed`)."""

    q: str = Field(default="", max_length=MAX_QUERY_CHARS)
    kind: list[ArtifactKind] = Field(default_factory=list, max_length=MAX_KINDS)
    tag: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    owner: str | None = Field(default=None, max_length=MAX_OWNER_CHARS)
    license: list[str] = Field(default_factory=list, max_length=MAX_LICENSES)
    status: list[GovernanceStatus] = Field(default_factory=list, max_length=MAX_STATUSES)
    updated_from: QueryTime | None = None
    updated_to: QueryTime | None = None
    limit: int = Field(ge=1, le=MAX_PAGE)


class LazySearchPorts:
    """The search's ports, built on the first search of the container (see the module's doc); the
    bucket's client at the cold start, as every client is."""

    def __init__(self, settings: SearchSettings) -> None:
        self._settings = settings
        self._objects = ObjectStore(settings.data_bucket, s3_client(settings.region))
        self._built: SearchPorts | None = None
        self._lock = threading.Lock()

    def get(self) -> SearchPorts:
        with self._lock:
            if self._built is None:
                from gui_search.ports import build_ports

                self._built = build_ports(self._settings, objects=self._objects)
            return self._built


def settings() -> SearchSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_search.settings import SearchSettings

    return SearchSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: SearchSettings) -> LazySearchPorts:
    return LazySearchPorts(settings)


def _search(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    from gui_search import use_cases

    filters = {name: arguments[name] for name in FILTERS if arguments.get(name) is not None}
    given: _Search = validated(_Search, {**filters, "limit": first_of(arguments, PAGES["search"], MAX_PAGE)})
    lazy: LazySearchPorts = context.ports.of(GROUP)
    page = use_cases.search(
        lazy.get(),
        context.caller,
        context.tenant,
        SearchCriteria(
            text=given.q,
            kinds=given.kind,
            tags=given.tag,
            owner=given.owner,
            license_tags=given.license,
            statuses=given.status,
            updated_from=given.updated_from,
            updated_to=given.updated_to,
            limit=given.limit,
            cursor=arguments.get("after"),
        ),
        context.pages("/search", filters),
    )
    return connected(
        page.hits,
        page.next_cursor,
        query=page.query,
        mode=page.mode,
        total=page.total,
        facets=page.facets.model_dump(mode="json"),
        index=page.index.model_dump(mode="json") if page.index else None,
        license=page.license.model_dump(mode="json"),
    )


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    kinds = types.enum(tuple(get_args(ArtifactKind)), "ArtifactKind")
    statuses = types.enum(tuple(get_args(GovernanceStatus)), "ArtifactGovernanceStatus")
    return {
        "search": make_field(
            connection(
                types,
                "SearchHit",
                types.object(SearchHit),
                query=GraphQLField(GraphQLNonNull(GraphQLString), description="The query as searched."),
                mode=GraphQLField(
                    GraphQLNonNull(GraphQLString), description="`search` (ranked) or `browse` (newest first)."
                ),
                total=GraphQLField(GraphQLNonNull(GraphQLInt), description="Every match, over all pages."),
                facets=GraphQLField(
                    GraphQLNonNull(types.object(Facets)),
                    description="Matches per kind.",
                ),
                index=GraphQLField(
                    types.object(IndexInfo), description="The index version that answered; null before any."
                ),
                license=GraphQLField(GraphQLNonNull(types.object(SearchLicense))),
            ),
            _search,
            args={
                "first": GraphQLArgument(GraphQLInt, description=f"Page size, 1 to {MAX_PAGE} (default 20)."),
                "after": GraphQLArgument(
                    GraphQLString,
                    description="`pageInfo.endCursor` before.",
                ),
                "q": GraphQLArgument(
                    GraphQLString,
                    description="The query (REST's `q` syntax: words, phrases, AND/OR/NOT, prefixes, "
                    "field:word); blank or none: browse, newest first. Unparsable: `invalid_query` (400).",
                ),
                "kind": GraphQLArgument(GraphQLList(GraphQLNonNull(kinds)), description="Any of."),
                "tag": GraphQLArgument(
                    GraphQLList(GraphQLNonNull(GraphQLString)), description="Every tag given (at most 20)."
                ),
                "owner": GraphQLArgument(GraphQLString, description="Exact."),
                "license": GraphQLArgument(
                    GraphQLList(GraphQLNonNull(GraphQLString)), description="License tags, any of."
                ),
                "status": GraphQLArgument(GraphQLList(GraphQLNonNull(statuses)), description="Any of."),
                "updated_from": GraphQLArgument(GraphQLString, description="ISO 8601; [from, to)."),
                "updated_to": GraphQLArgument(GraphQLString, description="ISO 8601."),
            },
            description="Federated search over every artifact kind (`GET /search`): ranked hits with "
            "highlights, facets per kind and license masking.",
            access=ACCESS,
        ),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    return {}
