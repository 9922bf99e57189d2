"""Alarms, the alarm topic and the dashboards: every queue and function watched, every alarm heard,
both dashboards over the same metrics, and each application metric one its function declares."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from gui_core.metric_names import EMITTED_BY, ApiMetric, FanoutMetric, GuardMetric, declared
from stacks.config import ROOT
from stacks.constructs.observability import panels, thresholds
from stacks.constructs.observability.alarms import ALARM_EMAILS_CONTEXT, Observability, alarm_emails
from stacks.constructs.observability.grafana import (
    GRAFANA_DASHBOARD,
    GRAFANA_UID,
    grafana_json,
    work_queue_logical_prefix,
)
from stacks.constructs.observability.grafana import main as write_grafana
from stacks.manifest import METRICS_NAMESPACE, Manifest
from stacks.naming import pascal_case, stack_name
from tests.stacks import cfn

Metric = tuple[str, str, dict[str, Any]]  # namespace, name, dimensions


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Alarm name less the stack's `DdGui-<region>-` (`<kind>[-<subject>]`) -> properties."""
    found = {}
    for alarm in cfn.resources(template, "AWS::CloudWatch::Alarm").values():
        name = cfn.props(alarm)["AlarmName"]
        found[re.sub(r"^DdGui-[a-z]+-[a-z]+-\d+-", "", name)] = _flat(cfn.props(alarm))
    return found


def _flat(alarm: dict[str, Any]) -> dict[str, Any]:
    """An alarm on one metric in the top-level form (Namespace, MetricName, Dimensions, Statistic,
    Period), however the CDK wrote it (a labelled metric goes in `Metrics`)."""
    queries = alarm.get("Metrics", [])
    if len(queries) != 1 or "MetricStat" not in queries[0]:
        return alarm
    stat = queries[0]["MetricStat"]
    flat = {key: value for key, value in alarm.items() if key != "Metrics"}
    return {
        **flat,
        "Namespace": stat["Metric"]["Namespace"],
        "MetricName": stat["Metric"]["MetricName"],
        "Dimensions": stat["Metric"].get("Dimensions", []),
        "Statistic": stat["Stat"],
        "Period": stat["Period"],
    }


def _metrics(alarm: dict[str, Any]) -> list[Metric]:
    """The metrics an alarm reads, directly or in its math expression."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        return [(alarm["Namespace"], alarm["MetricName"], dims)]
    found = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric["Namespace"], metric["MetricName"], dims))
    return found


def _stat(alarm: dict[str, Any]) -> set[str]:
    if "Statistic" in alarm or "ExtendedStatistic" in alarm:
        return {alarm.get("Statistic") or alarm["ExtendedStatistic"]}
    return {q["MetricStat"]["Stat"] for q in alarm["Metrics"] if "MetricStat" in q}


def _expression(alarm: dict[str, Any]) -> str | None:
    return next((q["Expression"] for q in alarm.get("Metrics", []) if "Expression" in q), None)


def _topic(template: dict[str, Any]) -> str:
    topic_id, _ = cfn.one(template, "AWS::SNS::Topic")
    return topic_id


# --- alarms ---------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_alarm_topic(template: dict[str, Any]) -> None:
    topic = _topic(template)
    alarms = cfn.resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 40
    for logical_id, alarm in alarms.items():
        assert cfn.props(alarm)["AlarmActions"] == [{"Ref": topic}], logical_id
        assert cfn.props(alarm).get("ActionsEnabled", True), logical_id
        assert len(cfn.props(alarm)["AlarmDescription"]) >= 40, logical_id


def test_alarm_names_are_unique_and_carry_the_stack(template: dict[str, Any], region: str) -> None:
    names = [cfn.props(a)["AlarmName"] for a in cfn.resources(template, "AWS::CloudWatch::Alarm").values()]
    assert len(names) == len(set(names))
    assert all(name.startswith(f"{stack_name(region)}-") and len(name) <= 255 for name in names)


def _work_queue(template: dict[str, Any], manifest: Manifest) -> str:
    """The migrations' work queue (State's `MigrationWorkQueue`), by the logical id Grafana knows it by."""
    prefix = work_queue_logical_prefix(manifest)
    assert prefix is not None
    (queue,) = [q for q in cfn.resources(template, "AWS::SQS::Queue") if q.startswith(prefix)]
    return queue


def _tenant_work(template: dict[str, Any], manifest: Manifest) -> dict[str, str]:
    """The schedules' per-tenant work queues (State's `<Name>Queue`): logical id -> manifest name."""
    found = {}
    for spec in manifest.work_queues:
        (queue,) = [
            q
            for q in cfn.resources(template, "AWS::SQS::Queue")
            if q.startswith(f"State{pascal_case(spec.name)}Queue")
        ]
        found[queue] = spec.name
    return found


def test_every_queue_has_a_depth_alarm(template: dict[str, Any], manifest: Manifest) -> None:
    """Every dead-letter queue and the quarantine: what waits there waits for an operator. Not the
    migrations' work queue, where work items wait by design (`MigrationBacklogStalled` watches it)."""
    queues = cfn.resources(template, "AWS::SQS::Queue")
    assert queues, "the stack has dead-letter queues"
    watched: dict[str, dict[str, Any]] = {}
    for alarm in _alarms(template).values():
        if "MetricName" not in alarm:
            continue  # an expression over several metrics (the stalled backlog's) is no depth alarm
        for namespace, name, dims in _metrics(alarm):
            if (namespace, name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
                watched[dims["QueueName"]["Fn::GetAtt"][0]] = alarm
    assert set(watched) == set(queues) - {_work_queue(template, manifest), *_tenant_work(template, manifest)}
    for alarm in watched.values():
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Threshold"] == thresholds.DLQ_VISIBLE_MESSAGES == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Period"] == 300


