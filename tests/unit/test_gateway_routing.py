"""A REST function routes by what API Gateway matched: the event's resource and path parameters.

The events are the REST proxy sample (`events/aws/rest_proxy_request.json`) with the fields API
Gateway sets for the request, as AWS sends them:
- a trailing slash is routed to the resource without it and stays in `path` (Powertools'
  `tests/events/apiGatewayProxyEventPathTrailingSlash.json`: resource `/my/path`, path `/my/path/`);
- `path` and the path parameters keep the request's percent-encoding (live captures of a REST API in
  hotsock/voker `vokerhttp/testdata/apigwv1-request.json`: path `/capture/space%20value`, parameter
  `capture/space%20value`);
- behind a custom domain's base path mapping, `path` carries the base path and `resource` does not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import Response
from mangum import Mangum

from gui_core.api import create_api
from gui_core.guard import GroupPolicy, Guard, group_router
from gui_core.tenancy import TenantDirectory
from local.apigw import sample_event
from tests.fakes import FakeAudit
from tests.unit.test_api_errors import AUTH, SETTINGS
from tests.unit.test_guard import TenantTable

PREFIX = "/service/gui/things"

things = group_router(prefix=PREFIX, policy=GroupPolicy("reports"))
applied: list[dict[str, Any]] = []


@things.get("")
def list_things() -> dict[str, str]:
    return {"route": "list"}


@things.put("")
def replace_things(body: dict[str, Any]) -> dict[str, str]:
    applied.append(body)
    return {"route": "replace"}


@things.get("/{thing_id}")
def one_thing(thing_id: str) -> dict[str, str]:
    return {"route": "one", "thing_id": thing_id}


@things.get("/{thing_id}/lineage")
def lineage(thing_id: str) -> dict[str, str]:
    return {"route": "lineage", "thing_id": thing_id}


@things.delete("/users/{subject}", status_code=204)
def reset(subject: str) -> Response:
    applied.append({"reset": subject})
    return Response(status_code=204)


@pytest.fixture
def handler() -> Any:
    applied.clear()
    guard = Guard(
        region="eu-west-1",
        region_urls={},
        tenants=TenantDirectory(TenantTable()),
        rate_limiter=None,
        replay=None,
    )
    app = create_api(title="t", routers=[things], settings=SETTINGS, audit=FakeAudit(), guard=guard)
    return Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])


def aws_event(
    method: str, resource: str, path: str, parameters: dict[str, str] | None = None, body: Any = None
) -> dict[str, Any]:
    """The sample REST proxy event of a request API Gateway matched to `resource` (stage `prod`)."""
    event = sample_event("rest_proxy_request")
    event.update(
        {
            "httpMethod": method,
            "resource": f"{PREFIX}{resource}",
            "path": path,
            "pathParameters": parameters,
            "body": None if body is None else json.dumps(body),
        }
    )
    event["headers"]["Content-Type"] = "application/json"
    event["requestContext"].update(
        {
            "httpMethod": method,
            "resourcePath": f"{PREFIX}{resource}",
            "path": f"/prod{path}",
            "authorizer": {**AUTH, "tenant": "acme"},
        }
    )
    return event


def answer(handler: Any, event: dict[str, Any]) -> tuple[int, Any]:
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"] or "null")


def test_a_trailing_slash_is_served_by_the_resource_not_redirected(handler: Any) -> None:
    status, body = answer(handler, aws_event("GET", "", f"{PREFIX}/"))

    assert (status, body) == (200, {"route": "list"})


def test_a_put_with_a_trailing_slash_is_applied(handler: Any) -> None:
    status, body = answer(handler, aws_event("PUT", "", f"{PREFIX}/", body={"theme": "dark"}))

    assert (status, body) == (200, {"route": "replace"})
    assert applied == [{"theme": "dark"}]


@pytest.mark.parametrize(
    ("sent", "value"),
    [
        ("a%2Flineage", "a/lineage"),
        ("space%20value", "space value"),
        ("caf%C3%A9", "café"),
        ("literal%252F", "literal%2F"),
        ("plain", "plain"),
    ],
)
def test_a_path_parameter_is_the_value_api_gateway_matched(handler: Any, sent: str, value: str) -> None:
    # API Gateway names the parameter once per resource level (`{id}`); the app may call it otherwise.
    event = aws_event("GET", "/{id}", f"{PREFIX}/{sent}", {"id": sent})

    status, body = answer(handler, event)

    assert (status, body) == (200, {"route": "one", "thing_id": value})


def test_an_encoded_slash_does_not_reach_another_resource(handler: Any) -> None:
    status, body = answer(handler, aws_event("GET", "/{id}", f"{PREFIX}/a%2Flineage", {"id": "a%2Flineage"}))
    lineage_of_a = aws_event("GET", "/{id}/lineage", f"{PREFIX}/a/lineage", {"id": "a"})

    assert (status, body) == (200, {"route": "one", "thing_id": "a/lineage"})
    assert answer(handler, lineage_of_a) == (200, {"route": "lineage", "thing_id": "a"})


def test_a_subject_holding_a_slash_is_reset(handler: Any) -> None:
    event = aws_event(
        "DELETE", "/users/{subject}", f"{PREFIX}/users/a%2Fb%40acme", {"subject": "a%2Fb%40acme"}
    )

    status, _ = answer(handler, event)

    assert status == 204
    assert applied == [{"reset": "a/b@acme"}]


def test_a_custom_domain_base_path_does_not_hide_the_resource(handler: Any) -> None:
    status, body = answer(handler, aws_event("GET", "/{id}", f"/v1{PREFIX}/x", {"id": "x"}))

    assert (status, body) == (200, {"route": "one", "thing_id": "x"})
