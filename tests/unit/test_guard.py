"""The guard every grouped route passes: tenant, residency, flags, limits, replay, body tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import APIRouter
from mangum import Mangum
from pydantic import BaseModel

from gui_core.api import create_api
from gui_core.guard import GroupPolicy, Guard, group_router
from gui_core.rate_limit import RateLimiter
from gui_core.settings import ApiSettings
from gui_core.tenancy import TenantDirectory
from local.apigw import HttpRequest, proxy_event, response_headers
from tests.fakes import FakeAudit, FakeCounters
from tests.unit.test_api_errors import AUTH, SETTINGS

TENANTS = {
    "acme": {
        "pk": "acme",
        "sk": "tenant",
        "name": "Acme",
        "home_region": "eu-west-1",
        "plan": "standard",
        "flags": {"reports.beta": False},
        "rate_limits": {"writes": 3},
    },
    "globex": {"pk": "globex", "sk": "tenant", "name": "Globex", "home_region": "us-east-1"},
    "offline": {"pk": "offline", "sk": "tenant", "home_region": "eu-west-1", "flags": {"reports": False}},
}


class TenantTable:
    def __init__(self) -> None:
        self.reads = 0

    def get(self, key: Any, *, consistent: bool = True) -> dict[str, Any] | None:
        self.reads += 1
        item = TENANTS.get(key["pk"])
        return dict(item) if item else None


class FakeReplay:
    def __init__(self) -> None:
        self.reserved: set[tuple[str, str]] = set()
        self.released: list[tuple[str, str]] = []

    def reserve(self, tenant: str, identity: str) -> bool:
        if (tenant, identity) in self.reserved:
            return False
        self.reserved.add((tenant, identity))
        return True

    def release(self, tenant: str, identity: str) -> None:
        self.reserved.discard((tenant, identity))
        self.released.append((tenant, identity))


class Note(BaseModel):
    text: str
    tenant: str | None = None


reports = group_router(prefix="/service/gui/reports", policy=GroupPolicy("reports"))
beta = group_router(prefix="/service/gui/beta", policy=GroupPolicy("reports.beta"))
loose = APIRouter(prefix="/service/gui/loose")


@reports.get("")
def list_reports() -> dict[str, str]:
    return {"ok": "yes"}


@reports.post("")
def create_report(note: Note) -> dict[str, str]:
    if note.text == "fail":
        from gui_core.errors import Conflict

        raise Conflict("no")
    return {"text": note.text}


@beta.get("")
def beta_feature() -> dict[str, str]:
    return {"ok": "beta"}


@pytest.fixture
def replay() -> FakeReplay:
    return FakeReplay()


@pytest.fixture
def table() -> TenantTable:
    return TenantTable()


@pytest.fixture
def call(replay: FakeReplay, table: TenantTable) -> Any:
    guard = Guard(
        region="eu-west-1",
        region_urls={"us-east-1": "https://us.example.com/prod", "eu-west-1": "https://eu.example.com/prod"},
        tenants=TenantDirectory(table),
        rate_limiter=RateLimiter(FakeCounters()),
        replay=replay,
    )
    settings = ApiSettings(
        **{**SETTINGS.model_dump(by_alias=True), "GUI_CORS_ORIGINS": "https://gui.example.com"}
    )
    app = create_api(
        title="t", routers=[reports, beta, loose], settings=settings, audit=FakeAudit(), guard=guard
    )
    asgi = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])

    def invoke(
        method: str,
        path: str,
        *,
        tenant: str = "acme",
        body: Any = None,
        query: str = "",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> tuple[int, dict[str, list[str]], Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        event = proxy_event(
            HttpRequest(
                method, path, headers=(("Content-Type", "application/json"), *headers), body=raw, query=query
            ),
            resource=path,
            path_parameters={},
            authorizer={**AUTH, "tenant": tenant},
            stage="t",
            host="h",
        )
        answer = asgi(event, None)
        return answer["statusCode"], response_headers(answer), json.loads(answer["body"] or "null")

    return invoke


def test_a_home_tenant_passes_and_gets_rate_limit_headers(call: Any) -> None:
    status, headers, body = call("GET", "/service/gui/reports")
    assert (status, body) == (200, {"ok": "yes"})
    assert headers["x-ratelimit-limit"] == ["300"]
    assert headers["x-ratelimit-remaining"] == ["299"]


def test_an_unknown_tenant_is_403(call: Any) -> None:
    status, _, body = call("GET", "/service/gui/reports", tenant="nobody")
    assert (status, body["code"]) == (403, "tenant_unknown")


def test_a_tenant_homed_elsewhere_is_421_with_the_right_location_and_nothing_runs(
    call: Any, replay: FakeReplay
) -> None:
    status, headers, body = call(
        "POST", "/service/gui/reports", tenant="globex", body={"text": "x"}, query="a=1"
    )
    assert (status, body["code"], body["home_region"]) == (421, "wrong_region", "us-east-1")
    assert headers["location"] == ["https://us.example.com/prod/service/gui/reports?a=1"]
    assert replay.reserved == set()  # nothing written for a foreign tenant


def test_a_disabled_feature_is_404_with_its_code(call: Any) -> None:
    status, _, body = call("GET", "/service/gui/beta")
    assert (status, body["code"], body["feature"]) == (404, "feature_disabled", "reports.beta")
    status, _, body = call("GET", "/service/gui/reports", tenant="offline")
    assert (status, body["code"]) == (404, "feature_disabled")


def test_rate_limit_refusal_is_429_with_headers(call: Any) -> None:
    statuses = [call("POST", "/service/gui/reports", body={"text": f"n{i}"})[0] for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    status, headers, body = call("POST", "/service/gui/reports", body={"text": "late"})
    assert (status, body["code"]) == (429, "rate_limited")
    assert int(headers["retry-after"][0]) >= 1
    assert headers["x-ratelimit-remaining"] == ["0"]
    assert headers["x-ratelimit-limit"] == ["3"]


def test_a_replayed_mutation_is_409_and_a_failed_one_may_be_resent(call: Any, replay: FakeReplay) -> None:
    assert call("POST", "/service/gui/reports", body={"text": "a"})[0] == 200
    status, _, body = call("POST", "/service/gui/reports", body={"text": "a"})
    assert (status, body["code"]) == (409, "replayed_request")
    assert call("POST", "/service/gui/reports", body={"text": "fail"})[0] == 409  # the route's own conflict
    assert len(replay.released) == 1  # ... released, so the client may send it again


def test_idempotency_key_identifies_the_mutation(call: Any) -> None:
    key = (("Idempotency-Key", "k-1"),)
    assert call("POST", "/service/gui/reports", body={"text": "x"}, headers=key)[0] == 200
    status, _, body = call("POST", "/service/gui/reports", body={"text": "y"}, headers=key)
    assert (status, body["code"]) == (409, "replayed_request")


def test_a_body_naming_another_tenant_is_403(call: Any) -> None:
    status, _, body = call("POST", "/service/gui/reports", body={"text": "x", "tenant": "globex"})
    assert (status, body["code"]) == (403, "tenant_mismatch")
    assert call("POST", "/service/gui/reports", body={"text": "y", "tenant": "acme"})[0] == 200


def test_tenant_records_are_cached_per_container(call: Any, table: TenantTable) -> None:
    for _ in range(5):
        call("GET", "/service/gui/reports")
    assert table.reads == 1


def test_cors_headers_only_for_allowlisted_origins(call: Any) -> None:
    _, headers, _ = call("GET", "/service/gui/reports", headers=(("Origin", "https://gui.example.com"),))
    assert headers["access-control-allow-origin"] == ["https://gui.example.com"]
    assert "X-RateLimit-Remaining" in headers["access-control-expose-headers"][0]
    _, headers, _ = call("GET", "/service/gui/reports", headers=(("Origin", "https://evil.example"),))
    assert "access-control-allow-origin" not in headers


def test_forged_tenant_headers_and_forwarded_for_change_nothing(call: Any) -> None:
    forged = (("X-Tenant-Id", "globex"), ("X-Forwarded-For", "10.9.9.9"), ("X-Client-Id", "other"))
    for i in range(3):
        assert call("POST", "/service/gui/reports", body={"text": f"f{i}"}, headers=forged)[0] == 200
    assert call("POST", "/service/gui/reports", body={"text": "over"}, headers=forged)[0] == 429
