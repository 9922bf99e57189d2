"""The monthly cost of one region (issue 14, docs/cost.md): the units `bench/scale.py` measured per
call and per consumer invocation, times how often the specification's load makes each one, times the
region's list prices. Rerun it when the code changes: `python bench/scale.py` first (its results
JSON), then `python bench/cost_model.py`.

Three tables below, each a stated input, none downloaded:
- `PRICES`: eu-west-1 (Ireland) list prices in USD, as dated in `PRICES_AS_OF`, from the services'
  public pricing pages; no free tier, no savings plan, no data transfer out.
- `LOAD`: the specification's load (100 concurrent GUI sessions, 10,000 events an hour, 90 days of
  retention, 100 tenants) and what a session and an event do; `--scale 100` multiplies sessions,
  events and tenants (a session per tenant on average either way).
- `FUNCTION_OF`: the function each bench row invokes (its memory from the manifest).

Per call the model takes the units measured at the bench's larger size (the tenant as the
specification's retention makes it: 10,000 events an hour for 90 days over 100 tenants is about
216,000 events per tenant): DynamoDB read and write request units, S3 requests, and the call's
latency as its Lambda duration. That latency is the local runtime's on moto on a shared machine, so
the Lambda duration and GB-seconds are an upper bound; every other unit is what DynamoDB and S3
would bill for the same calls.

Usage: `python bench/cost_model.py [--results bench/results/scale.json] [--scale 1 --scale 100]`;
prints the tables (markdown) and writes bench/results/cost_model.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from stacks.manifest import MANIFEST  # noqa: E402

SCALE_RESULTS = ROOT / "bench" / "results" / "scale.json"
RESULTS = ROOT / "bench" / "results" / "cost_model.json"
MONTH_S = 730 * 3600
BENCH_HOLD_S = 2.0  # bench/scale.py's STREAM_HOLD_S  # AWS bills a month as 730 hours
MB = 1024 * 1024
GB = 1024 * MB

PRICES_AS_OF = "2025-06-01"
PRICES_REGION = "eu-west-1"
# USD, eu-west-1 list prices as of PRICES_AS_OF (AWS pricing pages of Lambda, API Gateway, DynamoDB,
# Kinesis Data Streams, EventBridge, SQS, S3 and CloudWatch); first tier of each.
PRICES: dict[str, float] = {
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_s": 0.0000166667,  # x86_64, per GB-second
    "rest_request": 3.50 / 1e6,  # API Gateway REST API, first 333 million a month
    "ws_message": 1.00 / 1e6,  # API Gateway WebSocket, per message of up to 32 KB, first billion
    "ws_connection_minute": 0.25 / 1e6,
    "ddb_wru": 0.7068 / 1e6,  # DynamoDB on-demand, Standard table class (after the 2024-11 cut)
    "ddb_rru": 0.1413 / 1e6,
    "ddb_gb_month": 0.283,  # storage, Standard table class
    "kinesis_shard_hour": 0.015,  # provisioned mode
    "kinesis_put_unit": 0.014 / 1e6,  # per 25 KB PUT payload unit
    "eventbridge_event": 1.00 / 1e6,  # custom events published to a bus
    "scheduler_invocation": 1.00 / 1e6,  # EventBridge Scheduler
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB request
    "s3_gb_month": 0.023,  # S3 Standard, first 50 TB
    "s3_put_request": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get_request": 0.0004 / 1000,  # GET and all other requests
    "logs_ingest_gb": 0.57,  # CloudWatch Logs, standard class
    "logs_gb_month": 0.03,
    "metric_month": 0.30,  # CloudWatch custom metric, first 10,000
    "alarm_month": 0.10,  # standard resolution alarm
    # The search indexes' shared file system (EFS, Standard storage class, Elastic Throughput) and the
    # network its functions run in (no NAT: gateway endpoints for S3 and DynamoDB, free; interface
    # endpoints for the other services, billed per endpoint, AZ and hour, and per GB processed).
    # us-east-1's pages (read 2026-12-08) give EFS Standard $0.30, Elastic Throughput reads $0.03 and
    # writes $0.06 a GB, an interface endpoint $0.01 an AZ-hour; the eu-west-1 storage ($0.33) and
    # endpoint ($0.011) prices below were written from memory, not checked against its page.
    "efs_gb_month": 0.33,
    "efs_read_gb": 0.03,
    "efs_write_gb": 0.06,
    "vpc_endpoint_hour": 0.011,  # an interface endpoint in one AZ (see above)
    "vpc_endpoint_gb": 0.01,  # data processed by interface endpoints, first PB
}
# The network of the functions that mount the shared file system (stacks/constructs/network.py).
INTERFACE_ENDPOINTS = 3  # EventBridge, Secrets Manager, SQS (stacks/constructs/network.py)
NETWORK_AZS = 2
INDEX_VERSIONS_KEPT = 2  # a tenant's current version and the one before, until its successor settles

# The specification's load and what it makes each component do (assumptions, named and stated).
LOAD: dict[str, float] = {
    "sessions": 100,  # concurrent GUI sessions, all month (an upper bound: 730 hours of them)
    "events_per_hour": 10_000,  # domain events in the region
    "retention_days": 90,
    "tenants": 100,
    "session_request_interval_s": 30,  # a session's REST calls: one every 30 s on average
    "sse_share": 0.1,  # sessions on the SSE fallback instead of the WebSocket
    "sse_hold_s": 20,  # a deployed SSE hold (the bench's hold is shorter: its units scale up)
    "resume_every_s": 600,  # a WebSocket session reconnects and resumes every 10 minutes
    "authorizer_cache_s": 300,  # the REST authorizer's answer is cached per token this long
    "job_event_share": 0.3,  # events that are JobStatusChanged (gui_job_events)
    "artifact_event_share": 0.05,  # events that are ArtifactPublished (registry and indexer)
    "stream_polls_per_s": 10,  # a Kinesis consumer's batches a second (1 shard x 10 lanes)
    "aggregate_every_s": 300,  # the telemetry aggregation, per tenant
    "rebuild_every_s": 6 * 3600,  # the index drift check, per tenant
    "lambda_base_ms": 20,  # a warm invocation's own work (routing, validation, JSON), modelled durations
    "ddb_request_ms": 6,  # a DynamoDB request's round trip from Lambda
    "s3_request_ms": 25,  # an S3 request's (a GET of a small object)
    "other_request_ms": 15,  # SQS, EventBridge, Kinesis, @connections
    "log_bytes_per_invocation": 1500,  # a structured line, an EMF document, START/END/REPORT
    "log_retention_months": 1,
    "custom_metrics": 150,  # EMF metrics x their dimensions, region-wide
    "alarms": 40,
    "fact_bytes": 200,  # one telemetry fact in a day's compacted Parquet file
    "ddb_item_overhead": 100,  # DynamoDB's bytes of storage per item besides its attributes
}

# The REST mix of a session's calls (bench rows; shares sum to 1).
REST_MIX: dict[str, float] = {
    "notifications.list": 0.18,
    "notifications.unread": 0.06,
    "notifications.read_all": 0.01,
    "jobs.list": 0.08,
    "jobs.status": 0.03,
    "jobs.verb": 0.02,
    "views.list": 0.04,
    "artifacts.search": 0.07,
    "artifacts.kind": 0.03,
    "lineage.graph": 0.04,
    "dashboard.repeat": 0.14,
    "dashboard.first": 0.02,
    "dashboard.range": 0.02,
    "metrics.repeat": 0.09,
    "metrics.first": 0.02,
    "search.warm": 0.10,
    "search.cold": 0.01,
    "audit.list": 0.02,
    "audit.actor": 0.01,
    "views.module": 0.01,
}

FUNCTION_OF: dict[str, str] = {
    "notifications": "gui_notifications",
    "jobs": "gui_jobs",
    "views": "gui_preferences",
    "artifacts": "gui_artifacts",
    "lineage": "gui_artifacts",
    "dashboard": "gui_dashboard",
    "metrics": "gui_dashboard",
    "search": "gui_search",
    "audit": "gui_admin",
    "sse": "gui_stream",
    "archiver": "gui_archiver",
    "rollups": "gui_dashboard_rollups",
    "realtime": "gui_realtime",
    "fanout": "gui_fanout",
    "facts": "gui_telemetry_facts",
    "indexer": "gui_indexer",
    "jobevents": "gui_job_events",
    "artifactevents": "gui_artifact_events",
    "rebuild": "gui_index_rebuild",
    "aggregate": "gui_telemetry",
}
SERVICES = (
    "Lambda requests",
    "Lambda GB-s",
    "API Gateway REST",
    "API Gateway WebSocket messages",
    "API Gateway WebSocket connection minutes",
    "DynamoDB reads",
    "DynamoDB writes",
    "DynamoDB storage",
    "Kinesis",
    "EventBridge",
    "SQS",
    "S3 requests",
    "S3 storage",
    "EFS",
    "VPC endpoints",
    "CloudWatch logs",
    "CloudWatch metrics and alarms",
)


def memory_gb(function: str) -> float:
    return MANIFEST.function(function).memory_mb / 1024


class Bill:
    """Monthly amounts per service, and what each operation contributes (for "what dominates")."""

    def __init__(self) -> None:
        self.services: dict[str, float] = defaultdict(float)
        self.operations: dict[str, float] = defaultdict(float)
        self.units: dict[str, float] = defaultdict(float)
        self.cells: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, service: str, operation: str, unit: str, count: float, price: float) -> None:
        self.services[service] += count * price
        self.operations[operation] += count * price
        self.units[unit] += count
        self.cells[operation][service] += count * price

    def invocations(self, operation: str, function: str, count: float, ms: float | None) -> None:
        self.add("Lambda requests", operation, "lambda invocations", count, PRICES["lambda_request"])
        gb_s = count * (ms or 0.0) / 1000 * memory_gb(function)
        self.add("Lambda GB-s", operation, "lambda GB-s", gb_s, PRICES["lambda_gb_s"])
        log_gb = count * LOAD["log_bytes_per_invocation"] / GB
        self.add("CloudWatch logs", operation, "log GB ingested", log_gb, PRICES["logs_ingest_gb"])
        stored = log_gb * LOAD["log_retention_months"]
        self.add("CloudWatch logs", operation, "log GB-month", stored, PRICES["logs_gb_month"])

    def usage(self, operation: str, count: float, usage: Mapping[str, float]) -> None:
        """`count` calls each consuming `usage` (a bench row's median units)."""
        self.add("DynamoDB reads", operation, "RRU", count * usage.get("rru", 0.0), PRICES["ddb_rru"])
        self.add("DynamoDB writes", operation, "WRU", count * usage.get("wru", 0.0), PRICES["ddb_wru"])
        puts, gets = usage.get("s3_put_requests", 0.0), usage.get("s3_get_requests", 0.0)
        self.add("S3 requests", operation, "S3 PUT-class", count * puts, PRICES["s3_put_request"])
        self.add("S3 requests", operation, "S3 GET-class", count * gets, PRICES["s3_get_request"])
        read = usage.get("shared_bytes_read", 0.0)
        self.add("EFS", operation, "EFS GB read", count * read / GB, PRICES["efs_read_gb"])
        if operation.startswith("indexer"):  # a batch writes the new files it uploads to S3 there too
            written = usage.get("s3_bytes_written", 0.0)
            self.add("EFS", operation, "EFS GB written", count * written / GB, PRICES["efs_write_gb"])
        for service, unit in (("sqs", "SQS requests"), ("events", "EventBridge entries")):
            requests = usage.get(f"{service}.requests", 0.0)
            if requests:
                price = PRICES["sqs_request"] if service == "sqs" else PRICES["eventbridge_event"]
                self.add(
                    "SQS" if service == "sqs" else "EventBridge", operation, unit, count * requests, price
                )


def row(rows: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    found = rows.get(key)
    if found is None or not found.get("calls"):
        return None
    return found


class Month:
    """One month at `factor` times the specification's load, priced from one bench phase."""

    def __init__(self, phase: Mapping[str, Any], factor: float, *, duration: str = "modelled") -> None:
        self.duration = duration
        self.rows: Mapping[str, Any] = phase["rows"]
        self.seeded: Mapping[str, Any] = phase.get("seeding", {})
        self.bill = Bill()
        self.missing: list[str] = []
        self.sessions = LOAD["sessions"] * factor
        self.tenants = LOAD["tenants"] * factor
        self.events = LOAD["events_per_hour"] * factor * MONTH_S / 3600
        self.counts: dict[str, float] = {
            "sessions": self.sessions,
            "tenants": self.tenants,
            "events a month": self.events,
        }

    def price(self) -> Month:
        self.rest()
        self.live()
        self.stream()
        self.schedules()
        self.storage()
        self.network()
        metrics = LOAD["custom_metrics"] * PRICES["metric_month"] + LOAD["alarms"] * PRICES["alarm_month"]
        self.bill.add("CloudWatch metrics and alarms", "metrics", "metric-months", 1.0, metrics)
        return self

    def measured(self, key: str) -> Mapping[str, Any] | None:
        found = row(self.rows, key)
        if found is None:
            self.missing.append(key)
        return found

    def call(self, key: str, count: float, *, invocations: float | None = None) -> None:
        """`count` of the row's calls, in `invocations` of its function (default: one each)."""
        measured = self.measured(key)
        if measured is None:
            return
        function = FUNCTION_OF[key.split(".", maxsplit=1)[0]]
        self.bill.invocations(key, function, count if invocations is None else invocations, self.ms(measured))
        self.bill.usage(key, count, measured["usage"])

    def ms(self, measured: Mapping[str, Any]) -> float:
        """A call's Lambda duration: the local latency (`local`, an upper bound), or modelled from
        its AWS requests (`modelled`: `LOAD`'s milliseconds per request of each service)."""
        if self.duration == "local":
            return float(measured.get("ms") or 0.0)
        usage = measured["usage"]
        other = sum(v for k, v in usage.items() if k.endswith(".requests"))
        return (
            LOAD["lambda_base_ms"]
            + LOAD["ddb_request_ms"] * usage.get("ddb_requests", 0.0)
            + LOAD["s3_request_ms"] * usage.get("s3_requests", 0.0)
            + LOAD["other_request_ms"] * other
        )

    def rest(self) -> None:
        """The sessions' calls, each through API Gateway, the authorizer (cached) and a function."""
        rest = self.sessions * MONTH_S / LOAD["session_request_interval_s"]
        self.counts["REST calls a month"] = rest
        self.bill.add("API Gateway REST", "REST requests", "REST requests", rest, PRICES["rest_request"])
        for key, share in REST_MIX.items():
            self.call(key, rest * share)
        authorizations = self.sessions * MONTH_S / LOAD["authorizer_cache_s"]
        self.bill.invocations("authorizer", "gui_authorizer", authorizations, 20.0)

    def live(self) -> None:
        """WebSocket connections all month, a push per event to each of its tenant's sessions; the
        SSE fallback's holds."""
        ws_sessions = self.sessions * (1 - LOAD["sse_share"])
        minutes = ws_sessions * MONTH_S / 60
        self.bill.add(
            "API Gateway WebSocket connection minutes",
            "WebSocket",
            "connection minutes",
            minutes,
            PRICES["ws_connection_minute"],
        )
        resumes = ws_sessions * MONTH_S / LOAD["resume_every_s"]
        self.bill.add(
            "API Gateway WebSocket messages", "realtime.resume", "messages", resumes, PRICES["ws_message"]
        )
        self.call("realtime.resume", resumes)
        pushes = self.events * ws_sessions / self.tenants
        self.bill.add("API Gateway WebSocket messages", "WebSocket", "messages", pushes, PRICES["ws_message"])
        holds = self.sessions * LOAD["sse_share"] * MONTH_S / LOAD["sse_hold_s"]
        self.bill.add("API Gateway REST", "sse.hold", "REST requests", holds, PRICES["rest_request"])
        hold = self.measured("sse.hold")
        if hold is not None:  # the function runs the whole hold; its reads every 0.25 s scale with it
            self.bill.invocations("sse.hold", "gui_stream", holds, LOAD["sse_hold_s"] * 1000)
            self.bill.usage("sse.hold", holds * LOAD["sse_hold_s"] / BENCH_HOLD_S, hold["usage"])

    def stream(self) -> None:
        """Events published to the bus, a rule puts each on the stream, consumers take batches."""
        events = self.events
        self.bill.add("EventBridge", "events", "events published", events, PRICES["eventbridge_event"])
        shards = max(1, math.ceil(events / MONTH_S / 500))  # half a shard's 1,000 records/s
        self.bill.add(
            "Kinesis", "events", "shard hours", shards * MONTH_S / 3600, PRICES["kinesis_shard_hour"]
        )
        self.bill.add("Kinesis", "events", "PUT payload units", events, PRICES["kinesis_put_unit"])
        batches = min(events, LOAD["stream_polls_per_s"] * shards * MONTH_S)
        self.counts["stream batches a month"] = batches
        self.call("fanout.event", events, invocations=batches)  # per event: its replay and inbox writes
        files = min(
            events, batches * min(self.tenants, max(1.0, events / batches))
        )  # a file per tenant and batch
        self.call("facts.batch", files, invocations=batches)
        self.call("jobevents.status", events * LOAD["job_event_share"])
        self.call("archiver.expired", events)  # each inbox item expires once, 90 days on
        # Each change of a job, an inbox item or an artifact feeds the rollups (a job's, measured).
        self.call("rollups.job", events * (1 + LOAD["job_event_share"] + LOAD["artifact_event_share"]))
        artifacts = events * LOAD["artifact_event_share"]
        self.call("artifactevents.published", artifacts)
        self.call("indexer.batch", artifacts / 10)  # the bench's batch is 10 publications

    def schedules(self) -> None:
        """Per-tenant work items through a queue (send, receive, delete)."""
        for key, every in (
            ("aggregate.warm", LOAD["aggregate_every_s"]),
            ("rebuild.drift", LOAD["rebuild_every_s"]),
        ):
            runs = self.tenants * MONTH_S / every
            self.call(key, runs)
            self.bill.add("SQS", key, "SQS requests", 3 * runs, PRICES["sqs_request"])
            fired = MONTH_S / every
            self.bill.add("EventBridge", key, "scheduler invocations", fired, PRICES["scheduler_invocation"])

    def storage(self) -> None:
        """What the retention keeps, from the bench's item sizes."""
        seeded = self.seeded
        sizes = {k: seeded["bytes"][k] / max(1, seeded["items"][k]) for k in seeded.get("bytes", {})}
        retained = self.events * LOAD["retention_days"] / 30.4
        overhead = LOAD["ddb_item_overhead"]
        ddb_bytes = (
            retained * (sizes.get("inbox", 700) + overhead)  # an inbox item per event
            + self.events / 30.4 * (sizes.get("replay", 400) + overhead)  # the replay log keeps a day
            + retained * LOAD["job_event_share"] * (sizes.get("jobs", 1500) + overhead)  # upper bound
            + retained * LOAD["artifact_event_share"] * (sizes.get("artifacts", 800) + overhead)
        )
        self.counts["DynamoDB GB stored"] = ddb_bytes / GB
        self.bill.add("DynamoDB storage", "storage", "GB-month", ddb_bytes / GB, PRICES["ddb_gb_month"])
        cold = row(self.rows, "search.cold")
        docs = max(1, seeded.get("items", {}).get("search index", 1))
        # A version's bytes: what the shared folder held when a cold container opened it (what a cold
        # container downloaded, before the shared folder).
        usage = cold["usage"] if cold else {}
        held = usage.get("shared_bytes_held") or usage.get("s3_bytes_read", 0.0)
        per_doc = held / docs
        index_bytes = retained * LOAD["artifact_event_share"] * per_doc
        s3_bytes = retained * LOAD["fact_bytes"] + index_bytes
        self.counts["S3 GB stored"] = s3_bytes / GB
        self.bill.add("S3 storage", "storage", "GB-month", s3_bytes / GB, PRICES["s3_gb_month"])
        efs_bytes = index_bytes * INDEX_VERSIONS_KEPT
        self.counts["EFS GB stored"] = efs_bytes / GB
        self.bill.add("EFS", "storage", "EFS GB-month", efs_bytes / GB, PRICES["efs_gb_month"])

    def network(self) -> None:
        """The interface endpoints of the network the shared file system's functions run in, all
        month: a fixed cost, whatever the load."""
        hours = INTERFACE_ENDPOINTS * NETWORK_AZS * MONTH_S / 3600
        self.bill.add("VPC endpoints", "network", "endpoint AZ-hours", hours, PRICES["vpc_endpoint_hour"])


def model(
    phase: Mapping[str, Any], factor: float, duration: str = "modelled"
) -> tuple[Bill, dict[str, float], list[str]]:
    """The bill of one month at `factor` times the specification's load, from one bench phase."""
    month = Month(phase, factor, duration=duration).price()
    return month.bill, month.counts, month.missing


def money(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=SCALE_RESULTS, help="bench/scale.py's results JSON")
    parser.add_argument("--scale", type=float, action="append", help="load factors (default: 1 and 100)")
    parser.add_argument(
        "--phase", choices=("large", "small"), default="large", help="the bench size to price"
    )
    parser.add_argument(
        "--duration",
        choices=("modelled", "local"),
        default="modelled",
        help="Lambda durations from each call's AWS requests (default) or its local latency (upper bound)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    factors = args.scale or [1.0, 100.0]
    if not args.results.exists():  # `make bench` runs this before bench/scale.py
        print(f"cost model: no {args.results.name} yet: run bench/scale.py first")
        return
    measured = json.loads(args.results.read_text())
    phase = measured["phases"][1 if args.phase == "large" else 0]
    print(
        f"cost model: {PRICES_REGION} list prices as of {PRICES_AS_OF}; units of bench/scale.py at "
        f"{phase['size']:,} items per collection ({args.results.name}, sizes {measured['sizes']}); "
        f"Lambda durations {args.duration}"
    )
    bills = {factor: model(phase, factor, args.duration) for factor in factors}
    header = "| service | " + " | ".join(f"{f:g}x: USD a month" for f in factors) + " |"
    lines = [header, "|" + " --- |" * (1 + len(factors))]
    for service in SERVICES:
        lines.append(
            f"| {service} | "
            + " | ".join(money(bills[f][0].services.get(service, 0.0)) for f in factors)
            + " |"
        )
    lines.append(
        "| **total** | "
        + " | ".join(f"**{money(sum(bills[f][0].services.values()))}**" for f in factors)
        + " |"
    )
    print("\n".join(lines))
    for factor, (bill, counts, missing) in bills.items():
        total = sum(bill.services.values())
        top = sorted(bill.operations.items(), key=lambda kv: -kv[1])[:8]
        print(f"\nat {factor:g}x: " + ", ".join(f"{k} {v:,.0f}" for k, v in counts.items()))
        print("largest operations: " + ", ".join(f"{k} {money(v)} ({v / total:.0%})" for k, v in top))
        for operation, _ in top[:3]:
            cells = sorted(bill.cells[operation].items(), key=lambda kv: -kv[1])
            print(
                f"  {operation}: " + ", ".join(f"{service} {money(v)}" for service, v in cells if v >= 0.005)
            )
        if missing:
            print("rows missing from the results (not priced): " + ", ".join(sorted(set(missing))))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "prices_as_of": PRICES_AS_OF,
                "region": PRICES_REGION,
                "prices": PRICES,
                "load": LOAD,
                "rest_mix": REST_MIX,
                "bench": {"results": str(args.results.name), "size": phase["size"]},
                "duration": args.duration,
                "bills": {
                    f"{factor:g}x": {
                        "services": dict(bill.services),
                        "total": sum(bill.services.values()),
                        "operations": dict(bill.operations),
                        "by_operation": {k: dict(v) for k, v in bill.cells.items()},
                        "units": dict(bill.units),
                        "counts": counts,
                        "missing": sorted(set(missing)),
                    }
                    for factor, (bill, counts, missing) in bills.items()
                },
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
