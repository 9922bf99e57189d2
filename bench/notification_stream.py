"""Notification stream: the specification's 10,000 events per hour replayed at 100x speed to 100
connected WebSocket clients, then the maximum sustained rate. Not a CI gate.

The whole live path of docs/gui/live_channels.md on a `LocalBackend` of acme's home region only
(each region is a self-contained copy; a second one's idle polling would only take CPU from this
one), moto's server in its own process, the bus relay and the Kinesis pollers at the runtime's
polls (`--bus-poll` 0.2 s, `--stream-poll` 0.1 s, as `ddgui dev` runs them: live_fanout.py's row 4
uses 0.05 s for its latency goal, but idle polling then takes about a CPU on this machine):
PutEvents on the region's bus -> the bus relay -> Kinesis -> poller -> `gui_fanout` (inbox item,
replay log, `@connections`) -> 100 WebSocket clients. The events are GovernanceAlerts of the demo
tenant acme (eu-west-1), channel `notifications`; the clients are 100 sessions of acme (a token
each), connected to `websocket_url(..., channel="notifications")` with the token as the second
subprotocol (as a browser presents it; no token goes in a URL) and subscribed (the
`subscribed` answer awaited). Every other consumer of the stream runs too (the telemetry facts
take every event), as they would in a region.

Three processes besides moto's server, spawned (`multiprocessing`) before the backend starts: the
backend; the clients (one asyncio loop); the producers (threads, one boto3 client each, making the
PutEvents call `BusRelay.publish` makes: `backend.relays[region].publish` would run them in the
backend's process). In the backend's process, the clients' reading and parsing and the producers'
requests would share the GIL with the fan-out they measure. The CPU seconds of each process per
phase are in the JSON and the table (Linux: read from /proc).

Each event's `alert_id` (which the live frame's payload carries) is `<phase>.<n>.<µs>`: its phase,
its number and the wall-clock time just before its PutEvents call. A client keeps, per event, how
many times it received it and when it first did (wall clock; one machine, one clock), so:
- lost: published (PutEvents succeeded) but not received by a client once the phase's grace is over:
  every client has every event, or nothing new arrived for `--quiet` seconds, or `--step-grace` /
  `--goal-grace` seconds passed (then the pipeline was still delivering: a backlog, said so in the
  table);
- duplicated: received more than once by one client; out of order: a cursor not above the previous;
- end-to-end latency: receive time - the time before PutEvents, over every (client, event) pair.

Phases, in this order (the goal's burst last: it leaves a backlog behind it):
1. warm-up (not counted): a few events, until every client has them (cold paths of the fan-out);
2. baseline: 1 event/s (the ratio's denominator, as in live_fanout.py);
3. steps: the rate doubles (2, 4, 8... events/s, `--step-seconds` each) until a step's p95 exceeds
   `--bound` (2 s) or it loses or repeats an event (when the first step already does, it halves,
   twice at most); then one step between the last sustained rate and the first one that was not
   (their geometric mean). The maximum sustained rate is the highest step within the bound with
   nothing lost or repeated (and at least 90% of its events published);
4. the goal: 10,000/h x 100 = 277.8 events/s. The local fan-out on moto delivers to 100 clients far
   fewer events a second than that (bench/live_fanout.py), so the burst lasts `--goal-seconds`
   (1 s: 278 events due, 100 s of the specification's hour), not the 36 s of the whole hour
   replayed; its figures say how many events the local bus took in that second, whether the rate
   was sustained (it is not, locally) and what the path delivered.

Usage: `python bench/notification_stream.py [--quick]`; about 2-2.5 minutes by default (the steps
and the drains depend on what the machine delivers), about 1.5 with `--quick`. The result goes to
bench/results/notification_stream.json unless `--json` says otherwise; the functions' stdout
(Powertools logs, EMF) to notification_stream.log beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import os
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import children_cpu, load, percentile, stdout_to  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

if TYPE_CHECKING:
    from local.runtime import LocalBackend

RESULTS = ROOT / "bench" / "results" / "notification_stream.json"
CHANNEL = "notifications"
TENANT = "acme"  # a demo tenant (local/demo.py), realtime on, homed in eu-west-1
SPEC_EVENTS_PER_HOUR = 10_000
SPEED = 100
GOAL_RATE = SPEC_EVENTS_PER_HOUR * SPEED / 3600  # 277.8 events/s
REGION = "eu-west-1"  # acme's home: the one region started (each region is a copy of its own)
SOURCE = "domaindetermine.governance"
KIND = "GovernanceAlert"


# --- the clients' process -------------------------------------------------------------------------


class _Client:
    """One WebSocket session: per event of the bench (by alert id) how often and when it came."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.counts: dict[str, int] = {}
        self.first: dict[str, float] = {}
        self.last_cursor = ""
        self.out_of_order = 0
        self.other_frames: dict[str, int] = {}
        self.closed: str | None = None