def test_every_function_has_an_error_rate_and_a_throttle_alarm(template: dict[str, Any]) -> None:
    functions = cfn.functions_by_name(template)
    named = _alarms(template)
    for name, logical_id in functions.items():
        errors = named[f"FunctionErrors-{name}"]
        assert {(ns, m) for ns, m, _ in _metrics(errors)} == {
            ("AWS/Lambda", "Errors"),
            ("AWS/Lambda", "Invocations"),
        }
        assert all(dims == {"FunctionName": {"Ref": logical_id}} for _, _, dims in _metrics(errors))
        assert _expression(errors) == "IF(invocations > 0, 100 * errors / invocations, 0)"
        assert errors["Threshold"] == thresholds.FUNCTION_ERROR_RATE_PERCENT
        assert errors["TreatMissingData"] == "notBreaching"

        throttles = named[f"FunctionThrottles-{name}"]
        assert (throttles["Namespace"], throttles["MetricName"]) == ("AWS/Lambda", "Throttles")
        assert throttles["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]
        assert (throttles["Statistic"], throttles["Threshold"]) == ("Sum", 0)
        assert throttles["ComparisonOperator"] == "GreaterThanThreshold"


def test_stream_consumers_alarm_on_iterator_age(template: dict[str, Any], manifest: Manifest) -> None:
    functions = cfn.functions_by_name(template)
    named = _alarms(template)
    consumers = panels.stream_consumers(manifest)
    assert {"gui_fanout", "gui_indexer", "gui_telemetry_facts"} <= set(consumers)
    for name in consumers:
        alarm = named[f"IteratorAge-{name}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            "AWS/Lambda",
            "IteratorAge",
            "Maximum",
        )
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": functions[name]}}]
        assert alarm["Threshold"] == thresholds.ITERATOR_AGE_MS == 60_000
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 5, 3)
    stream_id, _ = cfn.one(template, "AWS::Kinesis::Stream")
    stream_age = named["StreamIteratorAge"]
    assert stream_age["MetricName"] == "GetRecords.IteratorAgeMilliseconds"
    assert stream_age["Dimensions"] == [{"Name": "StreamName", "Value": {"Ref": stream_id}}]
    assert stream_age["Threshold"] == thresholds.ITERATOR_AGE_MS
    throttles = named["StreamWriteThrottles"]
    assert (throttles["Namespace"], throttles["MetricName"]) == (
        "AWS/Kinesis",
        "WriteProvisionedThroughputExceeded",
    )


