"""The GraphQL explorer (`/dev/graphql`, local.graphql_explorer) in headless Chromium against the
local runtime: GraphiQL, React and ReactDOM load from the gateway itself (the pinned packages in
node_modules, no CDN), the page signs in with a development token, reads the schema by
introspection (answered on the local stage) and runs the GUI's dashboard screen, without a script
error."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from local.runtime import LocalBackend

    from .conftest import PageProblems

pytestmark = pytest.mark.slow
REGION = "eu-west-1"  # acme's home region
# GraphiQL's fetcher answers a promise, or an async iterable (its multipart transport): the first result.
FETCH = """async (query) => {
    const answer = await window.ddguiExplorer.fetcher({ query });
    if (answer && typeof answer[Symbol.asyncIterator] === "function") {
        for await (const value of answer) { return value; }
    }
    return answer;
}"""


def test_the_explorer_runs_the_dashboard_screen_from_assets_of_its_own(
    page: Page, problems: PageProblems, live_backend: LocalBackend
) -> None:
    base = live_backend.base_urls[REGION]
    answer = httpx.get(f"{base}/dev/graphql")
    assert answer.status_code == 200, answer.text[:300]
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert not re.search(r'(src|href)="https?:', answer.text), "an asset from elsewhere"
    assert httpx.get(f"{base}/dev/graphql/assets/graphiql.js").status_code == 200
    assert httpx.get(f"{base}/dev/graphql/assets/..%2Fpackage.json").status_code == 404

    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{base}/dev/graphql?tenant=acme&subject=ada@acme&roles=admin")
    page.wait_for_function("() => !!window.ddguiExplorer", timeout=30_000)
    page.locator(".graphiql-container").wait_for(timeout=30_000)
    schema = page.evaluate(FETCH, "{ __schema { queryType { name } } }")
    assert "data" in schema, schema
    assert schema["data"]["__schema"]["queryType"]["name"] == "Query"
    result = page.evaluate(
        FETCH, 'query { dashboard(range: "7d") { as_of } jobs(first: 2) { nodes { id } } }'
    )
    assert "errors" not in result, result
    assert result["data"]["dashboard"]["as_of"]
    assert isinstance(result["data"]["jobs"]["nodes"], list)
    assert page.locator(".graphiql-query-editor").inner_text().find("DashboardScreen") >= 0
    assert problems.errors == [], (problems.errors, failed)
