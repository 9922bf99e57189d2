"""Dashboard load: 100 concurrent GUI sessions for 60 s against the local runtime. Not a CI gate.

A `LocalBackend` (both regions, the demo data, moto's server in its own process) is started here;
its schedules are fired once (`index-rebuild` and `telemetry-aggregate` in each region), so search
and the dashboard's telemetry block have data. Each session is a GUI tab of a demo user (ada, otto
or vic of acme in eu-west-1 or of globex in us-east-1, half the sessions each, every session with
its own token, through its tenant's home gateway) and loops: `GET /dashboard?range=7d`,
`GET /metrics/<random module>`, `GET /notifications`, `GET /search?q=<random term>`, with a random
think time (1-3 s) after every request. Reported per request type and overall: count, p50/p95/p99
and errors (any non-2xx answer or exception); the goal: zero errors.

Rate limits: the demo tenants' per-minute limits (team and enterprise plans: 100-300 dashboard
requests a minute) would refuse most of 100 sessions' requests with 429. The bench raises them by
rewriting the demo tenants' records in their home regions' tenants tables (boto3 to the local AWS
endpoint; no product code changes) and checks the `X-RateLimit-Limit` the API answers with before
it measures (a function's tenant cache may hold the old record for up to 30 s: the bench waits for
it). The limiter itself still runs (one conditional update in DynamoDB per request).

The load generator runs in a process of its own (`multiprocessing`, spawned before the backend
starts): one asyncio loop, one `httpx.AsyncClient` (HTTP/1.1 keep-alive, a pool of a connection per
session, an idle one dropped after 4 s: uvicorn closes them after 5 s). In the backend's process it
would share the GIL with the gateways' event loop and the functions' threads, and its own work
(sending, parsing answers, timing) would be counted as the server's latency. So there are three
processes: the backend, moto's server, the clients; the CPU seconds each one used during the
measured run are reported (Linux: read from /proc).

Baselines, measured in the same run before the load:
- one session alone (no think time, no other client): the same four requests, so each type's
  p50/p95/p99 under load reads as a multiple of its uncontended latency;
- `GET /healthz` (answered by the gateway alone) by the same number of sessions with the same think
  time: what the gateway, loopback and the client process cost under the same concurrency.
Then a warm-up run of the sessions (not counted), just before the load: the authorizer's first call
for each of the 100 tokens, and the containers a pool starts when all of its containers are busy
(up to 10 per function), are cold paths, as they would be after a deployment. Every run starts each
session at a random point of its loop, after a random part of one think time.

Usage: `python bench/dashboard_load.py [--quick] [--sessions 100] [--seconds 60]`; about 2.5 minutes
by default, about 1.5 with `--quick` (20 s of load). The result goes to bench/results/
dashboard_load.json unless `--json` says otherwise; the functions' stdout (Powertools logs, EMF) to
dashboard_load.log beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import re
import sys
import time
import warnings
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

import httpx  # noqa: E402
from _common import children_cpu, load, percentile, stdout_to  # noqa: E402

if TYPE_CHECKING:
    from local.runtime import LocalBackend

RESULTS = ROOT / "bench" / "results" / "dashboard_load.json"
PREFIX = "/service/gui"
# The dashboard's modules (gui_dashboard.logic.MODULES; not imported here: the function's package
# belongs to its containers) and words of the demo artifacts' titles and summaries.
MODULES = ("ingestion", "coverage", "mapping", "overlay", "readiness", "prompt_pack", "governance", "cost")
TERMS = (
    "icd",
    "snomed",
    "loinc",
    "coverage",
    "mapping",
    "labels",
    "triage",
    "readiness",
    "pharmacy",
    "prompt pack",
    "lab*",
    "german",
    "substance",
    "atc",
)
KINDS = ("dashboard", "metrics", "notifications", "search")
LABELS = {
    "dashboard": "GET /dashboard?range=7d",
    "metrics": "GET /metrics/{module}",
    "notifications": "GET /notifications",
    "search": "GET /search?q=...",
    "healthz": "GET /healthz",
}
USERS = ("ada", "otto", "vic")  # admin, operator, viewer: every one holds the four routes' scopes
RAISED_LIMIT = 1_000_000  # requests a minute, every route class: the bench measures latency
ROUTE_CLASSES = ("dashboard", "reads", "writes", "search", "admin", "job_commands", "live")
# The client drops an idle connection before the server does (uvicorn closes one after 5 s): at the
# same 5 s (httpx's default), a request sent on a connection the server is closing fails (ReadError).
KEEPALIVE_S = 4.0
TIMEOUT_S = 30.0  # API Gateway's integration timeout is 29 s: an answer later than this is an error


# --- the clients' process -------------------------------------------------------------------------


def _path(kind: str, rng: random.Random) -> str:
    if kind == "dashboard":
        return f"{PREFIX}/dashboard?range=7d"
    if kind == "metrics":
        return f"{PREFIX}/metrics/{rng.choice(MODULES)}"
    if kind == "notifications":
        return f"{PREFIX}/notifications"
    if kind == "search":
        return f"{PREFIX}/search?q={rng.choice(TERMS)}"
    return "/healthz"


class _Tally:
    def __init__(self) -> None:
        self.timings: dict[str, list[float]] = {}
        self.errors: dict[str, Counter[str]] = {}
        self.statuses: Counter[str] = Counter()

    def add(self, kind: str, elapsed_ms: float, outcome: str) -> None:
        self.timings.setdefault(kind, []).append(elapsed_ms)
        self.errors.setdefault(kind, Counter())
        self.statuses[outcome] += 1
        if not outcome.startswith("2"):
            self.errors[kind][outcome] += 1


async def _session(
    client: httpx.AsyncClient,
    session: dict[str, str],
    kinds: tuple[str, ...],
    think: tuple[float, float],
    deadline: float,
    rng: random.Random,
    tally: _Tally,
) -> None:
    headers = {"Authorization": f"Bearer {session['token']}", "Accept": "application/json"}
    # Sessions arrive spread over one think time, each at its own point of the loop: not 100
    # dashboards in the same instant at the start of every phase.
    first = rng.randrange(len(kinds))
    order = kinds[first:] + kinds[:first]
    if think[1] > 0:
        await asyncio.sleep(rng.uniform(0, think[1]))
    while True:
        for kind in order:
            if time.perf_counter() >= deadline:
                return
            url = session["base"] + _path(kind, rng)
            started = time.perf_counter()
            try:
                answer = await client.get(url, headers=headers)
                outcome = str(answer.status_code)
            except Exception as exc:  # an exception is an error of the run, not of the bench
                outcome = type(exc).__name__
            tally.add(kind, (time.perf_counter() - started) * 1000, outcome)
            if think[1] > 0:
                await asyncio.sleep(rng.uniform(*think))


async def _run(phase: dict[str, Any]) -> dict[str, Any]:
    sessions: list[dict[str, str]] = phase["sessions"]
    rng = random.Random(phase["seed"])  # noqa: S311 - reproducible choices and think times, not secrets
    limits = httpx.Limits(
        max_connections=len(sessions) + 16,
        max_keepalive_connections=len(sessions) + 16,
        keepalive_expiry=KEEPALIVE_S,
    )
    tally = _Tally()
    cpu = time.process_time()
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + phase["seconds"]
        await asyncio.gather(
            *(
                _session(
                    client,
                    session,
                    tuple(phase["kinds"]),
                    tuple(phase["think"]),
                    deadline,
                    random.Random(rng.random()),  # noqa: S311 - the same
                    tally,
                )
                for session in sessions
            )
        )
        elapsed = time.perf_counter() - started
    return {
        "timings": tally.timings,
        "errors": {kind: dict(errors) for kind, errors in tally.errors.items()},
        "statuses": dict(tally.statuses),
        "seconds": elapsed,
        "cpu_s": time.process_time() - cpu,
    }


def _clients(connection: Connection) -> None:
    """The load generator's process: runs each phase it is sent, answers with the raw figures."""
    while True:
        phase = connection.recv()
        if phase is None:
            return
        connection.send(asyncio.run(_run(phase)))


