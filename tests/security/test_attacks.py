"""Attacks on the shared layer: replayed mutations, rate-limit evasion, cookie-only requests,
oversized and malformed bodies, requests naming another tenant, and probing for what exists."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from stacks.manifest import Function, Route
from tests.security.support import (
    ALL_STORES,
    CASES,
    DATA_STORES,
    GUARD_STORES,
    HOME,
    ROUTE_IDS,
    ROUTES,
    Caller,
    partition,
    problem,
    provision,
    route_body,
    route_headers,
    route_path,
    snapshot,
    unique,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.gateway import HttpResponse
    from local.keys import DevKeys
    from local.runtime import LocalBackend

PREFS = "/service/gui/preferences"
UNGUARDED = [name for name in ALL_STORES if name not in GUARD_STORES]  # untouched by a refusal
VIEWS = f"{PREFS}/views"
FUNCTION_BODY_LIMIT = 256 * 1024  # ApiSettings.max_body_bytes, the default every function runs with
GATEWAY_BODY_LIMIT = 10 * 1024 * 1024  # API Gateway's REST payload quota


@pytest.fixture(autouse=True)
def _count() -> None:
    CASES["attacks"] += 1


def _view(name: str | None = None) -> dict[str, Any]:
    return {"name": name or unique("view"), "module": "coverage"}


def _views(dynamodb: Any, tenant: str) -> list[dict[str, Any]]:
    return [i for i in partition(dynamodb, "preferences", tenant) if i["sk"]["S"].startswith("VIEW#")]


# -- replayed mutations ----------------------------------------------------------------------


def test_a_mutation_sent_twice_with_the_same_token_is_refused_and_changes_nothing(
    tenant_admin: Caller, dynamodb: Any
) -> None:
    bearer = f"Bearer {tenant_admin.token()}"
    body = _view()
    first = tenant_admin.call("POST", VIEWS, body=body, authorization=bearer)
    assert first.status == 201, first.body
    stored = snapshot(dynamodb, tenant_admin.tenant, ("preferences",))
    problem(tenant_admin.call("POST", VIEWS, body=body, authorization=bearer), 409, "replayed_request")
    assert snapshot(dynamodb, tenant_admin.tenant, ("preferences",)) == stored
    assert len(_views(dynamodb, tenant_admin.tenant)) == 1


def test_a_replayed_put_and_delete_are_refused_without_effect(tenant_admin: Caller, dynamodb: Any) -> None:
    bearer = f"Bearer {tenant_admin.token()}"
    put = {"body": {"theme": "dark"}, "headers": {"If-Match": "*"}, "authorization": bearer}
    assert tenant_admin.call("PUT", PREFS, **put).status == 200
    problem(tenant_admin.call("PUT", PREFS, **put), 409, "replayed_request")
    assert tenant_admin.call("GET", PREFS).json()["version"] == 1

    view_id = tenant_admin.call("POST", VIEWS, body=_view()).json()["id"]
    assert tenant_admin.call("DELETE", f"{VIEWS}/{view_id}", authorization=bearer).status == 204
    stored = snapshot(dynamodb, tenant_admin.tenant, ("preferences",))
    problem(tenant_admin.call("DELETE", f"{VIEWS}/{view_id}", authorization=bearer), 409, "replayed_request")
    assert snapshot(dynamodb, tenant_admin.tenant, ("preferences",)) == stored


def test_an_idempotency_key_is_used_once_whatever_the_body_or_token(
    tenant_admin: Caller, dynamodb: Any
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = _view("first")
    assert tenant_admin.call("POST", VIEWS, body=first, headers=key).status == 201
    stored = snapshot(dynamodb, tenant_admin.tenant, ("preferences",))
    problem(tenant_admin.call("POST", VIEWS, body=_view("second"), headers=key), 409, "replayed_request")
    problem(tenant_admin.call("POST", VIEWS, body=first, headers=key), 409, "replayed_request")
    assert snapshot(dynamodb, tenant_admin.tenant, ("preferences",)) == stored
    assert [v["name"]["S"] for v in _views(dynamodb, tenant_admin.tenant)] == ["first"]


def test_a_refused_mutation_may_be_corrected_and_sent_again(tenant_admin: Caller) -> None:
    """A failed mutation releases its reservation: the same token may send it again (and fail again
    for its own reason, not as a replay)."""
    bearer = f"Bearer {tenant_admin.token()}"
    invalid = {"name": "", "module": "coverage"}
    for _ in range(2):
        answer = tenant_admin.call("POST", VIEWS, body=invalid, authorization=bearer)
        problem(answer, 422, "validation_failed", allowed={"errors"})


# -- rate-limit evasion ----------------------------------------------------------------------

LIMITS = {"writes": 3, "reads": 5}


@pytest.fixture
def limited(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> Caller:
    """A fresh tenant allowed 5 reads and 3 writes a minute."""
    tenant = unique("sec-limited")
    provision(dynamodb, tenant, rate_limits=LIMITS)
    _fresh_window()
    return Caller(backend, keys, tenant, unique("user"), roles=("admin",))


def _fresh_window(needed_s: float = 4.0) -> None:
    """Start in a window with `needed_s` left: a burst straddling two windows is judged by the
    sliding estimate, which lets a fraction of the previous window's count carry over."""
    left = 60 - time.time() % 60
    if left < needed_s:
        time.sleep(left + 0.05)


