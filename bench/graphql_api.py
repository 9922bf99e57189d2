"""The GraphQL API against the REST calls it replaces (issue 16), through the local runtime's
gateway (the authorizer, the guard, the functions' containers), one client, in the same run:

- the dashboard screen: today the GUI makes three REST calls for it (`GET /dashboard`, the inbox's
  first page with its badge counts, the latest jobs); GraphQL fetches the same in one request.
  Goal: the GraphQL request at most 0.7x the three calls' summed latency.
- one object: `GET /jobs/{id}` against `{ job(id) { ... } }` asking for the same fields.
  Goal: at most 1.3x.

The DynamoDB calls each path makes are counted too (a botocore hook on the default session, whose
clients the local runtime's functions use): the screen's request and its three REST calls, once
each after the warm-ups. Each pair is measured alternately (REST, then GraphQL, `--requests` times
after 5 warm-ups), so
machine noise hits both; medians. The function's cold start against a bare boto3 handler is
`bench/cold_start.py --only gui_graphql`. Run: `.venv/bin/python bench/graphql_api.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "layers" / "core" / "python"),
    str(ROOT / "functions"),
    str(ROOT / "bench"),
]

from _common import stdout_to  # noqa: E402

from local.demo_notifications import seed_notifications  # noqa: E402
from local.runtime import LocalBackend  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "graphql_api.json"
SCREEN_REST = (
    "/service/gui/dashboard?range=7d",
    "/service/gui/notifications?limit=10",
    "/service/gui/jobs?limit=10",
)
SCREEN_QUERY = """query DashboardScreen {
  dashboard(range: "7d") {
    age_s as_of range { from to }
    modules { module figures { name unit value previous trend { delta } } breakdown }
  }
  notifications(first: 10) {
    nodes { id category severity title status created_at }
    counts { unread read acknowledged snoozed archived }
    pageInfo { hasNextPage endCursor }
  }
  jobs(first: 10) { nodes { id verb status progress requested_at } pageInfo { hasNextPage endCursor } }
}"""
JOB_FIELDS = "id verb status progress attempt requested_by requested_at updated_at version parameters"


class DynamoCalls:
    """DynamoDB calls made in this process (the functions run in it), by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        boto3._get_default_session().events.register(
            "after-call.dynamodb", self._after, unique_id="graphql-bench-calls"
        )

    def _after(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def during(self, call: Any) -> dict[str, int]:
        with self._lock:
            self.calls.clear()
        call()
        with self._lock:
            return dict(self.calls)


def _measure(requests: int) -> dict[str, Any]:
    counted = DynamoCalls()  # before the backend starts: its functions' clients carry the hook
    with LocalBackend(port=0, ttl_sweep_s=None, bus_poll_s=None) as backend, httpx.Client(timeout=30) as http:
        assert backend.keys is not None
        from local.demo import provision_tenant

        region = backend.regions[0]
        provision_tenant(
            MANIFEST,
            endpoint_url=backend.aws_endpoint_url,
            region=backend.regions,
            tenant="bench",
            home_region=region,
            plan="enterprise",
            rate_limits=dict.fromkeys(("reads", "writes", "dashboard", "job_commands"), 100_000),
        )
        token = backend.keys.mint(tenant="bench", subject="ada@bench", roles=["admin"], ttl_s=3600)
        base = backend.base_urls[region]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        seed_notifications(
            MANIFEST,
            endpoint_url=backend.aws_endpoint_url,
            region=region,
            tenant="bench",
            users=("ada@bench",),
        )
        job = ""
        for n in range(12):  # each its own key: the same body again would be a replay
            started = http.post(
                f"{base}/service/gui/jobs/reindex",
                headers={**headers, "Idempotency-Key": f"bench-{n}"},
                json={"index": "search"},
            )
            assert started.status_code == 201, started.text[:300]
            job = started.json()["id"]

        def rest(path: str) -> float:
            started = time.perf_counter()
            answer = http.get(f"{base}{path}", headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            return elapsed

        def graphql(query: str, variables: dict[str, Any] | None = None) -> float:
            started = time.perf_counter()
            answer = http.post(
                f"{base}/service/gui/graphql", headers=headers, json={"query": query, "variables": variables}
            )
            elapsed = (time.perf_counter() - started) * 1000
            body = answer.json()
            assert answer.status_code == 200, answer.text[:500]
            assert not body.get("errors"), answer.text[:500]
            return elapsed

        job_query = f"query Job($id: String!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}"
        screen_rest: list[float] = []
        screen_graphql: list[float] = []
        one_rest: list[float] = []
        one_graphql: list[float] = []
        for i in range(requests + 5):
            rest_sum = sum(rest(path) for path in SCREEN_REST)
            query_ms = graphql(SCREEN_QUERY)
            job_rest = rest(f"/service/gui/jobs/{job}")
            job_graphql = graphql(job_query, {"id": job})
            if i == 5:
                calls = {
                    "rest": counted.during(lambda: [rest(path) for path in SCREEN_REST]),
                    "graphql": counted.during(lambda: graphql(SCREEN_QUERY)),
                }
            if i >= 5:
                screen_rest.append(rest_sum)
                screen_graphql.append(query_ms)
                one_rest.append(job_rest)
                one_graphql.append(job_graphql)
    return {
        "requests": requests,
        "screen": {
            "rest_ms": statistics.median(screen_rest),
            "graphql_ms": statistics.median(screen_graphql),
        },
        "screen_dynamodb_calls": calls,
        "one_object": {"rest_ms": statistics.median(one_rest), "graphql_ms": statistics.median(one_graphql)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with stdout_to(args.json.with_suffix(".log")):
        results = _measure(args.requests)
    rows = (
        ("dashboard screen: 3 REST calls (sum) vs 1 GraphQL request", results["screen"], 0.7),
        ("one job: GET /jobs/{id} vs { job(id) }", results["one_object"], 1.3),
    )
    print(f"{'row':<60} {'REST ms':>8} {'GraphQL ms':>11} {'ratio':>6} {'goal':>6}  verdict")
    for name, row, goal in rows:
        ratio = row["graphql_ms"] / row["rest_ms"]
        verdict = "met" if ratio <= goal else "not met"
        figures = f"{row['rest_ms']:8.1f} {row['graphql_ms']:11.1f} {ratio:5.2f}x {goal:5.1f}x"
        print(f"{name:<60} {figures}  {verdict}")
    print(f"(medians of {args.requests} alternating requests after 5 warm-ups; one client, sequential)")
    for path, calls in results["screen_dynamodb_calls"].items():
        listed = ", ".join(f"{name} {n}" for name, n in sorted(calls.items()))
        print(f"dashboard screen's DynamoDB calls, {path}: {sum(calls.values())} ({listed})")
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
