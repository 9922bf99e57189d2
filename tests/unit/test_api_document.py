"""The OpenAPI document says exactly what the server accepts (gui_core.api_document, issue 18): the
shapes schemathesis' positive and negative data checks found wrong, each held here."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gui_core.cursors import CURSOR_PATTERN
from gui_jobs.logic import url_verb
from gui_jobs.models import PARAMETER_MODELS
from gui_preferences.models import LOCKABLE_KEYS
from local.openapi import combined_openapi
from stacks.manifest import API_PREFIX, MANIFEST

DOCUMENT = combined_openapi(MANIFEST)
OPERATIONS = [
    (path, method, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


def _parameter(path: str, method: str, name: str) -> dict[str, Any]:
    return next(p for p in DOCUMENT["paths"][path][method]["parameters"] if p["name"] == name)


def _schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = DOCUMENT["components"]["schemas"][name]
    return found


@pytest.mark.parametrize(
    ("path", "method"),
    [("/preferences", "put"), ("/preferences/tenant", "put"), ("/admin/tenant/flags", "put")],
)
def test_if_match_is_required_where_the_server_answers_428(path: str, method: str) -> None:
    parameter = _parameter(f"{API_PREFIX}{path}", method, "If-Match")
    assert parameter["required"] is True
    assert "anyOf" not in parameter["schema"]
    assert "x-ddgui-required" not in json.dumps(DOCUMENT)


def test_if_match_stays_optional_where_the_server_takes_it_so() -> None:
    assert _parameter(f"{API_PREFIX}/preferences/views/{{view_id}}", "put", "If-Match")["required"] is False


def test_each_verb_is_an_operation_with_its_own_parameters_schema() -> None:
    assert f"{API_PREFIX}/jobs/{{verb}}" not in DOCUMENT["paths"]
    for verb, model in PARAMETER_MODELS.items():
        operation = DOCUMENT["paths"][f"{API_PREFIX}/jobs/{url_verb(verb)}"]["post"]
        assert operation["operationId"] == f"start_{verb}_job"
        body = operation["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model.__name__}"
        }
        schema = _schema(model.__name__)
        assert schema["additionalProperties"] is False
        assert schema["required"]


def test_no_parameter_is_null_on_the_wire() -> None:
    for path, method, operation in OPERATIONS:
        for parameter in operation.get("parameters", []):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (
                path,
                method,
                parameter["name"],
            )


def test_a_map_with_patterned_keys_holds_no_other_key() -> None:
    found = 0

    def walk(node: Any) -> None:
        nonlocal found
        if isinstance(node, dict):
            if "patternProperties" in node:
                found += 1
                assert node["additionalProperties"] is False, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOCUMENT)
    assert found >= 3  # view filters, default filters per module, flags


def test_pinned_dashboards_are_unique_and_locked_keys_are_the_lockable_ones() -> None:
    pinned = _schema("PreferenceValues")["properties"]["pinned_dashboards"]
    assert pinned["uniqueItems"] is True
    pattern = _schema("TenantPolicyInput")["properties"]["locked_keys"]["items"]["pattern"]
    assert all(re.fullmatch(pattern, key) for key in LOCKABLE_KEYS)
    assert not any(re.fullmatch(pattern, key) for key in ("theme.x", "default_filters.nope", "a", "density."))


def test_the_stream_takes_the_bearer_token_or_a_ticket_and_nothing_else_does() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["ticket"] == {**schemes["ticket"], "type": "apiKey", "in": "query", "name": "ticket"}
    assert DOCUMENT["security"] == [{"bearer": []}]
    ticketed = {(route.method, route.full_path) for route, _ in MANIFEST.routes() if route.accepts_ticket}
    for path, method, operation in OPERATIONS:
        if (method.upper(), path) in ticketed:
            assert operation["security"] == [{"bearer": []}, {"ticket": []}]
            assert "ticket" not in {p["name"] for p in operation.get("parameters", [])}
        else:
            assert "security" not in operation, (path, method)


def test_every_operation_taking_a_body_documents_415_and_every_cursor_its_shape() -> None:
    for path, method, operation in OPERATIONS:
        if "requestBody" in operation:
            assert "415" in operation["responses"], (path, method)
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "cursor":
                assert parameter["schema"]["pattern"] == CURSOR_PATTERN, path