class _Clients:
    """Every client of the run, on this process's event loop; counts per phase as frames arrive."""

    def __init__(self) -> None:
        self.clients: list[_Client] = []
        self.pairs: dict[str, int] = {}  # phase -> (client, event) pairs received at least once
        self.last_arrival: dict[str, float] = {}  # phase -> monotonic time of its last new pair
        self.frames = 0
        self._readers: list[asyncio.Task[None]] = []

    async def _open_one(self, url: str, token: str) -> None:
        socket = await connect(url, subprotocols=["ddgui.v1", token], max_size=None, open_timeout=60)  # type: ignore[list-item]
        await socket.send(json.dumps({"action": "subscribe", "channels": [CHANNEL]}))
        while True:  # until the subscription is confirmed
            message = json.loads(await socket.recv())
            if message.get("type") == "subscribed":
                break
            if message.get("type") == "error":
                raise RuntimeError(f"subscribe refused: {message}")
        client = _Client(socket)
        self.clients.append(client)
        self._readers.append(asyncio.create_task(self._read(client)))

    async def open(self, sessions: list[tuple[str, str]]) -> dict[str, Any]:
        """Open a connection per (url, token)."""
        started = time.perf_counter()
        for start in range(0, len(sessions), 10):  # ten handshakes at a time
            await asyncio.gather(*(self._open_one(url, token) for url, token in sessions[start : start + 10]))
        return {"opened": len(self.clients), "seconds": round(time.perf_counter() - started, 1)}

    async def _read(self, client: _Client) -> None:
        try:
            async for frame in client.socket:
                now = time.time()
                self.frames += 1
                message = json.loads(frame)
                kind = str(message.get("type"))
                if kind != "event" or message.get("channel") != CHANNEL:
                    client.other_frames[kind] = client.other_frames.get(kind, 0) + 1
                    continue
                cursor = str(message.get("cursor") or "")
                if cursor <= client.last_cursor:  # cursors of one channel compare as strings
                    client.out_of_order += 1
                client.last_cursor = max(cursor, client.last_cursor)
                marker = str((message.get("payload") or {}).get("alert_id") or "")
                seen = client.counts.get(marker, 0)
                client.counts[marker] = seen + 1
                if not seen:
                    client.first[marker] = now
                    phase = marker.split(".", 1)[0]
                    self.pairs[phase] = self.pairs.get(phase, 0) + 1
                    self.last_arrival[phase] = time.monotonic()
        except Exception as exc:
            client.closed = f"{type(exc).__name__}: {exc}"[:200]
        else:
            code = client.socket.close_code
            client.closed = f"closed by the server ({code})"

    async def drain(self, phase: str, markers: list[str], quiet_s: float, grace_s: float) -> dict[str, Any]:
        """Wait until every client has every marker, or nothing new came for `quiet_s`, or
        `grace_s` passed; then the phase's figures."""
        started = time.monotonic()
        target = len(markers) * len(self.clients)
        ended = "complete"
        while self.pairs.get(phase, 0) < target:
            now = time.monotonic()
            last = max(self.last_arrival.get(phase, started), started)
            if now - last > quiet_s:
                ended = "quiet"
                break
            if now - started > grace_s:
                ended = "grace"
                break
            await asyncio.sleep(0.05)
        waited = time.monotonic() - started
        await asyncio.sleep(0.3)  # anything sent twice would have come by now
        return self._figures(phase, markers, ended, waited)

    def _figures(self, phase: str, markers: list[str], ended: str, waited: float) -> dict[str, Any]:
        sent = {m: int(m.rsplit(".", 1)[1]) / 1e6 for m in markers}
        latencies: list[float] = []
        lost_pairs = duplicated = 0
        lost_events: set[str] = set()
        last_arrival = 0.0
        for client in self.clients:
            for marker, at in sent.items():
                count = client.counts.get(marker, 0)
                if count == 0:
                    lost_pairs += 1
                    lost_events.add(marker)
                    continue
                duplicated += count - 1
                first = client.first[marker]
                latencies.append((first - at) * 1000)
                last_arrival = max(last_arrival, first)
        strays = sum(
            1
            for client in self.clients
            for marker in client.counts
            if marker.split(".", 1)[0] == phase and marker not in sent
        )
        latencies.sort()

        def pct(q: float) -> float | None:
            if not latencies:
                return None
            return round(percentile(latencies, q), 1)

        first_sent = min(sent.values(), default=0.0)
        return {
            "deliveries": len(latencies),
            "expected": len(sent) * len(self.clients),
            "lost_deliveries": lost_pairs,
            "lost_events": len(lost_events),
            "duplicated": duplicated,
            "strays": strays,  # received with this phase's name, never reported published
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1], 1) if latencies else None,
            # from the first PutEvents to the last first arrival: the rate the path delivered
            "delivery_s": round(last_arrival - first_sent, 2) if latencies else None,
            "drain_ended": ended,
            "drain_waited_s": round(waited, 1),
        }

    def health(self) -> dict[str, Any]:
        others: dict[str, int] = {}
        for client in self.clients:
            for kind, count in client.other_frames.items():
                others[kind] = others.get(kind, 0) + count
        return {
            "clients": len(self.clients),
            "closed": [c.closed for c in self.clients if c.closed],
            "out_of_order": sum(c.out_of_order for c in self.clients),
            "other_frames": others,
            "frames": self.frames,
        }

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.socket.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


