"""docs/gui/client/api.d.ts, the GUI's TypeScript types, is what openapi-typescript (pinned in
package.json) makes from docs/gui/openapi.json now, and it type-checks, with the usage example of
docs/gui/backend_support_api.md. Regenerate with `npm run gen:client`.

Runs only the locally installed tools (`npx --no-install`): nothing is downloaded. Skipped when
`node_modules` lacks them (`npm ci` installs them; `make test` runs it before the suites)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "node_modules" / ".bin"
CLIENT = REPO / "docs" / "gui" / "client" / "api.d.ts"
API_DOC = REPO / "docs" / "gui" / "backend_support_api.md"

pytestmark = pytest.mark.skipif(
    not (BIN / "openapi-typescript").exists(),
    reason="node_modules/.bin/openapi-typescript is missing: run `npm ci` (make test does)",
)


def _npx(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "npm_config_update_notifier": "false",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
    }
    return subprocess.run(
        ["npx", "--no-install", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _package() -> dict:
    return json.loads((REPO / "package.json").read_text(encoding="utf-8"))


def test_the_generator_is_pinned_and_scripted() -> None:
    package = _package()
    version = package["devDependencies"]["openapi-typescript"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pin an exact version, not {version!r}"
    installed = json.loads((REPO / "node_modules" / "openapi-typescript" / "package.json").read_text())
    assert installed["version"] == version, "node_modules is not what package-lock.json says: run `npm ci`"
    script = shlex.split(package["scripts"]["gen:client"])
    assert script[:2] == ["openapi-typescript", "docs/gui/openapi.json"]
    assert REPO / script[script.index("-o") + 1] == CLIENT


def test_the_committed_client_is_current(tmp_path: Path) -> None:
    script = shlex.split(_package()["scripts"]["gen:client"])
    out = tmp_path / "api.d.ts"
    script[script.index("-o") + 1] = str(out)
    result = _npx(*script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_text(encoding="utf-8") == CLIENT.read_text(encoding="utf-8"), (
        f"{CLIENT.relative_to(REPO)} is stale: run `npm run gen:client`"
    )


def _no_ambient_types(tmp_path: Path) -> tuple[str, str]:
    """tsc's options for no ambient `@types` package: what the GUI's code would see of ours alone
    (node_modules/@types holds the explorer's, for the DOM, which these checks do not load)."""
    empty = tmp_path / "no-types"
    empty.mkdir(exist_ok=True)
    return ("--typeRoots", str(empty))


def test_the_client_and_the_documented_usage_type_check(tmp_path: Path) -> None:
    if not (BIN / "tsc").exists():
        pytest.skip(
            "node_modules/.bin/tsc is missing (typescript, a peer of openapi-typescript): run `npm ci`"
        )
    blocks = re.findall(r"```ts\n(.*?)```", API_DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, f"{API_DOC.name} shows how to use the types"
    (tmp_path / "api.d.ts").write_text(CLIENT.read_text(encoding="utf-8"), encoding="utf-8")
    usage = tmp_path / "usage.ts"
    # Every alias the example declares is exported, so `noUnusedLocals` cannot hide a wrong one.
    usage.write_text(re.sub(r"^type ", "export type ", blocks[0], flags=re.MULTILINE), encoding="utf-8")
    result = _npx(
        "tsc",
        *_no_ambient_types(tmp_path),
        "--noEmit",
        "--strict",
        "--noUnusedLocals",
        "--target",
        "es2022",
        "--lib",
        "es2022",
        "--module",
        "esnext",
        "--moduleResolution",
        "bundler",
        str(usage),
    )
    assert result.returncode == 0, result.stdout + result.stderr


GRAPHQL_CLIENT = REPO / "docs" / "gui" / "client" / "graphql.ts"
CODEGEN = ("@graphql-codegen/core", "@graphql-codegen/typescript-operations")


def test_the_graphql_generator_is_pinned_and_scripted() -> None:
    package = _package()
    for name in (*CODEGEN, "graphql"):
        version = package["devDependencies"][name]
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pin an exact version of {name}, not {version!r}"
        installed = json.loads((REPO / "node_modules" / name / "package.json").read_text())
        assert installed["version"] == version, (
            "node_modules is not what package-lock.json says: run `npm ci`"
        )
    assert shlex.split(package["scripts"]["gen:graphql"]) == ["node", "scripts/graphql-types.mjs"]


def test_the_committed_graphql_operations_are_current(tmp_path: Path) -> None:
    """The GUI's operations typed from the schema and docs/gui/operations.graphql as they are now
    (regenerate with `npm run gen:graphql` after `.venv/bin/python -m local.graphql_sdl`)."""
    out = tmp_path / "graphql.ts"
    result = subprocess.run(
        ["node", "scripts/graphql-types.mjs", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_text(encoding="utf-8") == GRAPHQL_CLIENT.read_text(encoding="utf-8"), (
        f"{GRAPHQL_CLIENT.relative_to(REPO)} is stale: run `npm run gen:graphql`"
    )
    assert "export type DashboardScreenQuery = " in out.read_text(encoding="utf-8")


def test_the_graphql_operations_type_check_with_a_use(tmp_path: Path) -> None:
    if not (BIN / "tsc").exists():
        pytest.skip(
            "node_modules/.bin/tsc is missing (typescript, a peer of openapi-typescript): run `npm ci`"
        )
    use = tmp_path / "use.ts"
    use.write_text(
        "import type { DashboardScreenQuery, StartJobMutationVariables } from "
        f'"{GRAPHQL_CLIENT.with_suffix("")}";\n'
        "export function unread(answer: DashboardScreenQuery): number {\n"
        "  return answer.notifications?.counts.unread ?? 0;\n"
        "}\n"
        "export const start: StartJobMutationVariables = "
        '{ verb: "reindex", parameters: { index: "search" } };\n'
        "// @ts-expect-error: not a verb of the schema\n"
        'export const wrong: StartJobMutationVariables = { verb: "nope" };\n',
        encoding="utf-8",
    )
    result = _npx(
        "tsc",
        *_no_ambient_types(tmp_path),
        "--noEmit",
        "--strict",
        "--target",
        "es2020",
        "--moduleResolution",
        "node",
        str(use),
    )
    assert result.returncode == 0, result.stdout + result.stderr
