"""A local background loop that is stopping takes the AWS endpoint gone (moto's server stopped) as
its end, not as an error; while running, the same error is reported (local/background.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from local.background import endpoint_gone
from local.demo_live import DemoTicker
from local.scheduler import Scheduler
from stacks.manifest import Schedule

GONE = EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")


def test_endpoint_gone_is_botocore_failing_to_reach_the_endpoint_or_what_it_caused() -> None:
    assert endpoint_gone(GONE)
    assert endpoint_gone(ConnectionClosedError(endpoint_url="http://127.0.0.1:1/"))
    wrapped = RuntimeError("the handler wrapped it")
    wrapped.__cause__ = GONE
    assert endpoint_gone(wrapped)
    assert not endpoint_gone(RuntimeError("a real error"))
    assert not endpoint_gone(ValueError("another"))


def _gone(*_: Any) -> None:
    raise GONE


def test_a_running_ticker_reports_the_endpoint_gone(caplog: pytest.LogCaptureFixture) -> None:
    ticker = DemoTicker({"eu-west-1": _gone}, [("acme", "eu-west-1")], interval_s=60)
    assert ticker.tick() == 0
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_a_stopping_ticker_ends_quietly_on_the_endpoint_gone(caplog: pytest.LogCaptureFixture) -> None:
    ticker = DemoTicker({"eu-west-1": _gone}, [("acme", "eu-west-1")], interval_s=60)
    ticker.request_stop()
    assert ticker.tick() == 0
    assert caplog.records == []


def test_a_stopping_ticker_still_reports_another_error(caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("a real error")

    ticker = DemoTicker({"eu-west-1": broken}, [("acme", "eu-west-1")], interval_s=60)
    ticker.request_stop()
    ticker.tick()
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


class _Pool:
    """Raises `error` on each invocation; `on_invoke` runs first (the stop arriving mid-call)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.invocations = 0
        self.on_invoke: Callable[[], None] = lambda: None

    def invoke(self, event: dict[str, Any]) -> Any:
        self.invocations += 1
        self.on_invoke()
        raise self.error


SCHEDULES = (
    Schedule("index-rebuild", function="gui_index_rebuild", every_s=3600, purpose="test"),
    Schedule("telemetry-aggregate", function="gui_telemetry", every_s=300, purpose="test"),
)


def _scheduler(pool: _Pool) -> Scheduler:
    pools: dict[str, Any] = {"gui_index_rebuild": pool, "gui_telemetry": pool}
    return Scheduler(SCHEDULES, pools, "eu-west-1", every_s=None)


def test_a_running_scheduler_reports_each_failed_firing(caplog: pytest.LogCaptureFixture) -> None:
    pool = _Pool(GONE)
    _scheduler(pool).fire_all()
    assert pool.invocations == 2
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


def test_a_scheduler_stopped_mid_firing_fires_no_more_and_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = _Pool(GONE)
    scheduler = _scheduler(pool)
    pool.on_invoke = scheduler.request_stop  # the stop arrives while the first schedule runs
    scheduler.fire_all()
    assert pool.invocations == 1
    assert caplog.records == []