async def _serve(connection: Connection) -> None:
    clients = _Clients()
    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    while True:
        command = await loop.run_in_executor(None, connection.recv)
        if command is None:
            break
        action = command[0]
        answer: Any
        try:
            if action == "open":
                answer = await clients.open(command[1])
            elif action == "drain":
                answer = await clients.drain(*command[1:])
            elif action == "health":
                answer = {**clients.health(), "cpu_s": round(time.process_time() - cpu, 1)}
            elif action == "close":
                await clients.close()
                answer = {"closed": len(clients.clients)}
            else:
                answer = {"error": f"unknown command {action}"}
        except Exception as exc:  # reported to the backend's side, which stops the run
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        connection.send(answer)
    await clients.close()


def _clients(connection: Connection) -> None:
    asyncio.run(_serve(connection))


# --- the producers' process ----------------------------------------------------------------------


class Producers:
    """`count` threads putting one GovernanceAlert per PutEvents on the region's bus (the call
    `BusRelay.publish` makes), event i due at `i / rate` s, until `seconds` are up (even when behind
    the schedule). Each thread has its own client (botocore pools 10 connections per client)."""

    def __init__(
        self, target: dict[str, str], clients: list[Any], phase: str, rate: float, seconds: float
    ) -> None:
        self.target, self.clients = target, clients
        self.phase, self.rate, self.seconds = phase, rate, seconds
        self.markers: list[str] = []
        self.failures: list[str] = []
        self.late = 0  # published more than 100 ms after its due time
        self._tickets = iter(range(10**9))
        self._lock = threading.Lock()
        self.started = self.elapsed = 0.0

    def run(self) -> dict[str, Any]:
        threads = [threading.Thread(target=self._produce, args=(client,)) for client in self.clients]
        cpu = time.process_time()
        self.started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.elapsed = time.perf_counter() - self.started
        return {
            "markers": self.markers,
            "failures": self.failures,
            "late": self.late,
            "elapsed": self.elapsed,
            "cpu_s": time.process_time() - cpu,
        }

    def _produce(self, client: Any) -> None:
        deadline = self.started + self.seconds
        region = self.target["region"]
        while True:
            with self._lock:
                i = next(self._tickets)
            due = self.started + i / self.rate
            if due >= deadline or time.perf_counter() >= deadline:
                return
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            late = time.perf_counter() - due > 0.1
            sent = time.time()
            marker = f"{self.phase}.{i}.{int(sent * 1e6)}"
            detail = {
                "tenant": TENANT,
                "event_id": str(uuid.uuid4()),
                "schema_version": "1",
                "region": region,
                "time": datetime.fromtimestamp(sent, UTC).isoformat(timespec="milliseconds"),
                "alert_id": marker,
                "severity": "info",
                "title": f"bench {self.phase} {i}",
                "body": "A benchmark's governance alert.",
                "module": "governance",
            }
            entry = {"Source": SOURCE, "DetailType": KIND, "Detail": json.dumps(detail)}
            try:
                answer = client.put_events(Entries=[{**entry, "EventBusName": self.target["bus"]}])
                if answer.get("FailedEntryCount"):
                    raise RuntimeError(f"the bus refused the event: {answer['Entries']}")  # noqa: TRY301
            except Exception as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with self._lock:
                self.markers.append(marker)
                self.late += late


