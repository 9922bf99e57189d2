"""The DynamoDB rate limiter under concurrency: parallel clients spread over several limiter
instances (several Lambda containers, each with its own client and its own cache of past windows)
against moto's server never admit more than the limit in a window.

The clock is pinned inside one window so the figure under test is the counter alone, not the
sliding estimate at a window's edge. That window is the next minute's, not one of the past: moto's
state is shared by every server in the process, and the local runtime's TTL sweeper (running for
the other tests) deletes counters whose `expires_at` has passed, which would reset a count mid-burst.
A control test shows the burst does catch a limiter that reads, then writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from gui_core.dynamo import DynamoCounters, Table
from gui_core.rate_limit import WINDOW_S, Decision, RateLimiter
from local.aws import MotoServer, create_resources
from stacks.manifest import MANIFEST
from tests.security.support import CASES, HOME, table, unique

CONTAINERS = 4
CLIENTS = 8
REQUESTS_PER_CLIENT = 8


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with MotoServer("127.0.0.1", 0) as server:
        create_resources(MANIFEST, endpoint_url=server.endpoint_url, region=HOME)
        yield server.endpoint_url


def _container(endpoint: str, clock: Any) -> RateLimiter:
    """A limiter as one Lambda container holds it: its own client, its own past-window cache."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=HOME,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=CLIENTS),
    )
    return RateLimiter(DynamoCounters(Table(table("limits"), client)), clock=clock)


def _next_window() -> int:
    """The next minute's window: counters written for it expire minutes from now."""
    return int(time.time() // WINDOW_S) + 1


def _burst(limiters: list[RateLimiter], tenant: str, limit: int) -> list[Decision]:
    """CLIENTS threads, released together, each sending REQUESTS_PER_CLIENT requests through the
    limiters in turn (a request may land on any container)."""
    start = threading.Barrier(CLIENTS)

    def client(index: int) -> list[Decision]:
        start.wait()
        return [
            limiters[(index + n) % len(limiters)].hit(tenant, "writes", limit)
            for n in range(REQUESTS_PER_CLIENT)
        ]

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [decision for decisions in pool.map(client, range(CLIENTS)) for decision in decisions]


def _stored_count(endpoint: str, tenant: str, window: int) -> int:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=HOME,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    item = client.get_item(
        TableName=table("limits"),
        Key={"pk": {"S": tenant}, "sk": {"S": f"RATE#writes#{window}"}},
        ConsistentRead=True,
    ).get("Item")
    return int(item["count"]["N"]) if item else 0


@pytest.mark.parametrize("limit", [1, 25, 63])
def test_parallel_clients_on_several_containers_never_exceed_the_limit(
    limit: int, moto_endpoint: str
) -> None:
    CASES["concurrency"] += 1
    tenant, window = unique("sec-concurrent"), _next_window()
    mid_window = window * WINDOW_S + WINDOW_S / 2
    limiters = [_container(moto_endpoint, lambda: mid_window) for _ in range(CONTAINERS)]

    decisions = _burst(limiters, tenant, limit)

    allowed = [d for d in decisions if d.allowed]
    assert len(decisions) == CLIENTS * REQUESTS_PER_CLIENT
    assert len(allowed) == limit  # never more; and no fewer, since every refusal saw a full counter
    # Each admitted request got its own count from the atomic update: remaining limit-1 ... 0, once each.
    assert sorted(d.remaining for d in allowed) == list(range(limit))
    assert all(d.retry_after_s >= 1 and d.remaining == 0 for d in decisions if not d.allowed)
    assert _stored_count(moto_endpoint, tenant, window) == limit


def test_the_previous_windows_share_is_honoured_by_every_container(moto_endpoint: str) -> None:
    """20 requests in the previous window, now halfway through this one: 10 of them still count,
    so the containers together admit 40 - 10 = 30, whichever saw the previous window first."""
    CASES["concurrency"] += 1
    tenant, limit, window = unique("sec-sliding"), 40, _next_window() + 1
    previous = _container(moto_endpoint, lambda: (window - 1) * WINDOW_S + 5)
    assert all(previous.hit(tenant, "writes", limit).allowed for _ in range(20))
    mid_window = window * WINDOW_S + WINDOW_S / 2
    limiters = [_container(moto_endpoint, lambda: mid_window) for _ in range(CONTAINERS)]

    decisions = _burst(limiters, tenant, limit)

    assert sum(d.allowed for d in decisions) == limit - 10
    assert _stored_count(moto_endpoint, tenant, window) == limit - 10


class ReadThenWrite(DynamoCounters):
    """A counter store that checks and then writes in two calls: what the limiter must not be."""

    def __init__(self, table: Table) -> None:
        super().__init__(table)
        self._plain = table

    def increment_below(self, key: Any, *, ceiling: int, expires_at: int, amount: int = 1) -> int | None:
        item = self._plain.get(key)
        count = int(item["count"]) if item else 0
        if count + amount > ceiling:
            return None
        self._plain.put({**key, "count": count + amount, "expires_at": expires_at})
        return count + amount


def test_the_burst_catches_a_limiter_that_reads_then_writes(moto_endpoint: str) -> None:
    """The control: the same burst against a non-atomic counter admits more than the limit, so the
    figures above come from the conditional update, not from a burst too gentle to race."""
    CASES["concurrency"] += 1
    tenant, limit = unique("sec-racy"), 25
    mid_window = _next_window() * WINDOW_S + WINDOW_S / 2
    limiters = [_container(moto_endpoint, lambda: mid_window) for _ in range(CONTAINERS)]
    for limiter in limiters:
        limiter._counters = ReadThenWrite(limiter._counters._table)  # type: ignore[attr-defined]

    decisions = _burst(limiters, tenant, limit)

    assert sum(d.allowed for d in decisions) > limit


def test_a_flood_past_the_limit_writes_nothing_to_the_store(moto_endpoint: str) -> None:
    """A tenant sending far past its limit on one container: the refusals send no UpdateItem (a
    refused conditional write still costs a write unit on the counter's hot key, and a throttled key
    answered 5xx), and the stored count is the limit."""
    CASES["concurrency"] += 1
    tenant, limit, window = unique("sec-flood"), 30, _next_window()
    limiter = _container(moto_endpoint, lambda: window * WINDOW_S + 10)
    client = limiter._counters._table._client  # type: ignore[attr-defined]
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    admitted = [limiter.hit(tenant, "writes", limit) for _ in range(limit)]
    refused = [limiter.hit(tenant, "writes", limit) for _ in range(500)]

    assert all(d.allowed for d in admitted)
    assert not any(d.allowed for d in refused)
    assert calls.count("UpdateItem") == limit  # one per admitted request, none for a refusal
    assert calls.count("GetItem") == 1  # the previous window's count, once
    assert _stored_count(moto_endpoint, tenant, window) == limit
