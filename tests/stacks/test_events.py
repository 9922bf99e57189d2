"""Bus, stream and rule: domain events reach the stream in tenant order, or a dead-letter queue."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from stacks.manifest import Manifest


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
    cdk_template.resource_count_is("AWS::SQS::Queue", len(manifest.rules) + len(stream_sources))
    cdk_template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
