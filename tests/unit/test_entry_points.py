"""A function's name in the manifest leads straight to its entry module: `functions/<name>/handler.py`
for the function named like its package, `functions/<package>/<name>.py` for the others (a
deployed function keeps its name: renaming it would replace it in CloudFormation). An operation's
`operationId` leads to its route function, of that name."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from stacks.manifest import MANIFEST, Function

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
EVERY_FUNCTION = MANIFEST.all_functions()


def entry_module(fn: Function) -> str:
    return f"{fn.name}.handler" if fn.package == fn.name else f"{fn.package}.{fn.name}"


@pytest.mark.parametrize("fn", EVERY_FUNCTION, ids=lambda fn: fn.name)
def test_a_functions_handler_is_in_the_module_named_after_it(fn: Function) -> None:
    assert fn.handler == f"{entry_module(fn)}.handler"
    assert (FUNCTIONS / f"{entry_module(fn).replace('.', '/')}.py").is_file()


@pytest.mark.parametrize("fn", EVERY_FUNCTION, ids=lambda fn: fn.name)
def test_a_functions_name_finds_one_file(fn: Function) -> None:
    # What a reader does with the name alone: look for the package, or the module, named after it.
    candidates = [FUNCTIONS / fn.name / "handler.py", *FUNCTIONS.glob(f"*/{fn.name}.py")]
    assert [path for path in candidates if path.is_file()] == [
        FUNCTIONS / f"{entry_module(fn).replace('.', '/')}.py"
    ]


def test_every_handler_module_is_the_entry_of_the_function_named_like_its_package() -> None:
    names = {fn.name for fn in EVERY_FUNCTION}
    assert {path.parent.name for path in FUNCTIONS.glob("*/handler.py")} <= names


# -- a route's code from its OpenAPI operationId --------------------------------------------------

OPENAPI = json.loads((FUNCTIONS.parent / "docs" / "gui" / "openapi.json").read_text())
# Where route functions live: each group's routes.py, and the stream tickets' router.
ROUTE_MODULES = (*FUNCTIONS.glob("*/routes.py"), FUNCTIONS / "gui_stream" / "tickets.py")
# The jobs' one start route, documented once per verb.
START_VERB_JOB = re.compile(r"start_\w+_job")


def route_functions() -> set[str]:
    return {
        node.name
        for path in ROUTE_MODULES
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_operation_id_is_the_name_of_its_route_function() -> None:
    operations = {
        operation["operationId"]
        for methods in OPENAPI["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    per_verb = {o for o in operations if START_VERB_JOB.fullmatch(o)}
    assert per_verb
    assert "start_job" in route_functions()
    assert operations - per_verb <= route_functions()
