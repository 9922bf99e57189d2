"""Lambda entry point of gui_artifact_events: EventBridge delivers ArtifactPublished and
ArtifactDeprecated events one by one."""

from __future__ import annotations

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_artifacts.registry_feed import RegistryFeed
    from gui_artifacts.repository import ArtifactsRepository
    from gui_artifacts.settings import ArtifactEventsSettings
    from gui_core.consumers import tenant_directory
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.observability import eventbridge_handler, metric_counter, observability

    settings = ArtifactEventsSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _client = dynamodb_client(settings.region)
    feed = RegistryFeed(
        region=settings.region,
        tenants=tenant_directory(settings, _client),
        registry=ArtifactsRepository(Table(settings.artifacts_table, _client)),
        count=metric_counter(metrics),
    )
    handler = eventbridge_handler(
        feed.handle, logger=logger, metrics=metrics, detail_keys=("tenant", "artifact_id")
    )
