"""An expired token behind API Gateway's authorizer cache (issue 12, #8).

API Gateway REST serves a cached authorizer answer for the authorizer's TTL (300 s) whatever the
token's `exp`, and API Gateway cannot bound that TTL per answer. So each function checks the
expiry the answer carries (`gui_core.dependencies.current_caller`, 30 s of leeway), and the answer
must reach the function as AWS delivers it: a REST API passes every authorizer context value as a
string. The gateway here is the local one with the real preferences function behind it and a stub
authorizer whose answer is cached like any other; the function's stores are out of reach
(a loopback port nobody listens on), so an answer that got past the expiry check would fail loudly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.apigw import HttpRequest
from local.aws import function_environment
from local.containers import Container, load_handler
from local.gateway import HttpResponse, RegionalGateway
from local.keys import DevKeys
from stacks.manifest import MANIFEST
from tests.fakes import StubHandler

REGION = "eu-west-1"
PREFS = "/service/gui/preferences"


def _allow(expires_at: int) -> dict[str, Any]:
    return {
        "principalId": "ada",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"}
            ],
        },
        "context": {
            "tenant": "acme",
            "subject": "ada",
            "scopes": "gui:preferences",
            "roles": "",
            "region": REGION,
            "token_id": "t-1",
            "expires_at": expires_at,
        },
    }


@pytest.fixture
def gateways() -> Iterator[list[RegionalGateway]]:
    built: list[RegionalGateway] = []
    yield built
    for gw in built:
        gw.close()


def _gateway(built: list[RegionalGateway], authorizer: Any, function: Any = None) -> RegionalGateway:
    prefs = MANIFEST.function("gui_preferences")
    if function is None:
        env = function_environment(
            MANIFEST, prefs, region=REGION, endpoint_url="http://127.0.0.1:1", keys=DevKeys.ephemeral()
        )
        function = load_handler(prefs, env)
    routed = {fn.name: fn for _, fn in MANIFEST.routes()}
    gw = RegionalGateway(
        manifest=MANIFEST,
        region=REGION,
        authorizer=Container(MANIFEST.authorizer.function, REGION, authorizer),
        functions={name: Container(fn, REGION, function) for name, fn in routed.items()},
    )
    built.append(gw)
    return gw


def _get(gw: RegionalGateway, token: str = "t1") -> HttpResponse:
    return asyncio.run(gw.invoke(HttpRequest("GET", PREFS, headers=(("Authorization", f"Bearer {token}"),))))


def test_a_rest_function_gets_the_authorizer_context_as_strings_as_aws_passes_it(
    gateways: list[RegionalGateway],
) -> None:
    function = StubHandler({"statusCode": 200, "body": "{}"})
    gw = _gateway(gateways, StubHandler(_allow(2_000_000_000)), function)
    assert _get(gw).status == 200
    assert _get(gw).status == 200  # from the cache: the same strings
    for event in function.events:
        context = event["requestContext"]["authorizer"]
        assert context["expires_at"] == "2000000000"
        assert context["tenant"] == "acme"
        assert context["principalId"] == "ada"
        assert all(isinstance(v, str) for k, v in context.items() if k != "integrationLatency")


def test_a_cached_answer_outliving_its_token_is_refused_by_the_function(
    gateways: list[RegionalGateway],
) -> None:
    """Already so before issue 12: the functions check the expiry the cached answer carries."""
    expired = int(time.time()) - 31  # past the 30 s of leeway
    authorizer = StubHandler(_allow(expired))
    gw = _gateway(gateways, authorizer)
    for _ in range(3):
        answer = _get(gw)
        assert answer.status == 401, answer.body
        assert answer.json()["code"] == "unauthorized"
        assert "expired" in answer.json()["detail"]
    assert len(authorizer.events) == 1  # the answer was cached: the function alone refused
