"""Live channels: what each part of the path from the bus to a WebSocket client costs. Not a CI gate.

Rows, all measured in one run (the machine is noisy: compare a row with its baseline, not across runs):

1. fan-out code: the real `gui_fanout.handler` (imported as tests/unit/fanout_support.py does, its
   module globals built from the environment, then its `fanout` swapped) on in-memory stores
   (`MemoryTable` of local/memory_table.py) and a management client that only counts; batches
   of 100 GovernanceAlert records of one tenant, 100 connections subscribed to `notifications`.
   The consumer's own ceiling: the goal ">= 1,000 events/s per consumer" applies here. Its
   baseline: base64-decoding and JSON-parsing the same records, nothing else.
2. fan-out on moto, fake pushes: the same handler, its stores on moto's server (`MotoServer` of
   local/aws.py, `create_resources`), the counting management client.
3. fan-out on moto, 100 real WebSockets: the same on a `LocalBackend` (no relay, no pollers), posting
   through the local `@connections` API to 100 WebSocket clients of this process.
4. end-to-end: PutEvents -> bus relay -> Kinesis -> mapping -> fan-out -> `@connections` -> one
   WebSocket client, on a `LocalBackend` with the local runtime's defaults, at a light rate (5
   events/s) then at the asked 100 events/s for a bounded time. One PutEvents per event, from
   several producer threads; the send time is taken when PutEvents returns, the receive time when
   the frame arrives. Goal (issue 17): p95 <= 250 ms at 5 events/s. An event still not in 20 s after
   the producers stop counts as infinitely late (the p95 of those that did arrive is shown too).
   `--live-path` picks the path: `after` is today's (the fan-out's mapping reads through an enhanced
   fan-out consumer with no batching window, played locally as a push 70 ms after the put, and the
   relay long-polls the stream rule's mirror); `before` is the path before issue 17 (a shared
   mapping with a 1 s window, which the local poller reads every 100 ms without waiting out the
   window, and the relay polling the mirror every 200 ms); `both` (the default) runs the two on two
   backends started side by side, their light-rate windows alternating (`--rounds` times), so the
   ratio after/before is of the same minutes; the 100 events/s row runs on `after` only.

Usage: `python bench/live_fanout.py [--quick] [--skip memory|moto|websockets|latency]`; see
`--help` for the sizes (about 3 minutes by default, about 2 with `--quick`). The result goes to
bench/results/live_fanout.json unless `--json` says otherwise; the functions' own stdout (Powertools
logs and EMF, the LocalBackend's too) to live_fanout.log beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib
import io
import json
import logging
import math
import os
import statistics
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

import httpx  # noqa: E402
from _common import load, percentile, stdout_to  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from gui_core.connections import ConnectionRegistry  # noqa: E402
from gui_core.domain_events import kinesis_envelope as decode  # noqa: E402
from gui_core.dynamo import Table  # noqa: E402
from gui_core.metric_names import FanoutMetric  # noqa: E402
from gui_core.pusher import Pusher, connections_client  # noqa: E402
from gui_core.replay_log import ReplayLog  # noqa: E402
from gui_core.tenancy import TenantDirectory  # noqa: E402
from gui_fanout.fanout import Fanout, FanoutBatch  # noqa: E402
from gui_notifications.repository import InboxRepository  # noqa: E402
from local.aws import DUMMY_CREDENTIALS, MotoServer, aws_client, create_resources  # noqa: E402
from local.demo import provision_tenant  # noqa: E402
from local.runtime import LocalBackend  # noqa: E402
from stacks.manifest import MANIFEST, Manifest  # noqa: E402

# The unit tests' fakes, imported at run time (the tests are not type-checked: mypy stays out of them).
_fanout_support = importlib.import_module("tests.unit.fanout_support")
_realtime_support = importlib.import_module("tests.unit.realtime_support")
_fakes = importlib.import_module("tests.fakes")
ENV: dict[str, str] = _fanout_support.ENV
FAN_OUT_CONTEXT: Any = _fanout_support.FAN_OUT_CONTEXT
MemoryTable: Any = _realtime_support.MemoryTable  # gui_core.dynamo.Table's contract in memory
TENANTS: list[dict[str, Any]] = _realtime_support.TENANTS

RESULTS = ROOT / "bench" / "results" / "live_fanout.json"
CHANNEL = "notifications"
CONNECTIONS = 100
BATCH = 100
GOAL_EVENTS_PER_S = 1000.0
GOAL_P95_MS = 250.0  # issue 17: PutEvents to a WebSocket client at 5 events/s
WARM_UP = 5  # records of the warm-up batch on moto (a batch of 100 takes seconds there)
DRAIN_S = 20.0  # how long row 4 waits for the last events once the producers stop
MAX_SECONDS = 30.0  # the 100/s run never publishes longer
REGION = ENV["GUI_REGION"]
MEMORY_TENANT = str(TENANTS[0]["pk"])  # homed in REGION

# --- records ------------------------------------------------------------------------------------


def _alert(tenant: str, region: str, marker: str, sent: float) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "event_id": str(uuid.uuid4()),
        "schema_version": "1",
        "region": region,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "alert_id": marker,
        "severity": "info",
        "title": f"bench {marker}",
        "body": f"sent={sent:.6f}",
    }


def _records(tenant: str, region: str, first_sequence: int, count: int) -> dict[str, Any]:
    """A Kinesis event of `count` records, in the shape of events/aws/kinesis_stream_batch.json."""
    records = []
    for i in range(count):
        sequence = str(first_sequence + i)
        envelope = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "GovernanceAlert",
            "source": "domaindetermine.governance",
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [],
            "detail": _alert(tenant, region, f"t{sequence}", time.time()),
        }
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": tenant,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "awsRegion": region,
                "eventSourceARN": f"arn:aws:kinesis:{region}:123456789012:stream/bench",
            }
        )
    return {"Records": records}


class _Sequences:
    def __init__(self) -> None:
        self.next = 10**20

    def take(self, count: int) -> int:
        first, self.next = self.next, self.next + count
        return first


# --- the handler ----------------------------------------------------------------------------------


class CountingManagement:
    """A management client that counts its posts (FakeManagement of tests/fakes.py keeps and parses
    every message: its own cost would dominate 100 pushes per event)."""

    def __init__(self) -> None:
        self.posts = 0
        self._lock = threading.Lock()

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:  # noqa: N803
        with self._lock:
            self.posts += 1

    def delete_connection(self, *, ConnectionId: str) -> None:  # noqa: N803
        return None


class CountedFanout(Fanout):
    """The handler's Fanout, keeping the batches it hands out (their counts: pushes, failures)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[FanoutBatch] = []

    def batch(self) -> FanoutBatch:
        run = super().batch()
        self.batches.append(run)
        return run


