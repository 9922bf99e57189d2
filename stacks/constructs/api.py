"""The REST API of a region: routes, the REQUEST authorizer, problem-details gateway responses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from gui_core.errors import PROBLEM_CONTENT_TYPE, problem_type
from stacks import cors
from stacks.manifest_model import GatewayResponse, Manifest
from stacks.nag import acknowledge
from stacks.naming import pascal_case

# A backstop in front of the per-tenant limits the functions enforce in DynamoDB: it bounds what
# one region's API can cost, it does not decide who gets served.
STAGE_RATE_LIMIT = 500  # requests per second
STAGE_BURST_LIMIT = 1000
ACCESS_LOG_RETENTION = logs.RetentionDays.ONE_YEAR

_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


def problem_template(response: GatewayResponse) -> str:
    """RFC 9457 body of a gateway response, in the shape the functions answer problems with.

    `$context.error.messageString` is already a quoted JSON string, so it goes in unquoted.
    """
    fields = [
        f'"type":{json.dumps(problem_type(response.code))}',
        f'"title":{json.dumps(response.title)}',
        *([f'"status":{response.status}'] if response.status is not None else []),
        f'"code":{json.dumps(response.code)}',
        '"detail":$context.error.messageString',
        '"request_id":"$context.requestId"',
    ]
    return "{" + ",".join(fields) + "}"


class RestApi(Construct):
    """Regional REST API: every manifest route, behind the Lambda REQUEST authorizer.

    Scopes are checked by each function per route; the authorizer only proves who is calling,
    which is why its answer may be cached and applies to the whole stage.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifest: Manifest,
        stage: str,
        authorizer_function: lambda_.IFunction,
        route_functions: Mapping[str, lambda_.IFunction],
        cors_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=ACCESS_LOG_RETENTION)
        self.api = apigw.RestApi(
            self,
            "Api",
            # Unique in the account and region: API Gateway's metrics are keyed by this name.
            rest_api_name=f"{cdk.Stack.of(self).stack_name}-rest",
            description="DomainDetermine GUI backend: REST API of this region.",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logging (below) needs the regional API Gateway account role to be set.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=stage,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request and response bodies carry tenant data
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS)),
                throttling_rate_limit=STAGE_RATE_LIMIT,
                throttling_burst_limit=STAGE_BURST_LIMIT,
            ),
        )
        # The stack publishes the URL as `ApiUrl`; the RestApi's own output would repeat it.
        self.api.node.try_remove_child("Endpoint")
        # The region's API Gateway account setting (its CloudWatch role) that `cloud_watch_role`
        # makes: a stage with logging fails to create before it exists, in an account where it was
        # never set. The REST stage waits for it already; any other logging stage must too.
        self.account = self.api.node.find_child("Account")
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=authorizer_function,
            identity_sources=[apigw.IdentitySource.header(manifest.authorizer.identity_source)],
            results_cache_ttl=cdk.Duration.seconds(manifest.authorizer.cache_ttl_s),
        )
        # The same function for the routes that take a stream ticket (`?ticket=`, for EventSource,
        # which cannot send headers) or the header. API Gateway demands every identity source an
        # authorizer lists before it invokes it, so this one lists none; without an identity source
        # there is no cache key, and a REQUEST authorizer without one must not cache (TTL 0): it
        # runs on every request, as a single-use ticket needs.
        self.ticket_authorizer = apigw.RequestAuthorizer(
            self,
            "TicketAuthorizer",
            handler=authorizer_function,
            identity_sources=[],
            results_cache_ttl=cdk.Duration.seconds(0),
        )
        # The CDK renders no identity source as an empty string; the property is left out instead.
        ticket_resource = self.ticket_authorizer.node.default_child
        assert isinstance(ticket_resource, apigw.CfnAuthorizer)
        ticket_resource.add_property_deletion_override("IdentitySource")
        # Required path parameters are checked here. Bodies are checked only against a method's
        # request model, and no method declares one: the functions validate bodies and answer 422
        # with field errors in the problem format, which a gateway model check could not.
        self.request_validator = self.api.add_request_validator(
            "Requests", validate_request_parameters=True, validate_request_body=True
        )
        integrations = {
            name: apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)
            for name, function in route_functions.items()
        }
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for route, fn in manifest.routes():
            resource = self.api.root.resource_for_path(route.full_path)
            self.methods[(route.method, route.full_path)] = resource.add_method(
                route.method,
                integrations[fn.name],
                authorizer=self.ticket_authorizer if route.accepts_ticket else self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                request_validator=self.request_validator,
                request_parameters={
                    f"method.request.path.{name}": True for name in _PATH_PARAMETER.findall(route.path)
                },
            )
        self.preflight_methods: dict[str, apigw.Method] = {}
        if cors_origins:
            for path, methods in cors.preflight_paths(manifest).items():
                self.preflight_methods[path] = self._add_preflight(path, methods, cors_origins)
        self.usage_plan = self.api.add_usage_plan(
            "Backstop",
            description="Backstop for API-key clients: the stage's throttle, per key. Browser calls "
            "carry no key and are bound by the stage throttle and the functions' per-tenant limits.",
            throttle=apigw.ThrottleSettings(rate_limit=STAGE_RATE_LIMIT, burst_limit=STAGE_BURST_LIMIT),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        cors_headers = cors.gateway_response_headers(cors_origins)
        for response in manifest.gateway_responses:
            self.api.add_gateway_response(
                pascal_case(response.type.lower()),
                type=apigw.ResponseType.of(response.type),
                status_code=str(response.status) if response.status is not None else None,
                response_headers=gateway_response_headers(response, cors_headers),
                # API Gateway picks the template by content type; both keys give the same body.
                templates={
                    "application/json": problem_template(response),
                    PROBLEM_CONTENT_TYPE: problem_template(response),
                },
            )
        self._acknowledge()

    def _add_preflight(self, path: str, methods: Sequence[str], origins: Sequence[str]) -> apigw.Method:
        """OPTIONS on one resource, answered by API Gateway: 204 with the CORS headers for an
        allowlisted Origin, 403 problem details for any other (see `stacks.cors`)."""
        headers = cors.allowed_headers(methods)
        header_param = "method.response.header.{}".format
        method = self.api.root.resource_for_path(path).add_method(
            "OPTIONS",
            apigw.MockIntegration(
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": preflight_request_template(origins)},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code=str(cors.PREFLIGHT_ALLOWED),
                        response_parameters={header_param(k): f"'{v}'" for k, v in headers.items()},
                        response_templates={"application/json": _ECHO_ORIGIN},
                    ),
                    apigw.IntegrationResponse(
                        status_code=str(cors.PREFLIGHT_REFUSED),
                        selection_pattern=str(cors.PREFLIGHT_REFUSED),
                        response_parameters={
                            header_param("Content-Type"): f"'{PROBLEM_CONTENT_TYPE}'",
                            header_param("Vary"): "'Origin'",
                        },
                        response_templates={"application/json": refused_template()},
                    ),
                ],
            ),
            authorization_type=apigw.AuthorizationType.NONE,
            method_responses=[
                apigw.MethodResponse(
                    status_code=str(cors.PREFLIGHT_ALLOWED),
                    response_parameters={
                        header_param(k): True for k in ("Access-Control-Allow-Origin", *headers)
                    },
                ),
                apigw.MethodResponse(
                    status_code=str(cors.PREFLIGHT_REFUSED),
                    response_parameters={header_param("Content-Type"): True, header_param("Vary"): True},
                ),
            ],
        )
        acknowledge(
            method,
            "AwsSolutions-APIG4",
            "CORS preflight (OPTIONS): by the CORS specification a browser sends the preflight without "
            "credentials, so it cannot carry the bearer token; API Gateway answers it from a mock "
            "integration (no function runs) and the real request that follows is authorized.",
        )
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "CORS preflight (OPTIONS): it carries no token by the CORS specification, so no authorizer "
            "(Cognito or ours) can apply; the mock integration only answers the allowlisted origins.",
        )
        return method

    def _acknowledge(self) -> None:
        acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "Authorization is the Lambda REQUEST authorizer verifying RS256 bearer JWTs of the GUI's "
            "identity provider (issuer, audience, JWKS from context); there is no Cognito user pool.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "No WAF web ACL yet: every route needs a verified JWT, per-tenant rate limits are enforced "
            "by the functions and stage throttling is the backstop. A regional web ACL is an operator "
            "decision per deployment.",
        )
        acknowledge(
            self.api.node.find_child("CloudWatchRole"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The regional API Gateway account role that execution logging requires; AWS documents this "
            "managed policy for it, and API Gateway names the log groups it writes "
            "(API-Gateway-Execution-Logs_<api>/<stage>) itself.",
        )


def gateway_response_headers(response: GatewayResponse, cors_headers: Mapping[str, str]) -> dict[str, str]:
    """A gateway response's headers as API Gateway mapping expressions: the problem content type,
    the stage's CORS headers (`stacks.cors.gateway_response_headers`) and the response's own
    literal headers (quoted: `'value'`)."""
    own = {}
    for name, value in response.headers:
        if "'" in value:
            raise ValueError(f"gateway response {response.type}: header {name} cannot hold a quote")
        own[name] = f"'{value}'"
    return {"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'", **cors_headers, **own}


def _origin_lookup() -> str:
    # `header.get` matches the name as the client spelled it: browsers send `Origin`, an HTTP/2
    # client sends it lower-cased. Both are looked up, as the CDK's own CORS template does.
    return (
        '#set($origin = $input.params().header.get("Origin"))'
        '#if("$!origin" == "")#set($origin = $input.params().header.get("origin"))#end'
    )


def preflight_request_template(origins: Sequence[str]) -> str:
    """The mock integration's request: status 204 for an allowlisted origin, 403 for any other."""
    condition = " || ".join(f'"$!origin" == {json.dumps(origin)}' for origin in origins)
    return (
        _origin_lookup()
        + f'#if({condition}){{"statusCode": {cors.PREFLIGHT_ALLOWED}}}'
        + f'#else{{"statusCode": {cors.PREFLIGHT_REFUSED}}}#end'
    )


# Only an allowlisted origin reaches the 204 answer, so echoing it is what allows it.
_ECHO_ORIGIN = (
    _origin_lookup() + "#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)"
)


def refused_template() -> str:
    """The 403 body: the problem `stacks.cors.refused_problem` gives, with API Gateway's request id."""
    body = cors.refused_problem(request_id="REQUEST_ID")
    return json.dumps(body).replace('"REQUEST_ID"', '"$context.requestId"')


_ACCESS_LOG_FIELDS = {
    "request_id": "$context.requestId",
    "extended_request_id": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "user_agent": "$context.identity.userAgent",
    "request_time": "$context.requestTime",
    "method": "$context.httpMethod",
    "resource": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "response_length": "$context.responseLength",
    "latency_ms": "$context.responseLatency",
    "integration_latency_ms": "$context.integrationLatency",
    "tenant": "$context.authorizer.tenant",
    "subject": "$context.authorizer.principalId",
    "authorizer_status": "$context.authorizer.status",
    "authorizer_error": "$context.authorizer.error",
    "error": "$context.error.message",
    "xray_trace_id": "$context.xrayTraceId",
}