EVASIONS: dict[str, Callable[[Caller, int], dict[str, Any]]] = {
    "X-Forwarded-For": lambda c, i: {"headers": {"X-Forwarded-For": f"203.0.113.{i}, 10.0.0.{i}"}},
    "forged tenant headers": lambda c, i: {
        "headers": {"X-Tenant-Id": f"other-{i}", "tenant": f"other-{i}", "X-Amzn-Tenant": f"other-{i}"}
    },
    "query noise": lambda c, i: {"query": f"a={i}&x={i}&cachebust={uuid.uuid4().hex}"},
    "another client id": lambda c, i: {
        "authorization": f"Bearer {c.token(azp=f'client-{i}', client_id=f'client-{i}')}"
    },
    "another user": lambda c, i: {"authorization": f"Bearer {c.as_user(f'user-{i}').token()}"},
    "new token per request": lambda c, i: {"authorization": f"Bearer {c.token()}"},
    "source ip": lambda c, i: {
        "headers": {"X-Real-IP": f"198.51.100.{i}", "Forwarded": f"for=198.51.100.{i}"}
    },
}
# Other spellings of the path: not routes, so never served (API Gateway matches resources exactly,
# but for a trailing slash, which names the resource itself: see the test after the next).
PATH_SPELLINGS = {
    "path case": "/Service/GUI/preferences",
    "double slash": "/service//gui/preferences",
    "percent-encoded letter": "/service/gui/%70references",
}


def _assert_allowed(answer: HttpResponse, limit: int, remaining: int, *, status: int = 200) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.header("x-ratelimit-limit") == str(limit)
    assert answer.header("x-ratelimit-remaining") == str(remaining)
    reset = int(answer.header("x-ratelimit-reset") or 0)
    assert time.time() < reset <= time.time() + 61


def _assert_limited(answer: HttpResponse, limit: int) -> None:
    problem(answer, 429, "rate_limited", allowed={"route_class"})
    retry_after = answer.header("retry-after")
    assert retry_after is not None
    assert 1 <= int(retry_after) <= 60, retry_after
    assert answer.header("x-ratelimit-limit") == str(limit)
    assert answer.header("x-ratelimit-remaining") == "0"
    assert answer.header("x-ratelimit-reset")


@pytest.mark.parametrize("evasion", list(EVASIONS))
def test_the_read_limit_holds_against_evasion(evasion: str, limited: Caller) -> None:
    limit = LIMITS["reads"]
    for i in range(limit):
        _assert_allowed(limited.call("GET", PREFS), limit, remaining=limit - 1 - i)
    for i in range(3):
        _assert_limited(limited.call("GET", PREFS, **EVASIONS[evasion](limited, i)), limit)


@pytest.mark.parametrize("spelling", list(PATH_SPELLINGS))
def test_another_spelling_of_the_path_is_not_a_route_and_gets_no_extra_request(
    spelling: str, limited: Caller
) -> None:
    limit = LIMITS["reads"]
    for i in range(limit):
        _assert_allowed(limited.call("GET", PREFS), limit, remaining=limit - 1 - i)
    answer = limited.call("GET", PATH_SPELLINGS[spelling])
    assert answer.status not in range(200, 300)
    problem(answer, 404, "route_not_found")
    _assert_limited(limited.call("GET", PREFS), limit)


