"""Lambda "containers" in one process: each (region, function) pair gets its own module globals.

A function reads its settings and builds its clients at import, from its environment, as in Lambda.
To run the same function for two regions in one process, its package is imported once per region
with `os.environ` set to that region's environment, the handler is kept, and the package's modules
are dropped from `sys.modules` again so the next import builds fresh globals. The handler keeps its
own module globals alive through its `__globals__`.

What this asks of the functions:
- a function imports its own modules at import time, not lazily inside a handler: a lazy import
  would build a new module from the process environment, shared by every region;
- `gui_core` and third-party libraries are shared by every container, so they keep no state bound
  to one function's environment.

Like a Lambda execution environment, a container serves one invocation at a time, and has a /tmp
of its own (`TMPDIR`, which the functions' settings read through `gui_core.settings.lambda_tmp`)
holding at most the function's configured ephemeral storage: an invocation that leaves more there
fails, as its write past the limit would have failed in Lambda (no space left on device).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

    from stacks.manifest import Function

Handler = Callable[[dict[str, Any], Any], Any]

LOCAL_ACCOUNT = "123456789012"
MB = 1024 * 1024
# Variables of the host that must not reach a function: its own AWS identity and configuration.
_HOST_PREFIXES_DROPPED = ("AWS_", "POWERTOOLS_", "GUI_", "_X_AMZN_", "LAMBDA_")

# Held while `os.environ` is swapped for a cold start, and by the runtime's own code that reads the
# environment (creating a boto3 client scans it for proxies): a thread iterating `os.environ` while
# another clears it fails (`KeyError` in `urllib.request.getproxies_environment`, seen in CI).
ENVIRONMENT_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The context object the Lambda Python runtime passes to a handler."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: float
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or (
            f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{self.function_version}]{uuid.uuid4().hex}"
        )
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_arn(fn: Function, region: str) -> str:
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{fn.name}"


def lambda_context(fn: Function, region: str) -> LambdaContext:
    return LambdaContext(
        function_name=fn.name,
        memory_limit_in_mb=fn.memory_mb,
        invoked_function_arn=function_arn(fn, region),
        timeout_s=fn.timeout_s,
    )


def runtime_environment(fn: Function, region: str) -> dict[str, str]:
    """The variables the Lambda runtime itself sets in every execution environment."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """`os.environ` is the host's (less its AWS and app variables) plus `env`, until exit.

    Process-wide, under `ENVIRONMENT_LOCK`: whoever else reads the environment holds it too.
    """
    with ENVIRONMENT_LOCK:
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update({k: v for k, v in saved.items() if not k.startswith(_HOST_PREFIXES_DROPPED)})
            os.environ.update(env)
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _take_package(package: str) -> dict[str, ModuleType]:
    """Remove the package's modules from `sys.modules` and return them.

    Other threads import while this runs (a running handler's lazy imports), so the keys are copied
    in one step (`list` of a dict holds the GIL throughout) rather than iterated live.
    """
    prefix = f"{package}."
    names = [name for name in list(sys.modules) if name == package or name.startswith(prefix)]
    taken = {name: sys.modules.pop(name, None) for name in names}
    return {name: module for name, module in taken.items() if module is not None}


def load_handler(fn: Function, env: Mapping[str, str]) -> Handler:
    """Import `fn`'s handler with `env` as its environment, in modules of its own (a cold start).

    Whatever the process had imported of the package before (tests do) is put back afterwards.
    """
    module_name, _, attribute = fn.handler.rpartition(".")
    region = env.get("AWS_REGION") or env.get("GUI_REGION") or "us-east-1"
    with environment({**runtime_environment(fn, region), **env}):
        before = _take_package(fn.package)
        try:
            module = importlib.import_module(module_name)
            handler: Handler = getattr(module, attribute)
        finally:
            _take_package(fn.package)
            sys.modules.update(before)
    if not callable(handler):
        raise TypeError(f"{fn.handler} is not callable")
    return handler


def _runtime_thread_setup() -> None:
    # The Lambda runtime calls handlers on a thread with an event loop at hand (Mangum asks for it).
    asyncio.set_event_loop(asyncio.new_event_loop())


def _runtime_thread(fn: Function, region: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix=f"lambda-{region}-{fn.name}", initializer=_runtime_thread_setup
    )


def _runtime_thread_teardown() -> None:
    asyncio.get_event_loop_policy().get_event_loop().close()
    asyncio.set_event_loop(None)


class EphemeralStorageExceeded(OSError):
    """The invocation left more in the container's /tmp than the function's ephemeral storage."""


def storage_used(folder: Path) -> int:
    """Bytes of the files under `folder` (what they take in /tmp, as Lambda counts them)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # removed under the walk
                total += os.lstat(os.path.join(root, name)).st_size
    return total


class Container:
    """One function in one region: its handler, run on a thread of its own, one invocation at a
    time, as in a Lambda execution environment; `tmp_dir` is its /tmp."""

    def __init__(
        self,
        fn: Function,
        region: str,
        handler: Handler,
        *,
        runtime: ThreadPoolExecutor | None = None,
        tmp_dir: Path | None = None,
    ) -> None:
        self.fn = fn
        self.region = region
        self.handler = handler
        self.tmp_dir = tmp_dir
        self._runtime = runtime or _runtime_thread(fn, region)

    @classmethod
    def cold_start(
        cls, fn: Function, region: str, env: Mapping[str, str], *, tmp_root: Path | None = None
    ) -> Container:
        """Import the handler on the container's own thread, as the Lambda runtime does: what the
        import sets up per thread (Mangum's event loop) belongs to the thread that invokes it.
        With `tmp_root`, the container's /tmp is a new folder under it."""
        tmp_dir = None
        if tmp_root is not None:
            tmp_root.mkdir(parents=True, exist_ok=True)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f"{region}-{fn.name}-", dir=tmp_root))
            env = {**env, "TMPDIR": str(tmp_dir)}
        runtime = _runtime_thread(fn, region)
        try:
            handler = runtime.submit(load_handler, fn, env).result()
        except BaseException:
            runtime.submit(_runtime_thread_teardown)
            runtime.shutdown(wait=False)
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        return cls(fn, region, handler, runtime=runtime, tmp_dir=tmp_dir)

    def submit(self, event: dict[str, Any]) -> Future[Any]:
        """Queue an invocation; the future holds the handler's answer or its exception."""
        return self._runtime.submit(self._invoke, event)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke and wait for the answer."""
        return self.submit(event).result()

    def close(self) -> None:
        """End the runtime thread once the invocations already queued are done; its /tmp goes."""
        self._runtime.submit(_runtime_thread_teardown)
        if self.tmp_dir is not None:
            self._runtime.submit(shutil.rmtree, self.tmp_dir, ignore_errors=True)
        self._runtime.shutdown(wait=False)

    def _invoke(self, event: dict[str, Any]) -> Any:
        try:
            return self.handler(event, lambda_context(self.fn, self.region))
        finally:
            self._check_storage()

    def _check_storage(self) -> None:
        if self.tmp_dir is None:
            return
        used, limit = storage_used(self.tmp_dir), self.fn.ephemeral_storage_mb * MB
        if used > limit:
            raise EphemeralStorageExceeded(
                f"{self.fn.name}: {used / MB:.1f} MB in /tmp, more than its ephemeral storage of "
                f"{self.fn.ephemeral_storage_mb} MB (no space left on device, in Lambda)"
            )
