"""The push cost: CPU per `@connections` post of gui_core.signed_post's client against boto3's
`apigatewaymanagementapi` client, in one run, to N real WebSocket clients. Not a CI gate.

A child process (spawned) runs a `LocalBackend` of one region (moto's server in its own process, the
real authorizer, a stand-in `gui_realtime` that accepts every connection and records its id) and N
WebSocket clients (an asyncio loop) counting the frames they get. This process only pushes: each
round, each client in turn (the order alternating) posts `--events` messages to the N connections
through `gui_core.pusher.Pusher` (16 workers, the fan-out's manifest value), and
`time.process_time()` around the pushes is the client's CPU (the gateway's own work is the child's,
the same for both). Then the child is asked whether every frame arrived.

Also: the cold cost, import + client + first post in a fresh interpreter (`--cold` runs of each).

Usage: `python bench/push_cost.py [--clients 100] [--events 10] [--rounds 5] [--cold 3]`
(about a minute). The result goes to bench/results/push_cost.json unless `--json` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import load  # noqa: E402

from gui_core.pusher import Pusher, boto3_connections_client, connections_client  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "push_cost.json"
REGION = "eu-west-1"
TENANT = "acme"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # local/iam.py's operator
GOAL_RATIO = 5.0
CONCURRENCY = 16


# --- the gateway's process ------------------------------------------------------------------------


class _AcceptAll:
    """gui_realtime's stand-in: accepts every connection, records its id by the token presented."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event["requestContext"]
        if request["routeKey"] == "$connect":
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
            token = headers.get("sec-websocket-protocol", "").split(",")[-1].strip()
            self.ids[token] = request["connectionId"]
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "ddgui.v1"}}
        return {"statusCode": 200}


def _gateway(connection: Connection, clients: int) -> None:
    import logging

    from websockets.asyncio.client import connect

    from local.runtime import LocalBackend
    from stacks.manifest import MANIFEST

    logging.disable(logging.WARNING)
    stand_in = _AcceptAll()
    received = [0]
    readers: list[asyncio.Task[None]] = []
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="clients", daemon=True).start()

    async def read(socket: Any) -> None:
        try:
            async for _ in socket:
                received[0] += 1
        except Exception:  # noqa: S110 - closed at the end
            pass

    with LocalBackend(
        regions=(REGION,),
        port=0,
        seed=False,
        manifest=MANIFEST.only("gui_realtime"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        handlers={"gui_realtime": stand_in},
    ) as backend:
        assert backend.keys is not None
        url = backend.base_urls[REGION].replace("http://", "ws://") + f"/live?tenant={TENANT}"
        tokens = [
            backend.keys.mint(
                tenant=TENANT, subject=f"bench-{uuid.uuid4().hex[:8]}@{TENANT}", roles=("viewer",)
            )
            for _ in range(clients)
        ]

        async def open_all() -> list[Any]:
            sockets = []
            for start in range(0, clients, 10):
                batch = tokens[start : start + 10]
                sockets += await asyncio.gather(
                    *(connect(url, subprotocols=["ddgui.v1", token]) for token in batch)  # type: ignore[list-item]
                )
            readers.extend(loop.create_task(read(socket)) for socket in sockets)
            return sockets

        sockets = asyncio.run_coroutine_threadsafe(open_all(), loop).result(120)
        connection.send({"url": backend.connections_url(REGION), "ids": [stand_in.ids[t] for t in tokens]})
        while True:
            command = connection.recv()
            if command == "count":
                connection.send(received[0])
            else:
                break

        async def close_all() -> None:
            for socket in sockets:
                await socket.close()

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
    connection.send("stopped")


# --- this process: the pushes ---------------------------------------------------------------------


def _frame(i: int) -> bytes:
    """A live event frame of the fan-out's shape (about 400 bytes)."""
    return json.dumps(
        {
            "type": "event",
            "channel": "notifications",
            "cursor": f"{time.time_ns():020d}-{i:06d}",
            "payload": {
                "tenant": TENANT,
                "event_id": str(uuid.uuid4()),
                "alert_id": f"bench-{i}",
                "severity": "info",
                "title": "A governance alert of the bench",
                "body": "x" * 160,
            },
        }
    ).encode()


def _count(pipe: Connection) -> int:
    pipe.send("count")
    return int(pipe.recv())


def _wait_for(pipe: Connection, want: int, timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (got := _count(pipe)) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def _cold(url: str, connection_id: str, which: str, runs: int) -> dict[str, float]:
    """Import + client + first post in a fresh interpreter, CPU and wall (medians)."""
    factory = "connections_client" if which == "signed" else "boto3_connections_client"
    script = (
        "import sys, time, json\n"
        f"sys.path[:0] = {[str(ROOT / 'layers' / 'core' / 'python')]!r}\n"
        "c0, w0 = time.process_time(), time.perf_counter()\n"
        f"from gui_core.pusher import {factory} as make\n"
        f"make({url!r}, {REGION!r}).post_to_connection(ConnectionId={connection_id!r}, Data=b'{{}}')\n"
        "print(json.dumps([time.process_time() - c0, time.perf_counter() - w0]))\n"
    )
    cpu, wall = [], []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **KEYS},
        )
        c, w = json.loads(done.stdout.strip().splitlines()[-1])
        cpu.append(c * 1000)
        wall.append(w * 1000)
    return {"cpu_ms": round(statistics.median(cpu), 1), "wall_ms": round(statistics.median(wall), 1)}


