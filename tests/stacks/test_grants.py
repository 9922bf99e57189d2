"""The synthesized roles hold exactly the manifest's grants (stacks/grants.py), action by action and
resource by resource, so the local runtime, which enforces those grants on every call a function
makes (local/iam.py), allows exactly what a deployed function's role allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.grants import Target, permissions
from stacks.manifest import Manifest

from . import cfn


class Targets:
    """Reads a template's resource references back as the grants' abstract targets."""

    def __init__(self, template: dict[str, Any], manifest: Manifest) -> None:
        self.template = template
        self.manifest = manifest
        self.stores = {logical_id: store for store, logical_id in cfn.tables_by_store(template).items()}
        self.queues = self._queue_names()
        self.quarantine = self._quarantine()
        self.work_queues = self._work_queues()
        self.secrets = self._secrets()
        (self.websocket_api, _) = cfn.one(template, "AWS::ApiGatewayV2::Api")

    def _quarantine(self) -> str | None:
        """The quarantine queue's logical id: the queue whose URL the quarantining functions learn
        from their environment (the manifest's `Queue.env_var`)."""
        if self.manifest.quarantine is None:
            return None
        env_var = self.manifest.quarantine.env_var
        found = {
            queue
            for function in cfn.resources(self.template, "AWS::Lambda::Function").values()
            if env_var in (variables := cfn.props(function).get("Environment", {}).get("Variables", {}))
            for queue in cfn.references(variables[env_var])
        }
        assert len(found) <= 1, found
        return next(iter(found), None)

    def _work_queues(self) -> dict[str, str]:
        """The work queues' logical ids -> their manifest names: the queue whose URL a sending
        function learns from its environment (`Queue.env_var`)."""
        found: dict[str, str] = {}
        for spec in self.manifest.queues():
            if spec == self.manifest.quarantine:
                continue
            for function in cfn.resources(self.template, "AWS::Lambda::Function").values():
                variables = cfn.props(function).get("Environment", {}).get("Variables", {})
                if spec.env_var in variables:
                    for queue in cfn.references(variables[spec.env_var]):
                        assert found.get(queue, spec.name) == spec.name, (queue, spec.name)
                        found[queue] = spec.name
        return found

    def _secrets(self) -> dict[str, str]:
        """The secrets' logical ids -> their manifest names: the secret whose ARN a reading function
        learns from its environment (`Secret.env_var`)."""
        found: dict[str, str] = {}
        for spec in self.manifest.secrets:
            for function in cfn.resources(self.template, "AWS::Lambda::Function").values():
                variables = cfn.props(function).get("Environment", {}).get("Variables", {})
                if spec.env_var in variables:
                    for secret in cfn.references(variables[spec.env_var]):
                        assert found.get(secret, spec.name) == spec.name, (secret, spec.name)
                        found[secret] = spec.name
        return found

    def _queue_names(self) -> dict[str, str]:
        """On-failure queue logical id -> the grants' name: the source of an event source mapping
        (a store, or the Kinesis stream), or `async` for a function's asynchronous invocations."""
        names: dict[str, str] = {}
        for mapping in cfn.resources(self.template, "AWS::Lambda::EventSourceMapping").values():
            properties = cfn.props(mapping)
            if "DestinationConfig" not in properties:
                continue  # a queue's mapping: a message failing too often goes to the queue's DLQ
            (queue,) = cfn.references(properties["DestinationConfig"]["OnFailure"]["Destination"])
            (source,) = cfn.references(properties["EventSourceArn"])
            names[queue] = self.stores.get(source) or self.manifest.stream.name
        for config in cfn.resources(self.template, "AWS::Lambda::EventInvokeConfig").values():
            (queue,) = cfn.references(cfn.props(config)["DestinationConfig"]["OnFailure"]["Destination"])
            names[queue] = "async"
        return names

    def of(self, resource: Any) -> Target:
        if resource == "*":
            return Target("any")
        if "Ref" in resource and resource["Ref"] in self.secrets:
            return Target("secret", self.secrets[resource["Ref"]])
        if "Fn::GetAtt" in resource:
            logical_id, attribute = resource["Fn::GetAtt"]
            kind = self.template["Resources"][logical_id]["Type"]
            if kind == "AWS::DynamoDB::Table":
                return Target(
                    "table_stream" if attribute == "StreamArn" else "table", self.stores[logical_id]
                )
            simple = {
                "AWS::S3::Bucket": "bucket",
                "AWS::Events::EventBus": "bus",
                "AWS::Kinesis::Stream": "stream",
                "AWS::Logs::LogGroup": "log_group",
            }
            if kind in simple:
                return Target(simple[kind])
            if kind == "AWS::Kinesis::StreamConsumer" and attribute == "ConsumerARN":
                consumer = cfn.props(self.template["Resources"][logical_id])
                return Target("stream_consumer", consumer["ConsumerName"])
            if kind == "AWS::SQS::Queue" and logical_id == self.quarantine:
                return Target("quarantine")
            if kind == "AWS::SQS::Queue" and logical_id in self.work_queues:
                return Target("work_queue", self.work_queues[logical_id])
            if kind == "AWS::SQS::Queue":
                return Target("queue", self.queues[logical_id])
        if "Fn::Join" in resource:
            separator, parts = resource["Fn::Join"]
            assert separator == ""
            head, *rest = parts
            tail = "".join(p for p in rest if isinstance(p, str))
            if isinstance(head, dict) and "Fn::GetAtt" in head:
                inner = self.of(head)
                if inner.kind == "table" and tail == "/index/*":
                    return Target("table_indexes", inner.name)
                if inner.kind == "bucket" and tail.startswith("/") and tail.endswith("*"):
                    return Target("bucket_objects", tail[1:-1])
            if self.websocket_api in cfn.references(parts):
                stage = self.manifest.websocket.stage if self.manifest.websocket else ""
                last = parts[-1]
                assert isinstance(last, str), resource
                method = last.removeprefix(f"/{stage}/").removesuffix("/@connections/*")
                return Target("connections", method)
        raise AssertionError(f"a resource the grants cannot name: {json.dumps(resource)}")


def _conditions_text(condition: dict[str, dict[str, Any]] | None) -> str:
    return repr(
        sorted(
            (op, sorted((key, sorted(cfn.as_list(values))) for key, values in keys.items()))
            for op, keys in (condition or {}).items()
        )
    )


def template_permissions(
    template: dict[str, Any], targets: Targets, role_id: str
) -> set[tuple[str, Target, str]]:
    found: set[tuple[str, Target, str]] = set()
    for statement in cfn.role_statements(template, role_id):
        assert statement["Effect"] == "Allow", statement
        for action in cfn.as_list(statement["Action"]):
            for resource in cfn.as_list(statement["Resource"]):
                found.add((action, targets.of(resource), _conditions_text(statement.get("Condition"))))
    return found


def _role_of(template: dict[str, Any], function_id: str) -> str:
    (role_id,) = cfn.references(cfn.props(template["Resources"][function_id])["Role"])
    return role_id


def test_every_role_holds_exactly_the_manifest_grants(template: dict[str, Any], manifest: Manifest) -> None:
    targets = Targets(template, manifest)
    functions = cfn.functions_by_name(template)
    for fn in manifest.all_functions():
        role_id = _role_of(template, functions[fn.name])
        deployed = template_permissions(template, targets, role_id)
        rendered = permissions(manifest, fn)
        assert deployed == rendered, (
            f"{fn.name}: only in the template {sorted(deployed - rendered)}; "
            f"only in the grants {sorted(rendered - deployed)}"
        )


def test_the_log_group_a_role_writes_is_its_functions_own(
    template: dict[str, Any], manifest: Manifest
) -> None:
    functions = cfn.functions_by_name(template)
    for fn in manifest.all_functions():
        function = cfn.props(template["Resources"][functions[fn.name]])
        (own_group,) = cfn.references(function["LoggingConfig"]["LogGroup"])
        for statement in cfn.role_statements(template, _role_of(template, functions[fn.name])):
            if "logs:PutLogEvents" in cfn.as_list(statement["Action"]):
                assert cfn.references(statement["Resource"]) == {own_group}, fn.name


@pytest.mark.parametrize("store", ["tenants"])
def test_the_schedules_that_list_tenants_may_scan_the_store(
    template: dict[str, Any], manifest: Manifest, store: str
) -> None:
    """gui_telemetry and gui_index_rebuild read every tenant homed here with a Scan (issue 12, #2)."""
    scanning = {"gui_telemetry", "gui_index_rebuild"}
    targets = Targets(template, manifest)
    functions = cfn.functions_by_name(template)
    for name in scanning:
        deployed = template_permissions(template, targets, _role_of(template, functions[name]))
        assert ("dynamodb:Scan", Target("table", store), _conditions_text(None)) in deployed, name
