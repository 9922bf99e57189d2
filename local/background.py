"""The thread of a local background loop (`local.kinesis.KinesisPoller`, `local.queues.QueuePoller`,
`local.demo_live.DemoTicker`): started and stopped alike, each keeping its own loop.

A stop comes in two steps, so that a runtime can ask every loop to end at once and then wait for
each (`local.runtime.LocalBackend.stop` does, before it stops moto's server): `request_stop()` and
`stop(timeout_s)`. `endpoint_gone` tells a loop that is stopping that an error is the AWS endpoint
gone (the end of the loop, not an error to report)."""

from __future__ import annotations

import threading

from botocore.exceptions import ConnectionError as EndpointConnectionFailed
from botocore.exceptions import HTTPClientError

STOP_JOIN_S = 5.0


class BackgroundLoop:
    """`start()` runs `_loop` in a daemon thread named `thread_name`; `stop()` sets `_stop` (the loop
    ends when it sees it, and waits on it between rounds) and joins the thread for up to 5 s."""

    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self._thread_name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end: it finishes the round it is in (an invocation running) and ends."""
        self._stop.set()

    def stop(self, timeout_s: float = STOP_JOIN_S) -> bool:
        """`request_stop`, then wait up to `timeout_s` for the thread; True when it has ended."""
        self._stop.set()
        ended = join(self._thread, timeout_s)
        if ended:
            self._thread = None
        return ended

    def _loop(self) -> None:
        raise NotImplementedError


def join(thread: threading.Thread | None, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for `thread` (None: never started); True when it has ended."""
    if thread is None:
        return True
    thread.join(max(0.0, timeout_s))
    return not thread.is_alive()


def endpoint_gone(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it, e.g. a function that wrapped botocore's error) is botocore
    failing to reach the endpoint: it could not connect, or the connection broke. A loop that is
    stopping takes it as its end (the runtime stops moto's server last, and a loop that outlived
    its wait sees it gone); a loop still running reports it as any other error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EndpointConnectionFailed | HTTPClientError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
