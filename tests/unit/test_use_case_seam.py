"""Every REST route is a thin door (#15): it parses, calls one use case and answers its model, so a
second door (GraphQL, #16) calls the same function instead of copying the orchestration.

The routes are listed from the groups' routers: every module of a REST group (a function of the
manifest with routes) that makes a router with `group_router`. A group fails when a route's body
holds more than MAX_STATEMENTS statements, or a module serving routes imports a repository module,
`gui_core.dynamo` or `gui_core.bus`, or reads `app.state.repository`, or imports a module of its
own group other than its use cases, models, pure rules and settings (an adapter by another name: the
rollups' store, the search index's store, the inbox).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from stacks.manifest import MANIFEST

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
MAX_STATEMENTS = 8
DATA_MODULES = ("gui_core.dynamo", "gui_core.bus")
REST_GROUPS = tuple(sorted(fn.package.removeprefix("gui_") for fn in MANIFEST.all_functions() if fn.routes))
# What a routes module may import of its own group: its use cases, models, pure rules, settings
# and the group's other routes modules (a shared dependency); the search's query grammar is rules.
OWN_GROUP_MODULES = frozenset({"use_cases", "models", "logic", "settings", "routes", "query"})
# The GraphQL function is a door of its own: its parsing and limits (`execution`) and its schema
# (`operations`, `types`, `fields`), whose fields call the other groups' use cases and nothing else
# (`test_the_graphql_fields_call_use_cases_only`).
DOOR_MODULES = {"gui_graphql": frozenset({"execution", "operations", "types", "fields", "persisted"})}


def routes(group: str) -> list[APIRoute]:
    """The group's REST routes, from the routers of its modules that make one."""
    found: dict[int, APIRoute] = {}
    for source in sorted((FUNCTIONS / f"gui_{group}").glob("*.py")):
        if "group_router(" not in source.read_text(encoding="utf-8"):
            continue
        module = importlib.import_module(f"gui_{group}.{source.stem}")
        for value in vars(module).values():
            if isinstance(value, APIRouter):
                found.update((id(r), r) for r in value.routes if isinstance(r, APIRoute))
    return list(found.values())


def statements(endpoint: Callable[..., Any]) -> int:
    """The statements of a function's body, nested ones included, its docstring not."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(endpoint))))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return sum(1 for node in body for inner in ast.walk(node) if isinstance(inner, ast.stmt))


def imported(tree: ast.Module) -> set[str]:
    """The modules a module imports (`from a import b` counts as `a` and `a.b`), anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def adapters_imported(package: str, tree: ast.Module) -> list[str]:
    """The modules of its own group a routes module imports besides OWN_GROUP_MODULES."""
    return [
        module
        for module in sorted(imported(tree))
        if module.startswith(f"{package}.")
        and module.split(".")[1] not in OWN_GROUP_MODULES | DOOR_MODULES.get(package, frozenset())
    ]


def module_violations(name: str) -> list[str]:
    tree = ast.parse(Path(inspect.getfile(sys.modules[name])).read_text(encoding="utf-8"))
    problems = [
        f"{name} imports {module}"
        for module in sorted(imported(tree))
        if module.rsplit(".", 1)[-1].endswith("repository")
        or any(module == m or module.startswith(f"{m}.") for m in DATA_MODULES)
    ]
    problems += [
        f"{name} imports {module}, which is neither a use case, a model, a rule nor a setting"
        for module in adapters_imported(name.partition(".")[0], tree)
    ]
    problems += [
        f"{name}:{node.lineno} reads app.state.repository"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "repository"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "state"
    ]
    return problems


def violations(group: str) -> list[str]:
    """What in the group's routes holds orchestration a second door would copy."""
    problems: list[str] = []
    modules: set[str] = set()
    for route in routes(group):
        endpoint = inspect.unwrap(route.endpoint)
        modules.add(endpoint.__module__)
        count = statements(endpoint)
        if count > MAX_STATEMENTS:
            problems.append(
                f"{sorted(route.methods or ())} {route.path} ({endpoint.__module__}.{endpoint.__name__}): "
                f"{count} statements, more than {MAX_STATEMENTS}"
            )
    for name in sorted(modules):
        problems += module_violations(name)
    return problems


@pytest.mark.parametrize("group", REST_GROUPS)
def test_every_route_of_the_manifest_is_listed(group: str) -> None:
    """The routers found serve as many routes as the manifest gives the group's function."""
    assert len(routes(group)) == len(MANIFEST.function(f"gui_{group}").routes)


@pytest.mark.parametrize("group", REST_GROUPS)
def test_the_routes_of_every_group_parse_call_a_use_case_and_answer(group: str) -> None:
    assert violations(group) == []


def test_a_long_route_or_a_store_in_a_routes_module_is_found() -> None:
    """The checks themselves: the statements of a body (nested too), the imports of a module."""

    def long_route(x: int) -> int:
        """Not counted."""
        total = 0
        for n in range(x):
            if n % 2:
                total += n
        return total

    assert statements(long_route) == 5
    tree = ast.parse("from gui_core import dynamo\nimport gui_jobs.repository\nfrom gui_core.bus import X\n")
    assert {"gui_core.dynamo", "gui_jobs.repository", "gui_core.bus"} <= imported(tree)
    own = ast.parse(
        "from gui_x import use_cases\nfrom gui_x.models import M\nfrom gui_x.rollup_store import S\n"
    )
    assert adapters_imported("gui_x", own) == ["gui_x.rollup_store", "gui_x.rollup_store.S"]


GRAPHQL_FIELDS = sorted(
    p for p in (FUNCTIONS / "gui_graphql" / "fields").glob("*.py") if p.stem not in ("__init__", "base")
)


@pytest.mark.parametrize("module", GRAPHQL_FIELDS, ids=[p.stem for p in GRAPHQL_FIELDS])
def test_the_graphql_fields_call_use_cases_only(module: Path) -> None:
    """A group's fields reach it through its use cases and models (and build its ports from its
    settings, as its own function does), never a store."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    reached = {
        name.split(".")[1]
        for name in imported(tree)
        if name.startswith("gui_") and "." in name and not name.startswith(("gui_core", "gui_graphql"))
    }
    assert reached, "the fields call no group"
    assert reached <= {"use_cases", "models", "settings", "ports"}, reached
    assert not [m for m in imported(tree) if any(m == d or m.startswith(f"{d}.") for d in DATA_MODULES)]
