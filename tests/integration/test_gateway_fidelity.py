"""What API Gateway and Lambda enforce, the local gateway enforces: paths passed as AWS passes them,
Lambda's 6 MB response limit, gateway responses with the template's headers, a function's reserved
concurrency, the authorizer result cache. StubHandler handlers, no servers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from gui_core.errors import EXPOSED_HEADERS
from local.apigw import HttpRequest
from local.containers import Container
from local.gateway import LAMBDA_RESPONSE_LIMIT_BYTES, HttpResponse, RegionalGateway
from local.pool import FunctionPool
from stacks import cors
from stacks.manifest import MANIFEST, GatewayResponse, Manifest
from tests.fakes import ManualClock, StubHandler

from .test_local_runtime import ALLOW_ALL, PREFS, REGION, ok

ORIGIN = "http://localhost:5173"
OTHER_ORIGIN = "http://localhost:4173"
VIEWS = f"{PREFS}/views"

Build = Callable[..., RegionalGateway]


@pytest.fixture
def build() -> Iterator[Build]:
    """Gateways in front of stub handlers (every routed function gets `function`, or its pool when
    `reserved` gives it a reserved concurrency); their threads end with the test."""
    built: list[RegionalGateway] = []

    def make(
        function: Any,
        *,
        authorizer: Any = None,
        manifest: Manifest = MANIFEST,
        cors_origins: Sequence[str] = (),
        clock: ManualClock | None = None,
        reserved: int | None = None,
    ) -> RegionalGateway:
        functions: dict[str, Any] = {}
        for _, fn in manifest.routes():
            if reserved is not None:
                limited = replace(fn, reserved_concurrency=reserved)
                functions[fn.name] = FunctionPool(
                    Container(limited, REGION, function), lambda fn=limited: Container(fn, REGION, function)
                )
            else:
                functions[fn.name] = Container(fn, REGION, function)
        gw = RegionalGateway(
            manifest=manifest,
            region=REGION,
            authorizer=Container(manifest.authorizer.function, REGION, authorizer or StubHandler(ALLOW_ALL)),
            functions=functions,
            cors_origins=cors_origins,
            clock=clock or ManualClock(1000.0),
        )
        built.append(gw)
        return gw

    yield make
    for gw in built:
        gw.close()


def request(
    method: str = "GET", path: str = PREFS, *, headers: Sequence[tuple[str, str]] = (), **more: Any
) -> HttpRequest:
    return HttpRequest(method, path, headers=(("Authorization", "Bearer t1"), *headers), **more)


def serve(gw: RegionalGateway, req: HttpRequest) -> HttpResponse:
    return asyncio.run(gw.invoke(req))


# -- paths as API Gateway passes them ------------------------------------------------------------


def test_a_trailing_slash_is_routed_to_the_resource_and_passed_on_in_path(build: Build) -> None:
    function = StubHandler(ok())

    response = serve(build(function), request(path=f"{PREFS}/"))

    assert response.status == 200
    event = function.events[0]
    assert (event["resource"], event["path"]) == (PREFS, f"{PREFS}/")
    assert event["requestContext"]["resourcePath"] == PREFS
    assert event["requestContext"]["path"] == f"/local{PREFS}/"


def test_a_trailing_slash_after_a_path_parameter_is_not_part_of_it(build: Build) -> None:
    function = StubHandler(ok())

    assert serve(build(function), request(path=f"{VIEWS}/v-1/")).status == 200

    assert function.events[0]["resource"] == f"{VIEWS}/{{view_id}}"
    assert function.events[0]["pathParameters"] == {"view_id": "v-1"}


def test_an_encoded_path_and_its_parameters_are_passed_as_sent(build: Build) -> None:
    """As a REST API passes them (live captures: `path` `/capture/space%20value`, the parameter
    `capture/space%20value`); an encoded slash does not split a parameter."""
    function = StubHandler(ok())

    response = serve(build(function), request("DELETE", f"{VIEWS}/v%2F1%20%C3%A9"))

    assert response.status == 200
    event = function.events[0]
    assert event["resource"] == f"{VIEWS}/{{view_id}}"
    assert event["path"] == f"{VIEWS}/v%2F1%20%C3%A9"
    assert event["pathParameters"] == {"view_id": "v%2F1%20%C3%A9"}
    assert event["requestContext"]["path"] == f"/local{VIEWS}/v%2F1%20%C3%A9"


@pytest.mark.parametrize("path", [f"{PREFS}//", f"{PREFS}/%2F", "/service/gui//preferences"])
def test_other_spellings_are_no_route(build: Build, path: str) -> None:
    function = StubHandler(ok())

    response = serve(build(function), request(path=path))

    assert response.status == 404
    assert response.json()["code"] == "route_not_found"
    assert function.events == []


def test_the_preflight_of_a_resource_answers_its_trailing_slash_too(build: Build) -> None:
    response = serve(
        build(StubHandler(ok()), cors_origins=(ORIGIN,)),
        HttpRequest("OPTIONS", f"{PREFS}/", headers=(("Origin", ORIGIN),)),
    )

    assert response.status == cors.PREFLIGHT_ALLOWED
    assert response.header("Access-Control-Allow-Origin") == ORIGIN


# -- Lambda's synchronous response limit -----------------------------------------------------------


def _answer_of_size(size: int) -> dict[str, Any]:
    """A proxy answer whose JSON (what Lambda measures) is exactly `size` bytes."""
    answer = ok("")
    answer["body"] = "x" * (size - len(json.dumps(answer).encode()))
    assert len(json.dumps(answer).encode()) == size
    return answer


def test_a_function_answer_over_6_mb_fails_the_invocation_with_a_502(build: Build) -> None:
    response = serve(build(StubHandler(_answer_of_size(LAMBDA_RESPONSE_LIMIT_BYTES + 1))), request())

    assert response.status == 502
    body = response.json()
    assert body["code"] == "gateway_error"
    assert body["detail"] == "Internal server error"


def test_a_function_answer_of_exactly_6_mb_is_served(build: Build) -> None:
    response = serve(build(StubHandler(_answer_of_size(LAMBDA_RESPONSE_LIMIT_BYTES))), request())

    assert response.status == 200
    assert len(response.body) > 6_000_000


def test_an_answer_lambda_cannot_serialise_is_a_502(build: Build) -> None:
    response = serve(build(StubHandler({**ok(), "body": {1, 2}})), request())

    assert response.status == 502


# -- reserved concurrency --------------------------------------------------------------------------


class Holding:
    """A handler that holds each invocation until released (the SSE route's long hold)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10)
        return ok()


def _second_while_first_is_held(gw: RegionalGateway, holding: Holding) -> tuple[HttpResponse, HttpResponse]:
    """Two requests, the second sent while the first is held; the first is let go once the second
    has its answer (a throttle's) or is running beside it."""

    async def both() -> tuple[HttpResponse, HttpResponse]:
        first = asyncio.ensure_future(gw.invoke(request()))
        assert await asyncio.to_thread(holding.started.wait, 10)
        second = asyncio.ensure_future(gw.invoke(request()))
        for _ in range(1000):
            if second.done() or holding.calls > 1:
                break
            await asyncio.sleep(0.01)
        holding.release.set()
        return await first, await second

    return asyncio.run(both())


def _without(response_type: str) -> Manifest:
    """The app with API Gateway's own answer for `response_type` (the stage does not customise it)."""
    kept = tuple(r for r in MANIFEST.gateway_responses if r.type != response_type)
    return replace(MANIFEST, gateway_responses=kept)


def test_past_its_reserved_concurrency_a_function_is_throttled_at_once(build: Build) -> None:
    holding = Holding()
    gw = build(holding, manifest=_without("INTEGRATION_FAILURE"), reserved=1)

    first, second = _second_while_first_is_held(gw, holding)

    assert first.status == 200
    assert second.status == 500  # API Gateway's answer when the Lambda API refuses the invocation
    assert second.json()["code"] == "gateway_error"
    assert second.json()["detail"] == "Internal server error"
    assert holding.calls == 1
    assert serve(gw, request()).status == 200  # the concurrency is free again


def test_within_its_reserved_concurrency_a_second_request_runs_beside_the_first(build: Build) -> None:
    holding = Holding()
    gw = build(holding, reserved=2)

    first, second = _second_while_first_is_held(gw, holding)

    assert (first.status, second.status) == (200, 200)


def test_a_throttled_invocation_is_the_integration_failure_response_when_customised(build: Build) -> None:
    customised = GatewayResponse(
        "INTEGRATION_FAILURE", 503, "function_throttled", "Function busy", headers=(("Retry-After", "1"),)
    )
    manifest = replace(
        MANIFEST, gateway_responses=(*_without("INTEGRATION_FAILURE").gateway_responses, customised)
    )
    holding = Holding()

    _, second = _second_while_first_is_held(build(holding, manifest=manifest, reserved=1), holding)

    assert second.status == 503
    assert second.json()["code"] == "function_throttled"
    assert second.header("Retry-After") == "1"


# -- gateway responses: the template's headers ----------------------------------------------------


def _refusals(gw: RegionalGateway, origin: str | None) -> dict[str, HttpResponse]:
    headers = (("Origin", origin),) if origin else ()
    return {
        "401": serve(gw, HttpRequest("GET", PREFS, headers=headers)),
        "404": serve(gw, request(path="/service/gui/nothing-here", headers=headers)),
        "413": serve(gw, request("PUT", headers=headers, body=b"x" * (10 * 1024 * 1024 + 1))),
    }


def test_with_one_allowed_origin_every_gateway_response_names_it(build: Build) -> None:
    refusals = _refusals(build(StubHandler(ok()), cors_origins=(ORIGIN,)), ORIGIN)

    for status, response in refusals.items():
        assert str(response.status) == status
        assert response.header("Access-Control-Allow-Origin") == ORIGIN, status
        assert response.header("Access-Control-Expose-Headers") == ", ".join(EXPOSED_HEADERS)
        assert response.header("Vary") == "Origin"
        assert response.header("content-type") == "application/problem+json"


def test_with_several_origins_a_gateway_response_echoes_the_request_origin(build: Build) -> None:
    gw = build(StubHandler(ok()), cors_origins=(ORIGIN, OTHER_ORIGIN))

    for origin in (ORIGIN, OTHER_ORIGIN):
        for status, response in _refusals(gw, origin).items():
            assert response.header("Access-Control-Allow-Origin") == origin, status
    # A mapping from a request header the request lacks gives no header, as in API Gateway.
    for status, response in _refusals(gw, None).items():
        assert response.header("Access-Control-Allow-Origin") is None, status
        assert response.header("Vary") == "Origin"


def test_without_allowed_origins_gateway_responses_carry_no_cors_header(build: Build) -> None:
    for response in _refusals(build(StubHandler(ok())), ORIGIN).values():
        assert not [k for k, _ in response.headers if k.lower().startswith("access-control-")]


def test_a_gateway_response_carries_its_own_headers_from_the_manifest(build: Build) -> None:
    manifest = replace(
        MANIFEST,
        gateway_responses=tuple(
            replace(r, headers=(("WWW-Authenticate", "Bearer"),)) if r.type == "UNAUTHORIZED" else r
            for r in MANIFEST.gateway_responses
        ),
    )

    response = serve(
        build(StubHandler(ok()), manifest=manifest, cors_origins=(ORIGIN,)),
        HttpRequest("GET", PREFS, headers=(("Origin", ORIGIN),)),
    )

    assert response.status == 401
    assert response.header("WWW-Authenticate") == "Bearer"
    assert response.header("Access-Control-Allow-Origin") == ORIGIN


def test_a_gateway_responses_own_header_is_a_literal_even_when_it_reads_like_a_mapping(build: Build) -> None:
    manifest = replace(
        MANIFEST,
        gateway_responses=tuple(
            replace(r, headers=(("X-Note", "method.request.header.Origin"),))
            if r.type == "UNAUTHORIZED"
            else r
            for r in MANIFEST.gateway_responses
        ),
    )

    response = serve(
        build(StubHandler(ok()), manifest=manifest), HttpRequest("GET", PREFS, headers=(("Origin", ORIGIN),))
    )

    assert response.header("X-Note") == "method.request.header.Origin"


def test_a_type_the_manifest_does_not_customise_falls_back_to_default_5xx_with_its_headers(
    build: Build,
) -> None:
    manifest = replace(
        MANIFEST,
        gateway_responses=tuple(
            replace(r, headers=(("X-Fallback", "5xx"),)) if r.type == "DEFAULT_5XX" else r
            for r in MANIFEST.gateway_responses
        ),
    )

    response = serve(build(StubHandler({"no": "status"}), manifest=manifest), request())

    assert response.status == 502
    assert response.header("X-Fallback") == "5xx"
    assert response.json()["code"] == "gateway_error"


def test_without_any_customisation_api_gateway_answers_its_own_message(build: Build) -> None:
    manifest = replace(MANIFEST, gateway_responses=())

    unauthorized = serve(build(StubHandler(ok()), manifest=manifest), HttpRequest("GET", PREFS))

    assert unauthorized.status == 401
    assert unauthorized.json() == {"message": "Unauthorized"}
    assert unauthorized.header("content-type") == "application/json"


# -- the authorizer result cache ----------------------------------------------------------------


def _with_ttl(ttl_s: int) -> Manifest:
    return replace(MANIFEST, authorizer=replace(MANIFEST.authorizer, cache_ttl_s=ttl_s))


def test_an_answer_is_cached_until_the_ttl_has_passed_and_not_a_moment_longer(build: Build) -> None:
    clock = ManualClock(1000.0)
    authorizer = StubHandler(ALLOW_ALL)
    gw = build(StubHandler(ok()), authorizer=authorizer, manifest=_with_ttl(60), clock=clock)

    serve(gw, request())
    clock.now += 59.9
    serve(gw, request(path=f"{VIEWS}"))  # another method of the API: the same cached answer
    assert len(authorizer.events) == 1
    clock.now += 0.1
    serve(gw, request())
    assert len(authorizer.events) == 2


def test_a_ttl_of_zero_calls_the_authorizer_on_every_request(build: Build) -> None:
    authorizer = StubHandler(ALLOW_ALL)
    gw = build(StubHandler(ok()), authorizer=authorizer, manifest=_with_ttl(0))

    for _ in range(3):
        assert serve(gw, request()).status == 200

    assert len(authorizer.events) == 3


def test_a_cached_deny_is_still_evaluated_against_each_method(build: Build) -> None:
    deny_views = {
        **ALLOW_ALL,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"},
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny",
                    "Resource": "arn:aws:execute-api:*/views*",
                },
            ],
        },
    }
    authorizer = StubHandler(deny_views)
    gw = build(StubHandler(ok()), authorizer=authorizer)

    assert serve(gw, request(path=VIEWS)).status == 403
    assert serve(gw, request()).status == 200
    assert len(authorizer.events) == 1


@pytest.mark.parametrize("ttl_s", [-1, 3601])
def test_a_ttl_api_gateway_refuses_is_refused(ttl_s: int) -> None:
    manifest = _with_ttl(ttl_s)
    stub = StubHandler(ok())

    with pytest.raises(ValueError, match="0 to 3600"):
        RegionalGateway(
            manifest=manifest,
            region=REGION,
            authorizer=Container(manifest.authorizer.function, REGION, stub),
            functions={fn.name: Container(fn, REGION, stub) for _, fn in manifest.routes()},
        )
