"""The synthesized templates and the manifest describe the same application, region by region."""

from __future__ import annotations

from typing import Any

from stacks.config import DeploymentConfig
from stacks.cors import preflight_paths
from stacks.manifest import Manifest
from stacks.naming import pascal_case
from tests.stacks import cfn


def test_every_store_is_a_table_and_there_are_no_others(template: dict[str, Any], manifest: Manifest) -> None:
    assert set(cfn.tables_by_store(template)) == {store.name for store in manifest.stores}


def test_every_table_has_the_keys_of_its_store(template: dict[str, Any], manifest: Manifest) -> None:
    for store_name, table_id in cfn.tables_by_store(template).items():
        store = manifest.store(store_name)
        table = cfn.props(template["Resources"][table_id])
        expected_keys = [{"AttributeName": store.partition_key.name, "KeyType": "HASH"}]
        if store.sort_key:
            expected_keys.append({"AttributeName": store.sort_key.name, "KeyType": "RANGE"})
        assert table["KeySchema"] == expected_keys, store_name
        declared = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        keys = [store.partition_key, store.sort_key] + [
            key for index in store.indexes for key in (index.partition_key, index.sort_key)
        ]
        assert declared == {key.name: key.type for key in keys if key}, store_name


def test_every_function_is_deployed_with_its_handler(template: dict[str, Any], manifest: Manifest) -> None:
    functions = cfn.functions_by_name(template)
    assert set(functions) == {fn.name for fn in manifest.all_functions()}
    for fn in manifest.all_functions():
        assert cfn.props(template["Resources"][functions[fn.name]])["Handler"] == fn.handler


def test_every_route_is_a_method_and_there_are_no_others(
    template: dict[str, Any], manifest: Manifest, deployment: DeploymentConfig
) -> None:
    """Besides the routes: the CORS preflight (OPTIONS) of every routed resource, when the stage
    allows some origin."""
    methods = {
        (cfn.props(method)["HttpMethod"], cfn.method_path(template, method))
        for method in cfn.resources(template, "AWS::ApiGateway::Method").values()
    }
    preflights = (
        {("OPTIONS", path) for path in preflight_paths(manifest)} if deployment.cors_origins else set()
    )
    assert methods == {(route.method, route.full_path) for route, _ in manifest.routes()} | preflights


def test_every_stream_and_queue_source_is_an_event_source_mapping(
    template: dict[str, Any], manifest: Manifest
) -> None:
    mappings = [cfn.props(m) for m in cfn.resources(template, "AWS::Lambda::EventSourceMapping").values()]
    functions = cfn.functions_by_name(template)
    tables = cfn.tables_by_store(template)
    expected = {
        (functions[fn.name], tables[source.store])
        for fn in manifest.functions
        for source in fn.stream_sources
    }
    found = {
        (m["FunctionName"]["Ref"], m["EventSourceArn"]["Fn::GetAtt"][0])
        for m in mappings
        if m["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn"
    }
    assert found == expected
    kinesis_sources = [source for fn in manifest.functions for source in fn.kinesis_sources]
    queue_sources = {
        (functions[fn.name], source.queue) for fn in manifest.functions for source in fn.queue_sources
    }
    queues = cfn.resources(template, "AWS::SQS::Queue")
    # A queue source's mapping reads the queue State made of that manifest queue (`<Name>Queue`).
    queue_ids = {
        logical_id: spec.name
        for spec in manifest.queues()
        for logical_id in queues
        if logical_id.startswith(f"State{pascal_case(spec.name)}Queue")
    }
    from_queues = {
        (m["FunctionName"]["Ref"], queue_ids[m["EventSourceArn"]["Fn::GetAtt"][0]])
        for m in mappings
        if m["EventSourceArn"]["Fn::GetAtt"][0] in queues
    }
    assert from_queues == queue_sources
    assert len(mappings) == len(expected) + len(kinesis_sources) + len(queue_sources)


def test_the_websocket_api_has_every_manifest_route_and_only_connect_is_authorized(
    template: dict[str, Any], manifest: Manifest
) -> None:
    assert manifest.websocket is not None
    _, api = cfn.one(template, "AWS::ApiGatewayV2::Api")
    assert cfn.props(api)["ProtocolType"] == "WEBSOCKET"
    assert cfn.props(api)["RouteSelectionExpression"] == manifest.websocket.route_selection_expression
    routes = {
        cfn.props(r)["RouteKey"]: cfn.props(r)
        for r in cfn.resources(template, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {route.route_key for route, _ in manifest.websocket_routes()}
    for key, route in routes.items():
        assert route["AuthorizationType"] == ("CUSTOM" if key == "$connect" else "NONE"), key
    (_, authorizer) = cfn.one(template, "AWS::ApiGatewayV2::Authorizer")
    functions = cfn.invoked_by_name(template)  # the alias, with SnapStart
    assert cfn.references(cfn.props(authorizer)["AuthorizerUri"]) == {
        functions[manifest.authorizer.function.name]
    }
    integrations = cfn.resources(template, "AWS::ApiGatewayV2::Integration").values()
    assert {ref for i in integrations for ref in cfn.references(cfn.props(i)["IntegrationUri"])} == {
        functions[manifest.websocket.function]
    }
    (stage,) = cfn.resources(template, "AWS::ApiGatewayV2::Stage").values()
    assert cfn.props(stage)["StageName"] == manifest.websocket.stage
    assert "AccessLogSettings" in cfn.props(stage)
    assert cfn.props(stage)["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


def test_every_layer_is_deployed(template: dict[str, Any], manifest: Manifest) -> None:
    layers = cfn.resources(template, "AWS::Lambda::LayerVersion")
    assert sorted(cfn.props(layer)["Description"] for layer in layers.values()) == sorted(
        layer.purpose for layer in manifest.layers
    )


def test_every_rule_forwards_its_sources_to_its_target(template: dict[str, Any], manifest: Manifest) -> None:
    rules = [cfn.props(rule) for rule in cfn.resources(template, "AWS::Events::Rule").values()]
    rules = [rule for rule in rules if "EventPattern" in rule]  # not the schedules
    assert len(rules) == len(manifest.rules)
    stream_id, _ = cfn.one(template, "AWS::Kinesis::Stream")
    bus_id, _ = cfn.one(template, "AWS::Events::EventBus")
    functions = cfn.resources(template, "AWS::Lambda::Function")
    for rule in manifest.rules:
        matching = [r for r in rules if r["Description"].startswith(f"{rule.name}:")]
        assert len(matching) == 1, rule.name
        found = matching[0]
        assert found["EventPattern"]["source"] == [{"prefix": p} for p in rule.sources]
        assert found["EventPattern"].get("detail-type", []) == list(rule.detail_types)
        assert cfn.references(found["EventBusName"]) == {bus_id}
        (target,) = found["Targets"]
        if rule.stream:
            assert cfn.references(target["Arn"]) == {stream_id}
            assert target["KinesisParameters"] == {"PartitionKeyPath": rule.partition_key_path}
        else:
            (function_id,) = cfn.references(target["Arn"])
            handler = cfn.props(functions[function_id])["Handler"]
            assert handler == manifest.function(str(rule.function)).handler


def test_every_gateway_response_is_customised(template: dict[str, Any], manifest: Manifest) -> None:
    responses = cfn.resources(template, "AWS::ApiGateway::GatewayResponse")
    assert sorted(cfn.props(r)["ResponseType"] for r in responses.values()) == sorted(
        response.type for response in manifest.gateway_responses
    )