def _producers(connection: Connection) -> None:
    """The producers' process: publishes each phase it is sent, answers with the markers."""
    from local.aws import aws_client

    clients: list[Any] = []
    while True:
        command = connection.recv()
        if command is None:
            return
        target, phase, rate, seconds, count = command
        while len(clients) < count:
            clients.append(aws_client("events", endpoint_url=target["endpoint_url"], region=target["region"]))
        connection.send(Producers(target, clients[:count], phase, rate, seconds).run())


# --- the backend's side ---------------------------------------------------------------------------


def _ask(connection: Connection, *command: Any) -> Any:
    connection.send(command)
    answer = connection.recv()
    if isinstance(answer, dict) and "error" in answer:
        raise RuntimeError(f"the clients' process: {answer['error']}")
    return answer


@dataclass
class Run:
    """What a phase needs: the backend, the two helper processes, the options."""

    backend: LocalBackend
    clients: Connection
    producers: Connection
    pids: dict[str, int]  # "clients", "producers"
    args: argparse.Namespace

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: this process (the backend), moto's server, the clients, the producers."""
        children = children_cpu()
        named = {name: children.get(pid, 0.0) for name, pid in self.pids.items()}
        moto = sum(cpu for pid, cpu in children.items() if pid not in self.pids.values())
        return {"backend": time.process_time(), "moto": moto, **named}


def _phase(run: Run, name: str, rate: float, seconds: float, *, grace_s: float) -> dict[str, Any]:
    """Publish `name` at `rate` for `seconds`, wait for the clients to have it (the grace), count."""
    args, backend = run.args, run.backend
    target = {
        "endpoint_url": backend.aws_endpoint_url,
        "region": backend.regions[0],
        "bus": backend.manifest.bus.local_bus_name(),
    }
    before = run.cpu()
    run.producers.send((target, name, rate, seconds, args.producers))
    published = run.producers.recv()
    figures = _ask(run.clients, "drain", name, published["markers"], args.quiet, grace_s)
    after = run.cpu()
    count, elapsed = len(published["markers"]), published["elapsed"]
    delivered_rate = None
    if figures["delivery_s"]:
        # events every client got, over the time from the first PutEvents to the last arrival
        complete = count - figures["lost_events"]
        delivered_rate = round(complete / max(figures["delivery_s"], elapsed), 1)
    row = {
        "phase": name,
        "rate": round(rate, 1),
        "seconds": round(elapsed, 1),
        "published": count,
        "publish_rate": round(count / elapsed, 1) if elapsed else 0.0,
        "put_failures": len(published["failures"]),
        "put_failure_examples": published["failures"][:3],
        "published_late": published["late"],
        "delivered_rate": delivered_rate,
        **figures,
        "cpu_s": {process: round(after[process] - before[process], 1) for process in after},
    }
    row["within_bound"] = (
        row["p95_ms"] is not None
        and row["p95_ms"] <= args.bound * 1000
        and row["lost_deliveries"] == 0
        and row["duplicated"] == 0
        and row["put_failures"] == 0
        and row["publish_rate"] >= 0.9 * rate
    )
    print(
        f"  {name}: {rate:g}/s for {row['seconds']} s, published {count} ({row['publish_rate']}/s), "
        f"delivered {row['deliveries']}/{row['expected']}, lost {row['lost_deliveries']}, dup "
        f"{row['duplicated']}, p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms ({row['drain_ended']} after "
        f"{row['drain_waited_s']} s); CPU s {row['cpu_s']}",
        file=sys.stderr,
    )
    return row


