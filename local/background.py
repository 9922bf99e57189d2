"""The thread of a local background loop (`local.kinesis.KinesisPoller`, `local.queues.QueuePoller`,
`local.demo_live.DemoTicker`): started and stopped alike, each keeping its own loop."""

from __future__ import annotations

import threading


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

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        raise NotImplementedError
