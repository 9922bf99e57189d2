from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr

from gui_core.settings import ApiSettings

EXPLORING_STAGES = frozenset({"local", "dev", "test"})


class GraphQLSettings(ApiSettings):
    """The API's own settings, and each group's (`groups`), read from the same environment at the
    same moment (`gui_graphql.fields.<group>.settings`): a function's environment is there while its
    settings are read, at the cold start."""

    _groups: dict[str, Any] = PrivateAttr(default_factory=dict)

    # Introspection (`__schema`, `__type`) answered: by default on where the GUI team explores the
    # schema (the `local`, `dev` and `test` stages), off elsewhere (production, where the GUI's
    # operations are known); GRAPHQL_INTROSPECTION decides otherwise.
    introspection: bool | None = Field(default=None, alias="GRAPHQL_INTROSPECTION")
    # `allowlist`: only the GUI's own operations run (gui_graphql.persisted), for production; `open`:
    # any document within the limits.
    persisted_queries: Literal["open", "allowlist"] = Field(default="open", alias="GRAPHQL_PERSISTED_QUERIES")
    # A field not started this long after its request began is not started (an error of that field,
    # `deadline_exceeded`): the answer leaves before API Gateway's 29 s and the function's own timeout.
    deadline_s: float = Field(default=10.0, alias="GRAPHQL_DEADLINE_S", gt=0, le=25)

    def model_post_init(self, context: Any, /) -> None:
        from gui_graphql.operations import GROUP_MODULES

        self._groups = {module.GROUP: module.settings() for module in GROUP_MODULES}

    def group(self, name: str) -> Any:
        """The settings of the group `name`, as its own function reads them."""
        return self._groups[name]

    @property
    def answers_introspection(self) -> bool:
        return answers_introspection(self.stage, self.introspection)


def answers_introspection(stage: str, explicit: bool | None) -> bool:
    """Whether a stage answers introspection: as GRAPHQL_INTROSPECTION says, else where the schema
    is explored (`EXPLORING_STAGES`)."""
    return explicit if explicit is not None else stage in EXPLORING_STAGES
