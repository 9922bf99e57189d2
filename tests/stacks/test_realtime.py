"""The WebSocket API's stage: API Gateway's throttles in front of the function's own limits."""

from __future__ import annotations

from typing import Any

from stacks.constructs.realtime import ROUTE_THROTTLES, STAGE_BURST_LIMIT, STAGE_RATE_LIMIT

from . import cfn


def test_every_route_of_the_stage_is_throttled_and_resume_more_tightly(template: dict[str, Any]) -> None:
    _, stage = cfn.one(template, "AWS::ApiGatewayV2::Stage")
    props = cfn.props(stage)
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == STAGE_RATE_LIMIT
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] == STAGE_BURST_LIMIT
    assert props["RouteSettings"] == {
        "resume": {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
    }
    assert all(rate < STAGE_RATE_LIMIT for rate, _ in ROUTE_THROTTLES.values())
    routes = {
        cfn.props(route)["RouteKey"]: logical_id
        for logical_id, route in cfn.resources(template, "AWS::ApiGatewayV2::Route").items()
    }
    # CloudFormation refuses the settings of a route key the API does not have yet.
    assert {routes[key] for key in ROUTE_THROTTLES} <= set(stage.get("DependsOn", []))
