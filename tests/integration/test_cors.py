"""CORS preflight over HTTP: the local gateway answers it as the stack's mock integration does."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import pytest

from local.aws import function_environment
from local.keys import DevKeys
from local.runtime import DEFAULT_CORS_ORIGINS, LocalBackend
from stacks import cors
from stacks.manifest import MANIFEST

from .support import PREFERENCES

pytestmark = pytest.mark.slow

ALLOWED = DEFAULT_CORS_ORIGINS[0]


def _preflight(http: httpx.Client, target: str, origin: str | None, method: str = "PUT") -> httpx.Response:
    headers = {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization"}
    if origin is not None:
        headers["Origin"] = origin
    return http.options(target, headers=headers)


@pytest.mark.parametrize("origin", DEFAULT_CORS_ORIGINS)
def test_an_allowlisted_origin_gets_204_with_the_cors_headers(
    http: httpx.Client, url: Callable[[str, str], str], origin: str
) -> None:
    response = _preflight(http, url("eu-west-1", PREFERENCES), origin)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-methods"] == "GET,PUT,OPTIONS"
    assert (
        response.headers["access-control-allow-headers"]
        == "Authorization,Content-Type,If-Match,Idempotency-Key"
    )
    assert response.headers["access-control-max-age"] == str(cors.MAX_AGE_S)
    assert response.headers["vary"] == "Origin"


def test_a_resource_with_a_path_parameter_lists_its_own_methods(
    http: httpx.Client, url: Callable[[str, str], str]
) -> None:
    response = _preflight(http, url("us-east-1", f"{PREFERENCES}/views/v-1"), ALLOWED, method="DELETE")

    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "DELETE,GET,PUT,OPTIONS"


@pytest.mark.parametrize(
    "origin", ["https://evil.example.com", "http://localhost:5174", "null", None], ids=repr
)
def test_any_other_origin_gets_a_403_problem_without_cors_headers(
    http: httpx.Client, url: Callable[[str, str], str], origin: str | None
) -> None:
    response = _preflight(http, url("eu-west-1", PREFERENCES), origin)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == cors.refused_problem(response.headers["x-amzn-requestid"])
    assert not [h for h in response.headers if h.startswith("access-control-")]


def test_options_on_an_unknown_resource_is_no_route(
    http: httpx.Client, url: Callable[[str, str], str]
) -> None:
    response = _preflight(http, url("eu-west-1", "/service/gui/nothing-here"), ALLOWED)

    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"


def test_the_preflight_needs_no_token_and_runs_no_function(
    http: httpx.Client, url: Callable[[str, str], str], local_backend: LocalBackend
) -> None:
    gateway = local_backend.gateways["eu-west-1"]
    cached_before = len(gateway.authorizer_cache._answers)

    response = _preflight(http, url("eu-west-1", PREFERENCES), ALLOWED)

    assert response.status_code == 204
    assert "x-ratelimit-limit" not in response.headers  # nothing of a function's answer
    assert len(gateway.authorizer_cache._answers) == cached_before


def test_a_backend_without_origins_has_no_preflight(
    tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str
) -> None:
    with (
        LocalBackend(
            port=0,
            aws_endpoint_url=moto_endpoint,
            seed=False,
            keys_dir=tmp_path_factory.mktemp("no-cors-keys"),
            regions=("eu-west-1",),
            cors_origins=(),
            ttl_sweep_s=None,
        ) as backend,
        httpx.Client(timeout=30) as http,
    ):
        response = _preflight(http, f"{backend.base_urls['eu-west-1']}{PREFERENCES}", ALLOWED)

    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


def test_functions_learn_the_gateway_urls_and_origins(local_backend: LocalBackend) -> None:
    keys = DevKeys.ephemeral()
    env = function_environment(
        MANIFEST,
        MANIFEST.function("gui_preferences"),
        region="eu-west-1",
        endpoint_url=local_backend.aws_endpoint_url,
        keys=keys,
        region_urls=local_backend.base_urls,
        cors_origins=local_backend.cors_origins,
    )

    assert json.loads(env["GUI_REGION_URLS"]) == local_backend.base_urls
    assert env["GUI_CORS_ORIGINS"] == ",".join(DEFAULT_CORS_ORIGINS)


# -- API Gateway's own answers, as a browser sees them ----------------------------------------------


def _assert_readable_by(response: httpx.Response, origin: str, status: int, code: str) -> None:
    """A gateway response a browser at `origin` may read: its status, its problem and its request id."""
    assert response.status_code == status, response.text
    assert response.headers["access-control-allow-origin"] == origin
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert "x-amzn-requestid" in exposed
    assert response.headers["vary"] == "Origin"
    assert response.json()["code"] == code


@pytest.mark.parametrize("origin", DEFAULT_CORS_ORIGINS)
def test_the_gateway_refusals_are_readable_by_an_allowlisted_origin(
    http: httpx.Client, url: Callable[[str, str], str], origin: str
) -> None:
    with_origin = {"Origin": origin}

    no_token = http.get(url("eu-west-1", PREFERENCES), headers=with_origin)
    no_route = http.get(url("eu-west-1", "/service/gui/nothing-here"), headers=with_origin)
    too_large = http.put(
        url("eu-west-1", PREFERENCES), headers=with_origin, content=b"x" * (10 * 1024 * 1024 + 1)
    )

    _assert_readable_by(no_token, origin, 401, "unauthorized")
    _assert_readable_by(no_route, origin, 404, "route_not_found")
    _assert_readable_by(too_large, origin, 413, "payload_too_large")


class _HeldPreferences:
    """A stand-in for the preferences function that holds each request until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.started.set()
        assert self.release.wait(20)
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


