"""p50/p95 of every REST endpoint through the local gateway path, against `/healthz` in the same run.

The local runtime is started here (its own moto server, demo data, both regions); each request goes
over HTTP through the gateway, the real authorizer (cached per token, as API Gateway does) and the
real handler to moto. `/healthz` answers from the gateway alone, so the ratio is what the Lambda
path adds on this machine. Usage: `python bench/endpoint_latency.py [--requests 60] [--json out.json]`;
the result goes to bench/results/endpoint_latency.json unless `--json` says otherwise, the functions'
stdout (Powertools logs, EMF) to endpoint_latency.log beside it.
Mutations are measured with bodies that succeed every time (new view names, idempotency keys...).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import percentile, stdout_to  # noqa: E402

from local.demo import DemoTenant, DemoUser  # noqa: E402
from local.demo_artifacts import seed_artifacts  # noqa: E402
from local.demo_notifications import seed_notifications  # noqa: E402
from local.runtime import LocalBackend  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "endpoint_latency.json"
BENCH_CLASSES = ("reads", "writes", "admin", "job_commands", "dashboard", "search")
Request = Callable[[int], tuple[str, str, dict[str, Any] | None, dict[str, str]]]


def _requests(first_view: str, first_job: str, first_note: str, artifact: str) -> dict[str, Request]:
    return {
        "GET /healthz (baseline)": lambda i: ("GET", "/healthz", None, {}),
        "GET /dashboard": lambda i: ("GET", "/service/gui/dashboard", None, {}),
        "GET /metrics/{module}": lambda i: ("GET", "/service/gui/metrics/coverage", None, {}),
        "GET /artifacts/search": lambda i: ("GET", "/service/gui/artifacts/search?kind=coverage", None, {}),
        "GET /artifacts/{id}": lambda i: ("GET", f"/service/gui/artifacts/{artifact}", None, {}),
        "GET /artifacts/{id}/lineage": lambda i: (
            "GET",
            f"/service/gui/artifacts/{artifact}/lineage?depth=3",
            None,
            {},
        ),
        "GET /preferences": lambda i: ("GET", "/service/gui/preferences", None, {}),
        "PUT /preferences": lambda i: (
            "PUT",
            "/service/gui/preferences",
            {"theme": "dark", "pinned_dashboards": [f"d{i}"]},  # a new body: no replay
            {"If-Match": "*"},
        ),
        "GET /preferences/views": lambda i: ("GET", "/service/gui/preferences/views", None, {}),
        "POST /preferences/views": lambda i: (
            "POST",
            "/service/gui/preferences/views",
            {"name": f"bench {uuid.uuid4().hex[:8]}", "module": "coverage"},
            {},
        ),
        "GET /preferences/views/{id}": lambda i: (
            "GET",
            f"/service/gui/preferences/views/{first_view}",
            None,
            {},
        ),
        "GET /audit": lambda i: ("GET", "/service/gui/audit", None, {}),
        "GET /admin/tenant": lambda i: ("GET", "/service/gui/admin/tenant", None, {}),
        "GET /jobs": lambda i: ("GET", "/service/gui/jobs", None, {}),
        "GET /jobs/{id}": lambda i: ("GET", f"/service/gui/jobs/{first_job}", None, {}),
        "POST /jobs/{verb}": lambda i: (
            "POST",
            "/service/gui/jobs/reindex",
            {"index": "search"},
            {"Idempotency-Key": uuid.uuid4().hex},
        ),
        "GET /notifications": lambda i: ("GET", "/service/gui/notifications", None, {}),
        "GET /notifications/{id}": lambda i: ("GET", f"/service/gui/notifications/{first_note}", None, {}),
        "POST /notifications/{id}/read": lambda i: (
            "POST",
            f"/service/gui/notifications/{first_note}/read",
            {},
            {"Idempotency-Key": uuid.uuid4().hex},  # a new mutation each time: no replay
        ),
    }


def _measure(requests: int) -> list[dict[str, Any]]:
    # High limits: the bench measures latency, not the limiter's refusals.
    with LocalBackend(port=0, ttl_sweep_s=None, bus_poll_s=None) as backend, httpx.Client(timeout=30) as http:
        assert backend.keys is not None
        from local.demo import provision_tenant

        provision_tenant(
            MANIFEST,
            endpoint_url=backend.aws_endpoint_url,
            region=backend.regions,
            tenant="bench",
            home_region=backend.regions[0],
            plan="enterprise",
            rate_limits=dict.fromkeys(BENCH_CLASSES, 100_000),
        )
        token = backend.keys.mint(tenant="bench", subject="ada@bench", roles=["admin"], ttl_s=3600)
        base = backend.base_urls[backend.regions[0]]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def send(method: str, path: str, body: Any, extra: dict[str, str]) -> httpx.Response:
            return http.request(
                method,
                f"{base}{path}",
                headers={**headers, **extra},
                content=json.dumps(body).encode() if body is not None else None,
            )

        view = send(
            "POST", "/service/gui/preferences/views", {"name": "bench view", "module": "jobs"}, {}
        ).json()["id"]
        job = send("POST", "/service/gui/jobs/reindex", {"index": "lineage"}, {}).json()["id"]
        seed_notifications(
            MANIFEST,
            endpoint_url=backend.aws_endpoint_url,
            region=backend.regions[0],
            tenant="bench",
            users=("ada@bench", "otto@bench"),
        )
        seed_artifacts(
            MANIFEST,
            endpoint_url=backend.aws_endpoint_url,
            regions=backend.regions[:1],
            tenants=(
                DemoTenant(
                    "bench",
                    "Bench",
                    backend.regions[0],
                    "enterprise",
                    "en-GB",
                    users=(DemoUser("ada@bench", roles=("admin",)),),
                ),
            ),
        )
        found = send("GET", "/service/gui/artifacts/search?kind=mapping", None, {}).json()["items"]
        artifact = found[0]["id"]
        notes = send("GET", "/service/gui/notifications", None, {}).json().get("items", [])
        note = notes[0]["id"] if notes else "none"
        results = []
        for name, make in _requests(view, job, note, artifact).items():
            timings: list[float] = []
            statuses: set[int] = set()
            for i in range(requests + 5):
                method, path, body, extra = make(i)
                started = time.perf_counter()
                answer = send(method, path, body, extra)
                elapsed = (time.perf_counter() - started) * 1000
                if i >= 5:  # warm-up: container cold starts and first authorizer calls
                    timings.append(elapsed)
                    statuses.add(answer.status_code)
            results.append(
                {
                    "endpoint": name,
                    "p50_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(percentile(timings, 0.95), 2),
                    "statuses": sorted(statuses),
                }
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    with stdout_to(args.json.with_suffix(".log")):
        results = _measure(args.requests)
    baseline = results[0]["p50_ms"]
    print(f"{'endpoint':<34} {'p50 ms':>8} {'p95 ms':>8} {'x healthz':>10}  statuses")
    for r in results:
        ratio = r["p50_ms"] / baseline
        print(f"{r['endpoint']:<34} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {ratio:10.1f}  {r['statuses']}")
    print(f"({args.requests} requests per endpoint after 5 warm-up requests; one client, sequential)")
    args.json.write_text(json.dumps({"requests": args.requests, "results": results}, indent=2))
    print(f"written to {args.json} (the functions' stdout: {args.json.with_suffix('.log')})")


if __name__ == "__main__":
    main()
