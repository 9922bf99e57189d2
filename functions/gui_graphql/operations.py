"""The schema: the root fields of every group's module (`gui_graphql.fields.<group>`), each calling
its group's use cases and nothing else (docs/decision_log.md, "one use case, many doors"). A field
the caller may not read is an error of that field, with the problem code and status REST would
answer (`extensions`), and the rest of the answer stands.

Lists are connections over the REST routes' own cursors: a list's cursors are bound to the REST
route, the tenant and the filters (`gui_core.cursors.CursorPlace`), so a cursor from `GET /jobs`
continues `jobs` with the same filters, and the other way round. A page's cursor marks where the
next page starts (`pageInfo.endCursor`), as `next_cursor` in REST; `edges` carry no cursor of
their own.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType, GraphQLSchema

from gui_core.live_graphql import subscription_type
from gui_graphql import fields
from gui_graphql.fields.base import Context, Ports
from gui_graphql.types import JSON, ModelTypes

if TYPE_CHECKING:
    from gui_graphql.settings import GraphQLSettings

# The groups whose fields the schema holds: every module of `gui_graphql.fields` but `base`, in the
# order of their `ORDER`. Imported here, at the cold start, not on first use: the local runtime
# keeps a function's modules apart from other functions' during its import only.
GROUP_MODULES: tuple[ModuleType, ...] = tuple(
    sorted(
        (
            importlib.import_module(f"{fields.__name__}.{info.name}")
            for info in pkgutil.iter_modules(fields.__path__)
            if info.name != "base"
        ),
        key=lambda module: (module.ORDER, module.GROUP),
    )
)

__all__ = ["GROUP_MODULES", "PAGE_DEFAULTS", "Context", "Ports", "build_schema", "environment_ports"]


def _modules() -> tuple[ModuleType, ...]:
    return GROUP_MODULES


# The lists of pages and their default page sizes (what `gui_graphql.execution` costs them at).
PAGE_DEFAULTS: dict[str, int] = {name: size for module in _modules() for name, size in module.PAGES.items()}


def environment_ports(settings: GraphQLSettings, **given: Any) -> Ports:
    """The groups' ports, built now (at the cold start) from their settings, as each group's own
    function builds them; `given`: some built already (tests)."""
    built = {m.GROUP: m.ports(settings.group(m.GROUP)) for m in _modules() if m.GROUP not in given}
    return Ports(**built, **given)


def build_schema() -> GraphQLSchema:
    types = ModelTypes()
    modules = _modules()
    query = GraphQLObjectType("Query", {k: v for m in modules for k, v in m.query(types).items()})
    mutation = GraphQLObjectType("Mutation", {k: v for m in modules for k, v in m.mutation(types).items()})
    # The live channels' subscriptions, served by the WebSocket API (gui_core.live_graphql).
    return GraphQLSchema(query=query, mutation=mutation, subscription=subscription_type(JSON))
