"""The OpenAPI document of a REST function's app: FastAPI's, made to say exactly what the app accepts.

FastAPI describes a route from its signature and models, and in a few places says more or less than
the app accepts; schemathesis' positive and negative data checks (tests/security/test_fuzz.py) find
each. Here, once for every app:
- the error format: every refusal is an RFC 9457 problem (FastAPI's own 422 body is never sent), and
  a route taking a body may answer 415 (`gui_core.api`: JSON only);
- a parameter is never null on the wire (absent is `required: false`), so the `null` branch pydantic
  gives an optional parameter's schema goes;
- a header a route answers 428 without (`If-Match`) is declared optional to FastAPI, which would
  answer 422, and required in the document (`required_header`);
- a map whose keys pydantic constrains (`patternProperties`) holds no other key: pydantic refuses
  them, JSON Schema would allow them unless `additionalProperties` says not;
- the credentials: a bearer JWT everywhere, or on the routes that say so (`TICKET_SECURITY`) a
  single-use stream ticket in the query.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Header
from fastapi.openapi.utils import get_openapi

from gui_core.errors import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA

if TYPE_CHECKING:
    from fastapi import FastAPI

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "ticket": {
        "type": "apiKey",
        "in": "query",
        "name": "ticket",
        "description": "A single-use stream ticket (`POST /service/gui/live/tickets`, valid 60 s) for "
        "EventSource, which cannot send `Authorization`; read by the authorizer, never a token. Send "
        "one credential: the header or the ticket.",
    },
}
# The `openapi_extra` of a route taking the bearer token or a stream ticket (the manifest's
# `Route.accepts_ticket`).
TICKET_SECURITY: dict[str, Any] = {"security": [{"bearer": []}, {"ticket": []}]}
_REQUIRED = "x-ddgui-required"  # a parameter schema's mark, turned into the parameter's `required`
_PROBLEM = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def required_header(alias: str, description: str) -> Any:
    """A header the route itself requires, answering 428 without it (FastAPI would answer 422): the
    parameter is optional to FastAPI (give it a default of None) and required in the document."""
    return Header(alias=alias, description=description, pattern=r"\S", json_schema_extra={_REQUIRED: True})


def document_of(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi`: FastAPI's document, exact (see the module doc), made once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        app.openapi_schema = exact(document)
        return app.openapi_schema

    return openapi


def exact(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    document["security"] = [{"bearer": []}]
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid input, with field errors.", "content": _PROBLEM}
            if "requestBody" in operation:
                responses["415"] = {
                    "description": "The body is not `application/json` (`unsupported_media_type`).",
                    "content": _PROBLEM,
                }
            for parameter in operation.get("parameters", []):
                _exact_parameter(parameter)
            _closed_maps(operation.get("requestBody"))
    _closed_maps(schemas)
    return document


def _exact_parameter(parameter: dict[str, Any]) -> None:
    schema = parameter.get("schema", {})
    if schema.pop(_REQUIRED, False):
        parameter["required"] = True
    members = schema.get("anyOf")
    if isinstance(members, list) and {"type": "null"} in members:
        kept = [m for m in members if m != {"type": "null"}]
        del schema["anyOf"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    _closed_maps(schema)


def _closed_maps(node: Any) -> None:
    """`additionalProperties: false` beside every `patternProperties` without one."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed_maps(value)
    elif isinstance(node, list):
        for value in node:
            _closed_maps(value)