def _steps(run: Run) -> list[dict[str, Any]]:
    """Double the rate until a step is not sustained, then one step between the last two; when the
    first step is not sustained already, halve it (twice at most) until one is."""
    args = run.args
    rows: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        rows.append(_phase(run, f"step{len(rows) + 1}", rate, args.step_seconds, grace_s=args.step_grace))
        return bool(rows[-1]["within_bound"])

    rate = args.first_step
    passed: float | None = None
    failed: float | None = None
    while rate <= args.max_step:
        if not step(rate):
            failed = rate
            break
        passed = rate
        rate *= 2
    if passed is None and failed is not None:
        for lower in (failed / 2, failed / 4):
            if step(lower):
                passed = lower
                break
            failed = lower
    if args.refine and failed is not None and passed is not None and failed > passed:
        middle = round(math.sqrt(passed * failed), 1)
        if passed < middle < failed:
            step(middle)
    return rows


def _wait_disconnected(backend: LocalBackend, timeout_s: float = 30.0) -> int:
    """Wait until `$disconnect` has removed the clients' connections (the backend stops without
    cancelling them); the number still registered."""
    from gui_core.connections import CONNECTION_PREFIX
    from gui_core.dynamo import Table
    from local.aws import aws_client

    region = backend.regions[0]
    table = Table(
        backend.manifest.store("connections").local_table_name(),
        aws_client("dynamodb", endpoint_url=backend.aws_endpoint_url, region=region),
    )
    deadline = time.monotonic() + timeout_s
    while True:
        page = table.query(("pk", TENANT), sort_prefix=("sk", CONNECTION_PREFIX), consistent=True)
        if not page.items or time.monotonic() > deadline:
            return len(page.items)
        time.sleep(0.5)


def _run(
    args: argparse.Namespace, clients: Connection, producers: Connection, pids: dict[str, int]
) -> dict[str, Any]:
    from local.demo import write_tenants
    from local.runtime import LocalBackend

    result: dict[str, Any] = {"push_client": args.push_client}
    started = time.perf_counter()
    # One region, no demo data but the demo tenants' records, no TTL sweeps.
    with LocalBackend(
        regions=(REGION,),
        port=0,
        seed=False,
        ttl_sweep_s=None,
        bus_poll_s=args.bus_poll,
        stream_poll_s=args.stream_poll,
        environment={name: {"GUI_PUSH_CLIENT": args.push_client} for name in ("gui_fanout", "gui_realtime")},
    ) as backend:
        write_tenants(backend.manifest, endpoint_url=backend.aws_endpoint_url, regions=backend.regions)
        run = Run(backend, clients, producers, pids, args)
        region = backend.regions[0]
        assert backend.keys is not None
        base = backend.websocket_url(region, tenant=TENANT, channel=CHANNEL)
        sessions = [
            (
                base,
                backend.keys.mint(
                    tenant=TENANT, subject=f"bench{i:03d}@{TENANT}", roles=["viewer"], ttl_s=3600
                ),
            )
            for i in range(args.clients)
        ]
        result["backend_start_s"] = round(time.perf_counter() - started, 1)
        opened = _ask(clients, "open", sessions)
        result["connect_s"] = opened["seconds"]
        print(f"  {opened['opened']} clients subscribed in {opened['seconds']} s", file=sys.stderr)
        result["warm_up"] = _phase(run, "warm", 2, args.warm_up_seconds, grace_s=30)
        result["setup_s"] = round(time.perf_counter() - started, 1)
        result["baseline"] = _phase(run, "base", args.light_rate, args.light_seconds, grace_s=args.step_grace)
        result["steps"] = _steps(run)
        result["goal"] = _phase(run, "goal", GOAL_RATE, args.goal_seconds, grace_s=args.goal_grace)
        result["clients_health"] = _ask(clients, "health")
        _ask(clients, "close")  # before the backend stops: the clients close, not the server
        result["still_registered"] = _wait_disconnected(backend)
        sustained = [s for s in result["steps"] if s["within_bound"]]
        result["max_sustained_rate"] = max((s["rate"] for s in sustained), default=None)
    return result


