"""Hostile input to the REST routes (issue 18): cursors a client made or moved, bodies that are not
JSON, and JSON nested deeper than any body of this API. Each is refused with its own 4xx, never a
5xx, and never answered as though it were something the API issued."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

from stacks.manifest import MANIFEST
from tests.security.support import (
    BODIES,
    CASES,
    ROUTED_FUNCTIONS,
    Caller,
    build_app,
    problem,
    route_path,
    unique,
)
from tests.security.test_matrix import RESOURCES

if TYPE_CHECKING:
    from stacks.manifest import Route

JOBS = "/service/gui/jobs"
AUDIT = "/service/gui/audit"
VIEWS = "/service/gui/preferences/views"


@pytest.fixture(autouse=True)
def _count() -> None:
    CASES["attacks"] += 1


# -- cursors -------------------------------------------------------------------------------------

# Every paged route (a GET taking `cursor`), with what else a request needs to reach its paging: the
# path's artifact is made per test (`{artifact_id}`), lineage pages one layer at a time.
PAGED: dict[str, str] = {
    "/service/gui/jobs": "",
    "/service/gui/notifications": "",
    "/service/gui/preferences/views": "",
    "/service/gui/audit": "",
    "/service/gui/artifacts/search": "",
    "/service/gui/artifacts/{artifact_id}/lineage": "layer=upstream:1",
    "/service/gui/search": "",
}


def _paged_operations() -> set[str]:
    return {
        path
        for fn in ROUTED_FUNCTIONS
        for path, item in build_app(fn).openapi()["paths"].items()
        if any(p["name"] == "cursor" for p in item.get("get", {}).get("parameters", []))
    }


def test_the_table_of_paged_routes_is_every_route_taking_a_cursor() -> None:
    assert set(PAGED) == _paged_operations()


def _encoded(position: dict[str, Any]) -> str:
    """A cursor as a client could make one: base64url of JSON, as the API's cursors used to be."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _get(caller: Caller, template: str, artifact: str, query: str) -> Any:
    path = template.replace("{artifact_id}", artifact)
    return caller.call("GET", path, query="&".join(q for q in (PAGED[template], query) if q))


@pytest.fixture
def pager(tenant_admin: Caller, dynamodb: Any) -> tuple[Caller, str, str]:
    """A tenant with two jobs, two views, their audit records and an artifact; a `/jobs` cursor."""
    for _ in range(2):
        assert tenant_admin.call("POST", f"{JOBS}/reindex", body={"index": "search"}).status == 201
        assert tenant_admin.call("POST", VIEWS, body={"name": unique("v"), "module": "jobs"}).status == 201
    artifact = RESOURCES["artifact"](tenant_admin, dynamodb, "cursors")
    cursor = tenant_admin.call("GET", JOBS, query="limit=1").json()["next_cursor"]
    assert cursor
    return tenant_admin, artifact, cursor


@pytest.mark.parametrize("template", list(PAGED))
@pytest.mark.parametrize(
    "position",
    [{"pk": "<tenant>"}, {"pk": "<tenant>", "sk": "~"}, {"pk": "<tenant>", "o": 0, "h": "x"}, ["<tenant>"]],
    ids=["tenant only", "a key of the client's choosing", "an offset", "not an object"],
)
def test_a_cursor_the_client_made_gets_400_on_every_paged_route(
    template: str, position: Any, pager: tuple[Caller, str, str]
) -> None:
    caller, artifact, _ = pager
    forged = _encoded(json.loads(json.dumps(position).replace("<tenant>", caller.tenant)))
    problem(_get(caller, template, artifact, f"cursor={forged}"), 400, "invalid_cursor")


@pytest.mark.parametrize("template", [t for t in PAGED if t != JOBS])
def test_a_cursor_comes_back_only_to_the_route_that_issued_it(
    template: str, pager: tuple[Caller, str, str]
) -> None:
    caller, artifact, jobs_cursor = pager
    problem(_get(caller, template, artifact, f"cursor={jobs_cursor}"), 400, "invalid_cursor")
    assert caller.call("GET", JOBS, query=f"limit=1&cursor={jobs_cursor}").status == 200


