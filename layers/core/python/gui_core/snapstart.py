"""Lambda SnapStart: the runtime hooks of a function deployed with it (stacks: `Function.snap_start`).

Lambda runs a SnapStart function's init once per published version, then the before-snapshot hooks,
and snapshots the execution environment; each new environment is a restored copy of that snapshot,
which runs the after-restore hooks before its first invocation. So:

Before the snapshot (`Hooks.before_snapshot`), what a first request needs is made, once for every copy:
- every module of the function's packages and of gui_core is imported (what handlers import lazily);
- one request goes through the function's handler without I/O, the one `GUI_SNAPSTART_WARMUP` names
  (the stack sets it by the function's kind, `stacks.constructs.functions.warmup_request`): a REST
  route without the authorizer's context (the guard answers 401), the authorizer with a token that is
  not a JWT (Deny), `$connect` without the authorizer's context (401), a Kinesis record of a kind no
  consumer handles (skipped). So Mangum, FastAPI's routing and dependencies, pydantic's validators and
  serializers, problem details, spans and log lines have run once. What it writes (log lines, metrics,
  spans) is discarded, and Powertools' cold-start flags are set again: a restored copy's first
  invocation reports its cold start, not the warm-up's;
- the objects that hold what two copies must not share are found (`RESETS`, by type, among the
  objects alive), and the heap is frozen again (`gc.freeze`, as gui_core.coldstart does after the init).

After a restore (`Hooks.after_restore`), before the first invocation, what the copies would share:
- random seeds: the `random` module's generator, which OpenTelemetry's trace and span ids and
  botocore's retry jitter draw from, is seeded again from os.urandom (which Lambda reseeds at restore;
  uuid4 and `secrets` read it directly), and tempfile's name sequence is dropped (its generator is
  renewed when the pid changes, which a restore does not do);
- connections: every botocore client's pool is emptied (`close`), the signed `@connections` client's
  idle connections closed: a socket of the snapshot is dead, and its TLS state would be every copy's;
- credentials: refreshable credentials (SnapStart gives the role's through the container credentials
  endpoint, not the environment) expire at once, so each copy fetches its own at its first call, and
  the signed client's signer takes them again;
- clock-derived state: the caches that count ages on the monotonic clock (tenant records, the JWKS,
  the cursor keys) are emptied: that clock did not see how long the snapshot waited.

Nothing happens unless Lambda is initializing a SnapStart snapshot (AWS_LAMBDA_INITIALIZATION_TYPE is
`snap-start`) and `snapshot_restore_py` (shipped in the managed Python runtimes) imports: locally, in
tests and in functions without SnapStart, `register` is a no-op. gui_core.coldstart calls it at the
end of the process's first init, so every handler registers the hooks through its cold start.
"""

from __future__ import annotations

import base64
import gc
import importlib
import json
import os
import pkgutil
import random
import re
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WARMUP_ENV = "GUI_SNAPSTART_WARMUP"  # `rest <METHOD> <path>`, `authorizer`, `websocket`, `kinesis`, `none`
INIT_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"  # its value while Lambda initializes a SnapStart snapshot
WARMUP_ID = "snapstart-warmup"  # request id, tenant and connection of the warm-up request
WARMUP_KIND = "SnapStartWarmUp"  # a Kinesis record's detail-type no consumer handles
_PATH_PARAMETER = re.compile(r"\{([^}/]+?)\+?\}")


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Lambda is initializing a SnapStart snapshot of this function."""
    return environ.get(INIT_TYPE_ENV) == SNAP_START


# -- what a restored copy must not share, by type -----------------------------------------------------


def _expire(credentials: Any) -> None:
    """botocore's refreshable credentials refresh at their next use (a mandatory refresh: expired)."""
    credentials._expiry_time = datetime.now(UTC) - timedelta(seconds=1)


def _call(method: str) -> Callable[[Any], None]:
    def reset(obj: Any) -> None:
        getattr(obj, method)()

    reset.__name__ = method
    return reset


