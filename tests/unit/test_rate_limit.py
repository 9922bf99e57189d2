"""The sliding-window counter: limits per tenant and class, carry-over, headers, plan overrides."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from gui_core.rate_limit import DEFAULT_LIMITS, RateLimiter, limit_for


class FakeCounters:
    """The CounterStore contract in memory, atomic like DynamoDB's conditional ADD."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def increment_below(self, key: Mapping[str, Any], *, ceiling: int, expires_at: int) -> int | None:
        with self.lock:
            k = (key["pk"], key["sk"])
            if self.counts.get(k, 0) >= ceiling:
                return None
            self.counts[k] = self.counts.get(k, 0) + 1
            return self.counts[k]

    def read_count(self, key: Mapping[str, Any]) -> int:
        return self.counts.get((key["pk"], key["sk"]), 0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_defaults_match_the_specification() -> None:
    assert DEFAULT_LIMITS["dashboard"] == 100
    assert DEFAULT_LIMITS["job_commands"] == 20


def test_tenant_override_beats_plan_beats_default() -> None:
    assert limit_for("dashboard", plan="standard", overrides={}) == 100
    assert limit_for("dashboard", plan="enterprise", overrides={}) == 300
    assert limit_for("dashboard", plan="enterprise", overrides={"dashboard": 5}) == 5
    assert limit_for("unknown-class", plan="standard", overrides={}) == DEFAULT_LIMITS["reads"]


def test_a_window_admits_exactly_the_limit_then_refuses_with_retry_after() -> None:
    clock = Clock(6_000.0)  # the start of a window
    limiter = RateLimiter(FakeCounters(), clock=clock)
    decisions = [limiter.hit("acme", "job_commands", 20) for _ in range(25)]
    assert [d.allowed for d in decisions].count(True) == 20
    assert decisions[0].headers()["X-RateLimit-Remaining"] == "19"
    assert decisions[19].remaining == 0
    refused = decisions[20]
    assert not refused.allowed
    headers = refused.headers()
    assert headers["X-RateLimit-Limit"] == "20"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"] == "6060"
    assert 1 <= int(headers["Retry-After"]) <= 60


def test_tenants_and_classes_do_not_share_a_budget() -> None:
    limiter = RateLimiter(FakeCounters(), clock=Clock(6_000.0))
    for _ in range(3):
        limiter.hit("acme", "writes", 3)
    assert not limiter.hit("acme", "writes", 3).allowed
    assert limiter.hit("globex", "writes", 3).allowed
    assert limiter.hit("acme", "reads", 3).allowed


def test_the_previous_window_carries_over_as_it_slides_out() -> None:
    clock = Clock(6_000.0)
    limiter = RateLimiter(FakeCounters(), clock=clock)
    for _ in range(100):
        assert limiter.hit("acme", "dashboard", 100).allowed
    clock.now = 6_060.0 + 15  # a quarter into the next window: 75 of the last 100 still count
    admitted = sum(limiter.hit("acme", "dashboard", 100).allowed for _ in range(100))
    assert admitted == 25
    clock.now = 6_060.0 + 45  # three quarters in: 25 carried; 25 used in this window -> 50 left
    admitted = sum(limiter.hit("acme", "dashboard", 100).allowed for _ in range(100))
    assert admitted == 50


def test_concurrent_callers_never_exceed_the_limit() -> None:
    counters = FakeCounters()
    limiters = [RateLimiter(counters, clock=Clock(6_000.0)) for _ in range(8)]  # eight "containers"
    results: list[bool] = []
    lock = threading.Lock()

    def worker(limiter: RateLimiter) -> None:
        for _ in range(10):
            allowed = limiter.hit("acme", "job_commands", 20).allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=worker, args=(limiter,)) for limiter in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 20
    assert len(results) == 80
