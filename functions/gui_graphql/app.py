"""The GraphQL API's FastAPI app, built from settings (so tests and the handler build it alike): the
ports of every group its fields call, built as each group's own app builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_core.bus import EventPublisher, events_client
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import settings_gate
from gui_graphql.operations import GraphQLPorts
from gui_graphql.routes import GraphQLState, router
from gui_jobs.repository import JobsRepository
from gui_jobs.use_cases import JobsPorts
from gui_notifications.repository import InboxRepository
from gui_notifications.use_cases import NotificationsPorts

if TYPE_CHECKING:
    from gui_graphql.settings import GraphQLSettings


def create_app(
    settings: GraphQLSettings, *, ports: GraphQLPorts | None = None, **platform: Unpack[PlatformParts]
) -> FastAPI:
    app = create_api(title="DomainDetermine GUI: GraphQL", routers=[router], settings=settings, **platform)
    if ports is None:
        client = dynamodb_client(settings.region)
        gate = settings_gate(settings, client)
        ports = GraphQLPorts(
            jobs=JobsPorts(
                repository=JobsRepository(
                    Table(settings.jobs_table, client), idempotency_s=settings.idempotency_hours * 3600
                ),
                publisher=EventPublisher(
                    settings.domain_bus, events_client(settings.region), region=settings.region
                ),
                gate=gate,
            ),
            notifications=NotificationsPorts(
                InboxRepository(Table(settings.inbox_table, client), retention_days=settings.retention_days),
                gate=gate,
            ),
        )
    app.state.graphql = GraphQLState(ports=ports, introspection=settings.introspection)
    return app