# "module.Class" -> what after_restore does to each instance alive at the snapshot. A class counts only
# when its module was imported by the function: nothing is imported to look for it.
RESETS: dict[str, Callable[[Any], None]] = {
    "botocore.client.BaseClient": _call("close"),  # its connection pool emptied; it reconnects
    "botocore.credentials.RefreshableCredentials": _expire,
    "gui_core.signed_post.SignedConnections": _call("close"),  # its idle connections
    "gui_core.signed_post.Signer": _call("invalidate"),  # takes the credentials again
    "gui_core.tenancy.TenantDirectory": _call("clear"),
    "gui_core.tokens.RemoteKeySet": _call("clear"),
    "gui_core.cursors.SecretsManagerCursorKeys": _call("clear"),
}


def _loaded_types() -> dict[type, str]:
    found: dict[type, str] = {}
    for name in RESETS:
        module, _, attribute = name.rpartition(".")
        loaded = sys.modules.get(module)
        kind = getattr(loaded, attribute, None) if loaded is not None else None
        if isinstance(kind, type):
            found[kind] = name
    return found


def find_resettables() -> list[tuple[str, Any]]:
    """(RESETS key, object) for every object alive of a type RESETS names, frozen ones included."""
    types = _loaded_types()
    if not types:
        return []
    kinds = tuple(types)
    frozen = gc.get_freeze_count() > 0
    if frozen:
        gc.unfreeze()  # gc.get_objects does not see the permanent generation
    try:
        found = []
        for obj in gc.get_objects():
            if isinstance(obj, kinds):
                name = next(types[kind] for kind in type(obj).__mro__ if kind in types)
                found.append((name, obj))
        return found
    finally:
        if frozen:
            gc.freeze()


# -- the warm-up request ------------------------------------------------------------------------------


class WarmupContext:
    """The Lambda context of the warm-up invocation, from the function's environment."""

    aws_request_id = WARMUP_ID

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}"
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{self.function_name}")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME", WARMUP_ID)
        self._deadline = time.monotonic() + 10.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _headers(values: Mapping[str, str]) -> dict[str, Any]:
    return {"headers": dict(values), "multiValueHeaders": {k: [v] for k, v in values.items()}}


def _request_context(region: str, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "accountId": "000000000000",
        "apiId": "snapstart",
        "domainName": f"snapstart.execute-api.{region}.amazonaws.com",
        "requestId": WARMUP_ID,
        "extendedRequestId": WARMUP_ID,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "requestTimeEpoch": int(now * 1000),
        "identity": {"sourceIp": "127.0.0.1", "userAgent": WARMUP_ID},
        **extra,
    }


def rest_event(method: str, resource: str, region: str) -> dict[str, Any]:
    """API Gateway's proxy event of `method resource`, its path parameters filled, without the
    authorizer's context: the guard refuses it (401) before any store is asked."""
    parameters = dict.fromkeys(_PATH_PARAMETER.findall(resource), WARMUP_ID)
    path = _PATH_PARAMETER.sub(WARMUP_ID, resource)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        **_headers(
            {
                "Accept": "application/json",
                "Host": f"snapstart.execute-api.{region}.amazonaws.com",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Port": "443",
            }
        ),
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": _request_context(
            region,
            resourcePath=resource,
            httpMethod=method,
            path=f"/snapstart{path}",
            stage="snapstart",
            protocol="HTTP/1.1",
        ),
        "body": None,
        "isBase64Encoded": False,
    }


def authorizer_event(region: str) -> dict[str, Any]:
    """A REQUEST authorizer's event whose bearer token is not a JWT: refused (Unauthorized)."""
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{region}:000000000000:snapstart/snapstart/GET/snapstart",
        "resource": "/snapstart",
        "path": "/snapstart",
        "httpMethod": "GET",
        **_headers({"Accept": "application/json", "Authorization": "Bearer not-a-jwt"}),
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": _request_context(
            region, resourcePath="/snapstart", httpMethod="GET", stage="snapstart"
        ),
    }


def websocket_event(region: str) -> dict[str, Any]:
    """`$connect` without the authorizer's context: refused (401) before any store is asked."""
    return {
        **_headers({"Host": f"snapstart.execute-api.{region}.amazonaws.com", "Sec-WebSocket-Version": "13"}),
        "requestContext": _request_context(
            region,
            routeKey="$connect",
            eventType="CONNECT",
            messageDirection="IN",
            stage="live",
            connectedAt=int(time.time() * 1000),
            connectionId="c25hcHN0YXJ0=",
        ),
        "isBase64Encoded": False,
    }


