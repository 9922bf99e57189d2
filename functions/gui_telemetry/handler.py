"""Lambda entry point of gui_telemetry, the telemetry aggregation, fanned out per tenant
(gui_core.tenant_work).

Its schedule invokes it once a cycle (5 minutes): it queues one work item per tenant homed in this
region on the `telemetry-work` queue. The queue's mapping invokes it again with each work item: the
tenant is aggregated into the metrics cache (`gui_telemetry.tenant_aggregation`).

So every homed tenant is aggregated each cycle whatever the number of tenants (the mapping runs up to
its `max_concurrency` workers); a tenant's failure is logged and counted (`TelemetryTenantsFailed`)
and touches no other; a work item its cycle outlived is dropped and counted (`WorkItemsExpired`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.metric_names import MetricName, TelemetryMetric, TenantWorkMetric, add
    from gui_core.migrations.work_queue import SqsWorkQueue
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_core.quarantine import sqs_client
    from gui_core.tenancy import homed_tenants
    from gui_core.tenant_work import TenantWorker, dispatch, is_queue_batch
    from gui_dashboard.repository import MetricsCacheTable
    from gui_telemetry.settings import AggregateSettings
    from gui_telemetry.tenant_aggregation import Aggregation, TenantOutcome

    KIND = "telemetry"

    settings = AggregateSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _dynamodb = dynamodb_client(settings.region)
    _tenants_table = Table(settings.tenants_table, _dynamodb)
    _queue = SqsWorkQueue(settings.work_queue_url, sqs_client(settings.region))
    aggregation = Aggregation(
        region=settings.region,
        objects=ObjectStore(settings.data_bucket, s3_client(settings.region)),
        cache=MetricsCacheTable(Table(settings.metrics_table, _dynamodb)),
        settings=settings,
    )


def _count(name: MetricName, value: float) -> None:
    add(metrics, name, value)


def aggregate_tenant(tenant: str, *, remaining_s: Callable[[], float] | None) -> TenantOutcome:
    """One work item: the tenant's aggregates now, its counts emitted."""
    started = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0)  # as the figures' `as_of` and windows end
    outcome = aggregation.tenant(tenant, now=now, remaining_s=remaining_s)
    for name, value in sorted(outcome.counts.items()):
        _count(name, value)
    _count(TelemetryMetric.ITEMS_WRITTEN, outcome.written)
    add(metrics, TelemetryMetric.RUN_MS, (time.monotonic() - started) * 1000, unit="Milliseconds")
    logger.info("telemetry aggregated", extra={"tenant": tenant, "written": outcome.written})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    timed = context is not None and hasattr(context, "get_remaining_time_in_millis")

    def remaining_s() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    if is_queue_batch(event):

        def work(tenant: str) -> None:
            aggregate_tenant(tenant, remaining_s=remaining_s if timed else None)

        worker = TenantWorker(
            kind=KIND, work=work, count=_count, failure_metric=TelemetryMetric.TENANTS_FAILED
        )
        return worker.handle(event, context)
    # The schedule: this cycle's work items, one per homed tenant.
    logger.append_keys(event_id=event.get("id"), scheduled_at=event.get("time"))
    tenants = [tenant.id for tenant in homed_tenants(_tenants_table, settings.region)]
    gone = aggregation.files.forget_tenants(tenants)
    queued = dispatch(KIND, tenants, _queue, now=datetime.now(UTC), cycle_s=settings.cycle_s)
    _count(TelemetryMetric.TENANTS, len(tenants))
    _count(TenantWorkMetric.QUEUED, len(queued))
    _count(TelemetryMetric.COPIES_OF_GONE_TENANTS_DELETED, gone)
    logger.info("telemetry work queued", extra={"tenants": len(tenants)})
    return {"tenants": len(tenants), "queued": len(queued)}