def import_handler() -> ModuleType:
    """gui_fanout.handler imported under the test environment (as tests/unit/fanout_support.py does);
    its own `fanout` is replaced per row. Its EMF documents are printed to stdout: see `_quiet`."""
    os.environ.update({**ENV, **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": REGION})
    os.environ.pop("PUSH_CONCURRENCY", None)  # the manifest's 16 (the test's 4 is for its fakes)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return importlib.import_module("gui_fanout.handler")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The handler's EMF output goes to a buffer (printed, not parsed: its cost is part of the row)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _fanout(
    handler: ModuleType,
    *,
    tenants: Any,
    events: Any,
    connections: Any,
    inbox: Any,
    client: Any,
) -> CountedFanout:
    settings = handler.settings
    return CountedFanout(
        region=settings.region,
        tenants=TenantDirectory(tenants, ttl_s=settings.tenant_cache_s),
        replay_log=ReplayLog(events, window_s=settings.replay_window_s),
        registry=ConnectionRegistry(connections, ttl_s=settings.connection_ttl_s),
        pusher=Pusher(client, concurrency=settings.push_concurrency),
        inbox=InboxRepository(inbox, retention_days=settings.retention_days),
        quarantine=_fakes.MemoryQuarantine(),  # the bench's records are all good ones
    )


def _run_batches(
    handler: ModuleType,
    fanout: CountedFanout,
    tenant: str,
    region: str,
    sequences: _Sequences,
    batches: int,
    warm_up: int = BATCH,
) -> dict[str, Any]:
    """Warm up with a batch of `warm_up` records, then time `batches` invocations of the handler."""
    setattr(handler, "fanout", fanout)  # noqa: B010 - as the fan-out's tests monkeypatch it
    context = FAN_OUT_CONTEXT
    with _quiet():
        handler.handler(_records(tenant, region, sequences.take(warm_up), warm_up), context)
    fanout.batches.clear()
    timings: list[float] = []
    failures = 0
    events = [_records(tenant, region, sequences.take(BATCH), BATCH) for _ in range(batches)]
    for event in events:
        with _quiet():
            started = time.perf_counter()
            answer = handler.handler(event, context)
            timings.append(time.perf_counter() - started)
        failures += len(answer["batchItemFailures"])
    pushed = sum(run.counts[FanoutMetric.PUSHED] for run in fanout.batches)
    seconds = sum(timings)
    return {
        "events": batches * BATCH,
        "seconds": round(seconds, 3),
        "events_per_s": round(batches * BATCH / seconds, 1),
        "pushes_per_s": round(pushed / seconds, 1),
        "batch_p50_ms": round(statistics.median(timings) * 1000, 1),
        "pushed": pushed,
        "failed_records": failures,
    }


def decode_baseline(tenant: str, region: str, sequences: _Sequences, batches: int) -> dict[str, Any]:
    """Decoding + JSON parsing of the same kind of records, nothing else (repeated to be stable)."""
    events = [_records(tenant, region, sequences.take(BATCH), BATCH) for _ in range(batches)]
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for event in events:
            for record in event["Records"]:
                decode(record["kinesis"])
    seconds = time.perf_counter() - started
    count = rounds * batches * BATCH
    return {"events": count, "seconds": round(seconds, 3), "events_per_s": round(count / seconds, 1)}


def _subscribed(connections: Table, tenant: str) -> None:
    """`CONNECTIONS` connections of `tenant` registered in `connections`, each subscribed to `CHANNEL`."""
    registry = ConnectionRegistry(connections, ttl_s=7200)
    for i in range(CONNECTIONS):
        connection = registry.register(tenant, f"c{i:03d}", subject="bench", scopes=["gui:jobs"])
        registry.subscribe(connection, [CHANNEL])


def in_memory(handler: ModuleType, batches: int) -> dict[str, Any]:
    """Row 1: the handler on in-memory stores, the counting management client."""
    connections = MemoryTable()
    _subscribed(connections, MEMORY_TENANT)
    client = CountingManagement()
    fanout = _fanout(
        handler,
        tenants=MemoryTable(TENANTS),
        events=MemoryTable(),
        connections=connections,
        inbox=MemoryTable(),
        client=client,
    )
    row = _run_batches(handler, fanout, MEMORY_TENANT, REGION, _Sequences(), batches)
    row["posts"] = client.posts
    return row


def _provision(endpoint_url: str, regions: str | tuple[str, ...], tenant: str, region: str) -> None:
    provision_tenant(
        MANIFEST,
        endpoint_url=endpoint_url,
        region=regions,
        tenant=tenant,
        home_region=region,
        plan="enterprise",
        flags={"realtime": True},
        rate_limits={"live": 100_000, "notifications": 100_000, "ack": 100_000},
    )


def _moto_tables(endpoint_url: str, region: str) -> dict[str, Table]:
    dynamodb = aws_client("dynamodb", endpoint_url=endpoint_url, region=region)
    return {
        store: Table(MANIFEST.store(store).local_table_name(), dynamodb)
        for store in ("tenants", "events", "connections", "inbox")
    }


def on_moto(handler: ModuleType, batches: int, profile: Path | None) -> dict[str, Any]:
    """Row 2: the handler on moto's stores, the counting management client."""
    with MotoServer() as moto:
        create_resources(MANIFEST, endpoint_url=moto.endpoint_url, region=REGION)
        tenant = f"bench{uuid.uuid4().hex[:6]}"
        _provision(moto.endpoint_url, REGION, tenant, REGION)
        tables = _moto_tables(moto.endpoint_url, REGION)
        _subscribed(tables["connections"], tenant)
        client = CountingManagement()
        fanout = _fanout(
            handler,
            tenants=tables["tenants"],
            events=tables["events"],
            connections=tables["connections"],
            inbox=tables["inbox"],
            client=client,
        )
        if profile is None:
            row = _run_batches(handler, fanout, tenant, REGION, _Sequences(), batches, WARM_UP)
        else:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            row = _run_batches(handler, fanout, tenant, REGION, _Sequences(), batches, WARM_UP)
            profiler.disable()
            profiler.dump_stats(profile)
        row["posts"] = client.posts
        return row


# --- WebSocket clients ----------------------------------------------------------------------------


class Clients:
    """WebSocket clients on their own event loop (a thread), counting the frames of `CHANNEL`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-clients", daemon=True)
        self.thread.start()
        self.sockets: list[ClientConnection] = []
        self.received = 0
        self.on_event: Callable[[dict[str, Any], float], None] | None = None
        self._readers: list[asyncio.Task[None]] = []

    def run(self, coroutine: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _open_one(self, url: str, token: str) -> None:
        socket = await connect(url, subprotocols=["ddgui.v1", token], max_size=None)  # type: ignore[list-item]
        await socket.send(json.dumps({"action": "subscribe", "channels": [CHANNEL]}))
        while True:  # until the subscription is confirmed
            message = json.loads(await socket.recv())
            if message.get("type") == "subscribed":
                break
        self.sockets.append(socket)
        self._readers.append(asyncio.create_task(self._read(socket)))

    async def open(self, url: str, token: str, count: int) -> None:
        for start in range(0, count, 10):  # ten handshakes at a time
            await asyncio.gather(*(self._open_one(url, token) for _ in range(min(10, count - start))))

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for frame in socket:
                now = time.time()
                message = json.loads(frame)
                if message.get("type") == "event" and message.get("channel") == CHANNEL:
                    self.received += 1
                    if self.on_event is not None:
                        self.on_event(message, now)
        except Exception:  # noqa: S110 - closed at the end of the run
            pass

    async def _close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    def close(self) -> None:
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _wait(done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)


def _token(base: str, tenant: str) -> str:
    answer = httpx.get(
        f"{base}/dev/token", params={"tenant": tenant, "subject": f"bench@{tenant}", "roles": "operator"}
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def _socket_url(backend: LocalBackend, region: str, tenant: str) -> tuple[str, str, str]:
    base = backend.base_urls[region]
    stage = MANIFEST.websocket.stage if MANIFEST.websocket else "live"
    return base, stage, f"{base.replace('http', 'ws', 1)}/{stage}?tenant={tenant}"


def with_websockets(handler: ModuleType, batches: int) -> dict[str, Any]:
    """Row 3: the handler on a LocalBackend's moto, posting to 100 real WebSocket clients."""
    # No relay and no pollers: the bench alone hands records to the fan-out.
    with LocalBackend(port=0, ttl_sweep_s=None, bus_poll_s=None, seed=False) as backend:
        region = backend.regions[0]
        tenant = f"bench{uuid.uuid4().hex[:6]}"
        _provision(backend.aws_endpoint_url, backend.regions, tenant, region)
        base, stage, url = _socket_url(backend, region, tenant)
        clients = Clients()
        try:
            clients.run(clients.open(url, _token(base, tenant), CONNECTIONS))
            tables = _moto_tables(backend.aws_endpoint_url, region)
            fanout = _fanout(
                handler,
                tenants=tables["tenants"],
                events=tables["events"],
                connections=tables["connections"],
                inbox=tables["inbox"],
                client=connections_client(f"{base}/{stage}", region),
            )
            sequences = _Sequences()
            row = _run_batches(handler, fanout, tenant, region, sequences, batches, WARM_UP)
            want = (batches * BATCH + WARM_UP) * CONNECTIONS  # the warm-up's frames too
            _wait(lambda: clients.received >= want, 30)
            row["delivered"] = clients.received - WARM_UP * CONNECTIONS
        finally:
            clients.close()
    return row


# --- end to end -----------------------------------------------------------------------------------


class Producers:
    """`count` threads putting one GovernanceAlert per PutEvents, event i due at `i / rate` seconds,
    until `seconds` are up; `sent` holds each marker's time when its PutEvents returned."""

    def __init__(self, backend: LocalBackend, tenant: str, rate: float, seconds: float, count: int) -> None:
        self.backend, self.tenant, self.rate = backend, tenant, rate
        self.region = backend.regions[0]
        self.sent: dict[str, float] = {}
        self.failures = 0
        self._tickets = iter(range(10**9))
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._produce, name=f"producer-{n}") for n in range(count)]
        self.seconds = seconds
        self.started = self._deadline = 0.0

    def run(self) -> float:
        """Publish; the seconds it took."""
        self.started = time.perf_counter()
        self._deadline = self.started + self.seconds
        for thread in self._threads:
            thread.start()
        for thread in self._threads:
            thread.join()
        return time.perf_counter() - self.started

    def _produce(self) -> None:
        events = aws_client("events", endpoint_url=self.backend.aws_endpoint_url, region=self.region)
        while True:
            with self._lock:
                i = next(self._tickets)
            due = self.started + i / self.rate
            if due >= self._deadline or time.perf_counter() >= self._deadline:
                return  # the time is up, even when behind the schedule
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            marker = f"l{i}-{uuid.uuid4().hex[:6]}"
            entry = {
                "Source": "domaindetermine.governance",
                "DetailType": "GovernanceAlert",
                "Detail": json.dumps(_alert(self.tenant, self.region, marker, time.time())),
                "EventBusName": MANIFEST.bus.local_bus_name(),
            }
            answer = events.put_events(Entries=[entry])
            returned = time.time()
            with self._lock:
                if answer.get("FailedEntryCount"):
                    self.failures += 1
                else:
                    self.sent[marker] = returned