def kinesis_event(region: str) -> dict[str, Any]:
    """One record of the events stream whose detail-type no consumer handles: counted and skipped."""
    envelope = {
        "version": "0",
        "id": str(uuid.UUID(int=0)),
        "detail-type": WARMUP_KIND,
        "source": "domaindetermine.snapstart",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [],
        "detail": {"tenant": WARMUP_ID, "schema_version": "1", "region": region},
    }
    sequence = "4" + "0" * 55
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": WARMUP_ID,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::000000000000:role/snapstart",
                "awsRegion": region,
                "eventSourceARN": f"arn:aws:kinesis:{region}:000000000000:stream/snapstart",
            }
        ]
    }


def warmup_event(spec: str, region: str) -> dict[str, Any] | None:
    """The event `GUI_SNAPSTART_WARMUP` names; None for `none` (or nothing)."""
    kind, *rest = spec.split()
    if kind == "rest" and len(rest) == 2:
        return rest_event(rest[0].upper(), rest[1], region)
    makers: dict[str, Callable[[str], dict[str, Any]]] = {
        "authorizer": authorizer_event,
        "websocket": websocket_event,
        "kinesis": kinesis_event,
    }
    if kind == "none":
        return None
    if kind not in makers or rest:
        known = ", ".join(makers)
        raise ValueError(f"{WARMUP_ENV}={spec!r}: expected 'rest <METHOD> <path>', {known} or none")
    return makers[kind](region)


def outcome_of(result: Any) -> str:
    if isinstance(result, Mapping):
        if "statusCode" in result:
            return str(result["statusCode"])
        if "batchItemFailures" in result:
            return f"{len(result['batchItemFailures'])} failed"
    return type(result).__name__


@contextmanager
def quiet() -> Iterator[None]:
    """Whatever the process writes to its stdout and stderr (file descriptors 1 and 2: log handlers
    and span exporters hold the streams themselves) goes nowhere for a while."""
    streams = [s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None]
    for stream in streams:
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        yield
    finally:
        for stream in streams:
            with suppress(OSError, ValueError):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, sink):
            os.close(fd)


def reset_cold_start_flags() -> list[str]:
    """Powertools' cold-start flags set again (logger, metrics, tracer: those imported)."""
    flags = []
    for module in (
        "aws_lambda_powertools.logging.logger",
        "aws_lambda_powertools.metrics.provider.cold_start",
        "aws_lambda_powertools.tracing.tracer",
    ):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, "is_cold_start"):
            setattr(loaded, "is_cold_start", True)  # noqa: B010 - a module's global, by name
            flags.append(module)
    return flags


# -- importing everything -----------------------------------------------------------------------------


def _entry_module(name: str) -> bool:
    """A function's entry module (`handler`, or `gui_<function>` beside it): importing another
    function's would run that function's init."""
    last = name.rsplit(".", 1)[-1]
    return last == "handler" or last.startswith("gui_")


def import_everything(packages: list[str]) -> tuple[int, list[str]]:
    """Every module of `packages` (their submodules, recursively), entry modules left out. A module
    that cannot be imported here (it needs a layer the function lacks) is named, not raised."""
    imported, failed = 0, []
    for package_name in packages:
        try:
            package = importlib.import_module(package_name)
        except Exception:
            failed.append(package_name)
            continue
        path = getattr(package, "__path__", None)
        if path is None:
            continue
        for module in pkgutil.walk_packages(path, prefix=f"{package_name}."):
            if _entry_module(module.name) or module.name in sys.modules:
                continue
            try:
                importlib.import_module(module.name)
                imported += 1
            except Exception:
                failed.append(module.name)
    return imported, failed


