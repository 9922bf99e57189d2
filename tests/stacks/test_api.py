"""The REST API: every route behind the authorizer, problem-details errors, a logged, traced stage."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks import cors
from stacks.app_builder import build_app
from stacks.config import DeploymentConfig
from stacks.constructs.api import STAGE_BURST_LIMIT, STAGE_RATE_LIMIT
from stacks.manifest import MANIFEST, GatewayResponse, Manifest
from stacks.naming import stack_name
from tests.stacks import cfn

PROBLEM_TYPE = "urn:domaindetermine:gui:problem:"


def test_api_is_regional(cdk_template: Template) -> None:
    cdk_template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


def _authorizers(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The REST authorizers by identity source ("" for the one without)."""
    return {
        cfn.props(a).get("IdentitySource", ""): (logical_id, cfn.props(a))
        for logical_id, a in cfn.resources(template, "AWS::ApiGateway::Authorizer").items()
    }


def test_every_route_requires_the_authorizer_and_proxies_to_its_function(
    template: dict[str, Any], manifest: Manifest
) -> None:
    authorizers = _authorizers(template)
    header_id = authorizers[f"method.request.header.{manifest.authorizer.identity_source}"][0]
    ticket_id = authorizers[""][0]
    functions = cfn.invoked_by_name(template)  # the alias, with SnapStart
    methods = {
        (cfn.props(m)["HttpMethod"], cfn.method_path(template, m)): cfn.props(m)
        for m in cfn.resources(template, "AWS::ApiGateway::Method").values()
    }
    for route, fn in manifest.routes():
        method = methods[(route.method, route.full_path)]
        assert method["AuthorizationType"] == "CUSTOM", route
        assert method["AuthorizerId"] == {"Ref": ticket_id if route.accepts_ticket else header_id}, route
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert cfn.references(integration["Uri"]) & set(functions.values()) == {functions[fn.name]}, route
        names = re.findall(r"\{(\w+)\}", route.path)
        if names:
            assert method["RequestParameters"] == {f"method.request.path.{name}": True for name in names}
        assert "RequestValidatorId" in method


