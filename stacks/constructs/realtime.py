"""The WebSocket API of a region: live channels, `$connect` behind the REQUEST authorizer.

Built in two steps because of a dependency the other way round from the REST API: the functions
that post to connections learn the management URL (`connections_url`) from their environment, so
the API and its stage exist before the functions, and the routes are added once they do.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.grants import CONNECTION_METHODS, MANAGE_CONNECTIONS_ACTION
from stacks.manifest_model import Manifest, WebSocketApi
from stacks.nag import acknowledge
from stacks.naming import pascal_case

# Backstops in front of the limits the function enforces in DynamoDB (connects per tenant; messages
# per connection and per tenant, gui_core.rate_limit.MessageLimiter): API Gateway throttles each
# route of the stage, for every connection of every tenant together, before the function runs.
STAGE_RATE_LIMIT = 200  # messages (or connects) per second, each route
STAGE_BURST_LIMIT = 400
# Routes dearer than the default: a resume reads up to 5 pages and posts up to 256 KB in 2 s, so
# at 50 a second resumes hold at most about 100 functions however many clients reconnect at once
# (a throttled client resumes again later, from the same cursor).
ROUTE_THROTTLES: dict[str, tuple[int, int]] = {"resume": (50, 100)}  # route key -> (rate, burst)
ACCESS_LOG_RETENTION = logs.RetentionDays.ONE_YEAR

_ACCESS_LOG_FIELDS = {
    "request_id": "$context.requestId",
    "extended_request_id": "$context.extendedRequestId",
    "connection_id": "$context.connectionId",
    "route_key": "$context.routeKey",
    "event_type": "$context.eventType",
    "ip": "$context.identity.sourceIp",
    "request_time": "$context.requestTime",
    "status": "$context.status",
    "error": "$context.error.message",
    "authorizer_error": "$context.authorizer.error",
    "integration_error": "$context.integration.error",
    "tenant": "$context.authorizer.tenant",
}


class Realtime(Construct):
    """A regional WebSocket API with its stage; `add_routes` connects the manifest's routes."""

    def __init__(self, scope: Construct, construct_id: str, *, manifest: Manifest) -> None:
        super().__init__(scope, construct_id)
        if manifest.websocket is None:
            raise ValueError("the manifest has no WebSocket API")
        self.spec: WebSocketApi = manifest.websocket
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            description="DomainDetermine GUI backend: live channels of this region.",
            route_selection_expression=self.spec.route_selection_expression,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=ACCESS_LOG_RETENTION)
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=self.spec.stage,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=STAGE_RATE_LIMIT, burst_limit=STAGE_BURST_LIMIT),
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=json.dumps(_ACCESS_LOG_FIELDS)
        )
        self.routes: dict[str, apigwv2.WebSocketRoute] = {}

    @property
    def connections_url(self) -> str:
        """The management API (`@connections`) of the stage, as boto3's endpoint URL."""
        stack = cdk.Stack.of(self)
        return f"https://{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{self.spec.stage}"

    def grant_manage_connections(self, function: lambda_.Function) -> None:
        """Post to, read and close this stage's connections: the management API's three actions on
        `@connections/*` of this API and stage only."""
        stack = cdk.Stack.of(self)
        arns = [
            stack.format_arn(
                service="execute-api",
                resource=self.api.api_id,
                resource_name=f"{self.spec.stage}/{method}/@connections/*",
            )
            for method in CONNECTION_METHODS
        ]
        iam.Grant.add_to_principal(grantee=function, actions=[MANAGE_CONNECTIONS_ACTION], resource_arns=arns)
        if function.role is not None:
            for arn in arns:
                acknowledge(
                    function.role,
                    f"AwsSolutions-IAM5[Resource::{_as_finding(stack.resolve(arn))}]",
                    "The management API of this WebSocket API's stage: the wildcard stands for "
                    "connection ids, which exist only at run time, under this one API and stage.",
                )

    @property
    def url(self) -> str:
        return self.stage.url

    def add_routes(
        self,
        manifest: Manifest,
        *,
        function: lambda_.IFunction,
        authorizer_function: lambda_.IFunction,
    ) -> None:
        """Every WebSocket route of the manifest to `function`; `$connect` behind the authorizer."""
        # No identity source: the token comes as `?token=` or in `Sec-WebSocket-Protocol` (browsers
        # cannot set headers), and API Gateway would refuse a connect missing a listed source.
        authorizer = authorizers.WebSocketLambdaAuthorizer(
            "Authorizer", authorizer_function, identity_source=[]
        )
        integration = integrations.WebSocketLambdaIntegration("Integration", function)
        for route, _fn in manifest.websocket_routes():
            self.routes[route.route_key] = self.api.add_route(
                route.route_key,
                integration=integration,
                authorizer=authorizer if route.route_key == "$connect" else None,
            )
            if route.route_key != "$connect":
                acknowledge(
                    self.routes[route.route_key],
                    "AwsSolutions-APIG4",
                    "A WebSocket API authorizes at $connect only (API Gateway allows an authorizer "
                    "on no other route); every later message of the connection carries the "
                    "authorizer's context, which the function checks before acting.",
                )
        self._throttle_routes()
        acknowledge(
            self.stage,
            "AwsSolutions-APIG1",
            "Access logging is on: set on the stage's AccessLogSettings through the L1 resource, "
            "which the WebSocketStage construct does not expose.",
        )
        cdk.CfnOutput(
            self,
            "Url",
            value=self.url,
            description=f"WebSocket URL of the live channels ({pascal_case(self.spec.stage)} stage).",
        )

    def _throttle_routes(self) -> None:
        """The stage's settings of the routes in ROUTE_THROTTLES; the stage waits for those routes,
        as CloudFormation refuses settings of a route key the API does not have yet."""
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        missing = set(ROUTE_THROTTLES) - set(self.routes)
        if missing:
            raise ValueError(f"throttles of routes the API does not have: {sorted(missing)}")
        cfn_stage.route_settings = {
            key: {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
            for key, (rate, burst) in ROUTE_THROTTLES.items()
        }
        for key in ROUTE_THROTTLES:
            self.stage.node.add_dependency(self.routes[key])


def _as_finding(resolved: object) -> str:
    """A resolved ARN as cdk-nag names it in a finding: literals as they are, `Ref`s as `<Id>`."""
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, dict) and "Fn::Join" in resolved:
        return "".join(_as_finding(part) for part in resolved["Fn::Join"][1])
    if isinstance(resolved, dict) and "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    raise ValueError(f"cannot name {resolved!r} as cdk-nag does")
