"""The jobs' ports built from settings: one way for every door (the REST app, the GraphQL API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_core.bus import EventPublisher, Publisher, events_client
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Gate, settings_gate
from gui_jobs.repository import JobsRepository
from gui_jobs.use_cases import JobsPorts

if TYPE_CHECKING:
    from gui_jobs.settings import JobsSettings


def build_ports(
    settings: JobsSettings,
    *,
    repository: JobsRepository | None = None,
    publisher: Publisher | None = None,
    gate: Gate | None = None,
) -> JobsPorts:
    return JobsPorts(
        repository=repository
        or JobsRepository(
            Table(settings.jobs_table, dynamodb_client(settings.region)),
            idempotency_s=settings.idempotency_hours * 3600,
        ),
        publisher=publisher
        or EventPublisher(settings.domain_bus, events_client(settings.region), region=settings.region),
        # Whether the filters' keys are there for a tenant (migration 0010): the ledger says.
        gate=gate or settings_gate(settings),
    )