# --- figures --------------------------------------------------------------------------------------


def _stats(timings: list[float], errors: dict[str, int]) -> dict[str, Any]:
    if not timings:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "errors": 0, "error_kinds": {}}
    return {
        "count": len(timings),
        "p50_ms": round(percentile(timings, 0.50), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "p99_ms": round(percentile(timings, 0.99), 2),
        "max_ms": round(max(timings), 2),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def _summary(raw: dict[str, Any]) -> dict[str, Any]:
    """Per request type and overall."""
    rows = {
        kind: _stats(raw["timings"].get(kind, []), raw["errors"].get(kind, {}))
        for kind in [*KINDS, "healthz"]
        if kind in raw["timings"]
    }
    every = [t for timings in raw["timings"].values() for t in timings]
    errors: Counter[str] = Counter()
    for kind_errors in raw["errors"].values():
        errors.update(kind_errors)
    rows["all"] = _stats(every, dict(errors))
    return {
        "rows": rows,
        "requests": len(every),
        "seconds": round(raw["seconds"], 1),
        "requests_per_s": round(len(every) / raw["seconds"], 1) if raw["seconds"] else None,
        "statuses": raw["statuses"],
        "client_cpu_s": round(raw["cpu_s"], 1),
    }


# --- the backend's side ---------------------------------------------------------------------------


def _raise_limits(backend: LocalBackend) -> None:
    """The demo tenants' records, as `local.demo` writes them, with every route class's limit raised."""
    from gui_core.dynamo import to_dynamo
    from local.aws import aws_client
    from local.demo import TENANTS

    table = backend.manifest.store("tenants").local_table_name()
    for tenant in TENANTS:
        item = {**tenant.item(), "rate_limits": dict.fromkeys(ROUTE_CLASSES, RAISED_LIMIT)}
        dynamodb = aws_client("dynamodb", endpoint_url=backend.aws_endpoint_url, region=tenant.home_region)
        dynamodb.put_item(TableName=table, Item=to_dynamo(item))


def _sessions(backend: LocalBackend, count: int) -> list[dict[str, str]]:
    """`count` sessions over both demo tenants (alternating), their users in turn, a token each."""
    from local.demo import TENANTS

    assert backend.keys is not None
    sessions = []
    for i in range(count):
        tenant = TENANTS[i % len(TENANTS)]
        subject = f"{USERS[(i // len(TENANTS)) % len(USERS)]}@{tenant.tenant}"
        user = next(u for u in tenant.users if u.subject == subject)
        token = backend.keys.mint(
            tenant=tenant.tenant, subject=user.subject, roles=user.roles, scopes=user.scopes, ttl_s=3600
        )
        sessions.append(
            {"tenant": tenant.tenant, "base": backend.base_urls[tenant.home_region], "token": token}
        )
    return sessions


def _check_routes(sessions: list[dict[str, str]], wait_s: float = 40.0) -> dict[str, Any]:
    """Every request type of every tenant answers 2xx with the raised limit (the functions' tenant
    caches hold a record for up to 30 s: wait for it); every search term too. What was seen."""
    seen: dict[str, Any] = {}
    firsts = {s["tenant"]: s for s in sessions}
    deadline = time.monotonic() + wait_s
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for tenant, session in firsts.items():
            headers = {"Authorization": f"Bearer {session['token']}"}
            paths = [_path(kind, random.Random(0)) for kind in KINDS]  # noqa: S311 - a fixed choice
            paths += [f"{PREFIX}/metrics/{module}" for module in MODULES]
            paths += [f"{PREFIX}/search?q={term}" for term in TERMS]
            for path in paths:
                while True:
                    answer = client.get(session["base"] + path, headers=headers)
                    limit = answer.headers.get("x-ratelimit-limit")
                    if answer.is_success and limit == str(RAISED_LIMIT):
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(
                            f"{tenant} {path}: HTTP {answer.status_code}, X-RateLimit-Limit {limit}: "
                            f"{answer.text[:300]}"
                        )
                    time.sleep(1)
                if "/search" in path:
                    hits = seen.setdefault("search_hits", {})
                    hits[f"{tenant} {path.split('q=')[1]}"] = len(answer.json()["hits"])
    return seen


def _measure(connection: Connection, client_pid: int, phase: dict[str, Any], label: str) -> dict[str, Any]:
    print(f"  {label}: {phase['seconds']:g} s, {len(phase['sessions'])} session(s)...", file=sys.stderr)
    before = (time.process_time(), children_cpu())
    connection.send(phase)
    raw = connection.recv()
    after = (time.process_time(), children_cpu())
    summary = _summary(raw)
    moto = sum(after[1].get(pid, 0.0) - cpu for pid, cpu in before[1].items() if pid != client_pid)
    summary["backend_cpu_s"] = round(after[0] - before[0], 1)
    summary["moto_cpu_s"] = round(moto, 1) if before[1] else None
    every = summary["rows"]["all"]
    print(
        f"  {label}: {summary['requests']} requests, {summary['requests_per_s']}/s, "
        f"p50 {every['p50_ms']} ms, p95 {every['p95_ms']} ms, errors {every['errors']}",
        file=sys.stderr,
    )
    return summary


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 s of load, shorter baselines: ~1.5 min")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, help="the measured load (default 60; quick 20)")
    parser.add_argument("--think-min", type=float, default=1.0, help="think time after a request, s")
    parser.add_argument("--think-max", type=float, default=3.0)
    parser.add_argument("--alone-seconds", type=float, help="one session alone (default 10; quick 5)")
    parser.add_argument("--healthz-seconds", type=float, help="/healthz baseline (default 15; quick 8)")
    parser.add_argument("--warm-up-seconds", type=float, help="not counted (default 10; quick 6)")
    parser.add_argument("--seed", type=int, default=8, help="random choices of modules, terms, times")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.seconds = args.seconds or (20.0 if args.quick else 60.0)
    args.alone_seconds = args.alone_seconds or (5.0 if args.quick else 10.0)
    args.healthz_seconds = args.healthz_seconds or (8.0 if args.quick else 15.0)
    args.warm_up_seconds = args.warm_up_seconds or (6.0 if args.quick else 10.0)
    return args


def _backend_run(args: argparse.Namespace, connection: Connection, client_pid: int) -> dict[str, Any]:
    from local.runtime import LocalBackend

    result: dict[str, Any] = {}
    started = time.perf_counter()
    # Demo data; no TTL sweeps, bus relay or pollers, no schedules but the two fired here: the
    # REST paths alone, as a GUI session uses them.
    with LocalBackend(port=0, seed=True, ttl_sweep_s=None, bus_poll_s=None) as backend:
        result["backend_start_s"] = round(time.perf_counter() - started, 1)
        print(f"  backend up in {result['backend_start_s']} s", file=sys.stderr)
        fired = time.perf_counter()
        for region in backend.regions:
            for schedule in ("index-rebuild", "telemetry-aggregate"):
                backend.fire_schedule(schedule, region)
        result["schedules_s"] = round(time.perf_counter() - fired, 1)
        _raise_limits(backend)
        sessions = _sessions(backend, args.sessions)
        result["checks"] = _check_routes(sessions)
        result["setup_s"] = round(time.perf_counter() - started, 1)
        print(f"  ready to measure after {result['setup_s']} s", file=sys.stderr)
        think = (args.think_min, args.think_max)
        phases: dict[str, dict[str, Any]] = {
            "alone": {
                "sessions": sessions[:1],
                "kinds": KINDS,
                "think": (0.0, 0.0),
                "seconds": args.alone_seconds,
            },
            "healthz": {
                "sessions": sessions,
                "kinds": ("healthz",),
                "think": think,
                "seconds": args.healthz_seconds,
            },
            "warm_up": {
                "sessions": sessions,
                "kinds": KINDS,
                "think": think,
                "seconds": args.warm_up_seconds,
            },
            "load": {"sessions": sessions, "kinds": KINDS, "think": think, "seconds": args.seconds},
        }
        for n, (name, phase) in enumerate(phases.items()):
            phase["seed"] = args.seed + n
            result[name] = _measure(connection, client_pid, phase, name)
        result["containers"] = {
            f"{region} {name}": pool.size
            for (region, name), pool in sorted(backend.pools.items())
            if pool.size > 1
        }
    return result


def _logged_timeouts(log: Path) -> dict[str, int]:
    """Invocations the gateways gave up on (the function's timeout, counted from the moment the
    gateway hands the request to the pool: queueing for a busy pool's container included), by
    function, over the whole run (the warm-up too): what the 502 answers were."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError), log.open(errors="replace") as lines:
        for line in lines:
            match = re.search(r"(gui_\w+) timed out after \d+ s", line)
            if match and not line.startswith(" "):  # the message, not its traceback's lines
                found[match.group(1)] += 1
    return dict(found)


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _print_table(result: dict[str, Any]) -> None:
    load, alone, healthz = result["load"], result["alone"], result["healthz"]
    print()
    print(
        f"dashboard load: {result['sessions']} sessions (acme@eu-west-1 and globex@us-east-1, half each) for "
        f"{result['seconds']:g} s ({load['seconds']:g} s with the last answers), think "
        f"{result['think'][0]:g}-{result['think'][1]:g} s; clients in their own process; demo tenants' "
        f"rate limits raised to {RAISED_LIMIT:,}/min"
    )
    print(
        f"load average (1/5/15 min): before {result['load_before']}, after {result['load_after']} "
        f"({os.cpu_count()} CPUs)"
    )
    header = (
        f"{'request':<26}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"   {'alone p50/p95/p99 ms':<24}{'x alone p50/p95/p99':<20}"
    )
    print(header.rstrip())
    for kind in [*KINDS, "all"]:
        row = load["rows"].get(kind)
        if row is None:
            continue
        base = alone["rows"].get(kind, {})
        alone_cell = "/".join(_ms(base.get(q)) for q in ("p50_ms", "p95_ms", "p99_ms"))
        ratios = "/".join(_ratio(row[q], base.get(q)) for q in ("p50_ms", "p95_ms", "p99_ms"))
        print(
            f"{LABELS.get(kind, 'all requests'):<26}{row['count']:>7}{_ms(row['p50_ms']):>9}"
            f"{_ms(row['p95_ms']):>9}{_ms(row['p99_ms']):>9}{row['errors']:>8}   {alone_cell:<24}{ratios}"
        )
    base = healthz["rows"]["healthz"]
    every = load["rows"]["all"]
    print(
        f"{'GET /healthz (baseline)':<26}{base['count']:>7}{_ms(base['p50_ms']):>9}{_ms(base['p95_ms']):>9}"
        f"{_ms(base['p99_ms']):>9}{base['errors']:>8}   same sessions and think time for "
        f"{healthz['seconds']:g} s; all requests / healthz p50 "
        f"{_ratio(every['p50_ms'], base['p50_ms'])}x, p95 {_ratio(every['p95_ms'], base['p95_ms'])}x"
    )
    errors = every["errors"]
    print(
        f"zero errors: {'met' if errors == 0 else 'NOT met'} ({errors} of {every['count']} requests"
        + (f": {every['error_kinds']}" if errors else "")
        + f"); {load['requests_per_s']} requests/s answered (at no latency the sessions would send "
        f"{result['sessions'] / (sum(result['think']) / 2):.0f}/s)"
    )
    print(
        f"CPU seconds during the load: backend {load['backend_cpu_s']}, moto {load['moto_cpu_s']}, "
        f"clients {load['client_cpu_s']} (of {load['seconds'] * (os.cpu_count() or 1):.0f} available); "
        f"containers started beyond the first: {result['containers'] or 'none'}"
    )
    if result["function_timeouts_logged"]:
        print(
            f"function timeouts in the runtime's log (warm-up included): {result['function_timeouts_logged']}"
        )
    if result["warm_up"]["rows"]["all"]["errors"]:
        print(f"warm-up errors (not counted): {result['warm_up']['rows']['all']['error_kinds']}")


def main() -> None:
    args = _arguments()
    logging.disable(logging.WARNING)  # the handlers' logs would bury the table
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", message="The '.*' attribute with value")  # pydantic, at cold starts
    started = time.perf_counter()
    result: dict[str, Any] = {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "think": [args.think_min, args.think_max],
        "seed": args.seed,
        "load_before": load(),
    }
    print(f"load average before: {result['load_before']} ({os.cpu_count()} CPUs)", file=sys.stderr)
    # The clients' process first: spawned (not forked) and before the backend's threads exist.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    clients = context.Process(target=_clients, args=(theirs,), name="dashboard-load-clients", daemon=True)
    clients.start()
    log = args.json.with_suffix(".log")
    try:
        with stdout_to(log):
            # Errors the runtime logs (a function that timed out...) go to the log too: the table
            # counts them as the clients saw them.
            logging.basicConfig(stream=sys.stdout, level=logging.ERROR)
            assert clients.pid is not None
            result.update(_backend_run(args, ours, clients.pid))
    finally:
        with contextlib.suppress(OSError):
            ours.send(None)
        clients.join(10)
        if clients.is_alive():
            clients.kill()
    result["load_after"] = load()
    result["run_s"] = round(time.perf_counter() - started, 1)
    result["functions_stdout"] = log.name  # beside the JSON: no path of this machine in the result
    result["function_timeouts_logged"] = _logged_timeouts(log)
    _print_table(result)
    print(
        f"({result['run_s']} s in all, {result['setup_s']} s of it starting the backend and checking "
        "the routes)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json} (the functions' stdout: {log})")


if __name__ == "__main__":
    main()
