"""Cold start of every function (import + first invocation) against a bare handler that imports only
boto3, in the same run; and each function's deployment size with its layers.

Each sample is a fresh interpreter (PYTHONDONTWRITEBYTECODE=1, the file cache warmed by one throwaway
run of each) that times `import <handler module>` (Lambda's init phase) and then the first
`handler(event, context)` call, with a context built inline: nothing of the repository is imported
before the timed import. The baseline is a module written to a temporary folder, `import boto3` and
a handler that answers 200, measured the same way and interleaved with the functions (once every
few functions of each run, the functions' order rotating from run to run), so machine noise hits
both. Figures are medians of N runs; the ratio is a function's import + first call against the
baseline's, in wall time and in the child's CPU time (`time.process_time`), which other work on the
machine disturbs much less. The child ends with `os._exit`: Lambda never waits for a teardown.

The first invocation needs no AWS: every AWS endpoint (`AWS_ENDPOINT_URL`, the `@connections` URL)
points at a closed loopback port, with `AWS_MAX_ATTEMPTS=1` (a client whose code sets its retries
keeps them; a refused connection costs microseconds anyway), so a call that does reach for the
network fails at once, and an audit hook counts the sockets the call connects (the `I/O` column).
The events are the samples of events/aws/, changed so that the handler answers before any I/O:

- REST functions: `rest_proxy_request.json` on the function's first route, path parameters filled,
  without the authorizer's context: the app answers 401;
- the authorizer: `rest_authorizer_request.json` with a token that is not a JWT: it refuses (Deny);
- realtime: `websocket_connect.json` without the authorizer's context: `$connect` answers 401 (a
  message route always answers through `@connections`, so it cannot be measured without I/O);
- Kinesis consumers (the fan-out among them): one record of `kinesis_stream_batch.json` (for a
  mapping that filters detail-types, the sample of its first one), its detail-type one no consumer
  handles: skipped (a record without `detail.tenant`, as runs before 2026-12-07 sent, is now poison
  and goes to the quarantine queue, which is I/O); the DynamoDB stream consumer (the archiver): the
  sample's MODIFY record, not a TTL removal: ignored. (Powertools' batch processor refuses an empty
  batch, which Lambda never sends.)
- EventBridge rule consumers: their detail-type's sample without `tenant`: refused on validation;
- scheduled functions: import only (their first step reads the tenants table).

Goals (issue 8), against the baseline: REST 2.0x, authorizer 0.6x (it imports no boto3), fan-out
and realtime 1.3x.

`--restored` adds, for each function the manifest deploys with SnapStart (`Function.snap_start`), what
a restored execution environment pays (issue 17; goal at most 1.0x the baseline's cold start): the
child imports the handler module with Lambda's SnapStart variables (`AWS_LAMBDA_INITIALIZATION_TYPE=
snap-start`, the stack's `GUI_SNAPSTART_WARMUP`, `_HANDLER`), so gui_core.coldstart registers
gui_core.snapstart's hooks, and runs the before-snapshot hooks as the runtime does (untimed: that is
the snapshot's init); then it forks, and the fork, a copy of the snapshotted process, times the
after-restore hooks and the first call of the same event as the cold rows. What this leaves out:
Lambda's own resume of the microVM and the page faults of a snapshot loaded lazily, which no local
run has. Sizes: the function's code asset (its packages under functions/, without
__pycache__; also zipped, in memory) plus its layers unzipped (`core`, and each third-party layer
as `stacks.layer_build.build_layer` builds it, which runs pip when the layer is not built yet),
against Lambda's 250 MB limit. Then `-X importtime` of the slowest REST function, summarized.

A round costs about 20 s of CPU (the imports themselves), so the default 7 runs (and the warm-up
round) take about 2.5 minutes on an idle 2-CPU machine; more runs, more minutes.

`--no-warmup` runs those rows with a before-snapshot hook that sends no request (the imports, the
resets and the frozen heap stay): the difference is what the warm-up request buys.

Usage: `python bench/cold_start.py [--runs 7] [--only gui_jobs,...] [--restored [--no-warmup]]
[--no-sizes] [--no-importtime] [--json bench/results/cold_start.json]`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import load  # noqa: E402

from gui_core.snapstart import INIT_TYPE_ENV, SNAP_START, WARMUP_ENV  # noqa: E402
from local.keys import DevKeys  # noqa: E402
from stacks.bytecode import runtime_python, staged_core_layer, staged_functions  # noqa: E402
from stacks.constructs.functions import warmup_request  # noqa: E402
from stacks.layer_build import build_layer  # noqa: E402
from stacks.manifest import LAMBDA_PYTHON_VERSION, MANIFEST, Function  # noqa: E402
from stacks.source_filters import stream_environment  # noqa: E402

EVENTS = ROOT / "events" / "aws"
CORE_LAYER = ROOT / "layers" / "core" / "python"
FUNCTIONS_DIR = ROOT / "functions"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
# The discard port: nothing listens on it here, so a connection is refused at once (no DNS, no wait).
CLOSED = "http://127.0.0.1:9"
LAMBDA_LIMIT_MB = 250.0
MB = 1024 * 1024
BASELINE = "bare boto3 handler"
BASELINE_EVERY = 4  # a baseline sample before every 4th function of a run
GOALS = {"REST": 2.0, "authorizer": 0.6, "fan-out": 1.3, "realtime": 1.3, "restored": 1.0}
RESTORED = " (restored)"  # a restored row's name: the function's, and this
# Harmless values for the path parameters of a function's first route.
NOT_HANDLED = "BenchNotHandled"  # a detail-type no stream consumer handles
PATH_VALUES = {"module": "jobs", "channel": "jobs", "tenant": "acme", "command": "read"}
MARKER = "@@cold_start@@"

# The child: times the import, then the first call; prints one JSON line after the marker.
CHILD = """\
import os, sys, time
_raw = sys.stdin.buffer.read()
_t0, _c0 = time.perf_counter(), time.process_time()
import {module} as _target
_t1, _c1 = time.perf_counter(), time.process_time()
_io = []