def _arguments() -> argparse.Namespace:
    from local.kinesis import DEFAULT_POLL_S
    from local.runtime import DEFAULT_BUS_POLL_S

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter phases: about 1.5 minutes")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--warm-up-seconds", type=float, default=5.0, help="at 2 events/s, not counted")
    parser.add_argument("--light-rate", type=float, default=1.0, help="the baseline, events/s")
    parser.add_argument("--light-seconds", type=float, help="default 15; quick 6")
    parser.add_argument("--first-step", type=float, default=2.0, help="the first step's rate, events/s")
    parser.add_argument("--max-step", type=float, default=64.0, help="no step above this rate")
    parser.add_argument("--step-seconds", type=float, help="each step (default 12; quick 6)")
    parser.add_argument("--no-refine", dest="refine", action="store_false", help="no step in between")
    parser.add_argument("--bound", type=float, default=2.0, help="a sustained step's p95, seconds")
    parser.add_argument("--goal-seconds", type=float, help="the 277.8/s burst (default 1; quick 0.5)")
    parser.add_argument(
        "--quiet", type=float, default=8.0, help="nothing new for this long: the rest is lost"
    )
    parser.add_argument("--step-grace", type=float, default=30.0, help="the most a step waits after it")
    parser.add_argument("--goal-grace", type=float, help="the most the goal waits after it (default 90)")
    parser.add_argument(
        "--bus-poll", type=float, default=DEFAULT_BUS_POLL_S, help="the relay's poll, s (the runtime's 0.2)"
    )
    parser.add_argument(
        "--stream-poll",
        type=float,
        default=DEFAULT_POLL_S,
        help="the Kinesis pollers', s (the runtime's 0.1)",
    )
    parser.add_argument("--producers", type=int, default=16, help="PutEvents threads (default 16)")
    parser.add_argument(
        "--push-client",
        choices=("signed", "boto3"),
        default="signed",
        help="@connections client of the functions (gui_core.pusher.connections_client; boto3: the old one)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.light_seconds = args.light_seconds or (6.0 if args.quick else 15.0)
    args.step_seconds = args.step_seconds or (6.0 if args.quick else 12.0)
    args.goal_seconds = args.goal_seconds or (0.5 if args.quick else 1.0)
    args.goal_grace = args.goal_grace or (45.0 if args.quick else 90.0)
    return args


def _ms(value: float | None) -> str:
    return "inf" if value is None else f"{value:,.0f}"


def _print_table(result: dict[str, Any], args: argparse.Namespace) -> None:
    base = result["baseline"]
    print()
    print(
        f"notification stream: {args.clients} WebSocket clients of {TENANT} (channel {CHANNEL}, their own "
        f"process), GovernanceAlerts by PutEvents from a producers' process (relay / Kinesis polls every "
        f"{args.bus_poll * 1000:.0f} / {args.stream_poll * 1000:.0f} ms); goal: "
        f"{SPEC_EVENTS_PER_HOUR:,}/h x {SPEED} = {GOAL_RATE:.1f} events/s; @connections client: "
        f"{args.push_client}"
    )
    print(
        f"load average (1/5/15 min): before {result['load_before']}, after {result['load_after']} "
        f"({os.cpu_count()} CPUs)"
    )
    widths = (26, 14, 16, 12, 18, 12, 11, 22)
    header = (
        "phase",
        "published",
        "delivered",
        "lost / dup",
        "p50 / p95 ms",
        "delivered/s",
        "x base p95",
        "CPU s back/moto/cl/pr",
    )
    print("".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "verdict")
    rows = [("baseline", base), ("goal burst", result["goal"])]
    rows += [("step", step) for step in result["steps"]]
    for label, row in rows:
        ratio = "1x" if row is base else (f"{row['p95_ms'] / base['p95_ms']:.1f}x" if row["p95_ms"] else "-")
        if row is base:
            verdict = "baseline"
        elif row["within_bound"]:
            verdict = f"sustained (p95 <= {args.bound:g} s)"
        else:
            verdict = "NOT sustained"
        if row["drain_ended"] != "complete":
            verdict += f"; drain ended: {row['drain_ended']} after {row['drain_waited_s']:g} s"
        cells = (
            f"{label} {row['rate']:g}/s x {row['seconds']:g}s",
            f"{row['published']} ({row['publish_rate']:g}/s)",
            f"{row['deliveries']}/{row['expected']}",
            f"{row['lost_deliveries']} / {row['duplicated']}",
            f"{_ms(row['p50_ms'])} / {_ms(row['p95_ms'])}",
            "-" if row["delivered_rate"] is None else f"{row['delivered_rate']:g}",
            ratio,
            "/".join(f"{row['cpu_s'][p]:g}" for p in ("backend", "moto", "clients", "producers")),
        )
        print("".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + verdict)
    goal = result["goal"]
    reached = "met" if goal["within_bound"] else "NOT met"
    print(
        f"goal {GOAL_RATE:.1f}/s: {reached} (for {goal['seconds']:g} s: {goal['published']} events "
        f"published at {goal['publish_rate']:g}/s, {goal['lost_events']} not received by every client, "
        f"{goal['duplicated']} duplicated; p95 {_ms(goal['p95_ms'])} ms)"
    )
    print(
        f"maximum sustained rate: {result['max_sustained_rate'] or 'none of the steps'}"
        + ("" if result["max_sustained_rate"] is None else " events/s")
        + f" (steps of {args.step_seconds:g} s, p95 <= {args.bound:g} s, nothing lost or repeated); "
        f"the specification's rate in real time is {SPEC_EVENTS_PER_HOUR / 3600:.2f} events/s"
    )
    health = result["clients_health"]
    print(
        f"clients: {health['clients']} connected, {len(health['closed'])} closed during the run, "
        f"{health['out_of_order']} out of order, other frames {health['other_frames'] or 'none'}; "
        f"{result['connect_s']} s to connect and subscribe all; still registered after closing: "
        f"{result['still_registered']}"
    )


def main() -> None:
    args = _arguments()
    logging.disable(logging.WARNING)  # the handlers' logs would bury the table
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", message="The '.*' attribute with value")  # pydantic, at cold starts
    started = time.perf_counter()
    result: dict[str, Any] = {
        "clients": args.clients,
        "goal_rate": round(GOAL_RATE, 1),
        "load_before": load(),
    }
    print(f"load average before: {result['load_before']} ({os.cpu_count()} CPUs)", file=sys.stderr)
    # The helper processes first: spawned (not forked) and before the backend's threads exist.
    context = multiprocessing.get_context("spawn")
    pipes = {name: context.Pipe() for name in ("clients", "producers")}
    processes = {
        name: context.Process(target=target, args=(pipes[name][1],), name=f"notification-{name}", daemon=True)
        for name, target in (("clients", _clients), ("producers", _producers))
    }
    for process in processes.values():
        process.start()
    log = args.json.with_suffix(".log")
    try:
        with stdout_to(log):
            logging.basicConfig(stream=sys.stdout, level=logging.ERROR)  # the runtime's errors: the log
            pids = {name: process.pid or 0 for name, process in processes.items()}
            result.update(_run(args, pipes["clients"][0], pipes["producers"][0], pids))
    finally:
        for name, process in processes.items():
            with contextlib.suppress(OSError):
                pipes[name][0].send(None)
            process.join(10)
            if process.is_alive():
                process.kill()
    result["load_after"] = load()
    result["run_s"] = round(time.perf_counter() - started, 1)
    result["functions_stdout"] = log.name  # beside the JSON: no path of this machine in the result
    _print_table(result, args)
    print(f"({result['run_s']} s in all, {result['setup_s']} s of it starting, connecting and warming up)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json} (the functions' stdout: {log})")


if __name__ == "__main__":
    main()