def test_rest_api_alarms_on_5xx_rate_and_p99_latency(template: dict[str, Any], manifest: Manifest) -> None:
    named = _alarms(template)
    rate = named["Api5xxRate"]
    assert {(ns, m) for ns, m, _ in _metrics(rate)} == {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Count"),
    }
    assert all(set(dims) == {"ApiName", "Stage"} for _, _, dims in _metrics(rate))
    assert _expression(rate) == f"IF(requests >= {thresholds.API_MIN_REQUESTS}, 100 * errors / requests, 0)"
    assert (rate["Threshold"], rate["ComparisonOperator"]) == (1, "GreaterThanThreshold")
    assert rate["TreatMissingData"] == "notBreaching"

    latency = named["ApiLatencyP99"]
    functions = cfn.functions_by_name(template)
    read = {dims["FunctionName"]["Ref"] for _, _, dims in _metrics(latency)}
    expected = {functions[name] for name in panels.latency_functions(manifest)}
    assert read == expected
    assert functions["gui_authorizer"] in read
    assert functions["gui_stream"] not in read, "the SSE long poll holds 20 s by design"
    assert _stat(latency) == {"p99"}
    assert _expression(latency) == f"MAX([{', '.join(f'd{i}' for i in range(len(expected)))}])"
    assert latency["Threshold"] == thresholds.LATENCY_P99_MS == 2000
    assert (latency["EvaluationPeriods"], latency["DatapointsToAlarm"]) == (5, 3)


def _emf_alarm(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(metric, service) of every application metric an alarm reads."""
    found = set()
    for namespace, name, dims in _metrics(alarm):
        assert namespace == METRICS_NAMESPACE
        assert set(dims) == {"service"}
        found.add((name, dims["service"]))
    return found


def test_the_authorizer_alarms_when_it_cannot_verify_and_when_its_keys_go_stale(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """The authorizer counts its identity provider's outages (EMF, functions/gui_authorizer/metrics.py):
    requests it could not verify (answered 503) page at once; failed key set fetches, while the last
    good keys are still served, page when they persist."""
    named = _alarms(template)
    authorizer = manifest.authorizer.function.name
    unavailable = named["AuthorizerUnavailable"]
    assert _emf_alarm(unavailable) == {("AuthorizerUnavailable", authorizer)}
    assert (unavailable["Threshold"], unavailable["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    fetches = named["JwksFetchFailures"]
    assert _emf_alarm(fetches) == {("JwksFetchFailures", authorizer)}
    assert fetches["Threshold"] == thresholds.JWKS_FETCH_FAILURES
    assert (fetches["DatapointsToAlarm"], fetches["EvaluationPeriods"]) == (
        thresholds.JWKS_FETCH_DATAPOINTS,
        thresholds.JWKS_FETCH_PERIODS,
    )


def test_application_metric_alarms(template: dict[str, Any], manifest: Manifest) -> None:
    named = _alarms(template)
    guarded = set(panels.guarded_functions(manifest))
    assert {"gui_preferences", "gui_search", "gui_stream", "gui_realtime"} <= guarded

    breaches = named["RateLimitBreaches"]
    assert _emf_alarm(breaches) == {("RateLimitBreaches", s) for s in guarded}
    assert _expression(breaches) == f"SUM([{', '.join(f'm{i}' for i in range(len(guarded)))}])"
    assert (breaches["Threshold"], breaches["ComparisonOperator"]) == (
        thresholds.RATE_LIMIT_BREACHES,
        "GreaterThanThreshold",
    )

    refusals = named["ResidencyRefusals"]
    assert _emf_alarm(refusals) == {("ResidencyRefusals", s) for s in guarded}
    assert refusals["Threshold"] == thresholds.RESIDENCY_REFUSALS

    events = named["ResidencyEventsRefused"]
    assert _emf_alarm(events) == {
        ("ResidencyRefused", "gui_fanout"),
        ("ResidencyRefused", "gui_telemetry_facts"),
        ("IndexEventsOtherRegion", "gui_indexer"),
    }
    assert (events["Threshold"], events["ComparisonOperator"]) == (0, "GreaterThanThreshold")

    for kind, metric, service in (
        ("SearchIndexDrift", "SearchIndexDrift", "gui_index_rebuild"),
        ("SearchIndexCheckFailures", "SearchIndexCheckFailures", "gui_index_rebuild"),
        ("TelemetryTenantsFailed", "TelemetryTenantsFailed", "gui_telemetry"),
    ):
        alarm = named[kind]
        assert _emf_alarm(alarm) == {(metric, service)}
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"

    sse = named["SseRequests"]
    assert _emf_alarm(sse) == {("Requests", "gui_stream")}
    assert sse["Threshold"] == thresholds.SSE_REQUESTS


def test_websocket_connects_alarm(template: dict[str, Any], manifest: Manifest) -> None:
    assert manifest.websocket is not None
    api_id, _ = cfn.one(template, "AWS::ApiGatewayV2::Api")
    alarm = _alarms(template)["WebSocketConnects"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApiGateway",
        "ConnectCount",
        "Sum",
    )
    assert alarm["Dimensions"] == [
        {"Name": "ApiId", "Value": {"Ref": api_id}},
        {"Name": "Stage", "Value": manifest.websocket.stage},
    ]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (thresholds.WEBSOCKET_CONNECTS, 2)


def test_each_schedule_alarms_when_its_function_does_not_run(
    template: dict[str, Any], manifest: Manifest
) -> None:
    functions = cfn.functions_by_name(template)
    named = _alarms(template)
    for schedule in manifest.schedules:
        alarm = named[f"ScheduleMissed-{schedule.name}"]
        assert (alarm["MetricName"], alarm["Statistic"]) == ("Invocations", "Sum")
        assert alarm["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": functions[schedule.function]}}
        ]
        assert alarm["Period"] == schedule.every_s * thresholds.SCHEDULE_MISSED_FACTOR
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
        assert alarm["TreatMissingData"] == "breaching"


RULE_ALARMS = {
    "RuleFailedInvocations": "FailedInvocations",
    "RuleDlqSendFailures": "InvocationsFailedToBeSentToDlq",
}


def test_every_rule_and_schedule_alarms_on_failed_and_undeadlettered_invocations(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """EventBridge gives up on an event (FailedInvocations), or cannot even put it in the target's
    dead-letter queue (InvocationsFailedToBeSentToDlq: the event is lost). Both metrics are keyed by
    the rule's name, and by the bus's name for a rule on a custom bus (a schedule is on the default
    bus): the rule's Name must be that literal, since a Ref of a rule on a custom bus is `bus|rule`."""
    named = _alarms(template)
    rules = {
        cfn.props(r).get("Description", "").split(":", 1)[0]: cfn.props(r)
        for r in cfn.resources(template, "AWS::Events::Rule").values()
    }
    bus_id, _ = cfn.one(template, "AWS::Events::EventBus")
    subjects = [(rule.name, True) for rule in manifest.rules] + [(s.name, False) for s in manifest.schedules]
    assert len(rules) == len(subjects)
    for subject, on_bus in subjects:
        rule = rules[subject]
        assert isinstance(rule.get("Name"), str), f"rule {subject} has no literal name"
        dimensions = {"RuleName": rule["Name"]}
        if on_bus:
            assert rule["EventBusName"] == {"Ref": bus_id}
            dimensions["EventBusName"] = {"Ref": bus_id}  # an event bus's Ref is its name
        else:
            assert "EventBusName" not in rule
        for kind, metric in RULE_ALARMS.items():
            alarm = named[f"{kind}-{subject}"]
            assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
                "AWS/Events",
                metric,
                "Sum",
            )
            assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions, (kind, subject)
            assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
            # EventBridge sends these metrics only when they are not zero.
            assert alarm["TreatMissingData"] == "notBreaching"