def _audit(name, args):
    if name == "socket.connect":
        _io.append(repr(args[1]))


sys.addaudithook(_audit)
import json


class LambdaContext:
    function_name = {function_name!r}
    function_version = "$LATEST"
    memory_limit_in_mb = {memory_mb!r}
    invoked_function_arn = {arn!r}
    aws_request_id = "00000000-0000-4000-8000-00000000c01d"
    log_group_name = "/aws/lambda/" + {function_name!r}
    log_stream_name = "2026/11/28/[$LATEST]00000000000000000000000000c01d"
    _deadline = time.monotonic() + {timeout_s!r}

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_event = json.loads(_raw) if _raw else None
_handler = getattr(_target, {attribute!r})
_result = _error = None
_t2, _c2 = time.perf_counter(), time.process_time()
if _event is not None:
    try:
        _result = _handler(_event, LambdaContext())
    except Exception as exc:
        _error = type(exc).__name__ + ": " + str(exc)
_t3, _c3 = time.perf_counter(), time.process_time()
_called = _event is not None
_done = {{"import_s": _t1 - _t0, "call_s": _t3 - _t2 if _called else None, "import_cpu_s": _c1 - _c0,
         "call_cpu_s": _c3 - _c2 if _called else None, "result": _result, "error": _error, "io": _io}}
print("\\n" + {marker!r} + json.dumps(_done, default=str), flush=True)
os._exit(0)  # no teardown: Lambda never waits for one
"""

# A SnapStart function's child: the init and the before-snapshot hooks as Lambda runs them for the
# snapshot (untimed), then a fork, the restored copy, which times the after-restore hooks and the first
# call. The figures are the fork's; the parent waits for it and prints nothing.
CHILD_RESTORED = """\
import os, sys, time
_raw = sys.stdin.buffer.read()
_t0 = time.perf_counter()
import {module} as _target
_init_s = time.perf_counter() - _t0
_io = []


def _audit(name, args):
    if name == "socket.connect":
        _io.append(repr(args[1]))


sys.addaudithook(_audit)
import json
import snapshot_restore_py


class LambdaContext:
    function_name = {function_name!r}
    function_version = "1"
    memory_limit_in_mb = {memory_mb!r}
    invoked_function_arn = {arn!r}
    aws_request_id = "00000000-0000-4000-8000-00000000c01d"
    log_group_name = "/aws/lambda/" + {function_name!r}
    log_stream_name = "2026/11/28/[1]00000000000000000000000000c01d"
    _deadline = time.monotonic() + {timeout_s!r}

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_event = json.loads(_raw)
_handler = getattr(_target, {attribute!r})
_t1 = time.perf_counter()
_before = snapshot_restore_py.get_before_snapshot()
_hooks = len(_before)
while _before:  # as the runtime runs them: the last registered first
    _fn, _args, _kwargs = _before.pop()
    _fn(*_args, **_kwargs)