def test_a_trailing_slash_is_the_resource_itself_and_counts_against_its_limit(limited: Caller) -> None:
    """API Gateway routes `/preferences/` to the `/preferences` resource: one more request of it."""
    limit = LIMITS["reads"]
    for i in range(limit):
        spelling = f"{PREFS}/" if i % 2 else PREFS
        _assert_allowed(limited.call("GET", spelling), limit, remaining=limit - 1 - i)
    _assert_limited(limited.call("GET", f"{PREFS}/"), limit)


def test_a_burst_mixing_every_evasion_gets_exactly_the_read_limit(limited: Caller) -> None:
    limit = LIMITS["reads"]
    techniques = list(EVASIONS.values())
    answers = [limited.call("GET", PREFS, **techniques[i % len(techniques)](limited, i)) for i in range(12)]
    assert [a.status for a in answers] == [200] * limit + [429] * (12 - limit)


def test_the_write_limit_holds_across_users_clients_and_tokens(limited: Caller, dynamodb: Any) -> None:
    limit = LIMITS["writes"]
    techniques = list(EVASIONS.values())
    answers = [
        limited.call("POST", VIEWS, body=_view(f"w{i}"), **techniques[i % len(techniques)](limited, i))
        for i in range(7)
    ]
    for i, answer in enumerate(answers[:limit]):
        _assert_allowed(answer, limit, remaining=limit - 1 - i, status=201)
    for answer in answers[limit:]:
        _assert_limited(answer, limit)
    assert sorted(v["name"]["S"] for v in _views(dynamodb, limited.tenant)) == ["w0", "w1", "w2"]


def test_reads_and_writes_are_limited_separately(limited: Caller) -> None:
    """The route class is part of the key: using up the writes leaves the reads untouched."""
    for i in range(LIMITS["writes"]):
        assert limited.call("POST", VIEWS, body=_view(f"s{i}")).status == 201
    _assert_limited(limited.call("POST", VIEWS, body=_view("one-too-many")), LIMITS["writes"])
    _assert_allowed(limited.call("GET", PREFS), LIMITS["reads"], remaining=LIMITS["reads"] - 1)


# -- cookies are not credentials -------------------------------------------------------------


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_a_request_carrying_only_a_cookie_is_refused(
    route: Route, fn: Function, tenant_admin: Caller, dynamodb: Any
) -> None:
    token = tenant_admin.token()
    answer = tenant_admin.call(
        route.method,
        route_path(route),
        body=route_body(route),
        headers={
            **route_headers(route),
            "Cookie": f"session={token}; id_token={token}; Authorization=Bearer%20{token}",
        },
        query=f"access_token={token}",
        authorization=None,
    )
    problem(answer, 401, "unauthorized")
    for store in DATA_STORES:
        assert partition(dynamodb, store, tenant_admin.tenant) == [], store


# -- oversized and malformed bodies ----------------------------------------------------------


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    skeleton = b'{"theme":"dark","padding":""}'
    return skeleton[:-2] + b"x" * (size - len(skeleton)) + b'"}'


def test_a_body_over_the_functions_limit_gets_413_and_is_not_read(
    tenant_admin: Caller, dynamodb: Any
) -> None:
    at_limit = tenant_admin.call(
        "PUT", PREFS, raw=_json_of_size(FUNCTION_BODY_LIMIT), headers={"If-Match": "*"}
    )
    assert len(_json_of_size(FUNCTION_BODY_LIMIT)) == FUNCTION_BODY_LIMIT
    problem(at_limit, 422, "validation_failed", allowed={"errors"})  # read, and refused for `padding`
    over = tenant_admin.call(
        "PUT", PREFS, raw=_json_of_size(FUNCTION_BODY_LIMIT + 1), headers={"If-Match": "*"}
    )
    problem(over, 413, "payload_too_large")
    view = tenant_admin.call(
        "POST", VIEWS, raw=b'{"name":"big","module":"coverage","x":"' + b"y" * 300_000 + b'"}'
    )
    problem(view, 413, "payload_too_large")
    assert partition(dynamodb, "preferences", tenant_admin.tenant) == []


