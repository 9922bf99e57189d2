"""Lambda entry point of gui_artifact_events: EventBridge delivers ArtifactPublished and
ArtifactDeprecated events one by one."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactsRepository
from gui_artifacts.settings import ArtifactEventsSettings
from gui_core.dynamo import Table, dynamodb_client
from gui_core.observability import observability
from gui_core.tenancy import TenantDirectory

settings = ArtifactEventsSettings()  # type: ignore[call-arg]  # fields come from the environment
logger, metrics = observability()
_client = dynamodb_client(settings.region)
feed = RegistryFeed(
    region=settings.region,
    tenants=TenantDirectory(Table(settings.tenants_table, _client), ttl_s=settings.tenant_cache_s),
    registry=ArtifactsRepository(Table(settings.artifacts_table, _client)),
    count=lambda name: metrics.add_metric(name=name, unit="Count", value=1),
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    detail = event.get("detail") or {}
    logger.append_keys(
        tenant=detail.get("tenant"), artifact_id=detail.get("artifact_id"), event_id=event.get("id")
    )
    return {"outcome": feed.handle(event)}
