"""The cold start of a function: the cyclic garbage collector held off while its handler module is
imported, then the objects of that init frozen.

Importing a handler module (FastAPI, pydantic, boto3, the app and its clients) allocates a great
many container objects and nearly none of them are garbage, yet the default thresholds run the
collector again and again during the import, mostly full collections of a heap that keeps growing,
which find next to nothing (bench/README.md, "cold start"; `bench/cold_start.py`). So a handler
module wraps its imports and its module-level init in `init()`:

    from gui_core import coldstart

    with coldstart.init():
        from gui_jobs.app import create_app
        ...
        handler = rest_handler(...)

- On entry the collector is disabled (`gc.disable()`); its thresholds are not touched.
- On exit, whether the init succeeded or raised, it is enabled again if it was enabled before
  (thresholds as they were). After an init that succeeded, the first one of the process also
  calls `gc.freeze()`: every object alive moves to the permanent generation, so the collections
  of the warm invocations do not scan the init's objects again (and the first one does not scan
  the whole heap the import left in the youngest generation). Frozen objects are still freed by
  reference counting; only a cycle among them would outlive its use.
- Nested and concurrent inits (a handler module importing another; the local runtime cold-starting
  functions on threads of one process) share one hold-off: the outermost exit restores the
  collector. Later inits in the same process (the local runtime's, the tests') do not freeze
  again, so a long-lived process keeps at most one init's snapshot frozen.
- The first successful init of the process also registers gui_core.snapstart's runtime hooks when
  Lambda is initializing a SnapStart snapshot (AWS_LAMBDA_INITIALIZATION_TYPE `snap-start`): so
  every handler registers them through its cold start, and nothing is imported otherwise.

Only the standard library is imported here: this module is the first thing a handler imports.
"""

from __future__ import annotations

import gc
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType


class _Init:
    """The process's init phase, one for all the inits in progress (a class, not contextlib: one
    import fewer before the collector is held off)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0  # inits in progress
        self._was_enabled = True  # the collector's state when the outermost one began
        self._frozen = False  # the process's first successful init froze its objects

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0:
                return
            if exc_type is None and not self._frozen:
                gc.freeze()
                self._frozen = True
                if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
                    from gui_core import snapstart  # a SnapStart snapshot's init only

                    snapstart.register()
            if self._was_enabled:
                gc.enable()


_INIT = _Init()


def init() -> _Init:
    """A function's init phase: the garbage collector held off until it ends (see the module)."""
    return _INIT
