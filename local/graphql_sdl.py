"""`docs/gui/schema.graphql`: the GraphQL API's schema in SDL, printed from the function's own schema
(`gui_graphql.operations.build_schema`), for the GUI team's tools (code generators, editors).
`tests/unit/test_graphql_schema.py` fails when it is stale; regenerate with
`.venv/bin/python -m local.graphql_sdl`."""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import print_schema

from gui_graphql.operations import build_schema

SDL = Path(__file__).resolve().parent.parent / "docs" / "gui" / "schema.graphql"
HEADER = (
    "# The GraphQL API of the DomainDetermine GUI backend (POST /service/gui/graphql).\n"
    "# Generated from functions/gui_graphql by `.venv/bin/python -m local.graphql_sdl`: do not edit.\n\n"
)


def render() -> str:
    return HEADER + print_schema(build_schema()) + "\n"


def main() -> int:
    SDL.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {SDL.name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
