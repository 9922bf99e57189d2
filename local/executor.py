"""The local demo executor: picks up JobRequested from the bus and reports progress, so jobs move on
a local screen as a real executor would move them.

It speaks only through two callables: `publish(source, detail_type, detail)` (a
`gui_core.bus.EventPublisher.publish`) and `subscribe(detail_types, callback)` (the local bus
relay's `subscribe`, which hands each matching EventBridge envelope to `callback`). A job runs on
its own thread: running at 0, 25, 50, 75, then succeeded, or failed when its parameters say
`{"simulate": "failure"}`. JobCancelRequested stops it between steps and reports cancelled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("local.executor")

SOURCE = "domaindetermine.jobs.executor"
STEPS = (25, 50, 75)

Publish = Callable[[str, str, dict[str, Any]], Any]
Subscribe = Callable[[tuple[str, ...], Callable[[dict[str, Any]], None]], Any]


def _on_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="demo-executor-job", daemon=True).start()


class DemoExecutor:
    def __init__(
        self,
        publish: Publish,
        *,
        step_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        spawn: Callable[[Callable[[], None]], None] = _on_thread,
    ) -> None:
        self._publish = publish
        self._step_s = step_s
        self._sleep = sleep
        self._spawn = spawn
        self._lock = threading.Lock()
        self._cancelled: set[tuple[str, str]] = set()
        self._finished: set[tuple[str, str]] = set()
        self._running: set[tuple[str, str]] = set()
        self._traces: dict[tuple[str, str], dict[str, Any]] = {}  # the JobRequested's trace context

    def attach(self, subscribe: Subscribe) -> DemoExecutor:
        subscribe(("JobRequested", "JobCancelRequested"), self.on_event)
        return self

    def on_event(self, event: dict[str, Any]) -> None:
        detail = event.get("detail") or {}
        key = (str(detail.get("tenant")), str(detail.get("job_id")))
        if event.get("detail-type") == "JobRequested":
            if isinstance(detail.get("trace"), dict):  # reports continue the request's trace
                with self._lock:
                    self._traces[key] = detail["trace"]
            self._spawn(lambda: self._run(key, detail))
        elif event.get("detail-type") == "JobCancelRequested":
            with self._lock:
                self._cancelled.add(key)
            # A job this executor never saw (or saw end) is confirmed at once, so it cannot stay
            # `cancelling`; a running one is confirmed by its own thread at its next step.
            self._spawn(lambda: self._confirm_cancel_if_idle(key))

    def _report(self, key: tuple[str, str], status: str, **more: Any) -> None:
        detail = {"tenant": key[0], "job_id": key[1], "status": status, **more}
        with self._lock:
            trace = self._traces.get(key)
        if trace is not None:
            detail["trace"] = trace
        try:
            self._publish(SOURCE, "JobStatusChanged", detail)
        except Exception:
            logger.exception("could not report %s of job %s", status, key[1])

    def _finish(self, key: tuple[str, str]) -> bool:
        """Claim the job's last report; False when another report ended it already."""
        with self._lock:
            if key in self._finished:
                return False
            self._finished.add(key)
            return True

    def _stop_if_cancelled(self, key: tuple[str, str]) -> bool:
        with self._lock:
            cancelled = key in self._cancelled
        if cancelled and self._finish(key):
            self._report(key, "cancelled")
        return cancelled

    def _run(self, key: tuple[str, str], detail: dict[str, Any]) -> None:
        with self._lock:
            self._running.add(key)
        try:
            if self._stop_if_cancelled(key):
                return
            self._report(key, "running", progress=0)
            for progress in STEPS:
                self._sleep(self._step_s)
                if self._stop_if_cancelled(key):
                    return
                self._report(key, "running", progress=progress)
            self._sleep(self._step_s)
            if self._stop_if_cancelled(key) or not self._finish(key):
                return
            if (detail.get("parameters") or {}).get("simulate") == "failure":
                self._report(key, "failed", error={"code": "simulated_failure", "message": "Asked to fail."})
            else:
                self._report(key, "succeeded", progress=100)
        finally:
            with self._lock:
                self._running.discard(key)

    def _confirm_cancel_if_idle(self, key: tuple[str, str]) -> None:
        with self._lock:
            busy = key in self._running
        if not busy and self._finish(key):
            self._report(key, "cancelled")
