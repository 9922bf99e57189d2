"""`ddgui quarantine` against a deployed region, played by moto in process: the queue's URL and the
stream's name read from the stack's outputs through CloudFormation (or given), credentials from the
environment; list, replay (each record once, its data and partition key, in sequence order) and
discard; a record kept in another region, or whose data the message lacks, is not replayed."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gui_core.quarantine import MAX_BODY_BYTES, QueueQuarantine
from local.cli import main
from local.quarantine import QUEUE_OUTPUT, STREAM_OUTPUT, Filters, deployed_target, replay
from stacks.naming import stack_name
from tests.events import kinesis_record

REGION = "eu-west-1"
STACK = stack_name(REGION)
RECORD = kinesis_record()
TEMPLATE = {
    "Resources": {
        "Quarantine": {"Type": "AWS::SQS::Queue"},
        "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
    },
    "Outputs": {
        QUEUE_OUTPUT: {"Value": {"Ref": "Quarantine"}},
        STREAM_OUTPUT: {"Value": {"Ref": "Stream"}},
    },
}


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A deployed region: the stack with its quarantine queue and stream, credentials in the
    environment as an operator's shell has them."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
        }
        yield {
            "queue_url": outputs[QUEUE_OUTPUT],
            "stream": outputs[STREAM_OUTPUT],
            "sqs": boto3.client("sqs", region_name=REGION),
            "kinesis": boto3.client("kinesis", region_name=REGION),
        }


def record(sequence: int, data: bytes, key: str = "acme") -> dict[str, Any]:
    found: dict[str, Any] = copy.deepcopy(RECORD)
    found["kinesis"].update(
        data=base64.b64encode(data).decode(), sequenceNumber=str(sequence), partitionKey=key
    )
    found["eventID"] = f"shardId-000000000000:{sequence}"
    return found


def keep(region: dict[str, Any], function: str, *records: dict[str, Any], where: str = REGION) -> None:
    quarantine = QueueQuarantine(region["queue_url"], region["sqs"], function=function, region=where)
    for found in records:
        quarantine.keep(found, "unknown_schema_version", "schema_version '2' is not one of ['1']")


def stream_records(region: dict[str, Any]) -> list[dict[str, Any]]:
    kinesis = region["kinesis"]
    (shard,) = kinesis.list_shards(StreamName=region["stream"])["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName=region["stream"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    found: list[dict[str, Any]] = kinesis.get_records(ShardIterator=iterator)["Records"]
    return found


def test_the_target_comes_from_the_stacks_outputs(region: dict[str, Any]) -> None:
    target = deployed_target(REGION)
    assert (target.queue_url, target.stream_name) == (region["queue_url"], region["stream"])
    given = deployed_target(REGION, queue_url="https://sqs/q", stream_name="s")
    assert (given.queue_url, given.stream_name) == ("https://sqs/q", "s")


def test_replay_puts_each_record_back_once_in_order_and_deletes_its_messages(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    later, earlier, other = record(200, b'{"b": 2}'), record(100, b'{"a": 1}'), record(150, b"{}", key="beta")
    keep(region, "gui_fanout", later, earlier, other)
    keep(region, "gui_telemetry_facts", earlier)  # the same record, kept by a second consumer

    assert main(["quarantine", "list", "--region", REGION]) == 0
    assert (
        len([line for line in capsys.readouterr().out.splitlines() if "unknown_schema_version" in line]) == 4
    )

    assert main(["quarantine", "replay", "--region", REGION, "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "replayed shardId-000000000000:100 key=acme" in out
    assert (
        "(2 message(s): gui_fanout/unknown_schema_version, gui_telemetry_facts/unknown_schema_version)" in out
    )
    put = stream_records(region)
    assert [(r["PartitionKey"], r["Data"]) for r in put] == [("acme", b'{"a": 1}'), ("acme", b'{"b": 2}')]
    left = region["sqs"].receive_message(QueueUrl=region["queue_url"], MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["record"]["kinesis"]["partitionKey"] for m in left["Messages"]] == ["beta"]


def test_a_record_of_another_region_or_without_its_data_is_skipped(region: dict[str, Any]) -> None:
    keep(region, "gui_fanout", record(1, b"{}"), where="us-east-1")
    keep(region, "gui_fanout", record(2, b"x" * MAX_BODY_BYTES))  # too big: kept without its data

    report = replay(deployed_target(REGION), Filters())

    assert report.done == []
    assert sorted(why for _, why in report.skipped) == [
        "kept in us-east-1, not eu-west-1: replay it there",
        "the record was too big for a message: read it from the stream",
    ]
    assert stream_records(region) == []
    # skipped messages stay, visible at once
    assert (
        len(region["sqs"].receive_message(QueueUrl=region["queue_url"], MaxNumberOfMessages=10)["Messages"])
        == 2
    )


def test_discard_deletes_only_what_the_filters_name_and_a_dry_run_nothing(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    keep(region, "gui_fanout", record(1, b"\x00"), record(2, b"\x01"))
    keep(region, "gui_telemetry_facts", record(1, b"\x00"))

    assert main(["quarantine", "discard", "--dry-run", "--function", "gui_fanout", "--limit", "1"]) == 0
    assert "1 record(s) would be discarded (1 message(s))" in capsys.readouterr().err
    assert main(["quarantine", "discard", "--function", "gui_fanout"]) == 0
    assert "2 record(s) discarded (2 message(s))" in capsys.readouterr().err
    assert main(["quarantine", "list", "--json"]) == 0
    (left,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert left["function"] == "gui_telemetry_facts"


def test_a_stack_without_the_outputs_is_named_with_what_to_give(
    region: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["quarantine", "list", "--stack", "DdGui-elsewhere"]) == 1
    assert "stack DdGui-elsewhere" in capsys.readouterr().err
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="Old", TemplateBody=json.dumps({"Resources": TEMPLATE["Resources"]})
    )
    assert main(["quarantine", "replay", "--stack", "Old"]) == 1
    assert "no output QuarantineQueueUrl: deploy this version, or give --queue-url" in capsys.readouterr().err
