"""No import cycle among the project's modules.

Every module under stacks/, functions/, gui_core and local/ is parsed with `ast` (nothing is
imported); an edge goes from a module to each project module it imports, at module level or inside a
function (a lazy import still runs in that order at run time), but not under `if TYPE_CHECKING:`.
A strongly connected component of more than one module is a cycle: the test names it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT

# Each root directory, and the directory its module names are relative to.
ROOTS = (
    (REPO_ROOT / "stacks", REPO_ROOT),
    (REPO_ROOT / "local", REPO_ROOT),
    (REPO_ROOT / "functions", REPO_ROOT / "functions"),
    (REPO_ROOT / "layers" / "core" / "python" / "gui_core", REPO_ROOT / "layers" / "core" / "python"),
)


def module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for root, base in ROOTS:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under `node`, leaving out the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports_of_statement(other)
        else:
            yield from _imports(child)


def _imports_of_statement(statement: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(statement, ast.Import | ast.ImportFrom):
        yield statement
    else:
        yield from _imports(statement)


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports: the most specific module each statement names (a name
    taken from a package is its submodule when there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for statement in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(statement, ast.Import):
            targets = [alias.name for alias in statement.names]
        else:
            base = statement.module or ""
            if statement.level:
                anchor = package.split(".")[: len(package.split(".")) - statement.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in statement.names
            ]
        for target in targets:
            module = target
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name:
                found.add(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One path through `component` from its first module back to it, to name in the failure."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    return [*paths[node], start]
                if successor not in paths:
                    paths[successor] = [*paths[node], successor]
                    following.append(successor)
        frontier = following
    return component


def test_the_graph_covers_every_root() -> None:
    graph = import_graph()
    assert {name.partition(".")[0] for name in graph} >= {"stacks", "local", "gui_core", "gui_jobs"}
    assert "stacks.regional_stack" in graph["stacks.app_builder"]


def test_cycles_are_found_through_lazy_imports_but_not_type_checking_ones() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import stacks.naming\n"
        "def f():\n    import stacks.config\n"
    )
    tree = ast.parse(source)
    assert [getattr(s, "names", [None])[0].name for s in _imports(tree)] == ["TYPE_CHECKING", "stacks.config"]


def test_no_import_cycle() -> None:
    graph = import_graph()
    found = [
        f"{' -> '.join(a_cycle(graph, component))} (the component: {', '.join(component)})"
        for component in cycles(graph)
    ]
    assert not found, "import cycles:\n" + "\n".join(found)
