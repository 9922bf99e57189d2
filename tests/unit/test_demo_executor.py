"""The local demo executor against a fake publisher and subscription: it moves jobs as executors do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.executor import DemoExecutor


class Bus:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []
        self.subscriptions: list[tuple[tuple[str, ...], Callable[[dict[str, Any]], None]]] = []

    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
        self.published.append((source, detail_type, detail))
        return detail

    def subscribe(self, detail_types: tuple[str, ...], callback: Callable[[dict[str, Any]], None]) -> None:
        self.subscriptions.append((detail_types, callback))

    def deliver(self, detail_type: str, **detail: Any) -> None:
        for types, callback in self.subscriptions:
            if detail_type in types:
                callback({"detail-type": detail_type, "source": "domaindetermine.jobs", "detail": detail})

    def reports(self) -> list[tuple[str, int | None]]:
        return [(d["status"], d.get("progress")) for _, t, d in self.published if t == "JobStatusChanged"]


@pytest.fixture
def bus() -> Bus:
    return Bus()


def _executor(bus: Bus, sleep: Callable[[float], None] = lambda _s: None) -> DemoExecutor:
    # spawn runs the work at once: the test sees every report when deliver() returns
    return DemoExecutor(bus.publish, sleep=sleep, spawn=lambda work: work()).attach(bus.subscribe)


def test_it_subscribes_to_requests_and_cancellations(bus: Bus) -> None:
    _executor(bus)
    assert [types for types, _ in bus.subscriptions] == [("JobRequested", "JobCancelRequested")]


def test_a_requested_job_runs_with_progress_and_succeeds(bus: Bus) -> None:
    _executor(bus)
    bus.deliver("JobRequested", tenant="acme", job_id="j1", verb="reindex", parameters={"index": "search"})
    assert bus.reports() == [
        ("running", 0),
        ("running", 25),
        ("running", 50),
        ("running", 75),
        ("succeeded", 100),
    ]
    source, _, detail = bus.published[0]
    assert source == "domaindetermine.jobs.executor"
    assert (detail["tenant"], detail["job_id"]) == ("acme", "j1")


def test_simulate_failure_fails_the_job_with_an_error(bus: Bus) -> None:
    _executor(bus)
    bus.deliver("JobRequested", tenant="acme", job_id="j1", parameters={"simulate": "failure"})
    assert bus.reports()[-1] == ("failed", None)
    assert bus.published[-1][2]["error"]["code"] == "simulated_failure"


def test_a_cancellation_stops_a_running_job_and_is_confirmed_once(bus: Bus) -> None:
    steps = 0

    def sleep(_s: float) -> None:
        nonlocal steps
        steps += 1
        if steps == 2:  # the user cancels while the job is at 25 %
            bus.deliver("JobCancelRequested", tenant="acme", job_id="j1")

    _executor(bus, sleep)
    bus.deliver("JobRequested", tenant="acme", job_id="j1", parameters={})
    assert bus.reports() == [("running", 0), ("running", 25), ("cancelled", None)]


def test_a_cancellation_of_a_job_it_does_not_run_is_confirmed_at_once(bus: Bus) -> None:
    _executor(bus)
    bus.deliver("JobCancelRequested", tenant="acme", job_id="lost")
    assert bus.reports() == [("cancelled", None)]
    bus.deliver("JobRequested", tenant="acme", job_id="lost", parameters={})  # arrives late: not run
    assert bus.reports() == [("cancelled", None)]
