"""GroupPolicy.own_idempotency: a group that honours Idempotency-Key itself is not refused as a replay
for a keyed request; without a key, or in another group, the shared replay guard still applies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mangum import Mangum

from gui_core.api import create_api
from gui_core.guard import GroupPolicy, Guard, group_router
from gui_core.rate_limit import RateLimiter
from gui_core.tenancy import TenantDirectory
from local.apigw import HttpRequest, proxy_event
from tests.fakes import FakeAudit, FakeCounters
from tests.unit.test_api_errors import AUTH, SETTINGS
from tests.unit.test_guard import FakeReplay, TenantTable

keyed = group_router(prefix="/service/gui/keyed", policy=GroupPolicy("keyed", own_idempotency=True))
plain = group_router(prefix="/service/gui/plain", policy=GroupPolicy("plain"))


@keyed.post("")
def keyed_command() -> dict[str, str]:
    return {"ok": "keyed"}


@plain.post("")
def plain_command() -> dict[str, str]:
    return {"ok": "plain"}


@pytest.fixture
def replay() -> FakeReplay:
    return FakeReplay()


@pytest.fixture
def call(replay: FakeReplay) -> Any:
    guard = Guard(
        region="eu-west-1",
        region_urls={},
        tenants=TenantDirectory(TenantTable()),
        rate_limiter=RateLimiter(FakeCounters()),
        replay=replay,
    )
    app = create_api(title="t", routers=[keyed, plain], settings=SETTINGS, audit=FakeAudit(), guard=guard)
    asgi = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])

    def invoke(path: str, *, key: str | None = None) -> tuple[int, Any]:
        headers = [("Content-Type", "application/json")]
        if key:
            headers.append(("Idempotency-Key", key))
        event = proxy_event(
            HttpRequest("POST", path, headers=tuple(headers), body=b"{}"),
            resource=path,
            path_parameters={},
            authorizer=AUTH,
            stage="t",
            host="h",
        )
        answer = asgi(event, None)
        return answer["statusCode"], json.loads(answer["body"] or "null")

    return invoke


def test_a_keyed_request_to_a_group_with_own_idempotency_skips_the_replay_reservation(
    call: Any, replay: FakeReplay
) -> None:
    assert call("/service/gui/keyed", key="k-1") == (200, {"ok": "keyed"})
    assert call("/service/gui/keyed", key="k-1") == (200, {"ok": "keyed"})  # the route answers, not the guard
    assert replay.reserved == set()


def test_an_unkeyed_request_to_such_a_group_is_still_replay_protected(call: Any, replay: FakeReplay) -> None:
    assert call("/service/gui/keyed")[0] == 200
    status, body = call("/service/gui/keyed")
    assert (status, body["code"]) == (409, "replayed_request")
    assert len(replay.reserved) == 1


def test_other_groups_keep_refusing_a_reused_key(call: Any) -> None:
    assert call("/service/gui/plain", key="k-2")[0] == 200
    status, body = call("/service/gui/plain", key="k-2")
    assert (status, body["code"]) == (409, "replayed_request")


def test_own_idempotency_is_off_by_default() -> None:
    assert GroupPolicy("x").own_idempotency is False
