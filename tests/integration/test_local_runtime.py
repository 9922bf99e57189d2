"""The local runtime's own pieces, without servers: the gateway's API Gateway semantics with stub
functions, the per-region containers with the real handlers, and the development key."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gui_core.tokens import StaticKeySet, TokenVerifier
from local.apigw import HttpRequest
from local.aws import function_environment
from local.containers import Container, load_handler
from local.gateway import HttpResponse, RegionalGateway
from local.keys import DEV_AUDIENCE, DEV_ISSUER, DevKeys, key_thumbprint
from stacks.manifest import MANIFEST, Function
from tests.fakes import ManualClock, StubHandler

REGION = "eu-west-1"
PREFS = "/service/gui/preferences"
ALLOW_ALL = {
    "principalId": "user-1",
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"}
        ],
    },
    "context": {
        "tenant": "acme",
        "subject": "user-1",
        "scopes": "gui:preferences",
        "expires_at": 2_000_000_000,
    },
}


GatewayFactory = Callable[..., RegionalGateway]


@pytest.fixture
def gateway() -> Iterator[GatewayFactory]:
    """Builds gateways in front of stub handlers; their containers' threads end with the test."""
    built: list[RegionalGateway] = []

    def build(
        authorizer: StubHandler, function: StubHandler, clock: ManualClock | None = None
    ) -> RegionalGateway:
        # Every routed function gets the same stub: the tests call preferences routes only.
        routed = {fn.name: fn for _, fn in MANIFEST.routes()}
        gw = RegionalGateway(
            manifest=MANIFEST,
            region=REGION,
            authorizer=Container(MANIFEST.authorizer.function, REGION, authorizer),
            functions={name: Container(fn, REGION, function) for name, fn in routed.items()},
            clock=clock or ManualClock(1000.0),
        )
        built.append(gw)
        return gw

    yield build
    for gw in built:
        gw.close()


def call(gw: RegionalGateway, token: str = "Bearer t1", **changes: Any) -> HttpResponse:
    request = HttpRequest("GET", PREFS, headers=(("Authorization", token),))
    return asyncio.run(gw.invoke(replace(request, **changes)))


def ok(body: str = "{}", **extra: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body, **extra}


def test_authorizer_answer_is_cached_per_token_for_the_manifest_ttl(gateway: GatewayFactory) -> None:
    clock = ManualClock(1000.0)
    authorizer = StubHandler(ALLOW_ALL)
    gw = gateway(authorizer, StubHandler(ok()), clock)

    assert call(gw).status == 200
    assert call(gw).status == 200
    assert len(authorizer.events) == 1
    assert call(gw, token="Bearer t2").status == 200
    assert len(authorizer.events) == 2

    clock.now += MANIFEST.authorizer.cache_ttl_s + 1
    assert call(gw).status == 200
    assert len(authorizer.events) == 3


def test_authorizer_unauthorized_is_401_and_not_cached(gateway: GatewayFactory) -> None:
    authorizer = StubHandler(error=Exception("Unauthorized"))
    gw = gateway(authorizer, StubHandler(ok()))

    first, second = call(gw), call(gw)

    assert (first.status, second.status) == (401, 401)
    assert first.json()["code"] == "unauthorized"
    assert len(authorizer.events) == 2


def test_authorizer_crash_is_the_authorizer_failure_response(gateway: GatewayFactory) -> None:
    """API Gateway answers AUTHORIZER_FAILURE (500 by default); the stage customises it to a 503 the
    GUI retries after Retry-After (the identity provider's keys unreachable, say)."""
    gw = gateway(StubHandler(error=RuntimeError("boom")), StubHandler(ok()))

    response = call(gw)

    assert response.status == 503
    body = response.json()
    assert (body["code"], body["status"]) == ("authorizer_unavailable", 503)
    assert response.header("Retry-After") == "5"
    assert body["request_id"] == response.header("x-amzn-RequestId")


@pytest.mark.parametrize(
    "answer",
    [{"principalId": "x"}, {**ALLOW_ALL, "context": {"nested": {"a": 1}}}, "Allow"],
    ids=["no-policy", "nested-context", "not-a-dict"],
)
def test_invalid_authorizer_answer_is_the_configuration_error_response(
    gateway: GatewayFactory, answer: Any
) -> None:
    """AUTHORIZER_CONFIGURATION_ERROR (500 by default), customised by the stage as the failure is."""
    response = call(gateway(StubHandler(answer), StubHandler(ok())))
    assert (response.status, response.json()["code"]) == (503, "authorizer_unavailable")


def test_explicit_deny_is_403_access_denied(gateway: GatewayFactory) -> None:
    deny = {
        **ALLOW_ALL,
        "policyDocument": {
            **ALLOW_ALL["policyDocument"],
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "arn:aws:execute-api:*"},
            ],
        },
    }
    function = StubHandler(ok())

    response = call(gateway(StubHandler(deny), function))

    assert response.status == 403
    assert response.json()["code"] == "forbidden"
    assert "explicit deny" in response.json()["detail"]
    assert function.events == []