def test_authorizers_are_the_manifest_request_authorizer_by_header_and_one_without_identity_source(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """The header's authorizer caches per header; the ticket routes' one lists no identity source
    (API Gateway would refuse a request lacking any listed one, and a route takes the header or a
    ticket), which a REQUEST authorizer may do only with its cache off."""
    authorizers = _authorizers(template)
    header = f"method.request.header.{manifest.authorizer.identity_source}"
    assert set(authorizers) == {header, ""}
    functions = cfn.invoked_by_name(template)  # the alias, with SnapStart
    for _, props in authorizers.values():
        assert props["Type"] == "REQUEST"
        assert cfn.references(props["AuthorizerUri"]) == {functions[manifest.authorizer.function.name]}
    assert authorizers[header][1]["AuthorizerResultTtlInSeconds"] == manifest.authorizer.cache_ttl_s
    assert authorizers[""][1]["AuthorizerResultTtlInSeconds"] == 0
    assert "IdentitySource" not in authorizers[""][1]


def test_only_api_gateway_the_rules_and_the_schedules_may_invoke_the_functions(
    template: dict[str, Any], manifest: Manifest
) -> None:
    permissions = [cfn.props(p) for p in cfn.resources(template, "AWS::Lambda::Permission").values()]
    assert permissions
    rules = cfn.resources(template, "AWS::Events::Rule")
    by_events = [p for p in permissions if p["Principal"] == "events.amazonaws.com"]
    assert len(by_events) == sum(1 for rule in manifest.rules if rule.function) + len(manifest.schedules)
    for permission in permissions:
        assert permission["Principal"] in {"apigateway.amazonaws.com", "events.amazonaws.com"}
        assert "SourceArn" in permission
    for permission in by_events:  # each only from its own rule
        assert cfn.references(permission["SourceArn"]) <= set(rules)


def _render(template_text: str, message: str, request_id: str) -> Any:
    """What API Gateway makes of a response template for one error."""
    return json.loads(
        template_text.replace("$context.error.messageString", json.dumps(message)).replace(
            "$context.requestId", request_id
        )
    )


def _gateway_responses(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        cfn.props(r)["ResponseType"]: cfn.props(r)
        for r in cfn.resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }


def _expected_headers(response: GatewayResponse, origins: tuple[str, ...]) -> dict[str, str]:
    """A gateway response's headers as mapping expressions: its content type, the stage's CORS
    headers, and its own literal headers."""
    headers = {
        "Content-Type": "'application/problem+json'",
        **cors.gateway_response_headers(origins),
        **{name: f"'{value}'" for name, value in response.headers},
    }
    return {f"gatewayresponse.header.{name}": value for name, value in headers.items()}


def test_gateway_responses_carry_the_stage_cors_headers_and_their_own(
    template: dict[str, Any], manifest: Manifest, deployment: DeploymentConfig
) -> None:
    """API Gateway's own answers (401, 403, 429, 5xx...) never reach a function: without CORS headers
    a browser sees an opaque network error instead of a 401 to refresh its token on."""
    assert deployment.cors_origins, "cdk.json's stage allows origins: the headers are there to check"
    responses = _gateway_responses(template)
    for expected in manifest.gateway_responses:
        headers = responses[expected.type]["ResponseParameters"]
        assert headers == _expected_headers(expected, deployment.cors_origins), expected.type
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in headers


def test_the_gateway_responses_a_gui_needs(manifest: Manifest) -> None:
    """Each type as API Gateway documents it (supported-gateway-response-types): a 401 names its
    scheme; throttles and unavailable backends say when to retry; the integration and authorizer
    failures answer in the problem format too."""
    responses = {r.type: r for r in manifest.gateway_responses}
    assert len(responses) == len(manifest.gateway_responses)
    expected = {  # type: (status, code, own headers)
        "UNAUTHORIZED": (401, "unauthorized", {"WWW-Authenticate": "Bearer"}),
        "THROTTLED": (429, "throttled", {"Retry-After"}),
        "INTEGRATION_TIMEOUT": (504, "upstream_timeout", set()),
        "INTEGRATION_FAILURE": (503, "service_unavailable", {"Retry-After"}),
        "AUTHORIZER_FAILURE": (503, "authorizer_unavailable", {"Retry-After"}),
        "AUTHORIZER_CONFIGURATION_ERROR": (503, "authorizer_unavailable", {"Retry-After"}),
        "DEFAULT_4XX": (None, "bad_request", set()),
        "DEFAULT_5XX": (None, "gateway_error", set()),
    }
    for kind, (status, code, headers) in expected.items():
        response = responses[kind]
        assert (response.status, response.code) == (status, code), kind
        own = dict(response.headers)
        if isinstance(headers, dict):
            assert own == headers, kind
        else:
            assert set(own) == headers, kind
        if "Retry-After" in own:
            assert own["Retry-After"].isdigit(), kind
            assert int(own["Retry-After"]) >= 1, kind
    for response in manifest.gateway_responses:
        for name, value in response.headers:
            assert "'" not in name, "a header name is literal"
            assert "'" not in value, "a literal header value is quoted as 'value'"


def test_gateway_responses_are_problem_details(template: dict[str, Any], manifest: Manifest) -> None:
    responses = _gateway_responses(template)
    for expected in manifest.gateway_responses:
        found = responses[expected.type]
        assert found["ResponseParameters"]["gatewayresponse.header.Content-Type"] == (
            "'application/problem+json'"
        )
        if expected.status is None:
            assert "StatusCode" not in found
        else:
            assert found["StatusCode"] == str(expected.status)
        for body in found["ResponseTemplates"].values():
            problem = _render(body, 'Say "hi"', "req-1")
            wanted = {
                "type": PROBLEM_TYPE + expected.code,
                "title": expected.title,
                "code": expected.code,
                "detail": 'Say "hi"',
                "request_id": "req-1",
            }
            if expected.status is not None:
                wanted["status"] = expected.status
            assert problem == wanted


def test_stage_is_traced_logged_and_throttled(cdk_template: Template, deployment: DeploymentConfig) -> None:
    cdk_template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": deployment.stage,
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp("requestId"),
            },
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                        "ThrottlingRateLimit": Match.any_value(),
                        "ThrottlingBurstLimit": Match.any_value(),
                    }
                )
            ],
        },
    )


def test_access_log_format_is_json(template: dict[str, Any]) -> None:
    _, stage = cfn.one(template, "AWS::ApiGateway::Stage")
    fields = json.loads(cfn.props(stage)["AccessLogSetting"]["Format"])
    assert {"request_id", "status", "tenant", "xray_trace_id"} <= set(fields)


def test_api_url_is_an_output(template: dict[str, Any], region: str) -> None:
    outputs = template["Outputs"]
    assert "ApiUrl" in outputs
    assert f".execute-api.{region}." in json.dumps(outputs["ApiUrl"]["Value"])
    assert not [name for name in outputs if name.startswith("RestApiEndpoint")]


def test_usage_plan_is_a_backstop_on_the_stage(template: dict[str, Any]) -> None:
    _, plan = cfn.one(template, "AWS::ApiGateway::UsagePlan")
    stage_id, _ = cfn.one(template, "AWS::ApiGateway::Stage")
    api_id, _ = cfn.one(template, "AWS::ApiGateway::RestApi")
    props = cfn.props(plan)
    assert props["Throttle"] == {"RateLimit": STAGE_RATE_LIMIT, "BurstLimit": STAGE_BURST_LIMIT}
    (api_stage,) = props["ApiStages"]
    assert api_stage["ApiId"] == {"Ref": api_id}
    assert api_stage["Stage"] == {"Ref": stage_id}


