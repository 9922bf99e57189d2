"""What every group's fields share: the request's context (caller, tenant, the groups' ports), the
field that checks its own scope and feature flag before calling a use case, connections over REST's
cursors, and REST's validation errors for arguments."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
)
from pydantic import BaseModel, ValidationError

from gui_core.cursors import CursorPlace, Cursors, Pages
from gui_core.errors import FeatureDisabled, InsufficientScope, ValidationFailed
from gui_graphql.execution import DeadlineExceeded

if TYPE_CHECKING:
    from gui_core.context import RequestContext
    from gui_core.tenancy import Tenant
    from gui_graphql.types import ModelTypes

API = "/service/gui"
RATE_CLASS = "rate_class"  # a root field's extension: the rate-limit class it is charged to
ACCESS = "access"  # and its `Access` (feature flag, scope): what the security tests read
MAX_PAGE = 100


@dataclass(frozen=True)
class Access:
    """What a field needs: its group's feature flag on for the tenant, its scope in the token; and
    the rate-limit classes its REST twins are charged to (`rate_class`): a root field of another
    class than `reads` is charged to it once per occurrence, as its REST call would be."""

    feature: str
    scope: str
    read_class: str = "reads"
    write_class: str = "writes"


class Ports:
    """Each group's ports by the group's name."""

    def __init__(self, **groups: Any) -> None:
        self._groups = groups

    def of(self, group: str) -> Any:
        return self._groups[group]


@dataclass
class Context:
    """One request's caller, tenant and ports; `mutations` counts what it changed (for the audit)."""

    caller: RequestContext
    tenant: Tenant
    ports: Ports
    cursors: Cursors
    mutations: list[str] = field(default_factory=list)
    deadline: float = math.inf  # time.monotonic() past which no field starts

    def in_time(self) -> None:
        """A field that would start past the request's deadline does not (504 `deadline_exceeded`)."""
        if time.monotonic() > self.deadline:
            raise DeadlineExceeded("The request's time ran out before this field began.")

    def admit(self, feature: str, scope: str) -> None:
        """The field's feature flag (404 `feature_disabled`) and scope (403 `insufficient_scope`)."""
        if not self.tenant.feature_enabled(feature):
            raise FeatureDisabled(f"The feature {feature!r} is turned off for this tenant.", feature=feature)
        if not self.caller.has_scope(scope):
            raise InsufficientScope(f"This field needs the scope {scope}.", required_scope=scope)

    def pages(self, route: str, filters: Mapping[str, Any]) -> Pages:
        """The paging of a list: the cursors of the REST route `route` with these query filters (a
        list is a parameter given once per value, as `tag=a&tag=b`)."""
        query = tuple(
            sorted(
                (k, str(each))
                for k, v in filters.items()
                if v is not None
                for each in (v if isinstance(v, list | tuple) else (v,))
            )
        )
        return Pages(self.cursors, CursorPlace(f"GET {API}{route}", self.caller.tenant, query))


def validated(model: type[BaseModel], values: Mapping[str, Any]) -> Any:
    """`model` of these values; a 422 `validation_failed` (with the fields, as REST's) when invalid."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        fields = [
            {
                "pointer": "/" + "/".join(str(part) for part in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in error.errors(include_url=False)
        ]
        raise ValidationFailed(f"{len(fields)} argument(s) are not valid.", errors=fields) from None


Resolver = Callable[[Context, Mapping[str, Any]], Any]


def make_field(
    output: GraphQLOutputType,
    resolve: Resolver,
    *,
    access: Access,
    args: Mapping[str, GraphQLArgument] | None = None,
    description: str,
    mutation: bool = False,
) -> GraphQLField:
    def resolver(_root: Any, info: Any, **arguments: Any) -> Any:
        context: Context = info.context
        context.in_time()
        context.admit(access.feature, access.scope)
        answer = resolve(context, arguments)
        if mutation:
            context.mutations.append(info.field_name)
        return answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer

    # Nullable, so that a field that fails leaves the others' data standing (partial data).
    nullable = output.of_type if isinstance(output, GraphQLNonNull) else output
    rate_class = access.write_class if mutation else access.read_class
    return GraphQLField(
        nullable,
        args=dict(args or {}),
        resolve=resolver,
        description=description,
        extensions={RATE_CLASS: rate_class, ACCESS: access},
    )


def connection(types: ModelTypes, name: str, node: GraphQLObjectType, **extra: GraphQLField) -> Any:
    edge = GraphQLObjectType(f"{name}Edge", {"node": GraphQLField(GraphQLNonNull(node))})
    page_info = types.page_info
    return GraphQLNonNull(
        GraphQLObjectType(
            f"{name}Connection",
            {
                "nodes": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(node)))),
                "edges": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(edge)))),
                "pageInfo": GraphQLField(GraphQLNonNull(page_info)),
                **extra,
            },
        )
    )


def connected(items: list[Any], next_cursor: str | None, **extra: Any) -> dict[str, Any]:
    nodes = [i.model_dump(mode="json") for i in items]
    return {
        "nodes": nodes,
        "edges": [{"node": n} for n in nodes],
        "pageInfo": {"hasNextPage": next_cursor is not None, "endCursor": next_cursor},
        **extra,
    }


def first_of(arguments: Mapping[str, Any], default: int, maximum: int = MAX_PAGE) -> int:
    """`first`, 1 to `maximum` (the REST list's own `limit` bounds), else `default`."""
    first = arguments.get("first")
    if first is None:
        return default
    if not 1 <= int(first) <= maximum:
        raise ValidationFailed(
            f"`first` is 1 to {maximum}.",
            errors=[{"pointer": "/first", "message": f"1 to {maximum}", "type": "out_of_range"}],
        )
    return int(first)


def page_arguments(default: int, maximum: int = MAX_PAGE) -> dict[str, GraphQLArgument]:
    return {
        "first": GraphQLArgument(GraphQLInt, description=f"Page size, 1 to {maximum} (default {default})."),
        "after": GraphQLArgument(GraphQLString, description="`pageInfo.endCursor` of the page before."),
    }


AN_ID = {"id": GraphQLArgument(GraphQLNonNull(GraphQLString))}
