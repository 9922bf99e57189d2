"""The body of `POST /service/gui/graphql`: one GraphQL request (no batches)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GraphQLBody(BaseModel):
    """One GraphQL request. `query` is a GraphQL document (its grammar, the schema and the limits are
    checked by the function: a 400 problem document, with GraphQL's `errors`, when it fails them)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "query": "query Inbox($first: Int) { notifications(first: $first) { nodes { id } } }",
                    "variables": {"first": 20},
                    "operationName": "Inbox",
                },
                {"query": 'mutation { start_job(verb: reindex, parameters: {index: "a"}) { job { id } } }'},
            ]
        },
    )

    query: str | None = Field(
        default=None,
        max_length=65_536,
        description="The GraphQL document; may be left out when `extensions` names it by its hash.",
    )
    variables: dict[str, Any] | None = Field(default=None, description="The operation's variables.")
    operation_name: str | None = Field(
        default=None,
        alias="operationName",
        max_length=128,
        description="Which operation of the document to run.",
    )
    extensions: dict[str, Any] | None = Field(
        default=None, description="Protocol extensions (none are read yet)."
    )