def test_a_body_over_the_gateways_quota_gets_413_from_the_gateway(
    tenant_admin: Caller, backend: LocalBackend
) -> None:
    huge = _json_of_size(GATEWAY_BODY_LIMIT + 1)
    problem(tenant_admin.call("PUT", PREFS, raw=huge, headers={"If-Match": "*"}), 413, "payload_too_large")
    with httpx.Client(timeout=30) as http:
        answer = http.put(
            f"{backend.base_urls[HOME]}{PREFS}",
            content=huge,
            headers={"Authorization": f"Bearer {tenant_admin.token()}", "Content-Type": "application/json"},
        )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "x", ',
        b"not json",
        b'{"tenant": "other", ',
        b"\xff\xfe{}",
        b'{"name": "\xc3\x28", "module": "coverage"}',
        b'{"name": "x"} trailing',
    ],
    ids=[
        "truncated",
        "not json",
        "truncated naming a tenant",
        "utf-16 mark",
        "invalid utf-8",
        "trailing data",
    ],
)
def test_a_malformed_json_body_gets_400(raw: bytes, tenant_admin: Caller, dynamodb: Any) -> None:
    problem(tenant_admin.call("POST", VIEWS, raw=raw), 400, "malformed_json")
    assert partition(dynamodb, "preferences", tenant_admin.tenant) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "pointers"),
    [
        ("POST", VIEWS, {"name": 5, "module": "coverage"}, {"/name"}),
        ("POST", VIEWS, {"name": "x", "module": "nope", "sort": "asc"}, {"/module", "/sort"}),
        ("POST", VIEWS, ["not", "an", "object"], {"/"}),
        ("PUT", PREFS, {"theme": 1, "pinned_dashboards": "overview"}, {"/theme", "/pinned_dashboards"}),
        ("PUT", "/service/gui/admin/tenant/flags", {"flags": {"search": [1]}}, {"/flags/search"}),
    ],
    ids=[
        "number for a string",
        "unknown enum and wrong container",
        "array for object",
        "preferences",
        "flags",
    ],
)
def test_wrong_types_get_422_with_pointers_to_each_field(
    method: str, path: str, body: Any, pointers: set[str], tenant_admin: Caller
) -> None:
    document = problem(
        tenant_admin.call(method, path, body=body, headers={"If-Match": "*"}),
        422,
        "validation_failed",
        allowed={"errors"},
    )
    assert pointers <= {error["pointer"] for error in document["errors"]}, document
    assert all(error["message"] for error in document["errors"])


# -- unusual path parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template", "value", "status"),
    [
        ("DELETE", f"{PREFS}/users/{{}}", "urn:idp:user:42", 204),  # subjects are often URNs
        ("DELETE", f"{PREFS}/users/{{}}", "urn%3Aidp%3Auser%3A42", 204),
        ("GET", f"{VIEWS}/{{}}", "a:b", 404),
        ("DELETE", f"{PREFS}/users/{{}}", "line%0Abreak", 204),
        ("GET", f"{VIEWS}/{{}}", "line%0Abreak", 404),
    ],
    ids=["colons", "encoded colons", "colon in a view id", "encoded newline", "encoded newline in a view id"],
)
def test_a_path_parameter_of_any_characters_reaches_the_function(
    method: str, template: str, value: str, status: int, tenant_admin: Caller
) -> None:
    """API Gateway passes any path parameter on; the authorizer's policy covers the whole stage
    whatever the path, and the function answers: a success, or a problem naming the missing thing."""
    answer = tenant_admin.call(method, template.format(value))
    assert answer.status == status, (answer.status, answer.body[:300])
    if status == 404:
        problem(answer, 404, "not_found")


def test_the_gateway_answers_an_encoded_newline_in_the_path_with_the_function_answer(
    tenant_admin: Caller, backend: LocalBackend
) -> None:
    with httpx.Client(timeout=30) as http:
        answer = http.get(
            f"{backend.base_urls[HOME]}{VIEWS}/line%0Abreak",
            headers={"Authorization": f"Bearer {tenant_admin.token()}"},
        )
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    assert answer.json()["code"] == "not_found"


# -- requests naming another tenant ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", VIEWS, {"tenant": "other", "name": "x", "module": "coverage"}),
        ("PUT", PREFS, {"tenant": "other", "theme": "dark"}),
        ("PUT", f"{PREFS}/tenant", {"tenant": "other", "defaults": {}}),
        ("PUT", "/service/gui/admin/tenant/flags", {"tenant": "other", "flags": {}}),
    ],
    ids=["view", "preferences", "tenant policy", "flags"],
)
def test_a_body_naming_another_tenant_gets_403_before_the_model(
    method: str, path: str, body: dict[str, Any], tenant_admin: Caller, dynamodb: Any
) -> None:
    before = snapshot(dynamodb, tenant_admin.tenant, UNGUARDED)
    problem(tenant_admin.call(method, path, body=body, headers={"If-Match": "*"}), 403, "tenant_mismatch")
    assert snapshot(dynamodb, tenant_admin.tenant, UNGUARDED) == before
    # Naming one's own tenant passes the guard; the model then refuses the unknown member.
    own = {**body, "tenant": tenant_admin.tenant}
    problem(
        tenant_admin.call(method, path, body=own, headers={"If-Match": "*"}),
        422,
        "validation_failed",
        allowed={"errors"},
    )