_snapshot_s = time.perf_counter() - _t1
_snapshot_io = list(_io)
_io.clear()
sys.stdout.flush()
_pid = os.fork()
if _pid:
    os.waitpid(_pid, 0)
    os._exit(0)
_t2, _c2 = time.perf_counter(), time.process_time()
for _fn, _args, _kwargs in snapshot_restore_py.get_after_restore():
    _fn(*_args, **_kwargs)
_t3, _c3 = time.perf_counter(), time.process_time()
_result = _error = None
try:
    _result = _handler(_event, LambdaContext())
except Exception as exc:
    _error = type(exc).__name__ + ": " + str(exc)
_t4, _c4 = time.perf_counter(), time.process_time()
_done = {{"import_s": _t3 - _t2, "call_s": _t4 - _t3, "import_cpu_s": _c3 - _c2, "call_cpu_s": _c4 - _c3,
         "result": _result, "error": _error, "io": _io, "init_s": _init_s, "snapshot_s": _snapshot_s,
         "hooks": _hooks, "snapshot_io": _snapshot_io, "warmup": os.environ.get("GUI_SNAPSTART_WARMUP")}}
print("\\n" + {marker!r} + json.dumps(_done, default=str), flush=True)
os._exit(0)
"""

BARE_HANDLER = """\
import boto3  # noqa: F401


def handler(event, context):
    return {"statusCode": 200}
