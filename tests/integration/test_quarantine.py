"""The quarantine of poison records through the local runtime (issue 12, #14): records put on the
local stream reach the real consumers through the local Kinesis mappings; those no redelivery can
cure are kept in the region's quarantine queue with their raw data, and `ddgui quarantine` lists,
replays (back onto the stream, under their partition key) and discards them, in process and as the
installed command.

The suite shares one endpoint and one stream: each test works under a fresh tenant (the records'
partition key, a filter of the commands) and discards what it quarantined.
"""

from __future__ import annotations

import base64
import inspect
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gui_core.quarantine import Quarantined
from gui_core.tenancy import TenantDirectory
from local.apigw import sample_event
from local.cli import main
from local.quarantine import Filters, Target, discard, list_quarantined, local_target, replay
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST

from .support import add_tenant, aws, table

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0


def sample(name: str, **detail: Any) -> dict[str, Any]:
    event = sample_event(f"eventbridge_{name}")
    event["detail"].update(detail, event_id=str(uuid.uuid4()))
    return event


@pytest.fixture
def tenant() -> str:
    return f"qt-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def target(local_backend: LocalBackend, tenant: str) -> Iterator[Target]:
    found = local_target(local_backend.aws_endpoint_url, REGION)
    yield found
    discard(found, Filters(tenant=tenant))  # the suite's queue stays clean


def put(backend: LocalBackend, data: bytes, key: str) -> str:
    """Put a record on the region's local stream as a producer would; its sequence number."""
    answer = aws(backend, "kinesis", REGION).put_record(
        StreamName=MANIFEST.stream.local_stream_name(), Data=data, PartitionKey=key
    )
    return str(answer["SequenceNumber"])


def wait_for(
    target: Target, filters: Filters, done: Callable[[list[Quarantined]], bool]
) -> list[Quarantined]:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = list_quarantined(target, filters)
        if done(found):
            return found
        assert time.monotonic() < deadline, f"not quarantined in {WAIT_S:.0f} s: {found}"
        time.sleep(0.2)


