from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class GraphQLSettings(ApiSettings):
    """The API's own settings; each group's fields read their group's settings from the same
    environment (`gui_graphql.fields.<group>.settings`)."""

    # Introspection (`__schema`, `__type`) answered: on where the GUI team explores the schema (the
    # local runtime, a test stage), off in production, where the GUI's operations are known.
    introspection: bool = Field(default=False, alias="GRAPHQL_INTROSPECTION")
