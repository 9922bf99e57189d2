"""Bus, stream and rule: domain events reach the stream in tenant order, or a dead-letter queue."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk.assertions import Match, Template

from stacks.app_builder import build_app
from stacks.constructs.events import event_pattern
from stacks.manifest import Manifest, Rule
from stacks.naming import stack_name
from tests.stacks import cfn


def test_stream_is_encrypted_with_the_aws_managed_key(cdk_template: Template, manifest: Manifest) -> None:
    cdk_template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": manifest.stream.shards,
            "RetentionPeriodHours": manifest.stream.retention_hours,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
        },
    )


def test_bus_exists_once(cdk_template: Template) -> None:
    cdk_template.resource_count_is("AWS::Events::EventBus", 1)


def test_rule_targets_have_a_dead_letter_queue_and_retries(
    cdk_template: Template, manifest: Manifest
) -> None:
    for rule in manifest.rules:
        target: dict[str, object] = {
            "DeadLetterConfig": {"Arn": Match.any_value()},
            "RetryPolicy": Match.object_like({"MaximumRetryAttempts": Match.any_value()}),
        }
        if rule.stream:
            target["KinesisParameters"] = {"PartitionKeyPath": rule.partition_key_path}
        cdk_template.has_resource_properties(
            "AWS::Events::Rule",
            {
                "EventPattern": Match.object_like({"source": [{"prefix": p} for p in rule.sources]}),
                "Targets": [Match.object_like(target)],
            },
        )
    stream_sources = [s for fn in manifest.functions for s in (*fn.stream_sources, *fn.kinesis_sources)]
    async_targets = {r.function for r in manifest.rules if r.function} | {
        s.function for s in manifest.schedules
    }
    queues = len(manifest.rules) + len(stream_sources) + len(manifest.schedules) + len(async_targets)
    queues += 1 if manifest.quarantine else 0  # the quarantine of the stream's poison records
    # The migrations' work queue, and its dead-letter queue since a function consumes it.
    queues += 2 if manifest.migration_queue else 0
    # The schedules' per-tenant work queues, each with its dead-letter queue.
    queues += 2 * len(manifest.work_queues)
    cdk_template.resource_count_is("AWS::SQS::Queue", queues)
    cdk_template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})


def test_each_schedule_fires_its_function_at_its_rate_with_a_dead_letter_queue(
    cdk_template: Template, manifest: Manifest
) -> None:
    assert manifest.schedules, "the app has scheduled functions"
    rules = cdk_template.find_resources("AWS::Events::Rule")
    functions = cdk_template.find_resources("AWS::Lambda::Function")
    for schedule in manifest.schedules:
        minutes = schedule.rate_minutes
        expression = f"rate({minutes} minute{'s' if minutes > 1 else ''})"
        if minutes % 60 == 0:
            hours = minutes // 60
            expression = f"rate({hours} hour{'s' if hours > 1 else ''})"
        (rule,) = [r for r in rules.values() if r["Properties"].get("ScheduleExpression") == expression]
        (target,) = rule["Properties"]["Targets"]
        assert "DeadLetterConfig" in target
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        arn = target["Arn"]["Fn::GetAtt"][0]
        handler = functions[arn]["Properties"]["Handler"]
        assert handler == manifest.function(schedule.function).handler
        # The rule runs on the default bus: schedules are not domain events.
        assert "EventBusName" not in rule["Properties"]


def test_functions_events_invoke_keep_their_failed_invocations(
    cdk_template: Template, manifest: Manifest
) -> None:
    """What EventBridge delivered but the function failed on after Lambda's retries goes to a queue
    (the rule's own queue keeps only what could not be delivered)."""
    configs = cdk_template.find_resources("AWS::Lambda::EventInvokeConfig")
    functions = cdk_template.find_resources("AWS::Lambda::Function")
    handlers = {
        functions[c["Properties"]["FunctionName"]["Ref"]]["Properties"]["Handler"]: c["Properties"]
        for c in configs.values()
    }
    targets = {r.function for r in manifest.rules if r.function} | {s.function for s in manifest.schedules}
    assert set(handlers) == {manifest.function(str(name)).handler for name in targets}
    for config in handlers.values():
        assert config["MaximumRetryAttempts"] == 2
        assert "Destination" in config["DestinationConfig"]["OnFailure"]


def test_every_rule_target_dead_letter_queue_lets_only_its_rule_send(template: dict[str, Any]) -> None:
    """EventBridge can put an undeliverable event in a target's dead-letter queue only if the queue's
    policy allows it (the CDK's Kinesis target adds no such statement): each queue allows
    events.amazonaws.com to SendMessage, on behalf of its own rule only."""
    policies: dict[str, list[dict[str, Any]]] = {}
    for policy in cfn.resources(template, "AWS::SQS::QueuePolicy").values():
        for queue in cfn.props(policy)["Queues"]:
            (queue_id,) = cfn.references(queue)
            policies.setdefault(queue_id, []).extend(cfn.props(policy)["PolicyDocument"]["Statement"])
    checked = 0
    for rule_id, rule in cfn.resources(template, "AWS::Events::Rule").items():
        for target in cfn.props(rule)["Targets"]:
            if "DeadLetterConfig" not in target:
                continue
            (queue_id,) = cfn.references(target["DeadLetterConfig"]["Arn"])
            allowed = [
                s
                for s in policies.get(queue_id, [])
                if s["Effect"] == "Allow" and s["Principal"] == {"Service": "events.amazonaws.com"}
            ]
            assert allowed, f"{rule_id}: EventBridge may not send to its dead-letter queue {queue_id}"
            assert len(allowed) == 1, f"{queue_id}: one statement per rule"
            for statement in allowed:
                assert cfn.as_list(statement["Action"]) == ["sqs:SendMessage"]
                assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
                assert statement["Condition"] == {
                    "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
                }
            checked += 1
    assert checked == len(cfn.resources(template, "AWS::Events::Rule"))


def test_each_rule_has_the_manifest_event_pattern(template: dict[str, Any], manifest: Manifest) -> None:
    """One pattern for both renderings (`Rule.event_pattern`, which the local bus uses too); the
    stream rule only takes events with a tenant, its partition key (without one EventBridge could
    not put the event on the stream: it would end in the rule's dead-letter queue)."""
    patterns = {
        cfn.props(r)["Description"].split(":", 1)[0]: cfn.props(r).get("EventPattern")
        for r in cfn.resources(template, "AWS::Events::Rule").values()
    }
    for rule in manifest.rules:
        assert patterns[rule.name] == rule.event_pattern(), rule.name
    (to_stream,) = [rule for rule in manifest.rules if rule.stream]
    assert "tenant" in to_stream.required_detail
    assert patterns[to_stream.name]["detail"] == {"tenant": [{"exists": True}]}


def test_patterns_of_several_prefixes_detail_types_and_required_keys_render_as_the_manifest_s() -> None:
    rule = Rule(
        "r",
        "domain",
        ("domaindetermine.jobs", "domaindetermine.executor"),
        ("JobRequested", "JobStatusChanged"),
        stream="gui-events",
        required_detail=("tenant", "job_id"),
    )
    stack = cdk.Stack(cdk.App(), "Patterns")
    events.Rule(stack, "Rule", event_pattern=event_pattern(rule))
    (rendered,) = Template.from_stack(stack).find_resources("AWS::Events::Rule").values()
    assert rendered["Properties"]["EventPattern"] == rule.event_pattern()


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        ("on_demand", {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "ShardCount": Match.absent()}),
        ({"test": 4}, {"StreamModeDetails": {"StreamMode": "PROVISIONED"}, "ShardCount": 4}),
    ],
)
def test_a_stage_sizes_the_stream_from_its_context(capacity: object, expected: dict[str, Any]) -> None:
    app = build_app(validate=False, regions=["eu-west-1"], context={"stream_capacity": capacity})
    template = Template.from_stack(app.node.find_child(stack_name("eu-west-1")))  # type: ignore[arg-type]
    template.has_resource_properties("AWS::Kinesis::Stream", expected)
