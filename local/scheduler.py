"""EventBridge schedules, played locally: each manifest `Schedule` invokes its function's pool with
a `Scheduled Event` (the shape of `events/aws/scheduled_event.json`: `detail-type` `Scheduled
Event`, source `aws.events`, the rule's ARN in `resources`, an empty `detail`).

A deployment fires at the manifest's rate (minutes to hours); a local screen wants figures at once,
so the local runtime fires every schedule once as soon as the backend is up and then every
`every_s` seconds of its own (`ddgui dev --schedule-s`; None: only when `fire` is called, as tests
do). A firing that fails is logged; the next one tries again, as the next scheduled event would.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from local.apigw import sample_event
from local.background import endpoint_gone, join
from local.containers import LOCAL_ACCOUNT
from local.pool import Invoker
from stacks.manifest import APP_NAME, Schedule

logger = logging.getLogger("local.scheduler")

SAMPLE = "scheduled_event"


def scheduled_event(schedule: Schedule, region: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a schedule's target."""
    event = sample_event(SAMPLE)
    event.update(
        {
            "id": str(uuid.uuid4()),
            "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "account": LOCAL_ACCOUNT,
            "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT}:rule/{APP_NAME}-{schedule.name}"],
        }
    )
    return event


class Scheduler:
    """Fires the schedules of one region into their functions' pools."""

    def __init__(
        self,
        schedules: tuple[Schedule, ...],
        pools: Mapping[str, Invoker],
        region: str,
        *,
        every_s: float | None,
    ) -> None:
        self.schedules = {schedule.name: schedule for schedule in schedules}
        self.pools = dict(pools)
        self.region = region
        self.every_s = every_s
        self.fired: dict[str, int] = dict.fromkeys(self.schedules, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One firing of a schedule at a time, as a deployment whose run outlasts the rate would
        # still start another: here the next waits, so a test's `fire` and the loop never overlap.
        self._locks = {name: threading.Lock() for name in self.schedules}

    def fire(self, name: str) -> Any:
        """Invoke the schedule's function now and wait; its answer."""
        schedule = self.schedules[name]
        with self._locks[name]:
            answer = self.pools[schedule.function].invoke(scheduled_event(schedule, self.region))
            self.fired[name] += 1
        return answer

    def fire_all(self) -> None:
        """Fire every schedule in turn; none more once the scheduler is stopping."""
        for name in self.schedules:
            if self._stop.is_set():
                return
            try:
                self.fire(name)
            except Exception as exc:
                if self._stop.is_set() and endpoint_gone(exc):
                    return  # stopping: moto's server is gone
                logger.exception("schedule %s failed in %s; the next firing tries again", name, self.region)

    def start(self) -> None:
        if not self.every_s or not self.schedules or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name=f"ddgui-schedules-{self.region}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end (it ends the firing it is in); `stop` waits for it."""
        self._stop.set()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """`request_stop`, then wait up to `timeout_s` for the thread; True when it has ended."""
        self._stop.set()
        ended = join(self._thread, timeout_s)
        if ended:
            self._thread = None
        return ended

    def _loop(self) -> None:
        assert self.every_s
        while not self._stop.is_set():
            self.fire_all()
            if self._stop.wait(self.every_s):
                return
