"""Per-tenant work items of the schedules (gui_core.tenant_work): one per tenant and cycle, each
taken once, a late one dropped, a failing tenant counted and consumed, a foreign message failed."""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gui_core.metric_names import MetricName, TelemetryMetric, TenantWorkMetric
from gui_core.tenant_work import (
    Outcome,
    TenantWork,
    TenantWorker,
    dispatch,
    is_queue_batch,
)
from gui_telemetry.store import FactCache
from local.apigw import sample_event
from stacks.manifest import INDEX_REBUILD_QUEUE, MANIFEST, TELEMETRY_FUNCTION, TELEMETRY_QUEUE

NOW = datetime(2026, 11, 28, 10, 5, 0, 123_000, tzinfo=UTC)


class Queue:
    def __init__(self) -> None:
        self.sent: list[TenantWork] = []

    def send(self, items: Sequence[TenantWork]) -> None:
        self.sent += items


class Worker:
    def __init__(self, clock: float | Callable[[], float], fail: frozenset[str] = frozenset()) -> None:
        self.done: list[str] = []
        self.counts: list[tuple[MetricName, float]] = []
        self.fail = fail
        self.worker = TenantWorker(
            kind="telemetry",
            work=self.work,
            count=lambda name, value: self.counts.append((name, value)),
            failure_metric=TelemetryMetric.TENANTS_FAILED,
            clock=clock if callable(clock) else lambda: clock,
        )

    def work(self, tenant: str) -> None:
        if tenant in self.fail:
            raise RuntimeError("broken facts")
        self.done.append(tenant)


def test_a_cycle_queues_one_item_per_tenant_ending_with_the_cycle() -> None:
    queue = Queue()
    items = dispatch("telemetry", ["acme", "beta"], queue, now=NOW, cycle_s=300)
    assert queue.sent == items
    assert [i.tenant for i in items] == ["acme", "beta"]
    assert {(i.cycle, i.not_after) for i in items} == {("2026-11-28T10:05:00Z", 1795860300 + 300)}
    assert TenantWork.of(items[0].body()) == items[0]


def test_the_sample_is_a_work_item_of_the_mapping() -> None:
    event = sample_event("sqs_tenant_work")
    assert is_queue_batch(event)
    assert not is_queue_batch(sample_event("scheduled_event"))
    item = TenantWork.of(event["Records"][0]["body"])
    assert (item.kind, item.tenant) == ("telemetry", "acme")


def test_each_item_is_done_a_late_one_dropped_and_a_failure_counted_not_raised() -> None:
    items = dispatch("telemetry", ["acme", "beta", "gamma"], Queue(), now=NOW, cycle_s=300)
    on_time = Worker(NOW.timestamp() + 299, fail=frozenset({"beta"}))
    assert [on_time.worker.take(i.body()) for i in items] == [Outcome.DONE, Outcome.FAILED, Outcome.DONE]
    assert on_time.done == ["acme", "gamma"]
    assert on_time.counts == [
        (TenantWorkMetric.DONE, 1),
        (TelemetryMetric.TENANTS_FAILED, 1),
        (TenantWorkMetric.DONE, 1),
    ]
    late = Worker(NOW.timestamp() + 301)
    assert late.worker.take(items[0].body()) is Outcome.EXPIRED
    assert (late.done, late.counts) == ([], [(TenantWorkMetric.EXPIRED, 1)])


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        "not json",
        json.dumps({"kind": "index-rebuild", "tenant": "a", "cycle": "x", "not_after": 2**40, "v": 1}),
    ],
)
def test_a_message_that_is_no_item_of_the_kind_raises(body: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        Worker(NOW.timestamp()).worker.take(body)


def test_the_least_recently_used_tenants_copies_go_first(tmp_path: Path) -> None:
    cache = FactCache(objects=None, root=tmp_path)  # type: ignore[arg-type]  # trim reads no object
    for n, tenant in enumerate(("old", "mid", "new")):
        folder = tmp_path / tenant / "day=2026-11-27"
        folder.mkdir(parents=True)
        (folder / "f.parquet").write_bytes(b"x" * 1000)
        os.utime(tmp_path / tenant, (1_000 + n, 1_000 + n))
    assert cache.trim(2000, keep="old") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]  # "mid", the oldest but the kept one


