"""Lambda entry point of gui_job_events: EventBridge delivers JobStatusChanged events one by one."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from gui_core.dynamo import Table, dynamodb_client
from gui_core.observability import observability
from gui_core.tenancy import TenantDirectory
from gui_jobs.repository import JobsRepository
from gui_jobs.settings import JobEventsSettings
from gui_jobs.status import StatusConsumer

settings = JobEventsSettings()  # type: ignore[call-arg]  # fields come from the environment
logger, metrics = observability()
_client = dynamodb_client(settings.region)
consumer = StatusConsumer(
    region=settings.region,
    tenants=TenantDirectory(Table(settings.tenants_table, _client), ttl_s=settings.tenant_cache_s),
    repository=JobsRepository(Table(settings.jobs_table, _client)),
    count=lambda name: metrics.add_metric(name=name, unit="Count", value=1),
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    detail = event.get("detail") or {}
    logger.append_keys(tenant=detail.get("tenant"), job_id=detail.get("job_id"), event_id=event.get("id"))
    return {"outcome": consumer.handle(event)}