def _preflights(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        cfn.method_path(template, m): cfn.props(m)
        for m in cfn.resources(template, "AWS::ApiGateway::Method").values()
        if cfn.props(m)["HttpMethod"] == "OPTIONS"
    }


def test_preflight_is_a_mock_without_authorizer_for_the_allowlisted_origins(
    template: dict[str, Any], manifest: Manifest, deployment: DeploymentConfig
) -> None:
    preflights = _preflights(template)
    assert set(preflights) == set(cors.preflight_paths(manifest))
    for path, methods in cors.preflight_paths(manifest).items():
        method = preflights[path]
        assert method["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in method
        assert not method.get("ApiKeyRequired")
        integration = method["Integration"]
        assert integration["Type"] == "MOCK"
        assert integration["PassthroughBehavior"] == "NEVER"
        request = integration["RequestTemplates"]["application/json"]
        assert request.count('$!origin" == ') == len(deployment.cors_origins) + 1  # + the empty check
        for origin in deployment.cors_origins:
            assert f'"$!origin" == "{origin}"' in request
        assert '{"statusCode": 204}#else{"statusCode": 403}' in request

        allowed, refused = integration["IntegrationResponses"]
        assert allowed["StatusCode"] == "204"
        assert "SelectionPattern" not in allowed  # the default answer
        headers = {
            k.removeprefix("method.response.header."): v for k, v in allowed["ResponseParameters"].items()
        }
        assert headers == {
            "Access-Control-Allow-Methods": "'" + ",".join(methods) + "'",
            "Access-Control-Allow-Headers": "'Authorization,Content-Type,If-Match,Idempotency-Key'",
            "Access-Control-Max-Age": f"'{cors.MAX_AGE_S}'",
            "Vary": "'Origin'",
        }
        assert set(methods) == {r.method for r, _ in manifest.routes() if r.full_path == path} | {"OPTIONS"}
        echo = allowed["ResponseTemplates"]["application/json"]
        assert echo.endswith("#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)")

        assert refused["StatusCode"] == refused["SelectionPattern"] == "403"
        assert refused["ResponseParameters"]["method.response.header.Content-Type"] == (
            "'application/problem+json'"
        )
        body = refused["ResponseTemplates"]["application/json"].replace("$context.requestId", "req-1")
        assert json.loads(body) == cors.refused_problem("req-1")
        assert {r["StatusCode"] for r in method["MethodResponses"]} == {"204", "403"}


@pytest.mark.slow
def test_a_stage_without_origins_has_no_preflight(tmp_path: Path) -> None:
    app = build_app(validate=False, outdir=str(tmp_path), regions=["eu-west-1"], context={"cors_origins": []})
    app.synth()
    template = json.loads((tmp_path / f"{stack_name('eu-west-1')}.template.json").read_text())
    assert _preflights(template) == {}
    responses = _gateway_responses(template)
    for expected in MANIFEST.gateway_responses:
        assert responses[expected.type]["ResponseParameters"] == _expected_headers(expected, ())
    for logical_id in cfn.functions_by_name(template).values():
        variables = cfn.props(template["Resources"][logical_id])["Environment"]["Variables"]
        assert variables.get("GUI_CORS_ORIGINS", "") == ""


def test_every_logging_stage_waits_for_the_api_gateway_account_setting(template: dict[str, Any]) -> None:
    """A stage with access logging fails to create in a region whose API Gateway account has no
    CloudWatch role yet: each such stage (REST and WebSocket) depends on the Account resource that
    sets it, directly or through its deployment."""
    (account_id, _) = cfn.one(template, "AWS::ApiGateway::Account")
    resources = template["Resources"]

    def depends_on(logical_id: str) -> set[str]:
        return set(cfn.as_list(resources[logical_id].get("DependsOn", [])))

    stages = {
        **cfn.resources(template, "AWS::ApiGateway::Stage"),
        **cfn.resources(template, "AWS::ApiGatewayV2::Stage"),
    }
    logging = {
        logical_id: stage
        for logical_id, stage in stages.items()
        if "AccessLogSetting" in cfn.props(stage) or "AccessLogSettings" in cfn.props(stage)
    }
    assert {s["Type"] for s in logging.values()} == {"AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"}
    for logical_id, stage in logging.items():
        deployment = cfn.references(cfn.props(stage).get("DeploymentId", {}))
        reached = depends_on(logical_id).union(*(depends_on(d) for d in deployment))
        assert account_id in reached, f"{logical_id} does not wait for {account_id}"
