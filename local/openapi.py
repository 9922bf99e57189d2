"""One OpenAPI document for the whole REST API, made from each function's own FastAPI app.

Each group's app describes its routes (FastAPI builds that from the route signatures and pydantic
models, `gui_core.api_document` makes it exact); this module joins them, adds the security schemes
(the bearer token; the stream ticket where a route takes one), the problem-details error schema and
the error answers every route can give, and is what the local gateway serves at
`/service/gui/openapi.json` and `ddgui openapi` writes to `docs/gui/openapi.json`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from gui_core.api_document import SECURITY_SCHEMES
from gui_core.errors import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA
from gui_core.settings import ApiSettings
from local.containers import environment
from stacks.manifest import API_PREFIX, Function, Manifest

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
COMMON_ERRORS = {
    "400": "Malformed request (`malformed_json`, `invalid_cursor`).",
    "401": "No valid bearer token (`unauthorized`).",
    "403": "Missing scope, another tenant named, or tenant unknown here "
    "(`insufficient_scope`, `tenant_mismatch`, `tenant_unknown`).",
    "404": "Not found, or the feature is off for the tenant (`not_found`, `feature_disabled`).",
    "413": "Body too large (`payload_too_large`).",
    "421": "The tenant is served by another region: follow `Location` (`wrong_region`).",
    "422": "Invalid input, with field errors (`validation_failed`).",
    "429": "Rate limit reached; see `Retry-After` (`rate_limited`).",
}
MUTATION_ERRORS = {
    "409": "Conflict, or a replayed mutation (`replayed_request`, ...).",
    "412": "`If-Match` does not match the current version (`precondition_failed`).",
    "428": "`If-Match` is required (`precondition_required`).",
}
DUMMY_ENVIRONMENT_VALUE = "openapi"


def _settings_class(fn: Function) -> type[ApiSettings]:
    module = importlib.import_module(f"{fn.package}.settings")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, ApiSettings) and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise LookupError(f"{fn.package}.settings must define exactly one ApiSettings model")
    return classes[0]


def function_openapi(manifest: Manifest, fn: Function, *, region: str = "eu-west-1") -> dict[str, Any]:
    """The OpenAPI document of one REST function's app (built offline: no AWS call is made)."""
    env = manifest.environment_for(
        fn,
        table_names={s.name: s.local_table_name() for s in manifest.stores},
        bucket_name=DUMMY_ENVIRONMENT_VALUE,
        bus_name=DUMMY_ENVIRONMENT_VALUE,
        region=region,
        stage="local",
        secret_arns=dict.fromkeys(fn.secrets, DUMMY_ENVIRONMENT_VALUE),
    )
    with environment(env):  # settings parse the environment as the function would at cold start
        settings = _settings_class(fn)()  # type: ignore[call-arg]  # fields come from the environment
    app_module = importlib.import_module(f"{fn.package}.app")
    document: dict[str, Any] = app_module.create_app(settings).openapi()
    return document


def combined_openapi(manifest: Manifest, *, version: str = "1") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    for fn in manifest.functions:
        if not fn.routes:
            continue
        document = function_openapi(manifest, fn)
        for path, operations in document.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two groups define different schemas named {name!r}")
            schemas[name] = schema
    for operations in paths.values():
        for method, operation in operations.items():
            _add_errors(operation, mutating=method.upper() in {"POST", "PUT", "PATCH", "DELETE"})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DomainDetermine GUI backend",
            "version": version,
            "description": "REST API of the GUI backend, one copy per region. Every route needs a "
            "bearer JWT (RS256) whose `tenant` claim decides the data; errors are RFC 9457 problem "
            "details with a stable `code`.",
        },
        "servers": [{"url": "http://127.0.0.1:8000", "description": "local runtime, first region"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _add_errors(operation: dict[str, Any], *, mutating: bool) -> None:
    responses = operation.setdefault("responses", {})
    errors = {**COMMON_ERRORS, **(MUTATION_ERRORS if mutating else {})}
    for status, description in errors.items():
        answer = responses.setdefault(status, {"description": description})
        answer["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    # FastAPI's own 422 schema describes its default error body, which this API never sends.
    responses["422"] = {
        "description": COMMON_ERRORS["422"],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
