"""Lambda entry point of the GraphQL API: settings validated at cold start, app behind Mangum."""

from __future__ import annotations

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_core.observability import observability, rest_handler
    from gui_graphql.app import create_app
    from gui_graphql.settings import GraphQLSettings

    settings = GraphQLSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    handler = rest_handler(create_app(settings, metrics=metrics), logger=logger, metrics=metrics)
