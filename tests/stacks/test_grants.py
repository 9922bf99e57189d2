"""The synthesized roles hold exactly the manifest's grants (stacks/grants.py), action by action and
resource by resource, so the local runtime, which enforces those grants on every call a function
makes (local/iam.py), allows exactly what a deployed function's role allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.grants import Target, access_point, permissions
from stacks.manifest import Manifest

from . import cfn


class Targets:
    """Reads a template's resource references back as the grants' abstract targets."""

    def __init__(
        self, template: dict[str, Any], manifest: Manifest, nested: dict[str, Any] | None = None
    ) -> None:
        """`nested`: the template of the network's nested stack, whose outputs name the file systems
        and access points."""
        self.template = template
        self.manifest = manifest
        self.nested = nested or {"Resources": {}, "Outputs": {}}
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

    def _nested_output(self, value: Any) -> tuple[str, dict[str, Any]]:
        """The nested stack's resource that a parent's `Fn::GetAtt [<stack>, Outputs.<name>]` reads,
        with its logical id."""
        stack_id, attribute = value["Fn::GetAtt"]
        assert self.template["Resources"][stack_id]["Type"] == "AWS::CloudFormation::Stack"
        output = self.nested["Outputs"][attribute.removeprefix("Outputs.")]["Value"]
        (logical_id,) = cfn.references(output)
        return logical_id, self.nested["Resources"][logical_id]

    def _file_system_name(self, file_system_id: str) -> str:
        """The manifest's file system of an EFS file system: the one whose root its access point has."""
        (root,) = [
            cfn.props(ap)["RootDirectory"]["Path"]
            for ap in cfn.resources(self.nested, "AWS::EFS::AccessPoint").values()
            if cfn.references(cfn.props(ap)["FileSystemId"]) == {file_system_id}
        ]
        (spec,) = [fs for fs in self.manifest.file_systems if fs.root == root]
        return spec.name

    def condition_value(self, value: Any) -> str:
        """A condition's value as the grants write it: a string, or the access point placeholder for
        the ARN of an access point of the nested stack (`arn:...:access-point/<id>`)."""
        if isinstance(value, str):
            return value
        separator, parts = value["Fn::Join"]
        assert separator == "", value
        assert parts[-2] == ":access-point/", value
        assert parts[0] == "arn:aws:elasticfilesystem:" + self._region() + ":", value
        _, resource = self._nested_output(parts[-1])
        assert resource["Type"] == "AWS::EFS::AccessPoint", value
        file_system_id = cfn.references(cfn.props(resource)["FileSystemId"]).pop()
        return access_point(self._file_system_name(file_system_id))

    def _region(self) -> str:
        variables = [
            cfn.props(f).get("Environment", {}).get("Variables", {})
            for f in cfn.resources(self.template, "AWS::Lambda::Function").values()
        ]
        (region,) = {v["GUI_REGION"] for v in variables if "GUI_REGION" in v}
        return str(region)

    def of(self, resource: Any) -> Target:
        if resource == "*":
            return Target("any")
        if "Fn::GetAtt" in resource and str(resource["Fn::GetAtt"][1]).startswith("Outputs."):
            logical_id, nested = self._nested_output(resource)
            if nested["Type"] == "AWS::EFS::FileSystem":
                return Target("file_system", self._file_system_name(logical_id))
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


def _conditions_text(condition: dict[str, dict[str, Any]] | None, targets: Targets | None = None) -> str:
    def value(v: Any) -> str:
        return targets.condition_value(v) if targets is not None else str(v)

    return repr(
        sorted(
            (op, sorted((key, sorted(value(v) for v in cfn.as_list(values))) for key, values in keys.items()))
            for op, keys in (condition or {}).items()
        )
    )


def template_permissions(
    template: dict[str, Any], targets: Targets, role_id: str
) -> set[tuple[str, Target, str]]:
    found: set[tuple[str, Target, str]] = set()
    for statement in cfn.role_statements(template, role_id):
        assert statement["Effect"] == "Allow", statement
        conditions = _conditions_text(statement.get("Condition"), targets)
        for action in cfn.as_list(statement["Action"]):
            for resource in cfn.as_list(statement["Resource"]):
                found.add((action, targets.of(resource), conditions))
    return found


def _role_of(template: dict[str, Any], function_id: str) -> str:
    (role_id,) = cfn.references(cfn.props(template["Resources"][function_id])["Role"])
    return role_id


def test_every_role_holds_exactly_the_manifest_grants(
    template: dict[str, Any], nested: dict[str, Any], manifest: Manifest
) -> None:
    targets = Targets(template, manifest, nested)
    functions = cfn.functions_by_name(template)
    for fn in manifest.all_functions():
        role_id = _role_of(template, functions[fn.name])
        deployed = template_permissions(template, targets, role_id)
        rendered = permissions(manifest, fn)
        assert deployed == rendered, (
            f"{fn.name}: only in the template {sorted(deployed - rendered)}; "
            f"only in the grants {sorted(rendered - deployed)}"
        )


def test_a_file_system_is_mounted_and_written_through_its_access_point_only(
    template: dict[str, Any], nested: dict[str, Any], manifest: Manifest
) -> None:
    """The mounting functions may ClientMount and ClientWrite on their one file system, on condition
    of its access point (not on Resource '*', as the CDK's fromEfsAccessPoint grants the mount); the
    other roles hold no EFS or EC2 permission at all."""
    targets = Targets(template, manifest, nested)
    functions = cfn.functions_by_name(template)
    mounting = {fn.name for fn in manifest.all_functions() if fn.file_system is not None}
    assert mounting == {"gui_search", "gui_graphql", "gui_indexer", "gui_index_rebuild"}
    for fn in manifest.all_functions():
        deployed = template_permissions(template, targets, _role_of(template, functions[fn.name]))
        efs = {(a, t, c) for a, t, c in deployed if a.startswith("elasticfilesystem:")}
        ec2 = {a for a, _, _ in deployed if a.startswith("ec2:")}
        if fn.name not in mounting:
            assert not efs, fn.name
            assert not ec2, fn.name
            continue
        condition = _conditions_text(
            {"StringEquals": {"elasticfilesystem:AccessPointArn": access_point("search")}}
        )
        assert efs == {
            (action, Target("file_system", "search"), condition)
            for action in ("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite")
        }, fn.name
        assert "ec2:CreateNetworkInterface" in ec2, fn.name


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
    template: dict[str, Any], nested: dict[str, Any], manifest: Manifest, store: str
) -> None:
    """gui_telemetry and gui_index_rebuild read every tenant homed here with a Scan (issue 12, #2)."""
    scanning = {"gui_telemetry", "gui_index_rebuild"}
    targets = Targets(template, manifest, nested)
    functions = cfn.functions_by_name(template)
    for name in scanning:
        deployed = template_permissions(template, targets, _role_of(template, functions[name]))
        assert ("dynamodb:Scan", Target("table", store), _conditions_text(None)) in deployed, name
