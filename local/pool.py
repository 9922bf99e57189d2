"""Lambda-like concurrency: a pool of containers per (region, function).

A container serves one invocation at a time, as a Lambda execution environment does. When every
container of a function is busy, Lambda starts another one (a cold start) up to the function's
concurrency; so does the pool, up to `cap`, and keeps the containers it started for later
invocations (an idle one is reused before a new one is started). An invocation waits only when
`cap` containers are busy. So a request held for 20 s (the SSE route) does not hold up the next
request to the same function, and the REST gateway, the WebSocket gateway, the bus relay and the
stream pollers all invoke through the same pool, as they would reach the same Lambda function.

An invocation's future (`Invocation`) says when a container takes it: Lambda's timeout counts from
the start of the invocation, so the gateway starts the function's clock then, and time queued
behind `cap` counts toward API Gateway's integration timeout only.

A function with a reserved concurrency (`Function.reserved_concurrency`) never runs more invocations
at once than that, as in Lambda: past it an invocation is throttled at once, not queued (its future
fails with `Throttled`, Lambda's TooManyRequestsException). Each caller then does what Lambda's
callers do: API Gateway answers its INTEGRATION_FAILURE response, asynchronous and stream
invocations are retried later.

The first container is started with the pool (so a start costs what it did with one container per
function); the others only on demand, on a thread of their own, so the event loop never waits for
an import. A cold start while other containers run swaps `os.environ` for the length of the import,
under `local.containers.ENVIRONMENT_LOCK` (the runtime's own clients are made under it too): a
handler that reads the process environment during an invocation (none of ours does; they read
their settings and build their clients at import) could see another function's.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from local.containers import Container
    from stacks.manifest import Function

logger = logging.getLogger("local.pool")

DEFAULT_CAP = 10


class Throttled(Exception):
    """The function's reserved concurrency is in use: Lambda refused the invocation
    (TooManyRequestsException, reason ReservedFunctionConcurrentInvocationLimitExceeded)."""

    def __init__(self, fn: Function, region: str) -> None:
        super().__init__(
            f"{fn.name} in {region}: rate exceeded, its reserved concurrency of "
            f"{fn.reserved_concurrency} is in use"
        )
        self.function = fn.name
        self.region = region


class Invocation(Future[Any]):
    """A pool's invocation: the future of its answer, which also tells when a container takes it
    (Lambda's timeout counts from the start of the invocation, not from the time it waited)."""

    def __init__(self) -> None:
        super().__init__()
        self._start_lock = threading.Lock()
        self._started = False
        self._on_start: list[Callable[[], None]] = []

    def add_start_callback(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the pool's thread) when a container takes the invocation; at once if
        one has. Never called for an invocation that ends without starting (throttled, cancelled)."""
        with self._start_lock:
            if not self._started:
                self._on_start.append(callback)
                return
        callback()

    def mark_started(self) -> None:
        with self._start_lock:
            self._started = True
            callbacks, self._on_start = self._on_start, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("a start callback failed")


class Invoker(Protocol):
    """What the gateway, the bus relay and the stream consumers invoke: a container or a pool."""

    @property
    def fn(self) -> Function: ...

    @property
    def region(self) -> str: ...

    def submit(self, event: dict[str, Any]) -> Future[Any]: ...

    def invoke(self, event: dict[str, Any]) -> Any: ...

    def close(self) -> None: ...


class FunctionPool:
    """Containers of one function in one region; `submit` runs an invocation on an idle one."""

    def __init__(
        self,
        first: Container | None,
        cold_start: Callable[[], Container],
        *,
        cap: int = DEFAULT_CAP,
        fn: Function | None = None,
        region: str | None = None,
    ) -> None:
        """`first`: a container started already; None starts the first one on the first
        invocation, as Lambda does (then `fn` and `region` name the pool). A reserved concurrency
        below `cap` is the pool's cap, and past it invocations are throttled."""
        if cap < 1:
            raise ValueError("a pool holds at least one container")
        if first is not None:
            fn, region = first.fn, first.region
        if fn is None or region is None:
            raise ValueError("a pool without a first container needs its function and region")
        self._fn: Function = fn
        self._region: str = region
        self._cold_start = cold_start
        self.reserved = fn.reserved_concurrency
        self.cap = cap if self.reserved is None else min(cap, self.reserved)
        self._lock = threading.RLock()
        self._containers: list[Container] = [first] if first is not None else []
        self._idle: list[Container] = [first] if first is not None else []
        self._starting = 0
        self._waiting: deque[tuple[dict[str, Any], Invocation]] = deque()
        self._closed = False
        self.cold_starts = 1 if first is not None else 0
        self.throttles = 0

    @property
    def fn(self) -> Function:
        return self._fn

    @property
    def region(self) -> str:
        return self._region

    @property
    def size(self) -> int:
        """Containers started so far."""
        with self._lock:
            return len(self._containers)

    def submit(self, event: dict[str, Any]) -> Invocation:
        """Queue an invocation; the future holds the handler's answer or its exception (`Throttled`
        at once when the reserved concurrency is in use) and says when a container takes it.
        Cancelling the future before a container takes it drops the invocation."""
        future = Invocation()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self._fn.name} pool is closed")
            if self.reserved is not None and self._in_flight() >= self.reserved:
                self.throttles += 1
                future.set_exception(Throttled(self._fn, self._region))
                return future
            self._waiting.append((event, future))
            self._dispatch()
        return future

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.submit(event).result()

    def close(self) -> None:
        """Close every container (each ends once its running invocation is done); queued
        invocations are cancelled."""
        with self._lock:
            self._closed = True
            containers, self._containers, self._idle = self._containers, [], []
            waiting, self._waiting = list(self._waiting), deque()
        for _, future in waiting:
            future.cancel()
        for container in containers:
            container.close()

    # -- internals ---------------------------------------------------------------------------

    def _in_flight(self) -> int:
        """Under the lock: invocations running or waiting for a container (Lambda's concurrency)."""
        return len(self._containers) - len(self._idle) + len(self._waiting)

    def _dispatch(self) -> None:
        """Under the lock: give waiting invocations to idle containers; start containers for the
        rest, within the cap."""
        while self._waiting and self._idle:
            event, future = self._waiting.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited (the caller's timeout)
            future.mark_started()
            self._run(self._idle.pop(), event, future)
        while self._waiting and self._starting < len(self._waiting):
            if len(self._containers) + self._starting >= self.cap:
                break
            self._starting += 1
            threading.Thread(
                target=self._start_one, name=f"cold-start-{self._region}-{self._fn.name}", daemon=True
            ).start()

    def _run(self, container: Container, event: dict[str, Any], future: Future[Any]) -> None:
        inner = container.submit(event)

        def done(finished: Future[Any]) -> None:
            error = CancelledError() if finished.cancelled() else finished.exception()
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(finished.result())
            with self._lock:
                if not self._closed:
                    self._idle.append(container)
                    self._dispatch()

        inner.add_done_callback(done)

    def _start_one(self) -> None:
        try:
            container = self._cold_start()
        except Exception as exc:
            logger.exception("cold start of %s in %s failed", self._fn.name, self._region)
            with self._lock:
                self._starting -= 1
                # Without any container to run them, what waits would wait forever: fail it.
                failed = [] if self._containers else list(self._waiting)
                if failed:
                    self._waiting.clear()
            for _, future in failed:
                if future.set_running_or_notify_cancel():
                    future.set_exception(exc)
            return
        with self._lock:
            self._starting -= 1
            if self._closed:
                closed = True
            else:
                closed = False
                self.cold_starts += 1
                self._containers.append(container)
                self._idle.append(container)
                self._dispatch()
        if closed:
            container.close()
