"""A function's timeout counts from the start of its invocation, as Lambda's does: time spent
waiting for a container (the local pool's cap; in Lambda, the scaling the pool stands for) counts
toward API Gateway's integration timeout only. Stub handlers, a gateway without servers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

import local.gateway
from local.apigw import HttpRequest
from local.containers import Container
from local.gateway import HttpResponse, RegionalGateway
from local.pool import FunctionPool
from stacks.manifest import MANIFEST
from tests.fakes import StubHandler

from .test_local_runtime import ALLOW_ALL, PREFS, REGION, ok

FUNCTION = "gui_preferences"


class Slow:
    """Answers after `hold_s`, one invocation at a time per container."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.started: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.started.append(time.monotonic())
        time.sleep(self.hold_s)
        return ok()


@pytest.fixture
def gateways() -> Iterator[list[RegionalGateway]]:
    built: list[RegionalGateway] = []
    yield built
    for gw in built:
        gw.close()


def _gateway(built: list[RegionalGateway], handler: Slow, *, timeout_s: int, cap: int) -> RegionalGateway:
    manifest = MANIFEST.only(FUNCTION)
    fn = replace(manifest.function(FUNCTION), timeout_s=timeout_s, reserved_concurrency=None)
    manifest = replace(manifest, functions=(fn,))
    pool = FunctionPool(Container(fn, REGION, handler), lambda: Container(fn, REGION, handler), cap=cap)
    gw = RegionalGateway(
        manifest=manifest,
        region=REGION,
        authorizer=Container(manifest.authorizer.function, REGION, StubHandler(ALLOW_ALL)),
        functions={FUNCTION: pool},
    )
    built.append(gw)
    return gw


def _at_once(gw: RegionalGateway, count: int) -> list[HttpResponse]:
    async def run() -> list[HttpResponse]:
        request = HttpRequest("GET", PREFS, headers=(("Authorization", "Bearer t1"),))
        return list(await asyncio.gather(*(gw.invoke(request) for _ in range(count))))

    return asyncio.run(run())


def test_time_queued_behind_the_pools_cap_does_not_count_toward_the_functions_timeout(
    gateways: list[RegionalGateway],
) -> None:
    """One container, a 1 s timeout, three invocations of 0.6 s at once: the third waits 1.2 s
    for the container, then runs 0.6 s, within its own second."""
    handler = Slow(0.6)
    gw = _gateway(gateways, handler, timeout_s=1, cap=1)

    answers = _at_once(gw, 3)

    assert [a.status for a in answers] == [200, 200, 200], [a.body for a in answers]
    assert handler.started[-1] - handler.started[0] >= 1.1  # they did queue


def test_a_function_running_past_its_own_timeout_still_fails(gateways: list[RegionalGateway]) -> None:
    gw = _gateway(gateways, Slow(1.5), timeout_s=1, cap=1)

    (answer,) = _at_once(gw, 1)

    assert answer.status == 502


def test_queueing_counts_toward_api_gateways_integration_timeout(
    gateways: list[RegionalGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    """API Gateway's clock starts with the request, whatever Lambda does: a request that waited
    for a container past it is answered 504 (and its invocation dropped from the queue)."""
    monkeypatch.setattr(local.gateway, "INTEGRATION_TIMEOUT_S", 1.0)
    handler = Slow(0.7)
    gw = _gateway(gateways, handler, timeout_s=15, cap=1)

    answers = _at_once(gw, 3)

    assert sorted(a.status for a in answers) == [200, 504, 504]
    time.sleep(1.0)
    assert len(handler.started) <= 2  # the last one never ran