def latency(
    backend: LocalBackend, tenant: str, rate: float, seconds: float, producers: int
) -> dict[str, Any]:
    """PutEvents -> WebSocket client at `rate` events per second for `seconds` (capped), one event
    per PutEvents, from `producers` threads; stops by itself, then waits for the stragglers."""
    region = backend.regions[0]
    base, _, url = _socket_url(backend, region, tenant)
    received: dict[str, float] = {}

    def on_event(message: dict[str, Any], now: float) -> None:
        received.setdefault(str((message.get("payload") or {}).get("alert_id") or ""), now)

    clients = Clients()
    clients.on_event = on_event
    try:
        clients.run(clients.open(url, _token(base, tenant), 1))
        run = Producers(backend, tenant, rate, min(seconds, MAX_SECONDS), producers)
        elapsed = run.run()
        sent = run.sent
        _wait(lambda: all(m in received for m in list(sent)), DRAIN_S)
    finally:
        clients.close()
    arrived = sorted((received[m] - sent[m]) * 1000 for m in sent if m in received)
    # An event that never arrived counts as infinitely late: percentiles over every event sent.
    latencies = arrived + [math.inf] * (len(sent) - len(arrived))
    goal = GOAL_P95_MS
    p95 = percentile(latencies, 0.95) if latencies else math.inf

    def ms(value: float) -> float | None:
        return round(value, 1) if math.isfinite(value) else None  # None: not delivered in time

    return {
        "rate": rate,
        "seconds": round(elapsed, 1),
        "producers": producers,
        "achieved_rate": round(len(sent) / elapsed, 1),
        "sent": len(sent),
        "put_failures": run.failures,
        "received": len(arrived),
        "drain_s": DRAIN_S,
        "p50_ms": ms(percentile(latencies, 0.5)) if latencies else None,
        "p95_ms": ms(p95),
        "max_ms": ms(max(latencies, default=math.inf)),
        "received_only_p50_ms": ms(percentile(arrived, 0.5)) if arrived else None,
        "received_only_p95_ms": ms(percentile(arrived, 0.95)) if arrived else None,
        "goal_p95_ms": goal,
        "goal_met": p95 <= goal,
    }


