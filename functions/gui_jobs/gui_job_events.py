"""Lambda entry point of gui_job_events: EventBridge delivers JobStatusChanged events one by one."""

from __future__ import annotations

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_core.consumers import tenant_directory
    from gui_core.dynamo import Table, dynamodb_client
    from gui_core.observability import eventbridge_handler, metric_counter, observability
    from gui_jobs.repository import JobsRepository
    from gui_jobs.settings import JobEventsSettings
    from gui_jobs.status import StatusConsumer

    settings = JobEventsSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    _client = dynamodb_client(settings.region)
    consumer = StatusConsumer(
        region=settings.region,
        tenants=tenant_directory(settings, _client),
        repository=JobsRepository(Table(settings.jobs_table, _client)),
        count=metric_counter(metrics),
    )
    handler = eventbridge_handler(
        consumer.handle, logger=logger, metrics=metrics, detail_keys=("tenant", "job_id")
    )