def stream_record(backend: LocalBackend, sequence_number: str) -> dict[str, Any]:
    kinesis = aws(backend, "kinesis", REGION)
    stream = MANIFEST.stream.local_stream_name()
    (shard,) = kinesis.list_shards(StreamName=stream)["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream,
        ShardId=shard["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=sequence_number,
    )["ShardIterator"]
    found: dict[str, Any] = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    return found


def test_the_fanout_quarantines_poison_records_and_replay_puts_them_back(
    local_backend: LocalBackend, target: Target, tenant: str
) -> None:
    garbage = b"\x00 not json {" + tenant.encode()
    future = json.dumps(sample("governance_alert", tenant=tenant, schema_version="2")).encode()
    sequences = {put(local_backend, garbage, tenant): garbage, put(local_backend, future, tenant): future}

    fanout = Filters(tenant=tenant, function="gui_fanout")
    kept = wait_for(target, fanout, lambda found: len(found) >= 2)
    assert {m.sequence_number: m.reason for m in kept} == dict(
        zip(sequences, ("undecodable", "unknown_schema_version"), strict=True)
    )
    for message in kept:
        # the record as Lambda gave it: data, partition key, sequence number, event id, arrival
        assert message.data() == sequences[message.sequence_number]
        assert message.partition_key == tenant
        assert message.record["eventID"].endswith(f":{message.sequence_number}")
        assert message.record["eventSourceARN"].endswith(f":stream/{MANIFEST.stream.local_stream_name()}")
        assert message.record["kinesis"]["approximateArrivalTimestamp"] > 0
        assert (message.function, message.region) == ("gui_fanout", REGION)
    # The facts writer reads every record and keeps them too; the indexer's filter never passes them.
    wait_for(target, Filters(tenant=tenant, function="gui_telemetry_facts"), lambda found: len(found) >= 2)
    assert list_quarantined(target, Filters(tenant=tenant, function="gui_indexer")) == []

    report = replay(target, fanout)

    assert sorted(d.record.sequence_number for d in report.done) == sorted(sequences)
    assert report.messages == 4  # each record once, and both consumers' messages of it deleted
    replayed = {str(d.sequence_number): d.record.sequence_number for d in report.done}
    for new, old in replayed.items():
        on_stream = stream_record(local_backend, new)
        assert on_stream["Data"] == sequences[old]
        assert on_stream["PartitionKey"] == tenant
    # Still poison: every consumer sees them again and keeps them anew, under their new numbers.
    again = wait_for(target, fanout, lambda found: {m.sequence_number for m in found} >= set(replayed))
    assert {m.sequence_number for m in again} == set(replayed)


def test_an_event_of_a_tenant_provisioned_late_is_delivered_by_its_replay(
    local_backend: LocalBackend, target: Target, tenant: str
) -> None:
    event = sample("job_status_changed", tenant=tenant)
    put(local_backend, json.dumps(event).encode(), tenant)
    fanout = Filters(tenant=tenant, function="gui_fanout")
    (kept,) = wait_for(target, fanout, lambda found: len(found) >= 1)
    assert kept.reason == "unknown_tenant"

    add_tenant(local_backend, tenant, REGION)
    # The consumers remember a tenant they did not find for a few seconds (TenantDirectory).
    miss_s = inspect.signature(TenantDirectory).parameters["miss_ttl_s"].default
    time.sleep(max(0.0, datetime.fromisoformat(kept.quarantined_at).timestamp() + miss_s + 0.5 - time.time()))
    assert len(replay(target, fanout).done) == 1

    dynamodb = aws(local_backend, "dynamodb", REGION)
    deadline = time.monotonic() + WAIT_S
    while True:
        logged = dynamodb.query(
            TableName=table("events"),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={":pk": {"S": f"{tenant}#jobs"}, ":c": {"S": "C#"}},
        )["Items"]
        if logged:
            break
        assert time.monotonic() < deadline, "the replayed event never reached the replay log"
        time.sleep(0.2)
    assert [item["event_id"]["S"] for item in logged] == [event["detail"]["event_id"]]
    assert list_quarantined(target, fanout) == []


def test_the_command_lists_replays_and_discards_against_the_local_endpoint(
    local_backend: LocalBackend, target: Target, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = b"{ truncated"
    sequence = put(local_backend, garbage, tenant)
    wait_for(target, Filters(tenant=tenant), lambda found: len(found) >= 2)  # the fan-out's, the facts'
    where = ["--endpoint-url", local_backend.aws_endpoint_url, "--region", REGION, "--tenant", tenant]

    # The installed command, in a process of its own.
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ddgui"), "quarantine", "list", *where, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    documents = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {(d["function"], d["reason"]) for d in documents} == {
        ("gui_fanout", "undecodable"),
        ("gui_telemetry_facts", "undecodable"),
    }
    for document in documents:
        assert document["record"]["kinesis"]["sequenceNumber"] == sequence
        assert base64.b64decode(document["record"]["kinesis"]["data"]) == garbage
        assert document["envelope"] is None
    assert "2 message(s)" in listed.stderr

    assert main(["quarantine", "list", *where]) == 0
    # (the functions of the local runtime print their logs and metrics to this process's stdout too)
    lines = [line for line in capsys.readouterr().out.splitlines() if f"key={tenant}" in line]
    assert len(lines) == 2
    assert all("undecodable" in line and "(not an envelope)" in line for line in lines)

    assert main(["quarantine", "replay", "--dry-run", *where]) == 0
    out = capsys.readouterr()
    assert f"would replay shardId-000000000000:{sequence} key={tenant}  (2 message(s): " in out.out
    assert "1 record(s) would be replayed onto ddgui-gui-events (2 message(s)); 0 skipped" in out.err
    assert len(list_quarantined(target, Filters(tenant=tenant))) == 2  # a dry run changes nothing

    assert main(["quarantine", "discard", "--function", "gui_fanout", *where]) == 0
    assert "1 record(s) discarded (1 message(s))" in capsys.readouterr().err
    assert [m.function for m in list_quarantined(target, Filters(tenant=tenant))] == ["gui_telemetry_facts"]
