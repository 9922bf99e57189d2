"""Demo telemetry of the local runtime: 30 days of facts per demo tenant, in its home region's
bucket, so the dashboards' telemetry (SLA, cost per module, queues, trends) has figures as soon as
the aggregation schedule first fires.

The facts are made the way the deployed path makes them: domain events (the `events/aws` samples
with new ids, times and values) go through `gui_telemetry.facts.facts_of` and are written by
`gui_telemetry.store.FactWriter`, one Parquet file per tenant and day. The events are generated
from a seeded random source per tenant, so every start writes the same files (the keys are fixed:
a restart overwrites them, it does not add to them).
"""

from __future__ import annotations

import random
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui_core.objects import ObjectStore
from gui_telemetry.facts import Fact, facts_of
from gui_telemetry.store import FactWriter, utc_day
from local.apigw import sample_event
from local.aws import aws_client
from local.demo import TENANTS

if TYPE_CHECKING:
    from local.demo import DemoTenant
    from stacks.manifest import Manifest

DAYS = 30
BATCH = "demo-seed"
# verb -> (runs a day, typical minutes, failure share)
_JOBS: dict[str, tuple[int, float, float]] = {
    "ingest": (4, 6.0, 0.05),
    "coverage": (2, 14.0, 0.08),
    "mapping": (2, 35.0, 0.15),
    "overlay": (1, 9.0, 0.05),
    "readiness": (2, 3.0, 0.02),
    "prompt_pack_calibration": (1, 50.0, 0.2),
}
_MODULE_METRICS: dict[str, dict[str, tuple[float, float]]] = {  # module -> metric -> (low, high)
    "ingestion": {"records.ingested": (40_000, 90_000), "queue.length": (0, 6)},
    "coverage": {"coverage.ratio": (0.82, 0.93), "queue.length": (0, 3)},
    "mapping": {"candidates.accepted_ratio": (0.74, 0.88), "queue.length": (0, 8)},
    "overlay": {"labels.translated": (300, 1200)},
}


def _detail(
    rng: random.Random, sample: str, tenant: str, region: str, at: datetime, **fields: Any
) -> dict[str, Any]:
    detail: dict[str, Any] = dict(sample_event(sample)["detail"])
    detail.update(
        tenant=tenant,
        region=region,
        event_id=str(uuid.UUID(int=rng.getrandbits(128))),
        time=at.isoformat(timespec="milliseconds"),
        **fields,
    )
    return detail


def demo_events(
    tenant: DemoTenant, now: datetime, *, days: int = DAYS
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(detail-type, detail) of the tenant's last `days` days, oldest first within each kind."""
    rng = random.Random(f"telemetry-{tenant.tenant}")  # noqa: S311 - demo data, not security
    region = tenant.home_region
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    for day in range(days):
        midnight = start + timedelta(days=day)
        for verb, (runs, minutes, failure) in _JOBS.items():
            for run in range(runs):
                requested = midnight + timedelta(hours=rng.uniform(0, 22))
                if requested >= now:
                    continue
                job_id = f"demo-{verb[:4]}-{day:02d}{run}"
                yield "JobRequested", _detail(
                    rng, "eventbridge_job_requested", tenant.tenant, region, requested,
                    job_id=job_id, verb=verb, parameters={}, requested_by=tenant.admin.subject, attempt=1,
                )  # fmt: skip
                started = requested + timedelta(seconds=rng.uniform(5, 240))
                yield "JobStatusChanged", _detail(
                    rng, "eventbridge_job_status_changed", tenant.tenant, region, started,
                    job_id=job_id, status="running", progress=0, verb=verb, error=None,
                )  # fmt: skip
                ended = started + timedelta(minutes=rng.lognormvariate(0, 0.35) * minutes)
                if ended >= now:
                    continue
                failed = rng.random() < failure
                yield "JobStatusChanged", _detail(
                    rng, "eventbridge_job_status_changed", tenant.tenant, region, ended,
                    job_id=job_id, status="failed" if failed else "succeeded", progress=100, verb=verb,
                    error={"code": "demo_failure", "message": "A demo failure."} if failed else None,
                )  # fmt: skip
        for module, metrics in _MODULE_METRICS.items():
            at = midnight + timedelta(hours=23)
            if at < now:
                values = {name: round(rng.uniform(low, high), 4) for name, (low, high) in metrics.items()}
                yield "MetricsReported", _detail(
                    rng, "eventbridge_metrics_reported", tenant.tenant, region, at,
                    module=module, window_s=86_400, metrics=values,
                )  # fmt: skip


def demo_facts(tenant: DemoTenant, now: datetime) -> dict[date, list[Fact]]:
    by_day: dict[date, list[Fact]] = defaultdict(list)
    for detail_type, detail in demo_events(tenant, now):
        for fact in facts_of(detail_type, detail):
            by_day[utc_day(fact.occurred_at)].append(fact)
    return by_day


def seed_telemetry(
    manifest: Manifest,
    *,
    endpoint_url: str,
    regions: Sequence[str],
    tenants: Sequence[DemoTenant] = TENANTS,
    now: datetime | None = None,
) -> int:
    """Write the demo tenants' fact files into their home regions' buckets; the number of files."""
    moment = now or datetime.now(UTC)
    written = 0
    with tempfile.TemporaryDirectory(prefix="ddgui-demo-facts-") as work:
        for tenant in tenants:
            if tenant.home_region not in regions:
                continue
            objects = ObjectStore(
                manifest.bucket.local_bucket_name(tenant.home_region),
                aws_client("s3", endpoint_url=endpoint_url, region=tenant.home_region),
            )
            writer = FactWriter(objects, work_dir=Path(work))
            try:
                for day, facts in sorted(demo_facts(tenant, moment).items()):
                    writer.write(tenant.tenant, day, BATCH, facts)
                    written += 1
            finally:
                writer.close()
    return written
