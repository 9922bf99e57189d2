"""The shared app factory: problem details, caller decoding, body limit, security headers, audit."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from mangum import Mangum
from pydantic import BaseModel

from gui_core.api import SECURITY_HEADERS, create_api
from gui_core.context import RequestContext
from gui_core.dependencies import current_caller, require_scope
from gui_core.errors import PROBLEM_CONTENT_TYPE, Conflict, NotFound
from gui_core.guard import Guard
from gui_core.settings import ApiSettings
from gui_core.tenancy import TenantDirectory
from local.apigw import HttpRequest, proxy_event, response_headers
from tests.fakes import FakeAudit

router = APIRouter(prefix="/service/gui/test")
Reader = Annotated[RequestContext, Depends(require_scope("gui:dashboard"))]


class Body(BaseModel):
    name: str
    count: int


@router.get("/ok")
def ok(caller: Reader) -> dict[str, str]:
    return {"tenant": caller.tenant}


@router.get("/tenants/{tenant}")
def by_tenant(tenant: str, caller: Annotated[RequestContext, Depends(current_caller)]) -> dict[str, str]:
    return {"tenant": tenant}


@router.post("/things")
def create(body: Body, caller: Reader) -> dict[str, Any]:
    if body.name == "taken":
        raise Conflict("That name is taken.", field="name")
    return body.model_dump()


@router.get("/missing")
def missing(caller: Reader) -> None:
    raise NotFound("Nothing here.")


@router.delete("/boom")
def boom(caller: Reader) -> None:
    raise RuntimeError("secret internals")


AUTH = {
    "tenant": "acme",
    "subject": "ada",
    "scopes": "gui:dashboard",
    "roles": "",
    "region": "eu-west-1",
    "token_id": "",
    "expires_at": 4_000_000_000,
    "principalId": "ada",
}


@pytest.fixture
def audit() -> FakeAudit:
    return FakeAudit()


SETTINGS = ApiSettings(
    POWERTOOLS_SERVICE_NAME="test",
    GUI_REGION="eu-west-1",
    AUDIT_TABLE="audit",
    TENANTS_TABLE="tenants",
    LIMITS_TABLE="limits",
    GUI_MAX_BODY_BYTES=64,
)


class NoTenants:
    def get(self, key: Any, *, consistent: bool = True) -> None:
        return None


@pytest.fixture
def call(audit: FakeAudit) -> Any:
    guard = Guard(
        region="eu-west-1",
        region_urls={},
        tenants=TenantDirectory(NoTenants()),
        rate_limiter=None,
        replay=None,
    )
    app = create_api(title="test", routers=[router], settings=SETTINGS, audit=audit, guard=guard)
    asgi = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])

    def invoke(
        method: str, path: str, *, body: bytes = b"", authorizer: dict | None = AUTH, query: str = ""
    ) -> Any:
        event = proxy_event(
            HttpRequest(
                method, path, headers=(("Content-Type", "application/json"),), body=body, query=query
            ),
            resource=path,
            path_parameters={},
            authorizer=authorizer,
            stage="test",
            host="localhost",
        )
        return asgi(event, None)

    return invoke


def _problem(response: dict[str, Any]) -> dict[str, Any]:
    assert response_headers(response)["content-type"] == [PROBLEM_CONTENT_TYPE]
    body: dict[str, Any] = json.loads(response["body"])
    assert body["type"] == f"urn:domaindetermine:gui:problem:{body['code']}"
    assert body["status"] == response["statusCode"]
    assert body["request_id"]
    return body


def test_success_carries_security_headers_and_request_id(call: Any) -> None:
    response = call("GET", "/service/gui/test/ok")
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"tenant": "acme"}
    headers = response_headers(response)
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == [value]
    assert headers["x-request-id"]


def test_no_authorizer_context_is_401(call: Any) -> None:
    body = _problem(call("GET", "/service/gui/test/ok", authorizer=None))
    assert body["code"] == "unauthorized"


def test_expired_token_in_a_cached_authorizer_answer_is_401(call: Any) -> None:
    body = _problem(call("GET", "/service/gui/test/ok", authorizer={**AUTH, "expires_at": 1_000}))
    assert body["code"] == "unauthorized"


def test_missing_scope_is_403_naming_the_scope(call: Any) -> None:
    body = _problem(call("GET", "/service/gui/test/ok", authorizer={**AUTH, "scopes": "gui:search"}))
    assert body["code"] == "insufficient_scope"
    assert body["required_scope"] == "gui:dashboard"


def test_a_tenant_named_in_path_or_query_must_be_the_callers(call: Any) -> None:
    assert call("GET", "/service/gui/test/tenants/acme")["statusCode"] == 200
    assert _problem(call("GET", "/service/gui/test/tenants/globex"))["code"] == "tenant_mismatch"
    assert _problem(call("GET", "/service/gui/test/ok", query="tenant=globex"))["code"] == "tenant_mismatch"


def test_domain_errors_map_to_their_status_and_code(call: Any) -> None:
    body = _problem(call("GET", "/service/gui/test/missing"))
    assert (body["status"], body["code"], body["detail"]) == (404, "not_found", "Nothing here.")


def test_unknown_route_and_method_are_problems(call: Any) -> None:
    assert _problem(call("GET", "/service/gui/test/nowhere"))["code"] == "not_found"
    assert _problem(call("PUT", "/service/gui/test/ok"))["code"] == "method_not_allowed"


def test_malformed_json_is_400_and_invalid_fields_are_422_with_pointers(call: Any) -> None:
    assert _problem(call("POST", "/service/gui/test/things", body=b'{"name": '))["code"] == "malformed_json"
    body = _problem(call("POST", "/service/gui/test/things", body=b'{"name": "a", "count": "x"}'))
    assert body["code"] == "validation_failed"
    assert [e["pointer"] for e in body["errors"]] == ["/count"]


def test_oversized_body_is_413_and_the_route_never_runs(call: Any, audit: FakeAudit) -> None:
    body = _problem(
        call("POST", "/service/gui/test/things", body=b'{"name": "' + b"x" * 100 + b'", "count": 1}')
    )
    assert body["code"] == "payload_too_large"
    assert audit.records[-1].status == 413


def test_unexpected_errors_are_500_without_internals(call: Any, audit: FakeAudit) -> None:
    response = call("DELETE", "/service/gui/test/boom")
    body = _problem(response)
    assert body["code"] == "internal_error"
    assert "secret" not in response["body"]
    assert audit.records[-1].status == 500


def test_every_mutation_is_audited_successful_or_not(call: Any, audit: FakeAudit) -> None:
    payload = b'{"name": "a", "count": 1}'
    call("POST", "/service/gui/test/things", body=payload)
    call("POST", "/service/gui/test/things", body=b'{"name": "taken", "count": 1}')
    call("GET", "/service/gui/test/ok")  # reads are not audited
    assert [r.status for r in audit.records] == [200, 409]
    first, second = audit.records
    assert first.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert (first.tenant, first.actor, first.method, first.endpoint) == (
        "acme",
        "ada",
        "POST",
        "/service/gui/test/things",
    )
    assert second.code == "conflict"
    assert first.request_id != second.request_id
    assert first.latency_ms >= 0