def function_packages(handler_module: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """gui_core and the function's own packages: those in its code folder (LAMBDA_TASK_ROOT), else
    the handler's package alone."""
    found = ["gui_core"]
    root = environ.get("LAMBDA_TASK_ROOT")
    if root and os.path.isdir(root):
        found += sorted(
            entry.name
            for entry in os.scandir(root)
            if entry.is_dir() and os.path.isfile(os.path.join(entry.path, "__init__.py"))
        )
    else:
        found.append(handler_module.split(".", 1)[0])
    return list(dict.fromkeys(found))


# -- the hooks ----------------------------------------------------------------------------------------


@dataclass
class Hooks:
    """The two hooks and what the first one found for the second (one instance per process: `HOOKS`)."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    resettables: list[tuple[str, weakref.ReferenceType[Any] | Any]] = field(default_factory=list)
    last_snapshot: dict[str, Any] = field(default_factory=dict)
    last_restore: dict[str, Any] = field(default_factory=dict)

    def before_snapshot(self) -> dict[str, Any]:
        started = time.perf_counter()
        report: dict[str, Any] = {"hook": "before_snapshot"}
        handler_path = self.environ.get("_HANDLER", "")
        module_name, _, attribute = handler_path.rpartition(".")
        if module_name:
            report["imported"], failed = import_everything(function_packages(module_name, self.environ))
            report["not_imported"] = len(failed)
        report.update(self.warm_up(module_name, attribute))
        report["cold_start_flags"] = len(reset_cold_start_flags())
        gc.collect()  # the warm-up's garbage, before the heap is frozen for every copy
        self.resettables = [(name, _ref(obj)) for name, obj in find_resettables()]
        report["resettables"] = _counts(name for name, _ in self.resettables)
        if gc.get_freeze_count() > 0:
            gc.freeze()  # the warm-up's objects join the init's (gui_core.coldstart)
        report["ms"] = round((time.perf_counter() - started) * 1000, 1)
        self.last_snapshot = report
        _say(report)
        return report

    def warm_up(self, module_name: str, attribute: str) -> dict[str, Any]:
        spec = self.environ.get(WARMUP_ENV, "").strip()
        region = self.environ.get("AWS_REGION", "us-east-1")
        try:
            event = warmup_event(spec, region) if spec else None
        except ValueError as exc:
            return {"warmup": spec, "outcome": f"refused: {exc}"}
        if event is None or not module_name:
            return {"warmup": spec or "none"}
        started = time.perf_counter()
        try:
            handler = getattr(importlib.import_module(module_name), attribute)
            with quiet():
                outcome = outcome_of(handler(event, WarmupContext(self.environ)))
        except Exception as exc:
            # A refusal may be the answer (the authorizer raises "Unauthorized"); a failure of the
            # warm-up leaves the function less warm, never broken: the snapshot goes on.
            outcome = f"raised {type(exc).__name__}: {str(exc)[:120]}"
        return {
            "warmup": spec,
            "outcome": outcome,
            "warmup_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def after_restore(self) -> dict[str, Any]:
        started = time.perf_counter()
        random.seed()  # from os.urandom
        if hasattr(tempfile, "_name_sequence"):
            tempfile._name_sequence = None  # rebuilt, seeded anew
        done: dict[str, int] = {}
        failed: list[str] = []
        for name, ref in self.resettables:
            obj = ref() if isinstance(ref, weakref.ReferenceType) else ref
            if obj is None:
                continue
            try:
                RESETS[name](obj)
                done[name] = done.get(name, 0) + 1
            except Exception as exc:
                failed.append(f"{name}: {type(exc).__name__}")
        report = {
            "hook": "after_restore",
            "reset": done,
            "failed": failed,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        self.last_restore = report
        _say(report)
        return report


def _ref(obj: Any) -> weakref.ReferenceType[Any] | Any:
    try:
        return weakref.ref(obj)
    except TypeError:
        return obj


def _counts(names: Iterator[str] | Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _say(report: Mapping[str, Any]) -> None:
    """One JSON line in the function's log, beside Lambda's INIT and RESTORE reports."""
    print(json.dumps({"message": "snapstart", **report}, default=str), flush=True)  # noqa: T201


HOOKS = Hooks()
_lock = threading.Lock()
_registered: list[Hooks] = []  # the hooks registered in this process (once)


def register(environ: Mapping[str, str] = os.environ) -> bool:
    """Register HOOKS with snapshot_restore_py, once per process, when Lambda is initializing a
    SnapStart snapshot; False (nothing done) otherwise, or when the package cannot be imported."""
    if not enabled(environ):
        return False
    try:
        import snapshot_restore_py  # type: ignore[import-untyped]  # no type information
    except ImportError:
        return False
    with _lock:
        if not _registered:
            snapshot_restore_py.register_before_snapshot(HOOKS.before_snapshot)
            snapshot_restore_py.register_after_restore(HOOKS.after_restore)
            _registered.append(HOOKS)
    return True