def main() -> None:  # noqa: PLR0915 - one run, in order
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100, help="WebSocket clients (default 100)")
    parser.add_argument("--events", type=int, default=10, help="messages to all clients per round and client")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="the Pusher's workers")
    parser.add_argument("--cold", type=int, default=3, help="fresh-interpreter runs of each client")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.update(KEYS)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    result: dict[str, Any] = {"clients": args.clients, "events": args.events, "load_before": load()}

    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_gateway, args=(child, args.clients))
    process.start()
    started = parent.recv()
    url, ids = started["url"], started["ids"]
    clients = {
        "signed": connections_client(url, REGION, concurrency=args.concurrency),
        "boto3": boto3_connections_client(url, REGION),
    }
    pushers = {name: Pusher(client, concurrency=args.concurrency) for name, client in clients.items()}
    for pusher in pushers.values():  # warm: connections opened, first-call paths run
        pusher.push(ids, _frame(0))
    expected = _wait_for(parent, 2 * len(ids))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    for round_ in range(args.rounds):
        order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
        for name in order:
            frames = [_frame(i) for i in range(args.events)]
            failed = 0
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for frame in frames:
                report = pushers[name].push(ids, frame)
                failed += len(report.failed) + len(report.gone)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            pushes = args.events * len(ids)
            expected += pushes - failed
            delivered = _wait_for(parent, expected)
            runs[name].append(
                {
                    "cpu_us_per_push": cpu / pushes * 1e6,
                    "pushes_per_s": pushes / wall,
                    "failed": failed,
                    "missing": expected - delivered,
                }
            )
            print(f"  round {round_ + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    result["runs"] = runs
    summary = {}
    for name, rows in runs.items():
        summary[name] = {
            "cpu_us_per_push": round(statistics.median(r["cpu_us_per_push"] for r in rows), 1),
            "pushes_per_s": round(statistics.median(r["pushes_per_s"] for r in rows)),
            "failed": sum(int(r["failed"]) for r in rows),
            "missing": max(int(r["missing"]) for r in rows),
        }
    if args.cold:
        for name in clients:
            summary[name]["cold"] = _cold(url, ids[0], name, args.cold)
    ratio = summary["boto3"]["cpu_us_per_push"] / summary["signed"]["cpu_us_per_push"]
    result.update(summary=summary, ratio=round(ratio, 2), goal_ratio=GOAL_RATIO, met=ratio >= GOAL_RATIO)
    parent.send("stop")
    parent.recv()
    process.join(30)
    result["load_after"] = load()

    print()
    print(
        f"push cost: {args.clients} WebSocket clients, {args.events} messages x {args.rounds} rounds "
        f"per client, Pusher of {args.concurrency} workers; "
        f"load {result['load_before']} -> {result['load_after']}"
    )
    print(
        f"{'client':10}{'CPU/push':>12}{'pushes/s':>10}{'failed':>8}{'missing':>9}"
        f"{'cold CPU':>10}{'cold wall':>11}"
    )
    for name, row in summary.items():
        cold = row.get("cold", {})
        print(
            f"{name:10}{row['cpu_us_per_push']:>10.1f}us{row['pushes_per_s']:>10,}{row['failed']:>8}"
            f"{row['missing']:>9}{cold.get('cpu_ms', math.nan):>8.1f}ms"
            f"{cold.get('wall_ms', math.nan):>9.1f}ms"
        )
    print(
        f"boto3 / signed CPU per push: {ratio:.2f}x "
        f"(goal >= {GOAL_RATIO:g}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'})"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
