"""The GraphQL explorer (`/dev/graphql`, local.graphql_explorer) in headless Chromium against the
local runtime: GraphiQL, React and ReactDOM load from the gateway itself (the pinned packages in
node_modules, no CDN), the page signs in with a development token, reads the schema by
introspection (answered on the local stage) and runs the GUI's dashboard screen, without a script
error."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest

from stacks.manifest import MANIFEST

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from local.runtime import LocalBackend

    from .conftest import PageProblems

pytestmark = pytest.mark.slow
REGION = "eu-west-1"  # acme's home region
ROOT = Path(__file__).resolve().parents[2]
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


# The page's resumable client (docs/gui/client/live-subscriptions.mjs) on the notifications channel:
# what it applied, in order, and how many times it connected.
SUBSCRIBE = """(query) => {
    window.liveSeen = { applied: [], connects: 0, gaps: 0, errors: [] };
    window.ddguiLive.client.on("connected", () => { window.liveSeen.connects += 1; });
    window.ddguiLive.subscribe(query, {
        operationName: "NotificationsLive",
        channel: "notifications",
        field: "notifications",
        onEvent: (message) => window.liveSeen.applied.push(message),
        onGap: () => { window.liveSeen.gaps += 1; },
        onError: (errors) => window.liveSeen.errors.push(JSON.stringify(errors)),
    });
}"""


def _applied_markers(page: Page, markers: list[str]) -> list[str]:
    payloads = page.evaluate("() => window.liveSeen.applied.map(m => JSON.stringify(m.payload || {}))")
    return [m for payload in payloads for m in markers if m in payload]


def _wait_applied(page: Page, markers: list[str], timeout_s: float = 30.0) -> None:
    page.wait_for_function(
        "(markers) => markers.every(m => window.liveSeen.applied"
        ".some(e => JSON.stringify(e.payload || {}).includes(m)))",
        arg=markers,
        timeout=timeout_s * 1000,
    )


def test_a_graphql_ws_subscription_survives_a_dropped_connection_without_loss_or_duplicates(
    page: Page, problems: PageProblems, live_backend: LocalBackend
) -> None:
    """graphql-ws' own client (pinned, in the explorer's page) with the GUI's resumable wrapper:
    the server drops the connection (`@connections` DELETE), events are published while the page is
    away, and after graphql-ws reconnects every event is applied once, in cursor order."""
    from tests.browser.test_console_browser import _connection_ids, _publish_alerts, _wait_logged

    subject = f"gql-live-{uuid.uuid4().hex[:8]}@acme"
    base = live_backend.base_urls[REGION]
    page.goto(f"{base}/dev/graphql?tenant=acme&subject={subject}&roles=admin")
    page.wait_for_function("() => !!window.ddguiLive && !!window.ddguiExplorer", timeout=30_000)
    document = (ROOT / "docs" / "gui" / "subscriptions.graphql").read_text()
    page.evaluate(SUBSCRIBE, document)
    page.wait_for_function("() => window.liveSeen.connects === 1", timeout=30_000)
    deadline = time.monotonic() + 10
    while not (ids := _connection_ids(live_backend, subject)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(ids) == 1, ids
    time.sleep(0.5)  # the subscribe is recorded

    live = [f"gql-live-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    _publish_alerts(live_backend, live)
    _wait_applied(page, live)

    management = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{base}/{MANIFEST.websocket.stage if MANIFEST.websocket else 'live'}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    management.delete_connection(ConnectionId=ids[0])
    missed = [f"gql-missed-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    _publish_alerts(live_backend, missed)  # graphql-ws waits a second or more before it retries
    _wait_logged(live_backend, missed)
    page.wait_for_function("() => window.liveSeen.connects >= 2", timeout=60_000)
    _wait_applied(page, missed, 60)

    after = [f"gql-after-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    _publish_alerts(live_backend, after)
    _wait_applied(page, after)
    time.sleep(1.0)  # a duplicate, late, would show now
    assert _applied_markers(page, live + missed + after) == live + missed + after  # once each, in order
    cursors = page.evaluate("() => window.liveSeen.applied.map(m => m.cursor)")
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == len(cursors)
    assert page.evaluate("() => window.liveSeen.gaps") == 0
    assert page.evaluate("() => window.liveSeen.errors") == []
    assert problems.errors == []