def test_a_cursor_is_bound_to_the_filters_of_the_query_that_issued_it(pager: tuple[Caller, str, str]) -> None:
    caller, _, _ = pager
    queued = caller.call("GET", JOBS, query="limit=1&status=queued").json()["next_cursor"]
    assert queued
    assert caller.call("GET", JOBS, query=f"limit=1&status=queued&cursor={queued}").status == 200
    assert (
        caller.call("GET", JOBS, query=f"limit=5&status=queued&cursor={queued}").status == 200
    )  # a page size
    problem(caller.call("GET", JOBS, query=f"limit=1&status=failed&cursor={queued}"), 400, "invalid_cursor")
    problem(caller.call("GET", JOBS, query=f"limit=1&cursor={queued}"), 400, "invalid_cursor")
    audit = caller.call("GET", AUDIT, query="limit=1").json()["next_cursor"]
    assert audit
    problem(
        caller.call("GET", AUDIT, query=f"limit=1&actor={caller.subject}&cursor={audit}"),
        400,
        "invalid_cursor",
    )


def test_a_cursor_changed_by_one_character_gets_400(pager: tuple[Caller, str, str]) -> None:
    caller, _, cursor = pager
    for at in (0, len(cursor) // 2, len(cursor) - 1):
        changed = cursor[:at] + ("A" if cursor[at] != "A" else "B") + cursor[at + 1 :]
        problem(caller.call("GET", JOBS, query=f"limit=1&cursor={changed}"), 400, "invalid_cursor")


# -- bodies that are not JSON --------------------------------------------------------------------

BODY_ROUTES: list[Route] = [
    route for route, _ in MANIFEST.routes() if route.method in {"POST", "PUT", "PATCH"}
]
NOT_JSON = {
    "text/plain": "text/plain",
    "multipart": "multipart/form-data; boundary=x",
    "form-encoded": "application/x-www-form-urlencoded",
    "missing": None,
    "problem+json": "application/problem+json",
    "json in latin-1": "application/json; charset=iso-8859-1",
}


def _sent(caller: Caller, route: Route, raw: bytes, content_type: str | None) -> Any:
    return caller.call(
        route.method,
        route_path(route, {"tenant": caller.tenant}),
        raw=raw,
        headers={"If-Match": "*"},
        content_type=content_type,
    )


def _body_of(route: Route) -> bytes:
    return json.dumps(BODIES.get((route.method, route.full_path)) or {}).encode()


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[f"{r.method} {r.full_path}" for r in BODY_ROUTES])
@pytest.mark.parametrize("content_type", list(NOT_JSON.values()), ids=list(NOT_JSON))
def test_a_body_that_is_not_json_gets_415_on_every_route_taking_one(
    route: Route, content_type: str | None, tenant_admin: Caller
) -> None:
    problem(_sent(tenant_admin, route, _body_of(route), content_type), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON;Charset=UTF-8"]
)
def test_json_is_json_whatever_the_case_and_with_its_charset(content_type: str, tenant_admin: Caller) -> None:
    answer = tenant_admin.call(
        "PUT",
        "/service/gui/preferences",
        body={"theme": "dark"},
        headers={"If-Match": "*"},
        content_type=content_type,
    )
    assert answer.status == 200, answer.body[:300]


def test_a_request_without_a_body_needs_no_content_type(tenant_admin: Caller) -> None:
    answer = tenant_admin.call("POST", "/service/gui/notifications/read-all", content_type=None)
    assert answer.status == 200, answer.body[:300]


# -- JSON nested deeper than any body ------------------------------------------------------------

DEPTH = 5000
DEEP = {
    "arrays": b"[" * DEPTH + b"]" * DEPTH,
    "objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "naming a tenant": b'{"tenant":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "in a member": b'{"name":"x","module":"jobs","filters":' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}",
}


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[f"{r.method} {r.full_path}" for r in BODY_ROUTES])
@pytest.mark.parametrize("raw", list(DEEP.values()), ids=list(DEEP))
def test_json_nested_5000_deep_gets_400_malformed_json(
    route: Route, raw: bytes, tenant_admin: Caller
) -> None:
    problem(_sent(tenant_admin, route, raw, "application/json"), 400, "malformed_json")
