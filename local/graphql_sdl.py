"""The GraphQL API's documents for the GUI team, made from the function's own schema
(`gui_graphql.operations.build_schema`):

- `docs/gui/schema.graphql`: the schema in SDL, for their tools (code generators, editors);
- `functions/gui_graphql/persisted_queries.json`: the GUI's operations (docs/gui/operations.graphql),
  each printed on its own and keyed by the SHA-256 of that text (gui_graphql.persisted).

`tests/unit/test_graphql_schema.py` fails when either is stale; regenerate with
`.venv/bin/python -m local.graphql_sdl`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from graphql import DocumentNode, OperationDefinitionNode, parse, print_ast, print_schema

from gui_graphql.operations import build_schema
from gui_graphql.persisted import ALLOWLIST_FILE, sha256

ROOT = Path(__file__).resolve().parent.parent
SDL = ROOT / "docs" / "gui" / "schema.graphql"
OPERATIONS = ROOT / "docs" / "gui" / "operations.graphql"
HEADER = (
    "# The GraphQL API of the DomainDetermine GUI backend (POST /service/gui/graphql).\n"
    "# Generated from functions/gui_graphql by `.venv/bin/python -m local.graphql_sdl`: do not edit.\n\n"
)


def render() -> str:
    return HEADER + print_schema(build_schema()) + "\n"


def operations() -> dict[str, str]:
    """The GUI's operations by name, each printed as a document of its own."""
    document = parse(OPERATIONS.read_text(encoding="utf-8"))
    return {
        definition.name.value: print_ast(DocumentNode(definitions=(definition,)))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode) and definition.name is not None
    }


def render_allowlist() -> str:
    return json.dumps({sha256(text): text for text in operations().values()}, indent=2, sort_keys=True) + "\n"


def main() -> int:
    SDL.write_text(render(), encoding="utf-8")
    ALLOWLIST_FILE.write_text(render_allowlist(), encoding="utf-8")
    sys.stdout.write(f"wrote {SDL.name} and {ALLOWLIST_FILE.name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
