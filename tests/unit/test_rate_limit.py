"""The sliding-window counter: limits per tenant and class, carry-over, headers, plan overrides."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gui_core.dynamo import DynamoCounters, Table
from gui_core.errors import RateLimited
from gui_core.rate_limit import DEFAULT_LIMITS, CounterThrottled, RateLimiter, enforce_limit, limit_for
from gui_core.tenancy import Tenant
from tests.fakes import FakeCounters, ManualClock


def test_defaults_match_the_specification() -> None:
    assert DEFAULT_LIMITS["dashboard"] == 100
    assert DEFAULT_LIMITS["job_commands"] == 20


def test_tenant_override_beats_plan_beats_default() -> None:
    assert limit_for("dashboard", plan="standard", overrides={}) == 100
    assert limit_for("dashboard", plan="enterprise", overrides={}) == 300
    assert limit_for("dashboard", plan="enterprise", overrides={"dashboard": 5}) == 5
    assert limit_for("unknown-class", plan="standard", overrides={}) == DEFAULT_LIMITS["reads"]


def test_a_window_admits_exactly_the_limit_then_refuses_with_retry_after() -> None:
    clock = ManualClock(6_000.0)  # the start of a window
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
    limiter = RateLimiter(FakeCounters(), clock=ManualClock(6_000.0))
    for _ in range(3):
        limiter.hit("acme", "writes", 3)
    assert not limiter.hit("acme", "writes", 3).allowed
    assert limiter.hit("globex", "writes", 3).allowed
    assert limiter.hit("acme", "reads", 3).allowed


def test_the_previous_window_carries_over_as_it_slides_out() -> None:
    clock = ManualClock(6_000.0)
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
    limiters = [RateLimiter(counters, clock=ManualClock(6_000.0)) for _ in range(8)]  # eight "containers"
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


class CountingCounters(FakeCounters):
    """FakeCounters that count the store calls the limiter makes."""

    def __init__(self) -> None:
        super().__init__()
        self.increments = 0
        self.reads = 0

    def increment_below(
        self, key: Mapping[str, Any], *, ceiling: int, expires_at: int, amount: int = 1
    ) -> int | None:
        self.increments += 1
        return super().increment_below(key, ceiling=ceiling, expires_at=expires_at, amount=amount)

    def read_count(self, key: Mapping[str, Any]) -> int:
        self.reads += 1
        return super().read_count(key)


def test_a_flood_past_the_limit_costs_no_store_call_until_a_slot_can_free() -> None:
    """GIVEN a tenant at its limit in one container WHEN it keeps sending THEN every refusal comes
    from the container's memory: the store is neither written (a refused conditional ADD still costs
    a write unit and heats the key's partition) nor read; after the window the tenant is served."""
    clock, counters = ManualClock(6_000.0), CountingCounters()
    limiter = RateLimiter(counters, clock=clock)
    assert all(limiter.hit("acme", "dashboard", 100).allowed for _ in range(100))
    calls = (counters.increments, counters.reads)
    refused = [limiter.hit("acme", "dashboard", 100) for _ in range(1_000)]
    assert not any(d.allowed for d in refused)
    assert (counters.increments, counters.reads) == calls, "the refusals called the store"
    assert counters.counts[("acme", "RATE#dashboard#100")] == 100
    assert {d.headers()["X-RateLimit-Reset"] for d in refused} == {"6060"}
    assert all(1 <= d.retry_after_s <= 60 for d in refused)
    clock.now = 6_061.0  # the next window: 99 of the last 100 still count, one slot is free
    assert limiter.hit("acme", "dashboard", 100).allowed
    assert limiter.hit("globex", "dashboard", 100).allowed  # another tenant never shared the memory


def test_a_refusal_learnt_from_the_store_is_remembered_too() -> None:
    """Another container filled the window: this one learns it from one refused ADD, then from memory."""
    clock, counters = ManualClock(6_000.0), CountingCounters()
    other = RateLimiter(counters, clock=clock)
    assert all(other.hit("acme", "writes", 5).allowed for _ in range(5))
    limiter = RateLimiter(counters, clock=clock)
    before = counters.increments
    assert not any(limiter.hit("acme", "writes", 5).allowed for _ in range(50))
    assert counters.increments == before + 1


class ThrottledCounters(FakeCounters):
    def increment_below(
        self, key: Mapping[str, Any], *, ceiling: int, expires_at: int, amount: int = 1
    ) -> int | None:
        raise CounterThrottled("ProvisionedThroughputExceededException")


def test_a_throttled_counter_is_a_refusal_for_a_second_never_an_error() -> None:
    clock = ManualClock(6_000.0)
    limiter = RateLimiter(ThrottledCounters(), clock=clock)
    decision = limiter.hit("acme", "dashboard", 100)
    assert (decision.allowed, decision.retry_after_s) == (False, 1)
    assert decision.headers()["Retry-After"] == "1"
    clock.now += 1
    limiter._counters = FakeCounters()  # type: ignore[attr-defined]  # the partition cooled down
    assert limiter.hit("acme", "dashboard", 100).allowed


def test_a_throttling_answer_of_dynamodb_is_raised_as_counter_throttled() -> None:
    class Client:
        def update_item(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "hot"}}, "UpdateItem")

    counters = DynamoCounters(Table("limits", Client()))  # type: ignore[arg-type]
    with pytest.raises(CounterThrottled):
        counters.increment_below({"pk": "acme", "sk": "RATE#writes#1"}, ceiling=5, expires_at=0)


def test_a_throttled_counter_answers_429_through_the_guard() -> None:
    tenant = Tenant(id="acme", name="Acme", home_region="eu-west-1")
    counts: list[str] = []
    with pytest.raises(RateLimited) as refused:
        enforce_limit(RateLimiter(ThrottledCounters()), tenant, "dashboard", count=counts.append)
    assert refused.value.status == 429
    assert counts == ["RateLimitBreaches"]


def test_a_request_of_several_counts_all_or_nothing_and_a_smaller_one_may_still_fit() -> None:
    """A GraphQL document asking three lists is three reads at once (gui_graphql.routes._charge)."""
    counters = FakeCounters()
    limiter = RateLimiter(counters, clock=ManualClock(6_000.0))
    assert limiter.hit("acme", "reads", 5, 3).remaining == 2
    refused = limiter.hit("acme", "reads", 5, 3)
    assert not refused.allowed
    assert sum(counters.counts.values()) == 3  # nothing counted for the refused three
    assert limiter.hit("acme", "reads", 5, 2).remaining == 0  # not refused from memory
    assert not limiter.hit("acme", "reads", 5).allowed