def run_mapping(
    items: Sequence[TenantWork], *, concurrency: int, seconds: Callable[[str], float], fail: frozenset[str]
) -> tuple[Worker, dict[str, float], Counter[Outcome]]:
    """Lambda's SQS mapping on a virtual clock: at most `concurrency` invocations at once, each
    taking the next waiting item as soon as it is free, a tenant's work lasting `seconds(tenant)`.
    The worker, when each tenant's work began (seconds after the cycle began), and the outcomes."""
    start = float(TenantWork.of(items[0].body()).not_after - MANIFEST.cycle_s(TELEMETRY_QUEUE.name))
    now = start
    worker = Worker(lambda: now, fail=fail)
    free = [start] * concurrency  # when each of the mapping's invocations is free again
    began: dict[str, float] = {}
    outcomes: Counter[Outcome] = Counter()
    for item in items:
        now = heapq.heappop(free)
        outcome = worker.worker.take(item.body())
        outcomes[outcome] += 1
        if outcome is not Outcome.EXPIRED:
            began[item.tenant] = now - start
        heapq.heappush(free, now + (seconds(item.tenant) if outcome is not Outcome.EXPIRED else 0.05))
    return worker, began, outcomes


def test_fifty_tenants_are_all_served_within_one_cycle_and_a_failing_one_stops_none() -> None:
    """Before, one invocation walked the tenants in turn: the index rebuild stopped at its 600 s and
    left the rest unchecked, and the aggregation's 270 s took about 67 tenants of 4 s, so at 1,000
    tenants one waited hours. Now each tenant is a work item of its own, served by the mapping."""
    tenants = [f"t{n:02d}" for n in range(50)]
    items = dispatch("telemetry", tenants, Queue(), now=NOW, cycle_s=MANIFEST.cycle_s(TELEMETRY_QUEUE.name))
    (source,) = TELEMETRY_FUNCTION.queue_sources
    worker, began, outcomes = run_mapping(
        items, concurrency=source.max_concurrency, seconds=lambda _: 20.0, fail=frozenset({"t07"})
    )
    assert outcomes == {Outcome.DONE: 49, Outcome.FAILED: 1}
    assert sorted(worker.done) == [t for t in tenants if t != "t07"]  # those after t07 too
    assert max(began.values()) < MANIFEST.cycle_s(TELEMETRY_QUEUE.name)
    assert Counter(name for name, _ in worker.counts) == {
        TenantWorkMetric.DONE: 49,
        TelemetryMetric.TENANTS_FAILED: 1,
    }


def test_at_a_thousand_tenants_the_manifests_concurrency_serves_every_one_in_its_cycle() -> None:
    """1,000 tenants of 4 s each (the bench's aggregation of a tenant takes about that) on the
    telemetry mapping's concurrency: the last begins well within the 5-minute cycle."""
    (source,) = TELEMETRY_FUNCTION.queue_sources
    cycle_s = MANIFEST.cycle_s(TELEMETRY_QUEUE.name)
    items = dispatch("telemetry", [f"t{n:04d}" for n in range(1000)], Queue(), now=NOW, cycle_s=cycle_s)
    worker, began, outcomes = run_mapping(
        items, concurrency=source.max_concurrency, seconds=lambda _: 4.0, fail=frozenset()
    )
    assert outcomes == {Outcome.DONE: 1000}
    assert len(set(worker.done)) == 1000
    assert max(began.values()) == 1000 // source.max_concurrency * 4.0 - 4.0 < cycle_s


def test_work_the_cycle_cannot_hold_is_dropped_and_counted_never_skipped_silently() -> None:
    """Too few workers for the tenants (50 of 30 s, 2 at once, a 300 s cycle): the items taken after
    the cycle ended are dropped and each is counted (WorkItemsExpired, an alarm); every item queued is
    done, failed or counted as dropped."""
    tenants = [f"t{n:02d}" for n in range(50)]
    items = dispatch("telemetry", tenants, Queue(), now=NOW, cycle_s=MANIFEST.cycle_s(TELEMETRY_QUEUE.name))
    worker, _, outcomes = run_mapping(items, concurrency=2, seconds=lambda _: 30.0, fail=frozenset())
    assert outcomes[Outcome.DONE] == 2 * 10 + 2  # 10 rounds in 300 s, and those taken at its last second
    assert outcomes[Outcome.EXPIRED] == 50 - outcomes[Outcome.DONE]
    counted = Counter(name for name, _ in worker.counts)
    assert counted == {
        TenantWorkMetric.DONE: outcomes[Outcome.DONE],
        TenantWorkMetric.EXPIRED: outcomes[Outcome.EXPIRED],
    }


def test_a_work_queues_cycle_is_its_schedules_rate_and_the_queue_goes_with_its_function() -> None:
    assert MANIFEST.cycle_s(TELEMETRY_QUEUE.name) == 300
    assert MANIFEST.cycle_s(INDEX_REBUILD_QUEUE.name) == 6 * 3600
    with pytest.raises(ValueError, match="no schedule"):
        MANIFEST.cycle_s("migration-work")  # the deploy step queues those, no schedule
    assert MANIFEST.only("gui_telemetry").work_queues == (TELEMETRY_QUEUE,)
    assert MANIFEST.only("gui_search").work_queues == ()