@pytest.mark.parametrize(("route", "fn"), ROUTES, ids=ROUTE_IDS)
def test_a_query_naming_another_tenant_gets_403_on_every_route(
    route: Route, fn: Function, tenant_admin: Caller, dynamodb: Any
) -> None:
    before = snapshot(dynamodb, tenant_admin.tenant, UNGUARDED)
    answer = tenant_admin.call(
        route.method,
        route_path(route),
        body=route_body(route),
        headers=route_headers(route),
        query="tenant=other",
    )
    problem(answer, 403, "tenant_mismatch")
    assert snapshot(dynamodb, tenant_admin.tenant, UNGUARDED) == before


# -- refusals do not reveal what exists --------------------------------------------------------


def _comparable(answer: HttpResponse, *ids: str) -> tuple[int, str | None, dict[str, Any]]:
    document: dict[str, Any] = answer.json()
    document.pop("request_id", None)
    document.pop("instance", None)
    detail = document.get("detail", "")
    for value in ids:
        detail = detail.replace(value, "<id>")
    document["detail"] = detail
    return answer.status, answer.header("content-type"), document


@pytest.fixture
def other_tenant_view(backend: LocalBackend, keys: DevKeys, dynamodb: Any) -> tuple[Caller, str]:
    tenant = unique("sec-owner")
    provision(dynamodb, tenant)
    owner = Caller(backend, keys, tenant, unique("owner"), roles=("admin",))
    created = owner.call("POST", VIEWS, body={**_view(), "visibility": "tenant"})
    assert created.status == 201
    return owner, created.json()["id"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_tenants_view_is_answered_as_a_missing_one(
    method: str, other_tenant_view: tuple[Caller, str], tenant_admin: Caller, dynamodb: Any
) -> None:
    owner, existing = other_tenant_view
    missing = f"{existing[:-4]}ffff"
    body = _view() if method == "PUT" else None
    before = snapshot(dynamodb, owner.tenant, ("preferences",))
    answers = {
        view_id: tenant_admin.call(method, f"{VIEWS}/{view_id}", body=body, headers={"If-Match": "*"})
        for view_id in (existing, missing)
    }
    problem(answers[existing], 404, "not_found")
    assert _comparable(answers[existing], existing) == _comparable(answers[missing], missing)
    assert snapshot(dynamodb, owner.tenant, ("preferences",)) == before


def test_another_users_private_view_is_answered_as_a_missing_one(tenant_admin: Caller) -> None:
    created = tenant_admin.call("POST", VIEWS, body=_view())
    existing = created.json()["id"]
    missing = f"{existing[:-4]}ffff"
    colleague = tenant_admin.as_user(unique("colleague"), roles=("viewer",))
    for method in ("GET", "PUT", "DELETE"):
        body = _view() if method == "PUT" else None
        answers = {v: colleague.call(method, f"{VIEWS}/{v}", body=body) for v in (existing, missing)}
        problem(answers[existing], 404, "not_found")
        assert _comparable(answers[existing], existing) == _comparable(answers[missing], missing)
    assert tenant_admin.call("GET", f"{VIEWS}/{existing}").status == 200


def test_naming_an_existing_or_a_missing_tenant_gets_the_same_403(
    other_tenant_view: tuple[Caller, str], tenant_admin: Caller
) -> None:
    owner, _ = other_tenant_view
    nobody = unique("sec-nobody")
    for call in (
        lambda t: tenant_admin.call("GET", VIEWS, query=f"tenant={t}"),
        lambda t: tenant_admin.call("POST", VIEWS, body={**_view(), "tenant": t}),
    ):
        existing, missing = call(owner.tenant), call(nobody)
        problem(existing, 403, "tenant_mismatch")
        assert _comparable(existing, owner.tenant) == _comparable(missing, nobody)
        assert owner.tenant not in json.dumps(existing.json())