def test_past_its_reserved_concurrency_a_function_is_throttled_readably(
    tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str
) -> None:
    """Reserved concurrency 1 and one request held open: a second one is throttled at once, with
    API Gateway's answer for a refused invocation, which a browser may read."""
    held = _HeldPreferences()
    manifest = MANIFEST.only("gui_preferences")
    manifest = replace(
        manifest,
        functions=tuple(
            replace(fn, reserved_concurrency=1) if fn.name == "gui_preferences" else fn
            for fn in manifest.functions
        ),
    )
    with (
        LocalBackend(
            port=0,
            aws_endpoint_url=moto_endpoint,
            seed=False,
            keys_dir=tmp_path_factory.mktemp("throttle-keys"),
            regions=("eu-west-1",),
            manifest=manifest,
            handlers={"gui_preferences": held},
            ttl_sweep_s=None,
            bus_poll_s=None,
        ) as backend,
        httpx.Client(timeout=30) as http,
    ):
        assert backend.keys is not None
        token = backend.keys.mint(tenant="acme", subject="vic@acme", roles=("viewer",))
        headers = {"Authorization": f"Bearer {token}", "Origin": ALLOWED}
        endpoint = f"{backend.base_urls['eu-west-1']}{PREFERENCES}"
        with ThreadPoolExecutor(1) as first_caller:
            first = first_caller.submit(http.get, endpoint, headers=headers)
            assert held.started.wait(20)
            try:
                second = http.get(endpoint, headers=headers)
            finally:
                held.release.set()
            assert first.result().status_code == 200
        assert backend.pool("eu-west-1", "gui_preferences").throttles == 1

    customised = next((r for r in MANIFEST.gateway_responses if r.type == "INTEGRATION_FAILURE"), None)
    fallback = next(r for r in MANIFEST.gateway_responses if r.type == "DEFAULT_5XX")
    status = customised.status if customised and customised.status else 500
    _assert_readable_by(second, ALLOWED, status, (customised or fallback).code)
    for name, value in customised.headers if customised else ():
        assert second.headers[name] == value