def before_issue_17(manifest: Manifest = MANIFEST) -> Manifest:
    """The manifest with the fan-out's mapping as it was before issue 17: shared throughput (no
    enhanced fan-out consumer) and a batching window of 1 s."""

    def old(fn: Any) -> Any:
        if fn.name != "gui_fanout":
            return fn
        sources = tuple(replace(s, enhanced_fan_out=False, batching_window_s=1) for s in fn.kinesis_sources)
        return replace(fn, kinesis_sources=sources)

    return replace(manifest, functions=tuple(old(fn) for fn in manifest.functions))


PATHS: dict[str, dict[str, Any]] = {
    # The local runtime's defaults with today's manifest.
    "after": {},
    # The mapping as it was, and the relay polling the stream rule's mirror with the others.
    "before": {"manifest": before_issue_17(), "stream_wait_s": 0},
}


def end_to_end(
    paths: list[str], light: tuple[float, float], heavy: tuple[float, float], producers: int, rounds: int
) -> list[dict[str, Any]]:
    """Row 4 on one LocalBackend per path, started side by side with the local runtime's defaults
    (in the tenant's home region only): the light rate on each path in turn (`rounds` times: the
    same minutes for every path), then the asked rate on the last path."""
    with contextlib.ExitStack() as stack:
        backends = {
            # The tenant's home region only: an idle region's polling would take CPU from the other.
            path: stack.enter_context(
                LocalBackend(regions=(REGION,), port=0, ttl_sweep_s=None, seed=False, **PATHS[path])
            )
            for path in paths
        }
        tenants = {}
        for path, backend in backends.items():
            tenant = f"bench{uuid.uuid4().hex[:6]}"
            _provision(backend.aws_endpoint_url, backend.regions, tenant, backend.regions[0])
            latency(backend, tenant, 2, 1.5, 1)  # warm-up: cold starts of the fan-out and the gateway
            tenants[path] = tenant
        rows = []
        for n in range(rounds):
            for path, backend in backends.items():
                row = {"path": path, "round": n + 1, **latency(backend, tenants[path], *light, producers)}
                rows.append(row)
                print(f"  4 {path} at {light[0]:g}/s (round {n + 1}): {row}", file=sys.stderr)
        last = paths[-1]
        row = {"path": last, "round": 1, **latency(backends[last], tenants[last], *heavy, producers)}
        rows.append(row)
        print(f"  4 {last} at {heavy[0]:g}/s: {row}", file=sys.stderr)
        return rows