def test_function_receives_a_rest_proxy_event_with_the_authorizer_context(gateway: GatewayFactory) -> None:
    function = StubHandler(ok())
    gw = gateway(StubHandler(ALLOW_ALL), function)

    response = call(gw, method="DELETE", path="/service/gui/preferences/views/v%2F1", query="a=1&a=2")

    assert response.status == 200
    event = function.events[0]
    assert event["resource"] == "/service/gui/preferences/views/{view_id}"
    assert event["pathParameters"] == {"view_id": "v%2F1"}  # as sent: a REST API does not decode it
    assert event["httpMethod"] == "DELETE"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["requestContext"]["requestId"] == response.header("x-amzn-RequestId")
    assert event["requestContext"]["authorizer"]["tenant"] == "acme"
    assert event["requestContext"]["authorizer"]["principalId"] == "user-1"
    assert event["requestContext"]["stage"] == "local"
    assert "X-Amzn-Trace-Id" in event["headers"]


def test_function_error_and_malformed_answer_are_502(gateway: GatewayFactory) -> None:
    failing = call(gateway(StubHandler(ALLOW_ALL), StubHandler(error=ValueError("bug"))))
    malformed = call(gateway(StubHandler(ALLOW_ALL), StubHandler({"body": "no status"})))

    assert (failing.status, malformed.status) == (502, 502)
    assert failing.json()["code"] == malformed.json()["code"] == "gateway_error"


def test_proxy_answer_headers_are_merged_and_binary_bodies_decoded(gateway: GatewayFactory) -> None:
    answer = {
        "statusCode": 201,
        "headers": {"x-one": "a", "content-type": "application/octet-stream"},
        "multiValueHeaders": {"x-one": ["a"], "set-thing": ["1", "2"]},
        "body": base64.b64encode(b"\x00\xff").decode(),
        "isBase64Encoded": True,
    }

    response = call(gateway(StubHandler(ALLOW_ALL), StubHandler(answer)))

    assert response.status == 201
    assert response.body == b"\x00\xff"
    assert [v for k, v in response.headers if k == "x-one"] == ["a"]
    assert [v for k, v in response.headers if k == "set-thing"] == ["1", "2"]


def test_missing_identity_source_is_401_without_calling_the_authorizer(gateway: GatewayFactory) -> None:
    authorizer = StubHandler(ALLOW_ALL)

    response = asyncio.run(gateway(authorizer, StubHandler(ok())).invoke(HttpRequest("GET", PREFS)))

    assert response.status == 401
    assert authorizer.events == []


def _authorizer_settings(handler: Any) -> Any:
    return inspect.unwrap(handler).__globals__["settings"]


def test_each_region_gets_its_own_container_of_the_real_handler() -> None:
    keys = DevKeys.ephemeral()
    fn: Function = MANIFEST.authorizer.function
    imported_before = sys.modules.get("gui_authorizer.handler")
    environ_before = dict(os.environ)

    handlers = {
        region: load_handler(
            fn, function_environment(MANIFEST, fn, region=region, endpoint_url="http://x", keys=keys)
        )
        for region in ("eu-west-1", "us-east-1")
    }

    assert _authorizer_settings(handlers["eu-west-1"]).region == "eu-west-1"
    assert _authorizer_settings(handlers["us-east-1"]).region == "us-east-1"
    assert (
        inspect.unwrap(handlers["eu-west-1"]).__globals__
        is not inspect.unwrap(handlers["us-east-1"]).__globals__
    )
    assert sys.modules.get("gui_authorizer.handler") is imported_before
    assert dict(os.environ) == environ_before


def test_authorizer_environment_trusts_the_dev_key_only() -> None:
    keys = DevKeys.ephemeral()
    fn = MANIFEST.authorizer.function

    env = function_environment(MANIFEST, fn, region=REGION, endpoint_url="http://127.0.0.1:1", keys=keys)

    assert env["GUI_JWT_ISSUER"] == DEV_ISSUER
    assert env["GUI_JWT_AUDIENCE"] == DEV_AUDIENCE
    assert [k["kid"] for k in json.loads(env["GUI_JWKS"])["keys"]] == [keys.kid]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["GUI_REGION"] == env["AWS_REGION"] == REGION


def test_function_environment_names_the_local_tables_it_may_use() -> None:
    fn = MANIFEST.function("gui_preferences")

    env = function_environment(
        MANIFEST, fn, region=REGION, endpoint_url="http://127.0.0.1:1", keys=DevKeys.ephemeral()
    )

    for store in MANIFEST.stores:
        if store.name in fn.stores:
            assert env[store.env_var] == f"ddgui-{store.name}"
        else:
            assert store.env_var not in env
    assert env["PREFERENCES_TABLE"] == "ddgui-preferences"
    assert env["AUDIT_TABLE"] == "ddgui-audit"
    assert env["GUI_STAGE"] == "local"
    assert all(env[k] == v for k, v in fn.environment.items())
    assert "GUI_JWKS" not in env


def test_dev_key_is_made_once_private_and_verifiable(tmp_path: Path) -> None:
    first = DevKeys.load_or_create(tmp_path / "keys")
    second = DevKeys.load_or_create(tmp_path / "keys")
    verifier = TokenVerifier(StaticKeySet(first.jwks_json), issuer=DEV_ISSUER, audience=DEV_AUDIENCE)

    principal = verifier.verify(
        second.mint(tenant="acme", subject="ada", scopes=["gui:search"], roles=["viewer"])
    )

    assert first.kid == second.kid == key_thumbprint(first.private_key.public_key())
    files = list((tmp_path / "keys").iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert principal.tenant == "acme"
    assert principal.subject == "ada"
    assert "gui:search" in principal.scopes
    assert "gui:preferences" in principal.scopes  # from the viewer role
