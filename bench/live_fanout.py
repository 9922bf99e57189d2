"""Live channels: the fan-out's throughput with 100 subscribed connections, and the latency from a
producer's PutEvents to a WebSocket client. Not a CI gate.

(a) Throughput. The fan-out (`gui_fanout.fanout.Fanout`, the handler's own objects: tenants, replay
log, connection registry, inbox on the local DynamoDB) takes Kinesis-shaped batches of 100
GovernanceAlert records of one tenant, in process. Each record is appended to the replay log, makes
an inbox item and is pushed to the 100 connections subscribed to `notifications`:
- baseline: a management client that posts nowhere (what the fan-out costs by itself);
- real: `@connections` of the local WebSocket API posting to 100 real WebSocket clients, which
  count what they receive.

(b) Latency. A WebSocket client subscribed to `notifications`; GovernanceAlerts put on the bus at
`--rate` events per second (PutEvents, one per event), each carrying its send time; the path is the
whole local one: bus -> relay -> Kinesis -> poller -> fan-out -> `@connections` -> client. The goal:
p95 within the Kinesis poll interval + 150 ms (the bus relay's own poll comes on top locally: on
AWS EventBridge delivers to Kinesis at once).

Usage: `python bench/live_fanout.py [--batches 3] [--rate 100] [--seconds 10] [--json out.json]`;
the result is written to bench/results/live_fanout.json unless `--json` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

import httpx  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from gui_core.dynamo import Table  # noqa: E402
from gui_core.live import ConnectionRegistry, Pusher, ReplayLog, connections_client  # noqa: E402
from gui_core.tenancy import TenantDirectory  # noqa: E402
from gui_fanout.fanout import Fanout  # noqa: E402
from gui_notifications.repository import InboxRepository  # noqa: E402
from local.aws import aws_client  # noqa: E402
from local.demo import provision_tenant  # noqa: E402
from local.kinesis import DEFAULT_POLL_S  # noqa: E402
from local.runtime import DEFAULT_BUS_POLL_S, LocalBackend  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "live_fanout.json"
CHANNEL = "notifications"
CONNECTIONS = 100
BATCH = 100
GOAL_MARGIN_MS = 150.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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
                "eventID": f"shardId-000000000000:{sequence}",
                "awsRegion": region,
            }
        )
    return {"Records": records}


class _Nowhere:
    """A management client that posts nowhere: the baseline."""

    def __init__(self) -> None:
        self.posts = 0
        self._lock = threading.Lock()

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any:  # noqa: N803
        with self._lock:
            self.posts += 1
        return {}

    def delete_connection(self, *, ConnectionId: str) -> Any:  # noqa: N803
        return {}


def _fanout(backend: LocalBackend, region: str, client: Any) -> Fanout:
    dynamodb = aws_client("dynamodb", endpoint_url=backend.aws_endpoint_url, region=region)

    def table(store: str) -> Table:
        return Table(MANIFEST.store(store).local_table_name(), dynamodb)

    return Fanout(
        region=region,
        tenants=TenantDirectory(table("tenants"), ttl_s=60),
        replay_log=ReplayLog(table("events"), window_s=86400),
        registry=ConnectionRegistry(table("connections"), ttl_s=7200),
        pusher=Pusher(client, concurrency=16),
        inbox=InboxRepository(table("inbox"), retention_days=90),
    )


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
        time.sleep(0.05)


def _token(base: str, tenant: str) -> str:
    answer = httpx.get(
        f"{base}/dev/token", params={"tenant": tenant, "subject": f"bench@{tenant}", "roles": "operator"}
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


def _provision(backend: LocalBackend, tenant: str, region: str) -> None:
    provision_tenant(
        MANIFEST,
        endpoint_url=backend.aws_endpoint_url,
        region=backend.regions,
        tenant=tenant,
        home_region=region,
        plan="enterprise",
        flags={"realtime": True},
        rate_limits={"live": 100_000, "notifications": 100_000, "ack": 100_000},
    )


def throughput(batches: int) -> list[dict[str, Any]]:
    """(a): events per second through the fan-out, 100 subscribers, baseline then real pushes."""
    rows: list[dict[str, Any]] = []
    # No relay and no pollers: the bench alone hands records to the fan-out.
    with LocalBackend(port=0, ttl_sweep_s=None, bus_poll_s=None, seed=False) as backend:
        region = backend.regions[0]
        tenant = f"bench{uuid.uuid4().hex[:6]}"
        _provision(backend, tenant, region)
        base = backend.base_urls[region]
        stage = MANIFEST.websocket.stage if MANIFEST.websocket else "live"
        clients = Clients()
        try:
            clients.run(
                clients.open(
                    f"{base.replace('http', 'ws', 1)}/{stage}?tenant={tenant}",
                    _token(base, tenant),
                    CONNECTIONS,
                )
            )
            sequence = 10**20
            for name, client in (
                ("fake client (baseline)", _Nowhere()),
                ("@connections -> 100 WebSockets", connections_client(f"{base}/{stage}", region)),
            ):
                fanout = _fanout(backend, region, client)
                fanout.batch().handle(_records(tenant, region, sequence, 1)["Records"][0])  # warm-up
                sequence += 1
                if not isinstance(client, _Nowhere):  # the warm-up's frames arrive first
                    _wait(lambda: clients.received >= CONNECTIONS, 30)
                before = clients.received
                timings: list[float] = []
                pushed = 0
                for _ in range(batches):
                    event = _records(tenant, region, sequence, BATCH)
                    sequence += BATCH
                    run = fanout.batch()
                    started = time.perf_counter()
                    for record in event["Records"]:
                        run.handle(record)
                    timings.append(time.perf_counter() - started)
                    pushed += run.counts["Pushed"]
                if isinstance(client, _Nowhere):
                    delivered = client.posts - CONNECTIONS  # the warm-up's posts
                else:
                    want = before + batches * BATCH * CONNECTIONS
                    _wait(lambda: clients.received >= want, 30)  # noqa: B023 - called at once
                    delivered = clients.received - before
                events = batches * BATCH
                seconds = sum(timings)
                rows.append(
                    {
                        "client": name,
                        "events": events,
                        "events_per_s": round(events / seconds, 1),
                        "pushes_per_s": round(pushed / seconds, 1),
                        "batch_p50_ms": round(statistics.median(timings) * 1000, 1),
                        "pushed": pushed,
                        "delivered": delivered,
                    }
                )
        finally:
            clients.close()
    return rows


def latency(rate: float, seconds: float) -> dict[str, Any]:
    """(b): PutEvents -> WebSocket client, p50/p95 at `rate` events per second."""
    with LocalBackend(port=0, ttl_sweep_s=None, seed=False) as backend:
        region = backend.regions[0]
        tenant = f"bench{uuid.uuid4().hex[:6]}"
        _provision(backend, tenant, region)
        base = backend.base_urls[region]
        stage = MANIFEST.websocket.stage if MANIFEST.websocket else "live"
        sent: dict[str, float] = {}
        received: dict[str, float] = {}

        def on_event(message: dict[str, Any], now: float) -> None:
            marker = str((message.get("payload") or {}).get("alert_id") or "")
            if marker in sent and marker not in received:
                received[marker] = now

        clients = Clients()
        clients.on_event = on_event
        events = aws_client("events", endpoint_url=backend.aws_endpoint_url, region=region)
        try:
            clients.run(
                clients.open(
                    f"{base.replace('http', 'ws', 1)}/{stage}?tenant={tenant}", _token(base, tenant), 1
                )
            )
            total = int(rate * seconds)
            # PutEvents takes up to 10 entries: one call per tick of 10 events keeps the rate even
            # where one call per event could not (moto answers a PutEvents in tens of ms here).
            per_call = max(1, min(10, int(rate // 10) or 1))
            started = time.perf_counter()
            for first in range(0, total, per_call):
                due = started + first / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                now = time.time()
                entries = []
                for i in range(first, min(total, first + per_call)):
                    marker = f"l{i}-{uuid.uuid4().hex[:6]}"
                    sent[marker] = now
                    entries.append(
                        {
                            "Source": "domaindetermine.governance",
                            "DetailType": "GovernanceAlert",
                            "Detail": json.dumps(_alert(tenant, region, marker, now)),
                            "EventBusName": MANIFEST.bus.local_bus_name(),
                        }
                    )
                events.put_events(Entries=entries)
            achieved = total / (time.perf_counter() - started)
            _wait(lambda: len(received) >= total, 60)
        finally:
            clients.close()
    latencies = [(received[m] - sent[m]) * 1000 for m in sent if m in received]
    poll_ms = DEFAULT_POLL_S * 1000
    goal = poll_ms + GOAL_MARGIN_MS
    p95 = _percentile(latencies, 0.95) if latencies else float("nan")
    return {
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "events": total,
        "received": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(p95, 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "kinesis_poll_ms": poll_ms,
        "bus_relay_poll_ms": DEFAULT_BUS_POLL_S * 1000,
        "goal_p95_ms": goal,
        "goal_met": bool(latencies) and p95 <= goal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=3, help="batches of 100 records per client")
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="events per second for (b); repeat for several (default: 100, then 2 as a light-load reference)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="how long (b) publishes")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--skip", choices=("throughput", "latency"), action="append", default=[])
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the handlers' INFO/WARNING logs would bury the table

    result: dict[str, Any] = {"connections": CONNECTIONS, "batch": BATCH}
    if "throughput" not in args.skip:
        rows = throughput(args.batches)
        result["throughput"] = rows
        baseline = rows[0]["events_per_s"]
        print(f"(a) fan-out, {CONNECTIONS} subscribed connections, batches of {BATCH} records")
        names = ("client", "events/s", "pushes/s", "batch p50", "delivered", "x base")
        print(f"{names[0]:<32} {names[1]:>9} {names[2]:>9} {names[3]:>10} {names[4]:>10} {names[5]:>7}")
        for row in rows:
            ratio = row["events_per_s"] / baseline
            print(
                f"{row['client']:<32} {row['events_per_s']:9.1f} {row['pushes_per_s']:9.1f} "
                f"{row['batch_p50_ms']:8.1f}ms {row['delivered']:>10} {ratio:7.2f}"
            )
    if "latency" not in args.skip:
        result["latency"] = []
        for rate in args.rate or [100.0, 2.0]:
            lat = latency(rate, args.seconds)
            result["latency"].append(lat)
            print(f"(b) PutEvents -> WebSocket client at {rate:.0f}/s (achieved {lat['achieved_rate']}/s)")
            print(
                f"events {lat['events']}, received {lat['received']}; p50 {lat['p50_ms']} ms, "
                f"p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms; goal p95 <= {lat['goal_p95_ms']:.0f} ms "
                f"(Kinesis poll {lat['kinesis_poll_ms']:.0f} ms + {GOAL_MARGIN_MS:.0f}; bus relay poll "
                f"{lat['bus_relay_poll_ms']:.0f} ms on top locally): "
                f"{'met' if lat['goal_met'] else 'NOT met'}"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