"""


@dataclass
class Target:
    name: str
    kind: str
    handler: str  # module.attribute
    env: dict[str, str]
    event: dict[str, Any] | None  # None: import only
    event_note: str
    memory_mb: int = 128
    timeout_s: int = 3
    restored: bool = False  # the SnapStart child (CHILD_RESTORED)

    @property
    def goal(self) -> float | None:
        return GOALS["restored"] if self.restored else GOALS.get(self.kind)

    def code(self) -> str:
        module, _, attribute = self.handler.rpartition(".")
        return (CHILD_RESTORED if self.restored else CHILD).format(
            module=module,
            attribute=attribute,
            function_name=self.name,
            memory_mb=self.memory_mb,
            arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}",
            timeout_s=self.timeout_s,
            marker=MARKER,
        )


# --- what each function is, and the event of its first invocation ------------------------------


def kind_of(fn: Function) -> str:
    kinds = (
        ("authorizer", fn.name == MANIFEST.authorizer.function.name),
        ("REST", bool(fn.routes)),
        ("realtime", MANIFEST.websocket is not None and fn.name == MANIFEST.websocket.function),
        ("fan-out", bool(fn.kinesis_sources) and fn.concern == "fanout"),
        ("Kinesis", bool(fn.kinesis_sources)),
        ("DynamoDB stream", bool(fn.stream_sources)),
        ("EventBridge rule", any(rule.function == fn.name for rule in MANIFEST.rules)),
        ("schedule", any(schedule.function == fn.name for schedule in MANIFEST.schedules)),
    )
    return next((kind for kind, matches in kinds if matches), "other")


def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def rest_event(fn: Function) -> tuple[dict[str, Any], str]:
    route = fn.routes[0]
    parameters = {
        part[1:-1]: PATH_VALUES.get(part[1:-1], "bench")
        for part in route.full_path.split("/")
        if part.startswith("{") and part.endswith("}")
    }
    path = route.full_path
    for key, value in parameters.items():
        path = path.replace("{" + key + "}", value)
    event = _sample("rest_proxy_request.json")
    event.update(
        resource=route.full_path,
        path=path,
        httpMethod=route.method,
        pathParameters=parameters or None,
    )
    context = event["requestContext"]
    context.pop("authorizer", None)
    context.update(resourcePath=route.full_path, httpMethod=route.method, path=f"/{context['stage']}{path}")
    return event, f"{route.method} {route.path}, no authorizer context"


def authorizer_event() -> tuple[dict[str, Any], str]:
    event = _sample("rest_authorizer_request.json")
    presented = "Bearer not-a-jwt"
    event["headers"]["Authorization"] = presented
    event["multiValueHeaders"]["Authorization"] = [presented]
    return event, "a token that is not a JWT"


def realtime_event() -> tuple[dict[str, Any], str]:
    event = _sample("websocket_connect.json")
    event["requestContext"].pop("authorizer", None)
    return event, "$connect, no authorizer context"


def rule_event(fn: Function) -> tuple[dict[str, Any], str]:
    detail_types = [t for rule in MANIFEST.rules if rule.function == fn.name for t in rule.detail_types]
    for path in sorted(EVENTS.glob("eventbridge_*.json")):
        event = _sample(path.name)
        if event.get("detail-type") in detail_types:
            event["detail"].pop("tenant", None)
            return event, f"{path.name} without detail.tenant"
    raise SystemExit(f"no events/aws sample of {detail_types} for {fn.name}")


def kinesis_event(fn: Function) -> tuple[dict[str, Any], str]:
    """The first record of the Kinesis sample, its envelope one the mapping lets through (the
    sample of its first detail-type when it filters) with a detail-type no consumer handles."""
    record = _sample("kinesis_stream_batch.json")["Records"][0]
    envelope = json.loads(base64.b64decode(record["kinesis"]["data"]))
    detail_types = [t for source in fn.kinesis_sources for t in source.detail_types]
    name = "kinesis_stream_batch.json"
    if detail_types and envelope["detail-type"] not in detail_types:
        name = next(
            path.name
            for path in sorted(EVENTS.glob("eventbridge_*.json"))
            if _sample(path.name).get("detail-type") == detail_types[0]
        )
        envelope = _sample(name)
    envelope["detail-type"] = NOT_HANDLED
    record["kinesis"]["data"] = base64.b64encode(json.dumps(envelope).encode()).decode()
    return {"Records": [record]}, f"one record ({name}, as {NOT_HANDLED}): skipped"


def stream_event() -> tuple[dict[str, Any], str]:
    """The MODIFY record of the DynamoDB stream sample: not a TTL removal."""
    records = _sample("dynamodb_stream_ttl_remove.json")["Records"]
    return {"Records": [r for r in records if r["eventName"] == "MODIFY"][:1]}, "one MODIFY record"


def first_event(fn: Function, kind: str) -> tuple[dict[str, Any] | None, str]:
    makers = {
        "REST": lambda: rest_event(fn),
        "authorizer": authorizer_event,
        "realtime": realtime_event,
        "fan-out": lambda: kinesis_event(fn),
        "Kinesis": lambda: kinesis_event(fn),
        "DynamoDB stream": stream_event,
        "EventBridge rule": lambda: rule_event(fn),
    }
    maker = makers.get(kind)
    return maker() if maker else (None, "import only: its first step reads DynamoDB")


# --- environments --------------------------------------------------------------------------------

# Lambda's own variables and the bench's: no host AWS configuration, every endpoint closed, one attempt.
BASE_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": CLOSED,
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
    "PYTHONDONTWRITEBYTECODE": "1",
}
HOST_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def _host() -> dict[str, str]:
    return {key: os.environ[key] for key in HOST_KEPT if key in os.environ}


def function_env(fn: Function, keys: DevKeys) -> dict[str, str]:
    names = {s.name: s.local_table_name() for s in MANIFEST.stores}
    extra = {
        **BASE_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "POWERTOOLS_TRACE_DISABLED": "true",
        **stream_environment(MANIFEST, fn, names),
    }
    if fn.name == MANIFEST.authorizer.function.name:
        extra.update(GUI_JWT_ISSUER=keys.issuer, GUI_JWT_AUDIENCE=keys.audience, GUI_JWKS=keys.jwks_json)
    env = MANIFEST.environment_for(
        fn,
        table_names=names,
        bucket_name=MANIFEST.bucket.local_bucket_name(REGION),
        bus_name=MANIFEST.bus.local_bus_name(),
        region=REGION,
        stage="bench",
        connections_url=f"{CLOSED}/live" if fn.manages_connections else None,
        quarantine_url=f"{CLOSED}/123456789012/quarantine" if fn.quarantines else None,
        queue_urls={name: f"{CLOSED}/123456789012/{name}" for name in fn.sends_to},
        secret_arns={
            name: f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{name}" for name in fn.secrets
        },
        extra=extra,
    )
    path = os.pathsep.join([str(CORE_LAYER), str(FUNCTIONS_DIR)])
    return {**_host(), **env, "PYTHONPATH": path}


# --- one sample -----------------------------------------------------------------------------------


def run_child(target: Target, *, importtime: bool = False) -> tuple[dict[str, Any], str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", target.code()]
    stdin = json.dumps(target.event).encode() if target.event is not None else b""
    done = subprocess.run(command, env=target.env, input=stdin, capture_output=True, timeout=120, check=False)
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{target.name}: the child failed (exit {done.returncode})\n{stderr[-3000:]}")
    sample: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    return sample, stderr


def _answer(result: Any, event: dict[str, Any]) -> str:
    if not isinstance(result, dict):
        return repr(result)[:60]
    if "statusCode" in result:
        try:
            body = json.loads(result.get("body") or "{}")
        except (TypeError, ValueError):
            body = {}
        code = body.get("code") if isinstance(body, dict) else None
        return f"{result['statusCode']} {code}" if code else str(result["statusCode"])
    if "batchItemFailures" in result:
        return f"{len(event['Records'])} record, {len(result['batchItemFailures'])} failed"
    if "outcome" in result:
        return f"outcome {result['outcome']!r}"
    return repr(result)[:60]


def outcome(target: Target, sample: dict[str, Any]) -> str:
    if target.event is None:
        return "import only"
    if target.kind == "authorizer" and sample["error"] == "Exception: Unauthorized":
        return "Deny (raises Unauthorized)"
    if sample["error"]:
        return f"raised {sample['error'][:60]}"
    return _answer(sample["result"], target.event)


def io_of(sample: dict[str, Any]) -> str:
    attempts = sample["io"]
    return "none" if not attempts else f"{len(attempts)} connect(s): {', '.join(sorted(set(attempts)))}"


# --- sizes -----------------------------------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    """Every file of an asset as deployed (its shipped bytecode included)."""
    return [path for path in sorted(folder.rglob("*")) if path.is_file()]


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in _files(folder))


def zipped_bytes(folders: list[Path], base: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            for path in _files(folder):
                archive.write(path, path.relative_to(base).as_posix())
    return len(buffer.getvalue())


def sizes(functions: list[Function]) -> list[dict[str, Any]]:
    """What is deployed: the assets as the stacks stage them, with the bytecode compiled for the
    runtime (`stacks/bytecode.py`; none when this machine has no python3.13)."""
    core, functions_dir = staged_core_layer() / "python", staged_functions()
    print(f"  bytecode for the runtime: {'python' + LAMBDA_PYTHON_VERSION if runtime_python() else 'none'}")
    layer_mb: dict[str, float] = {"core": folder_bytes(core) / MB}
    rows = []
    for fn in functions:
        for name in fn.layers:
            if name not in layer_mb:
                started = time.perf_counter()
                folder = build_layer(MANIFEST.layer(name)) / "python"
                layer_mb[name] = folder_bytes(folder) / MB
                print(f"  layer {name}: {layer_mb[name]:.1f} MB ({time.perf_counter() - started:.1f} s)")
        packages = [functions_dir / package for package in fn.packages]
        code = sum(folder_bytes(folder) for folder in packages) / MB
        layers = ("core", *fn.layers)
        in_layers = sum(layer_mb[name] for name in layers)
        rows.append(
            {
                "function": fn.name,
                "packages": list(fn.packages),
                "code_mb": round(code, 3),
                "code_zipped_mb": round(zipped_bytes(packages, functions_dir) / MB, 3),
                "layers": {name: round(layer_mb[name], 2) for name in layers},
                "layers_mb": round(in_layers, 2),
                "total_mb": round(code + in_layers, 2),
                "share_of_limit": round((code + in_layers) / LAMBDA_LIMIT_MB, 3),
            }
        )
    return rows


# --- -X importtime of one function ---------------------------------------------------------------


def import_profile(target: Target) -> dict[str, Any]:
    """Self time by top-level package during the import, the handler module's direct imports by
    cumulative time, the modules of most self time, and what the first call imported lazily. A
    garbage collection is counted in the self time of the module being imported when it runs."""
    _, stderr = run_child(target, importtime=True)
    module = target.handler.rpartition(".")[0]
    entries = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        level = (len(name) - len(name.lstrip())) // 2
        entries.append((int(self_us), int(cumulative_us), level, name.strip()))
    # The interpreter's start ends with `site`; the timed import ends with the handler module.
    start = max((i + 1 for i, e in enumerate(entries) if e[2] == 0 and e[3] == "site"), default=0)
    end = next(i for i, e in enumerate(entries) if e[2] == 0 and e[3] == module)
    during, after = entries[start : end + 1], entries[end + 1 :]
    by_root: dict[str, int] = defaultdict(int)
    for self_us, _, _, name in during:
        by_root[name.split(".")[0]] += self_us
    total = sum(self_us for self_us, *_ in during)
    direct = sorted((e for e in during if e[2] == 1), key=lambda e: -e[1])
    lazily = [e for e in after if e[3] not in {"json", "json.decoder", "json.scanner", "json.encoder"}]
    return {
        "function": target.name,
        "import_self_total_ms": round(total / 1000, 1),
        "self_ms_by_package": {
            root: round(us / 1000, 1) for root, us in sorted(by_root.items(), key=lambda kv: -kv[1])[:12]
        },
        "handler_imports_cumulative_ms": {name: round(cum / 1000, 1) for _, cum, _, name in direct[:10]},
        "top_modules_self_ms": {
            name: round(us / 1000, 1) for us, _, _, name in sorted(during, key=lambda e: -e[0])[:10]
        },
        "imported_by_first_call": len(lazily),
        "first_call_import_self_ms": round(sum(e[0] for e in lazily) / 1000, 1),
    }


# --- the run ---------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], *, left: set[int]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def targets_of(
    functions: list[Function], keys: DevKeys, *, restored: bool = False, warm_up: bool = True
) -> list[Target]:
    """A target per function; with `restored`, also one per SnapStart function with an event, after
    all the others (`CHILD_RESTORED`: what a restored copy pays for its first call); without
    `warm_up`, its before-snapshot hook sends no request (what the warm-up request buys)."""
    targets, restored_targets = [], []
    for fn in functions:
        kind = kind_of(fn)
        event, note = first_event(fn, kind)
        env = function_env(fn, keys)
        targets.append(Target(fn.name, kind, fn.handler, env, event, note, fn.memory_mb, fn.timeout_s))
        if restored and fn.snap_start and event is not None:
            snapstart_env = {
                **env,
                INIT_TYPE_ENV: SNAP_START,
                WARMUP_ENV: warmup_request(MANIFEST, fn) if warm_up else "none",
                "_HANDLER": fn.handler,
            }
            restored_targets.append(
                Target(
                    fn.name + RESTORED,
                    kind,
                    fn.handler,
                    snapstart_env,
                    event,
                    note,
                    fn.memory_mb,
                    fn.timeout_s,
                    restored=True,
                )
            )
    return targets + restored_targets


def measure(
    baseline: Target, targets: list[Target], runs: int, started: float
) -> dict[str, list[dict[str, Any]]]:
    """One throwaway sample of each (the file cache; a child that fails stops the bench here), then
    `runs` rounds: the functions in an order rotated by one each round, the baseline before every
    BASELINE_EVERY-th. The throwaway samples come first in each list, marked `warm_up`."""
    samples: dict[str, list[dict[str, Any]]] = {}
    for target in [baseline, *targets]:
        samples[target.name] = [{**run_child(target)[0], "warm_up": True}]
    for run in range(runs):
        shift = run % len(targets) if targets else 0
        for position, target in enumerate(targets[shift:] + targets[:shift]):
            if position % BASELINE_EVERY == 0:
                samples[baseline.name].append(run_child(baseline)[0])
            samples[target.name].append(run_child(target)[0])
        print(f"  run {run + 1}/{runs} done, {time.perf_counter() - started:.0f} s")
    return samples


def summarize(targets: list[Target], samples: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    def total(sample: dict[str, Any], clock: str = "") -> float:
        return float(sample[f"import{clock}_s"] + (sample[f"call{clock}_s"] or 0))

    measured = {name: [s for s in values if not s.get("warm_up")] for name, values in samples.items()}
    base_total = statistics.median(total(s) for s in measured[targets[0].name])
    base_cpu = statistics.median(total(s, "_cpu") for s in measured[targets[0].name])
    rows = []
    for target in targets:
        values = measured[target.name]
        calls = [s["call_s"] for s in values if s["call_s"] is not None]
        totals = [total(s) for s in values]
        ratio = statistics.median(totals) / base_total
        cpu = statistics.median(total(s, "_cpu") for s in values)
        goal = target.goal
        rows.append(
            {
                "function": target.name,
                "kind": target.kind,
                "handler": target.handler,
                "event": target.event_note,
                "samples": len(values),
                "import_ms": _ms(statistics.median(s["import_s"] for s in values)),
                "first_call_ms": _ms(statistics.median(calls)) if calls else None,
                "total_ms": _ms(statistics.median(totals)),
                "total_ms_min_max": [_ms(min(totals)), _ms(max(totals))],
                "ratio": round(ratio, 2),
                "cpu_total_ms": _ms(cpu),
                "cpu_ratio": round(cpu / base_cpu, 2),
                "goal": goal,
                "met": None if goal is None else ratio <= goal,
                "met_cpu": None if goal is None else cpu / base_cpu <= goal,
                # Every sample's, the warm-up's included: one line when all agree.
                "outcome": " / ".join(sorted({outcome(target, s) for s in samples[target.name]})),
                "io": " / ".join(sorted({io_of(s) for s in samples[target.name]})),
                **(restored_fields(values, samples[target.name]) if target.restored else {}),
            }
        )
    return rows


def restored_fields(values: list[dict[str, Any]], every: list[dict[str, Any]]) -> dict[str, Any]:
    """A restored row's: its `import_ms` is the after-restore hooks' time; the snapshot's init and
    before-snapshot hooks (untimed in its ratio) and the sockets they connected."""
    return {
        "restored": True,
        "warm_up": all(s.get("warmup", "none") != "none" for s in every),
        "after_restore_ms": _ms(statistics.median(s["import_s"] for s in values)),
        "init_ms": _ms(statistics.median(s["init_s"] for s in values)),
        "before_snapshot_ms": _ms(statistics.median(s["snapshot_s"] for s in values)),
        "hooks_registered": sorted({s["hooks"] for s in every}),
        "snapshot_io": " / ".join(sorted({io_of({"io": s["snapshot_io"]}) for s in every})),
    }


def print_restored(rows: list[dict[str, Any]], baseline: dict[str, Any]) -> None:
    header = (
        "function", "kind", "after-restore ms", "first call ms", "total ms", "ratio", "CPU ratio", "goal",
        "met? wall/CPU", "first call", "I/O", "init ms", "before-snapshot ms", "its I/O",
    )  # fmt: skip
    table = [
        (
            r["function"],
            r["kind"],
            f"{r['after_restore_ms']:.2f}",
            f"{r['first_call_ms']:.1f}",
            f"{r['total_ms']:.1f}",
            f"{r['ratio']:.2f}x",
            f"{r['cpu_ratio']:.2f}x",
            f"<= {r['goal']}x",
            "/".join("yes" if m else "NO" for m in (r["met"], r["met_cpu"])),
            r["outcome"],
            r["io"],
            f"{r['init_ms']:.0f}",
            f"{r['before_snapshot_ms']:.0f}",
            r["snapshot_io"],
        )
        for r in rows
    ]
    print("\nrestored from a SnapStart snapshot (--restored): the after-restore hooks + the first call")
    if rows and rows[0].get("warm_up") is False:
        print("(--no-warmup: the before-snapshot hook sent no request)")
    _print_table(header, table, left={0, 1, 7, 8, 9, 10, 13})
    print(
        f"(ratio: against the same baseline's cold start, {baseline['total_ms']:.1f} ms, CPU "
        f"{baseline['cpu_total_ms']:.1f} ms; init and before-snapshot: the snapshot's, paid once per "
        "published version, not in the ratio)"
    )


def print_results(rows: list[dict[str, Any]], runs: int, baseline_samples: int) -> None:
    header = ("function", "kind", "import ms", "first call ms", "total ms", "ratio", "CPU ms", "CPU ratio",
              "goal", "met? wall/CPU", "first call", "I/O")  # fmt: skip
    table = [
        (
            r["function"],
            r["kind"],
            f"{r['import_ms']:.1f}",
            "-" if r["first_call_ms"] is None else f"{r['first_call_ms']:.1f}",
            f"{r['total_ms']:.1f}",
            f"{r['ratio']:.2f}x",
            f"{r['cpu_total_ms']:.1f}",
            f"{r['cpu_ratio']:.2f}x",
            "-" if r["goal"] is None else f"<= {r['goal']}x",
            "-" if r["met"] is None else "/".join("yes" if m else "NO" for m in (r["met"], r["met_cpu"])),
            r["outcome"],
            r["io"],
        )
        for r in rows
    ]
    _print_table(header, table, left={0, 1, 8, 9, 10, 11})
    print(
        f"(medians of {runs} runs, the baseline's of {baseline_samples}; ratio: total against the baseline's "
        f"{rows[0]['total_ms']:.1f} ms; CPU: the child's process time, import + first call, against the "
        f"baseline's {rows[0]['cpu_total_ms']:.1f} ms; an import-only row's total is its import)"
    )


def print_profile(profile: dict[str, Any]) -> None:
    by_package = ", ".join(f"{k} {v}" for k, v in profile["self_ms_by_package"].items())
    direct = ", ".join(f"{k} {v}" for k, v in profile["handler_imports_cumulative_ms"].items())
    print(
        f"\n-X importtime of {profile['function']} (one more run; {profile['import_self_total_ms']} ms "
        "of self time in all, inflated by the tracing):"
    )
    print(f"  self ms by top-level package: {by_package}")
    print(f"  cumulative ms of the handler's direct imports: {direct}")
    top = ", ".join(f"{k} {v}" for k, v in profile["top_modules_self_ms"].items())
    print(f"  modules by self ms (a module's body: its classes, models, app...): {top}")
    print(
        f"  imported by the first call: {profile['imported_by_first_call']} modules, "
        f"{profile['first_call_import_self_ms']} ms"
    )


def print_sizes(size_rows: list[dict[str, Any]]) -> None:
    header = ("function", "code", "code zipped", "layers", "layers MB", "total MB", "of 250 MB")
    table = [
        (
            s["function"],
            f"{s['code_mb']:.3f}",
            f"{s['code_zipped_mb']:.3f}",
            " + ".join(s["layers"]),
            f"{s['layers_mb']:.1f}",
            f"{s['total_mb']:.1f}",
            f"{s['share_of_limit'] * 100:.0f} %",
        )
        for s in size_rows
    ]
    _print_table(header, table, left={0, 3})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", help="comma-separated function names")
    parser.add_argument(
        "--restored",
        action="store_true",
        help="also what a SnapStart function's restored environment pays for its first call",
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="with --restored: the before-snapshot hook sends no request (what the warm-up buys)",
    )
    parser.add_argument("--no-sizes", action="store_true", help="no deployment sizes (no layer build)")
    parser.add_argument(
        "--no-importtime", action="store_true", help="no -X importtime of the worst REST function"
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "cold_start.json")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = load()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {args.runs} runs, "
        f"load before {load_before}"
    )
    functions = list(MANIFEST.all_functions())
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        functions = [fn for fn in functions if fn.name in wanted]
    keys = DevKeys.load_or_create(ROOT / ".local" / "keys")
    targets = targets_of(functions, keys, restored=args.restored, warm_up=not args.no_warmup)

    with tempfile.TemporaryDirectory(prefix="cold_start_") as folder:
        (Path(folder) / "bare_handler.py").write_text(BARE_HANDLER)
        env = {**_host(), **BASE_ENV, "PYTHONPATH": folder}
        baseline = Target(BASELINE, "baseline", "bare_handler.handler", env, {"version": "0"}, "any event")
        samples = measure(baseline, targets, args.runs, started)
    rows = summarize([baseline, *targets], samples)
    print()
    print_results([r for r in rows if not r.get("restored")], args.runs, len(samples[BASELINE]) - 1)
    if args.restored:
        print_restored([r for r in rows if r.get("restored")], rows[0])

    profile = None
    rest = [r for r in rows if r["kind"] == "REST" and not r.get("restored")]
    if rest and not args.no_importtime:
        worst = max(rest, key=lambda r: r["total_ms"])
        profile = import_profile(next(t for t in targets if t.name == worst["function"]))
        print_profile(profile)

    size_rows = None
    if not args.no_sizes:
        print("\ndeployment sizes (MB unzipped but `code zipped`; Lambda's limit: code + layers <= 250 MB):")
        size_rows = sizes(functions)
        print_sizes(size_rows)

    elapsed = time.perf_counter() - started
    load_after = load()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = children.ru_utime + children.ru_stime
    print(
        f"\nload before {load_before}, after {load_after}; {elapsed:.0f} s "
        f"({cpu_s:.0f} s of CPU in the children)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "date": date.today().isoformat(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "runs": args.runs,
            "baseline_every": BASELINE_EVERY,
            "load_before": load_before,
            "load_after": load_after,
            "elapsed_s": round(elapsed, 1),
            "children_cpu_s": round(cpu_s, 1),
            "results": rows,
            "importtime": profile,
            "sizes": size_rows,
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
