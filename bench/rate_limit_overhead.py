"""The rate limiter's overhead per request, against the same request with limiting off, in one run.

Two preferences apps are built exactly as the handler builds them, one with `GUI_RATE_LIMITING=true`
and one with `false`, on the same stores in moto's server (started here, on loopback). Each request
is a real API Gateway proxy event (`local.apigw.proxy_event`, with the authorizer's context) for
`GET /service/gui/preferences`, sent through Mangum; the two apps are called alternately, in
alternating order, so machine noise hits both. The difference is what the limiter costs: with moto
one `UpdateItem` per request (the previous window's count is cached per container).

Usage: `python bench/rate_limit_overhead.py [--requests 300] [--warmup 30] [--json out.json]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import authorized_get, percentile  # noqa: E402
from mangum import Mangum  # noqa: E402

from gui_core.dynamo import DynamoCounters, Table, to_dynamo  # noqa: E402
from gui_core.observability import TEXT_MIME_TYPES  # noqa: E402
from gui_core.rate_limit import RateLimiter  # noqa: E402
from gui_core.tokens import Principal  # noqa: E402
from local.aws import DUMMY_CREDENTIALS, MotoServer, aws_client, create_resources, table_names  # noqa: E402
from local.containers import lambda_context  # noqa: E402
from local.iam import local_secret_arn  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402

REGION = "eu-west-1"
TENANT = "bench-tenant"
PATH = "/service/gui/preferences"
FUNCTION = MANIFEST.function("gui_preferences")


def _handler(endpoint: str, *, rate_limiting: bool) -> Any:
    """The preferences app behind Mangum, its settings read from the environment its stack gives it."""
    from gui_preferences.app import create_app
    from gui_preferences.settings import PreferencesSettings

    environment = MANIFEST.environment_for(
        FUNCTION,
        table_names=table_names(MANIFEST),
        bucket_name=MANIFEST.bucket.local_bucket_name(REGION),
        bus_name=MANIFEST.bus.local_bus_name(),
        region=REGION,
        stage="bench",
        secret_arns={name: local_secret_arn(MANIFEST, name, region=REGION) for name in FUNCTION.secrets},
        extra={
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **DUMMY_CREDENTIALS,
            "GUI_RATE_LIMITING": "true" if rate_limiting else "false",
        },
    )
    with mock.patch.dict(os.environ, environment):
        app = create_app(PreferencesSettings())  # type: ignore[call-arg]
    return Mangum(app, lifespan="off", text_mime_types=[*TEXT_MIME_TYPES])


def _event(subject: str) -> dict[str, Any]:
    now = int(time.time())
    principal = Principal(
        tenant=TENANT,
        subject=subject,
        scopes=frozenset({"gui:preferences"}),
        roles=(),
        token_id=None,
        issued_at=now,
        expires_at=now + 3600,
    )
    event: dict[str, Any] = authorized_get(PATH, principal, REGION)
    return event


def _timed(handler: Any, event: dict[str, Any], *, limited: bool) -> float:
    context = lambda_context(FUNCTION, REGION)
    started = time.perf_counter()
    answer = handler(event, context)
    elapsed = time.perf_counter() - started
    if answer["statusCode"] != 200:
        raise RuntimeError(f"unexpected answer: {answer['statusCode']} {answer.get('body', '')[:300]}")
    headers = {k.lower() for k in answer.get("headers") or {}} | {
        k.lower() for k in answer.get("multiValueHeaders") or {}
    }
    if ("x-ratelimit-limit" in headers) != limited:
        raise RuntimeError("the rate-limit headers do not match the app's setting")
    return elapsed


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": percentile(ordered, 0.95) * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="requests to each app (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests to each app first")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs the app on the thread's loop

    with MotoServer("127.0.0.1", 0) as moto:
        create_resources(MANIFEST, endpoint_url=moto.endpoint_url, region=REGION)
        tenant = {
            "pk": TENANT,
            "sk": "tenant",
            "name": TENANT,
            "home_region": REGION,
            "plan": "standard",
            "rate_limits": {"reads": 10_000_000},  # never refused: the cost measured is the check's
        }
        dynamodb = aws_client("dynamodb", endpoint_url=moto.endpoint_url, region=REGION)
        dynamodb.put_item(TableName=MANIFEST.store("tenants").local_table_name(), Item=to_dynamo(tenant))
        handlers = {
            "limiting on": (_handler(moto.endpoint_url, rate_limiting=True), True),
            "limiting off": (_handler(moto.endpoint_url, rate_limiting=False), False),
        }
        event = _event("bench-user")
        for _ in range(args.warmup):
            for handler, limited in handlers.values():
                _timed(handler, event, limited=limited)
        # The limiter's own call, on a container of its own, for the figure's breakdown.
        limiter = RateLimiter(DynamoCounters(Table(table_names(MANIFEST)["limits"], dynamodb)))
        samples: dict[str, list[float]] = {name: [] for name in handlers}
        hits: list[float] = []
        names = list(handlers)
        for i in range(args.requests):
            for name in names if i % 2 == 0 else reversed(names):
                handler, limited = handlers[name]
                samples[name].append(_timed(handler, event, limited=limited))
            started = time.perf_counter()
            limiter.hit("bench-limiter-only", "reads", 10_000_000)
            hits.append(time.perf_counter() - started)

    rows = {name: _summary(values) for name, values in samples.items()}
    on, off = rows["limiting on"], rows["limiting off"]
    overhead = {key: on[key] - off[key] for key in on}
    ratio = {key: on[key] / off[key] for key in on}
    print(
        f"GET {PATH} through Mangum, {args.requests} requests per app, interleaved "
        f"(moto on loopback, python {sys.version.split()[0]})"
    )
    print(f"{'':<14}{'median ms':>11}{'p95 ms':>10}{'mean ms':>10}")
    for name, row in rows.items():
        print(f"{name:<14}{row['median_ms']:>11.3f}{row['p95_ms']:>10.3f}{row['mean_ms']:>10.3f}")
    print(
        f"{'overhead':<14}{overhead['median_ms']:>+11.3f}{overhead['p95_ms']:>+10.3f}{overhead['mean_ms']:>+10.3f}"
    )
    print(f"{'ratio':<14}{ratio['median_ms']:>10.2f}x{ratio['p95_ms']:>9.2f}x{ratio['mean_ms']:>9.2f}x")
    alone = _summary(hits)
    print(
        f"{'hit() alone':<14}{alone['median_ms']:>11.3f}{alone['p95_ms']:>10.3f}{alone['mean_ms']:>10.3f}"
        "   (RateLimiter.hit alone, same store: one UpdateItem)"
    )
    if args.json:
        document = {
            "request": f"GET {PATH}",
            "requests_per_app": args.requests,
            "warmup": args.warmup,
            "python": sys.version.split()[0],
            "store": "moto server on loopback",
            "limiting_on": rows["limiting on"],
            "limiting_off": rows["limiting off"],
            "overhead_ms": overhead,
            "ratio": ratio,
            "limiter_hit_alone": alone,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
