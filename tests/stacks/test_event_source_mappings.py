"""Store streams into functions: filtered, retried in halves, partial failures, a dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constructs.events import DLQ_RETENTION
from stacks.grants import CONSUMER_READ_ACTIONS
from stacks.manifest import TENANT_WORK_CYCLE_ENV, KinesisSource, Manifest
from stacks.manifest_model import stream_consumer_name
from stacks.naming import pascal_case
from stacks.source_filters import TTL_REMOVAL_PATTERN
from tests.stacks import cfn


def _mappings(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(function name, store name) -> mapping properties."""
    functions = {v: k for k, v in cfn.functions_by_name(template).items()}
    stores = {v: k for k, v in cfn.tables_by_store(template).items()}
    found = {}
    for mapping in cfn.resources(template, "AWS::Lambda::EventSourceMapping").values():
        props = cfn.props(mapping)
        source = props["EventSourceArn"]["Fn::GetAtt"][0]
        if source in stores:
            found[(functions[cfn.invoked_function(template, props["FunctionName"])], stores[source])] = props
    return found


def _kinesis_mappings(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Function name -> the properties of its mapping from the GUI events stream, directly or through
    an enhanced fan-out consumer of the stream."""
    functions = {v: k for k, v in cfn.functions_by_name(template).items()}
    stream_id, _ = cfn.one(template, "AWS::Kinesis::Stream")
    consumers = {
        logical_id
        for logical_id, consumer in cfn.resources(template, "AWS::Kinesis::StreamConsumer").items()
        if cfn.props(consumer)["StreamARN"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    }
    sources = [{"Fn::GetAtt": [stream_id, "Arn"]}] + [
        {"Fn::GetAtt": [c, "ConsumerARN"]} for c in sorted(consumers)
    ]
    return {
        functions[cfn.invoked_function(template, cfn.props(m)["FunctionName"])]: cfn.props(m)
        for m in cfn.resources(template, "AWS::Lambda::EventSourceMapping").values()
        if cfn.props(m)["EventSourceArn"] in sources
    }


def test_the_fanout_reads_the_gui_events_stream_with_lambda_batch_semantics(
    template: dict[str, Any], manifest: Manifest
) -> None:
    queues = cfn.resources(template, "AWS::SQS::Queue")
    kinesis = _kinesis_mappings(template)
    expected = {fn.name: fn.kinesis_sources[0] for fn in manifest.functions if fn.kinesis_sources}
    assert set(kinesis) == set(expected) == {"gui_fanout", "gui_indexer", "gui_telemetry_facts"}
    for name, source in expected.items():
        mapping = kinesis[name]
        # The oldest record kept: a mapping created or replaced while events arrive skips none.
        assert source.starting_position == "TRIM_HORIZON"
        assert mapping["StartingPosition"] == source.starting_position
        assert mapping["BatchSize"] == source.batch_size
        assert mapping["MaximumBatchingWindowInSeconds"] == source.batching_window_s
        assert mapping["MaximumRetryAttempts"] == source.max_retries
        assert mapping["MaximumRecordAgeInSeconds"] == source.max_record_age_s
        assert mapping["ParallelizationFactor"] == source.parallelization_factor
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        (queue_id,) = cfn.references(mapping["DestinationConfig"]["OnFailure"]["Destination"])
        assert cfn.props(queues[queue_id])["SqsManagedSseEnabled"] is True
        if source.detail_types:
            (criteria,) = mapping["FilterCriteria"]["Filters"]
            assert json.loads(criteria["Pattern"]) == {"data": {"detail-type": list(source.detail_types)}}
        else:
            assert "FilterCriteria" not in mapping
    # The indexer sees artifact events only; the fan-out and the telemetry facts see every one.
    assert expected["gui_indexer"].detail_types == ("ArtifactPublished", "ArtifactDeprecated")


def test_the_fanout_reads_through_an_enhanced_fan_out_consumer_with_no_batching_window(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Issue 17: the live path's mapping is pushed its records by a consumer of its own, handed over
    at once; the other consumers of the stream poll it (shared throughput), as before."""
    stream_id, _ = cfn.one(template, "AWS::Kinesis::Stream")
    consumers = cfn.resources(template, "AWS::Kinesis::StreamConsumer")
    mappings = _kinesis_mappings(template)
    sources = {fn.name: fn.kinesis_sources[0] for fn in manifest.functions if fn.kinesis_sources}
    assert sources["gui_fanout"].enhanced_fan_out is True
    assert sources["gui_fanout"].batching_window_s == 0
    by_consumer = {}
    for name, source in sources.items():
        (source_id, attribute) = mappings[name]["EventSourceArn"]["Fn::GetAtt"]
        if not source.enhanced_fan_out:
            assert (source_id, attribute) == (stream_id, "Arn"), name
            continue
        assert attribute == "ConsumerARN", name
        consumer = cfn.props(consumers[source_id])
        assert consumer["ConsumerName"] == stream_consumer_name(name, source.stream)
        assert consumer["StreamARN"] == {"Fn::GetAtt": [stream_id, "Arn"]}
        by_consumer[source_id] = name
    # One consumer per mapping that asks for one, none else (each costs per shard-hour and GB).
    pushed = {n for n, s in sources.items() if s.enhanced_fan_out}
    assert set(by_consumer.values()) == pushed == {"gui_fanout"}
    assert set(consumers) == set(by_consumer)


def test_an_enhanced_fan_out_mapping_may_subscribe_to_its_consumer_only(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Lambda describes the consumer and subscribes to its shards with the function's role (and reads
    the stream's shard list): those two actions, on that consumer's ARN, and on no other resource."""
    functions = cfn.functions_by_name(template)
    for fn in manifest.functions:
        (role_id,) = cfn.references(cfn.props(template["Resources"][functions[fn.name]])["Role"])
        consumer_statements = [
            statement
            for statement in cfn.role_statements(template, role_id)
            if set(cfn.as_list(statement["Action"])) & set(CONSUMER_READ_ACTIONS)
        ]
        efo = [s for s in fn.kinesis_sources if s.enhanced_fan_out]
        if not efo:
            assert consumer_statements == [], fn.name
            continue
        mapping_source = _kinesis_mappings(template)[fn.name]["EventSourceArn"]
        assert [
            (sorted(cfn.as_list(s["Action"])), cfn.as_list(s["Resource"])) for s in consumer_statements
        ] == [(sorted(CONSUMER_READ_ACTIONS), [mapping_source])], fn.name


def test_kinesis_sources_refuse_what_lambda_refuses() -> None:
    with pytest.raises(ValueError, match="batching window"):
        KinesisSource("gui-events", batching_window_s=301)
    with pytest.raises(ValueError, match="batching window"):
        KinesisSource("gui-events", batching_window_s=-1)
    with pytest.raises(ValueError, match="batch is"):
        KinesisSource("gui-events", batch_size=0)
    with pytest.raises(ValueError, match="batch is"):
        KinesisSource("gui-events", batch_size=10_001)
    assert KinesisSource("gui-events", batching_window_s=0).batching_window_s == 0
    assert KinesisSource("gui-events", batching_window_s=300, batch_size=10_000).batch_size == 10_000


def test_the_archiver_reads_only_ttl_removals_of_the_preferences_stream(template: dict[str, Any]) -> None:
    mapping = _mappings(template)[("gui_archiver", "preferences")]
    (criteria,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(criteria["Pattern"]) == {
        "eventName": ["REMOVE"],
        "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
    }
    assert json.loads(criteria["Pattern"]) == TTL_REMOVAL_PATTERN


def test_mappings_have_the_manifest_batching_and_failure_handling(
    template: dict[str, Any], manifest: Manifest
) -> None:
    mappings = _mappings(template)
    queues = cfn.resources(template, "AWS::SQS::Queue")
    for fn in manifest.functions:
        for source in fn.stream_sources:
            mapping = mappings[(fn.name, source.store)]
            assert mapping["StartingPosition"] == "TRIM_HORIZON"
            assert mapping["BatchSize"] == source.batch_size
            assert mapping["MaximumRetryAttempts"] == source.max_retries
            assert mapping["BisectBatchOnFunctionError"] is True
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert ("FilterCriteria" in mapping) == source.ttl_removals_only
            (queue_id,) = cfn.references(mapping["DestinationConfig"]["OnFailure"]["Destination"])
            queue = cfn.props(queues[queue_id])
            assert queue["SqsManagedSseEnabled"] is True
            assert queue["MessageRetentionPeriod"] == DLQ_RETENTION.to_seconds()


def test_dead_letter_queues_refuse_requests_without_tls(template: dict[str, Any]) -> None:
    destinations = {
        cfn.references(m["DestinationConfig"]["OnFailure"]["Destination"]).pop()
        for m in _mappings(template).values()
    }
    tls_only: set[str] = set()
    for policy in cfn.resources(template, "AWS::SQS::QueuePolicy").values():
        for statement in cfn.props(policy)["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only |= {q for ref in cfn.props(policy)["Queues"] for q in cfn.references(ref)}
    assert destinations <= tls_only


def test_the_stream_exists_and_the_mapping_waits_for_the_role_policy(
    template: dict[str, Any], manifest: Manifest
) -> None:
    tables = cfn.tables_by_store(template)
    resources = template["Resources"]
    for fn in manifest.functions:
        for source in fn.stream_sources:
            table = cfn.props(resources[tables[source.store]])
            assert table["StreamSpecification"]["StreamViewType"] in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    functions = cfn.functions_by_name(template)
    policies = cfn.resources(template, "AWS::IAM::Policy")
    for logical_id, mapping in cfn.resources(template, "AWS::Lambda::EventSourceMapping").items():
        function = cfn.props(resources[cfn.invoked_function(template, cfn.props(mapping)["FunctionName"])])
        (role_id,) = cfn.references(function["Role"])
        role_policies = {k for k, v in policies.items() if role_id in cfn.references(cfn.props(v)["Roles"])}
        assert role_policies
        assert role_policies <= set(mapping.get("DependsOn", [])), logical_id
    assert functions


def test_a_queue_feeds_its_consumer_in_the_manifest_batches_with_partial_failures(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Each `QueueSource`: one mapping from its queue (State's `<Name>Queue`), the manifest's batch
    size, failed messages reported by the function; the queue hides a received message at least the
    function's timeout (Lambda refuses the mapping otherwise) and moves one received `max_receives`
    times to its dead-letter queue."""
    functions = {v: k for k, v in cfn.functions_by_name(template).items()}
    queues = cfn.resources(template, "AWS::SQS::Queue")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for mapping in cfn.resources(template, "AWS::Lambda::EventSourceMapping").values():
        props = cfn.props(mapping)
        (arn_of,) = cfn.references(props["EventSourceArn"])
        if arn_of in queues:
            found[(functions[props["FunctionName"]["Ref"]], arn_of)] = props
    expected = [(fn, source) for fn in manifest.functions for source in fn.queue_sources]
    # The migrations' worker, and the schedules' functions taking back their per-tenant work items.
    assert sorted(fn.name for fn, _ in expected) == [
        "gui_index_rebuild",
        "gui_migrate_worker",
        "gui_telemetry",
    ]
    assert len(found) == len(expected)
    for fn, source in expected:
        ((queue_id, mapping),) = [
            (queue, props)
            for (name, queue), props in found.items()
            if name == fn.name and queue.startswith(f"State{pascal_case(source.queue)}Queue")
        ]
        assert mapping["BatchSize"] == source.batch_size
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # A backfill of many tenants must not take the region's concurrency from the API.
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": source.max_concurrency}
        # A queue has no position to start from, and its failures go to its own dead-letter queue.
        assert "StartingPosition" not in mapping
        assert "DestinationConfig" not in mapping
        queue = cfn.props(queues[queue_id])
        function = cfn.props(template["Resources"][cfn.functions_by_name(template)[fn.name]])
        assert queue["VisibilityTimeout"] >= function["Timeout"] == fn.timeout_s
        assert queue["VisibilityTimeout"] == manifest.queue(source.queue).visibility_timeout_s
        assert queue["RedrivePolicy"]["maxReceiveCount"] == source.max_receives
        (dead_letter,) = cfn.references(queue["RedrivePolicy"]["deadLetterTargetArn"])
        assert dead_letter in queues
        assert dead_letter != queue_id


def test_each_schedule_fans_its_work_out_per_tenant_on_a_queue_it_sends_to_and_takes_back(
    template: dict[str, Any], manifest: Manifest
) -> None:
    """Region-wide batch work (issue 14): the schedule's function queues a work item per homed tenant
    on its own queue (its URL and the schedule's rate, the items' cycle, in its environment) and the
    queue's mapping brings them back to it, one tenant an invocation, at most the manifest's number at
    once; the queue hides a taken item six times the function's timeout, and one that fails
    `max_receives` times goes to a dead-letter queue of its own."""
    resources = template["Resources"]
    functions = cfn.functions_by_name(template)
    by_id = {v: k for k, v in functions.items()}
    queues = cfn.resources(template, "AWS::SQS::Queue")
    concurrency: dict[str, int] = {}
    cycles: dict[str, str] = {}
    for spec in manifest.work_queues:
        (fn,) = [f for f in manifest.functions if spec.name in f.sends_to]
        (schedule,) = [s for s in manifest.schedules if s.function == fn.name]
        (source,) = [s for s in fn.queue_sources if s.queue == spec.name]
        variables = cfn.props(resources[functions[fn.name]])["Environment"]["Variables"]
        (queue_id,) = cfn.references(variables[spec.env_var])
        assert queue_id.startswith(f"State{pascal_case(spec.name)}Queue")
        cycles[fn.name] = variables[TENANT_WORK_CYCLE_ENV]
        assert cycles[fn.name] == str(schedule.every_s) == str(manifest.cycle_s(spec.name))
        (mapping,) = [
            cfn.props(m)
            for m in cfn.resources(template, "AWS::Lambda::EventSourceMapping").values()
            if queue_id in cfn.references(cfn.props(m)["EventSourceArn"])
        ]
        assert by_id[mapping["FunctionName"]["Ref"]] == fn.name
        assert mapping["BatchSize"] == source.batch_size == 1
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        concurrency[fn.name] = mapping["ScalingConfig"]["MaximumConcurrency"]
        queue = cfn.props(queues[queue_id])
        assert queue["VisibilityTimeout"] == 6 * fn.timeout_s
        assert queue["RedrivePolicy"]["maxReceiveCount"] == source.max_receives
        (dead_letter,) = cfn.references(queue["RedrivePolicy"]["deadLetterTargetArn"])
        assert dead_letter in queues
        assert dead_letter != queue_id
    assert concurrency == {"gui_telemetry": 20, "gui_index_rebuild": 5}
    assert cycles == {"gui_telemetry": "300", "gui_index_rebuild": "21600"}
    # No other function is told a cycle.
    environments = {
        name: cfn.props(resources[logical_id]).get("Environment", {}).get("Variables", {})
        for name, logical_id in functions.items()
    }
    told = {name for name, variables in environments.items() if TENANT_WORK_CYCLE_ENV in variables}
    assert told == set(cycles)
