"""The quarantine of the stream's poison records in the template (issue 12, #14): one queue per
region (SQS-managed encryption, TLS only, the manifest's retention), its URL in the quarantining
consumers' environment and as a stack output with the stream's name, `sqs:SendMessage` on it for
those consumers only, and its alarms."""

from __future__ import annotations

import re
from typing import Any

from local import quarantine as quarantine_cli
from stacks.constructs.observability import panels, thresholds
from stacks.manifest import METRICS_NAMESPACE, Manifest
from tests.stacks import cfn


def _quarantine(template: dict[str, Any]) -> str:
    """The logical id of the queue the stack outputs as `QuarantineQueueUrl`."""
    (queue_id,) = cfn.references(template["Outputs"]["QuarantineQueueUrl"]["Value"])
    return queue_id


def test_each_region_has_one_encrypted_tls_only_quarantine_queue(
    template: dict[str, Any], manifest: Manifest
) -> None:
    assert manifest.quarantine is not None
    queue_id = _quarantine(template)
    queue = cfn.props(cfn.resources(template, "AWS::SQS::Queue")[queue_id])
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == manifest.quarantine.retention_days * 86_400 == 1_209_600
    assert "RedrivePolicy" not in queue  # nothing consumes it but an operator
    denials = [
        statement
        for policy in cfn.resources(template, "AWS::SQS::QueuePolicy").values()
        if queue_id in {q for ref in cfn.props(policy)["Queues"] for q in cfn.references(ref)}
        for statement in cfn.props(policy)["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
    ]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denials)


def test_the_stack_outputs_the_quarantine_url_and_the_stream_name(template: dict[str, Any]) -> None:
    """What `ddgui quarantine` reads back from CloudFormation."""
    stream_id, _ = cfn.one(template, "AWS::Kinesis::Stream")
    assert template["Outputs"]["QuarantineQueueUrl"]["Value"] == {"Ref": _quarantine(template)}
    assert template["Outputs"]["EventStreamName"]["Value"] == {"Ref": stream_id}


def test_the_three_consumers_learn_the_queue_and_alone_may_send_to_it(
    template: dict[str, Any], manifest: Manifest
) -> None:
    assert manifest.quarantine is not None
    queue_arn = {"Fn::GetAtt": [_quarantine(template), "Arn"]}
    quarantining = {fn.name for fn in manifest.all_functions() if fn.quarantines}
    assert quarantining == {"gui_fanout", "gui_indexer", "gui_telemetry_facts"}
    functions = cfn.functions_by_name(template)
    for fn in manifest.all_functions():
        function = cfn.props(template["Resources"][functions[fn.name]])
        variables = function.get("Environment", {}).get("Variables", {})
        (role_id,) = cfn.references(function["Role"])
        sends = {
            action
            for statement in cfn.role_statements(template, role_id)
            if queue_arn in cfn.as_list(statement["Resource"])
            for action in cfn.as_list(statement["Action"])
        }
        if fn.name in quarantining:
            assert variables[manifest.quarantine.env_var] == {"Ref": _quarantine(template)}, fn.name
            assert sends == {"sqs:SendMessage"}, fn.name
        else:
            assert manifest.quarantine.env_var not in variables, fn.name
            assert sends == set(), fn.name


def test_the_quarantine_alarms_on_its_depth_and_on_new_records(
    template: dict[str, Any], manifest: Manifest
) -> None:
    alarms = {
        re.sub(r"^DdGui-[a-z]+-[a-z]+-\d+-", "", cfn.props(a)["AlarmName"]): cfn.props(a)
        for a in cfn.resources(template, "AWS::CloudWatch::Alarm").values()
    }
    (depth_name,) = [name for name in alarms if name.startswith("QuarantineDepth-")]
    depth = alarms[depth_name]
    (query,) = depth.get("Metrics", [{"MetricStat": None}])
    metric = query["MetricStat"]["Metric"] if query["MetricStat"] else depth
    assert metric["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert metric["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [_quarantine(template), "QueueName"]}}
    ]
    assert (depth["Threshold"], depth["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    # The quarantine is not a dead-letter queue: no DlqDepth alarm says "redrive" of it.
    assert not [name for name in alarms if name.startswith("DlqDepth-") and "Quarantine" in name]

    new = alarms["RecordsQuarantined"]
    read = {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for q in new["Metrics"]
        if "MetricStat" in q
    }
    assert read == {("RecordsQuarantined", s) for s in panels.quarantining_functions(manifest)}
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in new["Metrics"] if "MetricStat" in q} == {
        METRICS_NAMESPACE
    }
    assert (new["Threshold"], new["ComparisonOperator"]) == (
        thresholds.RECORDS_QUARANTINED,
        "GreaterThanThreshold",
    )


def test_the_command_finds_the_stacks_outputs_by_these_names(template: dict[str, Any]) -> None:
    """`ddgui quarantine` reads the stack's outputs by these names."""
    assert {quarantine_cli.QUEUE_OUTPUT, quarantine_cli.STREAM_OUTPUT} <= set(template["Outputs"])
