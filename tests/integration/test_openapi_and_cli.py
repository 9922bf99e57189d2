"""The combined OpenAPI document (served, written to docs/) and the CLI's parity with the API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from local import cli
from local.api_doc import instance_of
from local.cli_api import operations
from local.openapi import OPENAPI_PATH, combined_openapi
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST

DOCS_OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "gui" / "openapi.json"


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def document() -> dict:
    return combined_openapi(MANIFEST)


def test_the_document_covers_every_manifest_route_and_nothing_else(document: dict) -> None:
    routed = {(route.method, _shape(route.full_path)) for route, _ in MANIFEST.routes()}

    def route_of(method: str, path: str) -> tuple[str, str]:
        """The manifest route of an operation: its own shape, or the route it is an instance of (an
        operation per verb of `POST /jobs/{id}`)."""
        if (method, _shape(path)) in routed:
            return method, _shape(path)
        (found,) = [(m, shape) for m, shape in routed if m == method and instance_of(shape, path)]
        return found

    documented = {route_of(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented == routed


def test_every_operation_documents_the_problem_answers(document: dict) -> None:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status in ("401", "403", "421", "422", "429"):
                content = operation["responses"][status]["content"]
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }, (
                    method,
                    path,
                    status,
                )
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_docs_hold_the_current_document(document: dict) -> None:
    """Regenerate with `.venv/bin/ddgui openapi --output docs/gui/openapi.json`."""
    assert json.loads(DOCS_OPENAPI.read_text()) == document


def test_the_local_gateway_serves_it(
    http: httpx.Client, url: Callable[[str, str], str], document: dict
) -> None:
    answer = http.get(url("eu-west-1", OPENAPI_PATH))
    assert answer.status_code == 200
    assert answer.json() == document


def test_every_operation_is_a_cli_command(document: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    ids = {op["operationId"] for methods in document["paths"].values() for op in methods.values()}
    assert ids == listed == set(operations())


def _ddgui(*args: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: the backend's Lambda logs in this process would mix into stdout.
    code = "import sys; from local.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_a_cli_call_goes_through_the_gateway(local_backend: LocalBackend, keys_dir: Path) -> None:
    base = local_backend.base_urls["eu-west-1"]
    done = _ddgui("api", "get_preferences", "--url", base, "--keys-dir", str(keys_dir))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tenant"] == "acme"
    done = _ddgui("api", "get_view", "--url", base, "--path", "view_id=nope", "--keys-dir", str(keys_dir))
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == "not_found"


def test_a_graphql_request_from_the_cli_answers_as_the_api(
    local_backend: LocalBackend, keys_dir: Path
) -> None:
    base = local_backend.base_urls["eu-west-1"]
    query = "query($n: Int) { notifications(first: $n) { counts { unread } } }"
    done = _ddgui(
        "graphql", "--query", query, "--variables", '{"n": 1}', "--url", base, "--keys-dir", str(keys_dir)
    )
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout)["data"]["notifications"]["counts"]["unread"], int)
    done = _ddgui("graphql", "--query", "{ nope }", "--url", base, "--keys-dir", str(keys_dir))
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == "graphql_validation_failed"