# --- the table ----------------------------------------------------------------------------------


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes: about 2 minutes")
    parser.add_argument("--memory-batches", type=int, help="row 1 (default 30; quick 10)")
    parser.add_argument("--moto-batches", type=int, help="row 2 (default 3; quick 1)")
    parser.add_argument("--ws-batches", type=int, default=1, help="row 3 (default 1)")
    parser.add_argument("--light-rate", type=float, default=5.0, help="row 4's baseline, events/s")
    parser.add_argument("--light-seconds", type=float, help="default 10; quick 4")
    parser.add_argument("--rate", type=float, default=100.0, help="row 4, events/s")
    parser.add_argument(
        "--seconds", type=float, help=f"row 4 at --rate (default 20; quick 6; cap {MAX_SECONDS:.0f})"
    )
    parser.add_argument("--producers", type=int, default=6, help="PutEvents threads (default 6)")
    parser.add_argument(
        "--live-path",
        choices=("before", "after", "both"),
        default="both",
        help="row 4's path: before issue 17, after it, or both side by side (default)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="row 4's light-rate runs per path (default 1)")
    parser.add_argument("--profile", type=Path, help="cProfile row 2 into this file")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument(
        "--skip", choices=("memory", "moto", "websockets", "latency"), action="append", default=[]
    )
    args = parser.parse_args()
    args.memory_batches = args.memory_batches or (10 if args.quick else 30)
    args.moto_batches = args.moto_batches or (1 if args.quick else 3)
    args.light_seconds = args.light_seconds or (4.0 if args.quick else 10.0)
    args.seconds = args.seconds or (6.0 if args.quick else 20.0)
    return args


def _throughput_rows(args: argparse.Namespace, handler: ModuleType) -> list[dict[str, Any]]:
    """Rows 1-3 and the decoding baseline; ratios: cost per event as a multiple of decoding it,
    and how many times slower than the fan-out code alone (row 1)."""
    rows: list[dict[str, Any]] = []
    baseline = row1 = None
    if "memory" not in args.skip:
        baseline = decode_baseline(MEMORY_TENANT, REGION, _Sequences(), args.memory_batches)
        rows.append(
            {
                "row": "baseline: decode + JSON parse only",
                "figure": f"{baseline['events_per_s']:,.0f} events/s",
                "goal": "",
                "met": None,
                "ratio": "1x",
                **baseline,
            }
        )
    measured: tuple[tuple[str, str, Callable[[], dict[str, Any]]], ...] = (
        (
            "memory",
            "1 fan-out code (in memory, fake pushes)",
            lambda: in_memory(handler, args.memory_batches),
        ),
        ("moto", "2 fan-out on moto, fake pushes", lambda: on_moto(handler, args.moto_batches, args.profile)),
        (
            "websockets",
            "3 fan-out on moto, 100 real WebSockets",
            lambda: with_websockets(handler, args.ws_batches),
        ),
    )
    for key, name, measure in measured:
        if key in args.skip:
            continue
        figures = measure()
        eps = figures["events_per_s"]
        ratios = []
        if baseline:
            ratios.append(f"{baseline['events_per_s'] / eps:,.0f}x decode")
        if row1 and key != "memory":
            ratios.append(f"1/{row1 / eps:,.0f} of row 1")
        if key == "memory":
            row1 = eps
        rows.append(
            {
                "row": name,
                "figure": f"{eps:,.1f} events/s, {figures['pushes_per_s']:,.0f} pushes/s",
                "goal": f">= {GOAL_EVENTS_PER_S:,.0f} events/s" if key == "memory" else "",
                "met": (eps >= GOAL_EVENTS_PER_S) if key == "memory" else None,
                "ratio": ", ".join(ratios),
                **figures,
            }
        )
        print(f"  {name}: {rows[-1]['figure']}", file=sys.stderr)
    return rows


def _latency_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    paths = ["before", "after"] if args.live_path == "both" else [args.live_path]
    measured = end_to_end(
        paths, (args.light_rate, args.light_seconds), (args.rate, args.seconds), args.producers, args.rounds
    )
    light = measured[:-1]
    # Each path's light rate against the first path's in the same round (the same minutes); the
    # asked rate against its own path's light rate (the median p95 of its rounds).
    baselines = {m["round"]: m["p95_ms"] for m in light if m["path"] == paths[0]}
    own = [m["p95_ms"] for m in light if m["path"] == paths[-1] and m["p95_ms"]]
    own_p95 = statistics.median(own) if own else None
    rows = []
    for figures in measured:
        p95, baseline = figures["p95_ms"], baselines.get(figures["round"])
        if figures is measured[-1]:
            ratio = f"p95 {p95 / own_p95:.1f}x at {args.light_rate:g}/s" if p95 and own_p95 else "p95 inf"
        elif figures["path"] == paths[0]:
            ratio = f"baseline (round {figures['round']})"
        else:
            ratio = f"p95 {p95 / baseline:.2f}x round {figures['round']}'s" if p95 and baseline else "p95 inf"

        def shown(value: float | None) -> str:
            return f"{value:,.0f}" if value is not None else "inf"

        figure = (
            f"p50 {shown(figures['p50_ms'])} / p95 {shown(figures['p95_ms'])} ms, "
            f"{figures['achieved_rate']}/s reached, {figures['received']}/{figures['sent']} in"
        )
        if figures["received"] < figures["sent"]:
            figure += f"; p95 of arrived {shown(figures['received_only_p95_ms'])} ms"
        rows.append(
            {
                "row": f"4 {figures['path']}: PutEvents -> WebSocket at {figures['rate']:g}/s",
                "figure": figure,
                "goal": f"p95 <= {figures['goal_p95_ms']:.0f} ms" if figures["rate"] <= 5 else "",
                "met": figures["goal_met"] if figures["rate"] <= 5 else None,
                "ratio": ratio,
                **figures,
            }
        )
    return rows


def _print_table(result: dict[str, Any]) -> None:
    print()
    print(
        f"live fan-out: {CONNECTIONS} subscribed connections, batches of {BATCH}; row 4 on LocalBackends "
        f"with the local runtime's defaults, before and after issue 17's live path (goal p95 <= "
        f"{GOAL_P95_MS:.0f} ms at 5 events/s)"
    )
    print(
        f"load average (1/5/15 min): before {result['load_before']}, after {result['load_after']} "
        f"({os.cpu_count()} CPUs)"
    )
    widths = (40, 60, 20, 8)
    header = ("row", "figure", "goal", "met")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "ratio")
    for row in result["rows"]:
        met = "" if row["met"] is None else ("met" if row["met"] else "NOT met")
        cells = (row["row"], row["figure"], row["goal"], met)
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + row["ratio"])


def main() -> None:
    args = _arguments()
    logging.disable(logging.WARNING)  # the handlers' INFO/WARNING logs would bury the table
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    result: dict[str, Any] = {"connections": CONNECTIONS, "batch": BATCH, "load_before": load()}
    print(f"load average before: {result['load_before']} ({os.cpu_count()} CPUs)", file=sys.stderr)
    log = args.json.with_suffix(".log")
    with stdout_to(log):
        handler = import_handler()
        rows = _throughput_rows(args, handler)
        if "latency" not in args.skip:
            rows += _latency_rows(args)
    result["rows"] = rows
    result["load_after"] = load()
    result["functions_stdout"] = log.name  # beside the JSON: no path of this machine in the result
    _print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json} (the functions' stdout: {log})")


if __name__ == "__main__":
    main()
