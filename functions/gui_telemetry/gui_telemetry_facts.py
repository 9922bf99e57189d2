"""Lambda entry point of gui_telemetry_facts, the facts writer: a Kinesis batch of the `gui-events`
stream (the stream the fan-out reads) becomes one Parquet file per tenant and UTC day in the data
bucket (`gui_telemetry.fact_batches`), its counts emitted as metrics.
"""

from __future__ import annotations

from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_core.consumers import queue_quarantine, tenant_directory
    from gui_core.metric_names import add
    from gui_core.objects import ObjectStore, s3_client
    from gui_core.observability import observability
    from gui_telemetry.fact_batches import FactBatches
    from gui_telemetry.settings import FactsSettings
    from gui_telemetry.store import FactWriter

    settings = FactsSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    batches = FactBatches(
        region=settings.region,
        tenants=tenant_directory(settings),
        writer=FactWriter(
            ObjectStore(settings.data_bucket, s3_client(settings.region)), work_dir=settings.work_dir
        ),
        quarantine=queue_quarantine(settings),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    result = batches.handle(event.get("Records") or [])
    for name, value in sorted(result.counts.items()):
        add(metrics, name, value)
    return result.response()
