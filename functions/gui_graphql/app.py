"""The GraphQL API's FastAPI app, built from settings (so tests and the handler build it alike): the
ports of every group its fields call, each built as the group's own function builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from fastapi import FastAPI

from gui_core.api import PlatformParts, create_api
from gui_graphql.operations import Ports, environment_ports
from gui_graphql.persisted import PersistedQueries, load_allowlist
from gui_graphql.routes import GraphQLState, router

if TYPE_CHECKING:
    from gui_graphql.settings import GraphQLSettings


def create_app(
    settings: GraphQLSettings, *, ports: Ports | None = None, **platform: Unpack[PlatformParts]
) -> FastAPI:
    app = create_api(title="DomainDetermine GUI: GraphQL", routers=[router], settings=settings, **platform)
    app.state.graphql = GraphQLState(
        ports=ports or environment_ports(settings),
        introspection=settings.answers_introspection,
        persisted=PersistedQueries(load_allowlist(), mode=settings.persisted_queries),
        deadline_s=settings.deadline_s,
    )
    return app
