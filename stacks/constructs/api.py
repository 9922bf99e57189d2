"""The REST API of a region: routes, the REQUEST authorizer, problem-details gateway responses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from gui_core.errors import PROBLEM_CONTENT_TYPE, problem_type
from stacks.manifest import GatewayResponse, Manifest
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=ACCESS_LOG_RETENTION)
        self.api = apigw.RestApi(
            self,
            "Api",
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
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=authorizer_function,
            identity_sources=[apigw.IdentitySource.header(manifest.authorizer.identity_source)],
            results_cache_ttl=cdk.Duration.seconds(manifest.authorizer.cache_ttl_s),
        )
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
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                request_validator=self.request_validator,
                request_parameters={
                    f"method.request.path.{name}": True for name in _PATH_PARAMETER.findall(route.path)
                },
            )
        for response in manifest.gateway_responses:
            self.api.add_gateway_response(
                pascal_case(response.type.lower()),
                type=apigw.ResponseType.of(response.type),
                status_code=str(response.status) if response.status is not None else None,
                response_headers={"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"},
                # API Gateway picks the template by content type; both keys give the same body.
                templates={
                    "application/json": problem_template(response),
                    PROBLEM_CONTENT_TYPE: problem_template(response),
                },
            )
        self._acknowledge()

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