def test_alarm_count_by_kind(template: dict[str, Any], manifest: Manifest) -> None:
    kinds: dict[str, int] = {}
    for name in _alarms(template):
        kind = name.split("-", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    functions = len(manifest.all_functions())
    assert kinds == {
        "Api5xxRate": 1,
        "ApiLatencyP99": 1,
        "FunctionErrors": functions,
        "FunctionThrottles": functions,
        "IteratorAge": len(panels.stream_consumers(manifest)),
        "StreamIteratorAge": 1,
        "StreamWriteThrottles": 1,
        # All but the quarantine, the migrations' work queue and the schedules' per-tenant work queues.
        "DlqDepth": len(cfn.resources(template, "AWS::SQS::Queue")) - 2 - len(manifest.work_queues),
        "QuarantineDepth": 1,
        "RecordsQuarantined": 1,
        "RateLimitBreaches": 1,
        "ResidencyRefusals": 1,
        "ResidencyEventsRefused": 1,
        "SearchIndexDrift": 1,
        "SearchIndexCheckFailures": 1,
        "TelemetryTenantsFailed": 1,
        "ScheduleMissed": len(manifest.schedules),
        "RuleFailedInvocations": len(manifest.rules) + len(manifest.schedules),
        "RuleDlqSendFailures": len(manifest.rules) + len(manifest.schedules),
        "WebSocketConnects": 1,
        "SseRequests": 1,
        "AuthorizerUnavailable": 1,
        "JwksFetchFailures": 1,
        "MigrationFailures": 1,
        "MigrationBacklogStalled": 1,
        "WorkBehindCycle": len(manifest.work_queues),
        "WorkItemsExpired": len(panels.tenant_work_functions(manifest)),
    }


def test_the_migrations_alarm_on_failures_and_on_a_stalled_backlog(
    template: dict[str, Any], manifest: Manifest
) -> None:
    named = _alarms(template)
    failures = named["MigrationFailures"]
    assert _emf_alarm(failures) == {
        ("MigrationFailures", "gui_migrate"),
        ("MigrationFailures", "gui_migrate_worker"),
    }
    assert panels.migration_functions(manifest) == ("gui_migrate", "gui_migrate_worker")
    assert _expression(failures) == "SUM([m0, m1])"
    assert (failures["Threshold"], failures["ComparisonOperator"]) == (0, "GreaterThanThreshold")

    queue = _work_queue(template, manifest)
    stalled = named["MigrationBacklogStalled"]
    assert {(name, dims["QueueName"]["Fn::GetAtt"][0]) for _, name, dims in _metrics(stalled)} == {
        ("ApproximateNumberOfMessagesVisible", queue),
        ("NumberOfMessagesDeleted", queue),
    }
    # Work items waiting and none taken off (done, or re-queued by a worker out of time) for 15
    # minutes: a large backfill waiting its turn is no alarm, a worker that stopped is.
    assert _expression(stalled) == "IF(waiting > 0 AND FILL(taken, 0) == 0, 1, 0)"
    assert (stalled["Threshold"], stalled["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert stalled["EvaluationPeriods"] == thresholds.MIGRATION_STALLED_PERIODS == 3
    assert stalled.get("DatapointsToAlarm", 3) == 3
    assert not [name for name in named if name.startswith("DlqDepth-") and "MigrationWorkQueue" in name]
    # Its dead-letter queue is one like the others: a work item received too often waits there.
    assert "DlqDepth-State-MigrationWorkDlq" in named


def test_per_tenant_work_alarms_when_a_cycle_is_not_done_in_its_cycle_and_when_items_expire(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Each schedule's per-tenant work queue: its oldest item older than the cycle for 10 minutes
    (the workers do not get round every tenant in a cycle); each worker's dropped items (their cycle
    ended before they were taken: a tenant missed a cycle), any at all. Items wait there by design:
    no depth alarm; its dead-letter queue has one like the others."""
    named = _alarms(template)
    work = _tenant_work(template, manifest)
    assert sorted(work.values()) == ["index-rebuild-work", "telemetry-work"]
    for queue, name in work.items():
        behind = named[f"WorkBehindCycle-State-{pascal_case(name)}Queue"]
        assert _metrics(behind) == [
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}})
        ]
        assert behind["Statistic"] == "Maximum"
        assert behind["Threshold"] == manifest.cycle_s(name)
        assert behind["ComparisonOperator"] == "GreaterThanThreshold"
        assert behind["EvaluationPeriods"] == thresholds.WORK_BEHIND_PERIODS == 2
        assert not [k for k in named if k.startswith("DlqDepth-") and pascal_case(name) + "Queue" in k]
        assert f"DlqDepth-State-{pascal_case(name)}Dlq" in named
    assert {named["WorkBehindCycle-State-TelemetryWorkQueue"]["Threshold"],
            named["WorkBehindCycle-State-IndexRebuildWorkQueue"]["Threshold"]} == {300, 21600}  # fmt: skip
    assert panels.tenant_work_functions(manifest) == ("gui_index_rebuild", "gui_telemetry")
    for function in panels.tenant_work_functions(manifest):
        expired = named[f"WorkItemsExpired-{function}"]
        assert _emf_alarm(expired) == {("WorkItemsExpired", function)}
        assert expired["Statistic"] == "Sum"
        assert (expired["Threshold"], expired["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert expired["TreatMissingData"] == "notBreaching"


# --- the topic ------------------------------------------------------------------------------------


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    topic_id = _topic(template)
    key_id, key = cfn.one(template, "AWS::KMS::Key")
    assert cfn.props(template["Resources"][topic_id])["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert cfn.props(key)["EnableKeyRotation"] is True
    statements = cfn.props(key)["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert [set(cfn.as_list(s["Action"])) for s in cloudwatch] == [{"kms:Decrypt", "kms:GenerateDataKey*"}]


def test_alarm_topic_is_tls_only_and_takes_this_accounts_alarms(
    template: dict[str, Any], region: str
) -> None:
    topic_id = _topic(template)
    _, policy = cfn.one(template, "AWS::SNS::TopicPolicy")
    assert cfn.props(policy)["Topics"] == [{"Ref": topic_id}]
    statements = cfn.props(policy)["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Sid": "AllowPublishThroughSSLOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": {"Ref": topic_id},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source[0] == f"arn:aws:cloudwatch:{region}:"
    assert source[-1] == ":alarm:*"


def test_alarm_topic_arn_is_an_output_and_has_no_subscription_by_default(template: dict[str, Any]) -> None:
    topic_id = _topic(template)
    outputs = [o for o in template["Outputs"].values() if o["Value"] == {"Ref": topic_id}]
    assert len(outputs) == 1
    assert not cfn.resources(template, "AWS::SNS::Subscription")


def test_alarm_emails_from_context() -> None:
    assert alarm_emails(None) == ()
    assert alarm_emails("") == ()
    assert alarm_emails("ops@example.com, oncall@example.com,ops@example.com") == (
        "ops@example.com",
        "oncall@example.com",
    )
    assert alarm_emails(["ops@example.com"]) == ("ops@example.com",)
    with pytest.raises(ValueError, match="not an email address"):
        alarm_emails("ops")
    with pytest.raises(TypeError):
        alarm_emails(42)


def test_alarm_emails_subscribe_and_alarms_follow_the_given_parts(manifest: Manifest) -> None:
    """A stack of a few parts: only their alarms, every queue of it watched, the emails subscribed."""
    app = cdk.App(context={ALARM_EMAILS_CONTEXT: "ops@example.com,oncall@example.com"})
    stack = cdk.Stack(app, "Small", env=cdk.Environment(region="eu-west-1"))
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET", apigw.MockIntegration())
    sqs.Queue(stack, "SomeDlq")
    Observability(
        stack,
        "Observability",
        manifest=manifest,
        rest_api=api,
        functions={"gui_preferences": function},
        stream=kinesis.Stream(stack, "Stream"),
    )
    template = Template.from_stack(stack).to_json()
    subscriptions = [cfn.props(s) for s in cfn.resources(template, "AWS::SNS::Subscription").values()]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == [
        ("email", "oncall@example.com"),
        ("email", "ops@example.com"),
    ]
    names = {cfn.props(a)["AlarmName"] for a in cfn.resources(template, "AWS::CloudWatch::Alarm").values()}
    assert names == {
        "Small-Api5xxRate",
        "Small-ApiLatencyP99",
        "Small-FunctionErrors-gui_preferences",
        "Small-FunctionThrottles-gui_preferences",
        "Small-StreamIteratorAge",
        "Small-StreamWriteThrottles",
        "Small-DlqDepth-SomeDlq",
        "Small-RateLimitBreaches",
        "Small-ResidencyRefusals",
    }
    dashboard = cfn.props(cfn.one(template, "AWS::CloudWatch::Dashboard")[1])
    assert dashboard["DashboardName"] == "Small-eu-west-1"


# --- the CloudWatch dashboard ---------------------------------------------------------------------


def _dashboard(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The dashboard's name and its body, references written `@Ref:<id>@` / `@GetAtt:<id>@`."""
    _, dashboard = cfn.one(template, "AWS::CloudWatch::Dashboard")
    body = cfn.props(dashboard)["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
        elif "Ref" in part:
            text += f"@Ref:{part['Ref']}@"
        else:
            text += f"@GetAtt:{part['Fn::GetAtt'][0]}@"
    return cfn.props(dashboard)["DashboardName"], json.loads(text)


def _dashboard_metrics(body: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            found.add((metric[0], metric[1]))
    return found


def test_dashboard_shows_the_key_metrics_and_every_alarm(template: dict[str, Any], region: str) -> None:
    name, body = _dashboard(template)
    assert name == stack_name(region)
    metrics = _dashboard_metrics(body)
    for expected in (
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/ApiGateway", "ConnectCount"),
        ("AWS/ApiGateway", "MessageCount"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        (METRICS_NAMESPACE, "RateLimitBreaches"),
        (METRICS_NAMESPACE, "ResidencyRefusals"),
        (METRICS_NAMESPACE, "SearchIndexDrift"),
        (METRICS_NAMESPACE, "FanoutLagMs"),
        (METRICS_NAMESPACE, "TelemetryRunMs"),
        (METRICS_NAMESPACE, "Requests"),
    ):
        assert expected in metrics, expected
    alarm_widgets = [w for w in body["widgets"] if w["type"] == "alarm"]
    shown = {a for w in alarm_widgets for a in w["properties"]["alarms"]}
    alarms = cfn.resources(template, "AWS::CloudWatch::Alarm")
    assert shown == {f"@GetAtt:{logical_id}@" for logical_id in alarms}


def test_dashboard_draws_every_queue_and_function(template: dict[str, Any]) -> None:
    _, body = _dashboard(template)
    drawn: dict[str, set[str]] = {}
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            drawn.setdefault(metric[1], set()).update(
                v for v in metric[2:] if isinstance(v, str) and v.startswith("@")
            )
    queues = {f"@GetAtt:{q}@" for q in cfn.resources(template, "AWS::SQS::Queue")}
    functions = {f"@Ref:{f}@" for f in cfn.functions_by_name(template).values()}
    assert drawn["ApproximateNumberOfMessagesVisible"] == queues
    for name in ("Errors", "Throttles", "Duration", "Invocations"):
        assert drawn[name] == functions, name


def test_every_alarm_metric_is_on_both_dashboards(template: dict[str, Any]) -> None:
    _, body = _dashboard(template)
    dashboard = _dashboard_metrics(body)
    grafana = _grafana_metrics(json.loads(GRAFANA_DASHBOARD.read_text()))
    for name, alarm in _alarms(template).items():
        for namespace, metric, _ in _metrics(alarm):
            assert (namespace, metric) in dashboard, (name, metric)
            assert (namespace, metric) in grafana, (name, metric)


# --- the Grafana dashboard ------------------------------------------------------------------------


def _grafana_metrics(dashboard: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (target["namespace"], target["metricName"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }


def test_grafana_dashboard_is_generated_from_the_panels(manifest: Manifest) -> None:
    """Regenerate: `python -m stacks.constructs.observability --grafana docs/gui/grafana_dashboard.json`."""
    assert GRAFANA_DASHBOARD == ROOT / "docs" / "gui" / "grafana_dashboard.json"
    assert GRAFANA_DASHBOARD.read_text() == grafana_json(manifest), "stale: regenerate it"


def test_grafana_writer(tmp_path: Path, manifest: Manifest) -> None:
    out = tmp_path / "dashboard.json"
    assert write_grafana(["--grafana", str(out)]) == 0
    assert out.read_text() == grafana_json(manifest)


def test_grafana_dashboard_is_a_cloudwatch_dashboard_with_variables() -> None:
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text())
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == GRAFANA_UID
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "cloudwatch"
    assert variables["region"]["query"].split(",") == ["eu-west-1", "us-east-1"]
    used = set()
    ids = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["type"] == "timeseries"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "cloudwatch", "uid": "${datasource}"}
            assert target["region"] == "$region"
            used.update(re.findall(r"\$(\w+)", json.dumps(target["dimensions"])))
    assert len(ids) == len(set(ids))
    assert used <= set(variables), used - set(variables)
    for name in used:
        query = variables[name]["query"]
        assert query["queryType"] == "dimensionValues"
        assert query["region"] == "$region"


def test_grafana_and_cloudwatch_dashboards_draw_the_same_metrics(template: dict[str, Any]) -> None:
    _, body = _dashboard(template)
    grafana = json.loads(GRAFANA_DASHBOARD.read_text())
    assert _grafana_metrics(grafana) == _dashboard_metrics(body)
    cloudwatch_titles = {w["properties"].get("title") for w in body["widgets"] if w["type"] == "metric"}
    grafana_titles = {p["title"] for p in grafana["panels"] if p["type"] == "timeseries"}
    assert grafana_titles == cloudwatch_titles


def test_grafana_tells_the_work_queue_from_the_dead_letter_queues(
    template: dict[str, Any], manifest: Manifest, region: str
) -> None:
    """CloudFormation names a queue `<stack>-<logical id>-<suffix>`: the `queue` variable lists every
    queue of the stack but the work queue, the `work_queue` variable that one only."""
    grafana = json.loads(GRAFANA_DASHBOARD.read_text())
    variables = {v["name"]: v for v in grafana["templating"]["list"]}

    def lists(variable: str, name: str) -> bool:
        pattern = variables[variable]["regex"].strip("/")  # a JavaScript regex: Python reads this one alike
        return re.search(pattern, name) is not None

    work_queue = _work_queue(template, manifest)
    tenant_work = _tenant_work(template, manifest)
    assert tenant_work
    for queue in cfn.resources(template, "AWS::SQS::Queue"):
        name = f"{stack_name(region)}-{queue}-1A2B3C4D5E6F"[:80]
        assert lists("queue", name) == (queue != work_queue and queue not in tenant_work), queue
        assert lists("work_queue", name) == (queue == work_queue), queue
        assert lists("tenant_work", name) == (queue in tenant_work), queue


def test_grafana_dimensions_match_the_metric_descriptions(manifest: Manifest) -> None:
    grafana = json.loads(GRAFANA_DASHBOARD.read_text())
    targets = [t for p in grafana["panels"] for t in p.get("targets", [])]
    specs = panels.all_metric_specs(manifest)
    assert len(targets) == len(specs)
    for target, spec in zip(targets, specs, strict=True):
        assert (target["namespace"], target["metricName"], target["statistic"]) == (
            spec.namespace,
            spec.name,
            spec.statistic,
        )
        assert set(target["dimensions"]) == {key for key, _ in spec.dimensions}


# --- the application metrics are the ones their functions declare ---------------------------------


def test_every_function_of_the_manifest_declares_what_it_emits(manifest: Manifest) -> None:
    """gui_core.metric_names.EMITTED_BY names each function once, and every REST group counts its
    requests and the guard's refusals (gui_core.api, gui_core.guard)."""
    assert set(EMITTED_BY) == {fn.name for fn in manifest.all_functions()}
    for fn in manifest.functions:
        if fn.routes:
            assert {ApiMetric, GuardMetric} <= set(EMITTED_BY[fn.name]), fn.name


def test_every_application_metric_drawn_or_alarmed_on_is_one_its_function_declares(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Every (name, service) of the namespace in the template's alarms and in the panels is a member
    of a name set that service declares (which emitters count with: tests/unit/test_metric_names)."""
    used = {
        (spec.name, spec.service) for spec in panels.all_metric_specs(manifest) if spec.service is not None
    }
    for alarm in _alarms(template).values():
        for namespace, name, dims in _metrics(alarm):
            if namespace == METRICS_NAMESPACE:
                used.add((name, dims["service"]))
    assert len(used) > 60
    undeclared = sorted((name, service) for name, service in used if name not in declared(service))
    assert undeclared == []
    for spec in panels.all_metric_specs(manifest):
        if spec.namespace == METRICS_NAMESPACE:
            assert [key for key, _ in spec.dimensions] == ["service"], spec


def test_a_panel_metric_of_a_function_that_does_not_emit_it_is_refused() -> None:
    """The stacks name a metric by its member; its function comes from the table, and one that does
    not emit it, or a member several functions emit named without one, is refused at synthesis."""
    assert panels.emf(FanoutMetric.PUSHED).service == "gui_fanout"
    with pytest.raises(ValueError, match="gui_indexer does not emit Pushed"):
        panels.emf(FanoutMetric.PUSHED, "gui_indexer")
    with pytest.raises(ValueError, match="name the service"):
        panels.emf(ApiMetric.REQUESTS)


RUNBOOK = ROOT / "docs" / "gui" / "backend_support_runbook.md"


def _runbook_alarm_kinds() -> set[str]:
    """The alarm kinds the runbook's incident response section has a heading for (`### Kind`,
    `### Kind-&lt;subject&gt;`, several kinds separated by commas)."""
    text = RUNBOOK.read_text()
    section = text[text.index("## 5. Incident response per alarm") : text.index("## 6. ")]
    headings = re.findall(r"^### (.+)$", section, flags=re.MULTILINE)
    return {re.match(r"[A-Za-z0-9]+", part.strip()).group(0) for h in headings for part in h.split(",")}  # type: ignore[union-attr]


def test_every_alarm_kind_has_its_incident_response_in_the_runbook(template: dict[str, Any]) -> None:
    kinds = {name.split("-", 1)[0] for name in _alarms(template)}
    assert len(kinds) >= 10  # the template's alarms were found: the comparison is of something
    missing = sorted(kinds - _runbook_alarm_kinds())
    assert missing == [], f"alarm kinds without a section in {RUNBOOK.name}: {missing}"
