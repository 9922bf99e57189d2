"""The telemetry handlers on moto's S3, DynamoDB and SQS: the facts writer from the Kinesis samples
in events/aws/ (one file per tenant and day, a redelivered batch leaves one file, poison records
quarantined, partial failures), and the aggregation fanned out per tenant: the scheduled event
sample queues a work item per homed tenant, each taken back in the shape of the SQS sample (cache
items with their TTL, every tenant each cycle however short an invocation, a failing tenant does not
stop the others, a late item dropped, copies reused, closed days compacted)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gui_core.date_times import iso, parse_time
from gui_core.dynamo import Table, _dynamodb_client, to_dynamo
from gui_core.objects import ObjectStore, _s3_client
from gui_core.quarantine import Quarantined, _sqs_client
from gui_dashboard.cache import cached_document, document_bytes, stored_bytes, telemetry_key
from gui_dashboard.repository import MetricsCacheTable
from gui_telemetry import tenant_aggregation
from gui_telemetry.aggregate import connect
from gui_telemetry.facts import facts_of
from gui_telemetry.settings import AggregateSettings
from gui_telemetry.store import FactWriter, fact_key
from gui_telemetry.tenant_aggregation import Aggregation
from local.apigw import sample_event
from local.containers import LambdaContext, lambda_context, load_handler
from stacks.manifest import MANIFEST
from tests.events import eventbridge_samples
from tests.fakes import MemoryQuarantine

REGION = "eu-west-1"
BUCKET = "ddgui-data-eu-west-1"
TENANTS, METRICS = "ddgui-tenants", "ddgui-metrics"
QUARANTINE = "ddgui-quarantine"
QUARANTINE_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/{QUARANTINE}"
WORK = "ddgui-telemetry-work"
WORK_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/{WORK}"
EVERY_SOURCE = sample_event("kinesis_stream_every_source")
SCHEDULED = sample_event("scheduled_event")
WORK_ITEM = sample_event("sqs_tenant_work")
SAMPLES = eventbridge_samples()
SEQUENCE_BASE = 49590338271490256608559692540925702759324208523137600000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The bucket and the tenants and metrics tables; acme and beta homed here, faraway elsewhere.

    Credentials in the process environment for the whole test: the handlers' boto3 clients look
    them up at their first call, after `load_handler` has put the environment of their import back."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # gui_core keeps one client per region and endpoint for the process: one an earlier test made
    # without credentials would answer NoCredentialsError here.
    for made in (_dynamodb_client, _s3_client, _sqs_client):
        made.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for name in (TENANTS, METRICS):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        for tenant, home in (("acme", REGION), ("beta", REGION), ("faraway", "us-east-1")):
            item = {"pk": tenant, "sk": "tenant", "name": tenant, "home_region": home}
            dynamodb.put_item(TableName=TENANTS, Item=to_dynamo(item))
        sqs = boto3.client("sqs", region_name=REGION)
        assert sqs.create_queue(QueueName=QUARANTINE)["QueueUrl"] == QUARANTINE_URL
        assert sqs.create_queue(QueueName=WORK)["QueueUrl"] == WORK_URL
        yield {"s3": s3, "dynamodb": dynamodb, "sqs": sqs}


def environment(work_dir: Path, function: str) -> dict[str, str]:
    return {
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
        "GUI_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        MANIFEST.bucket.env_var: BUCKET,
        MANIFEST.store("tenants").env_var: TENANTS,
        MANIFEST.store("metrics").env_var: METRICS,
        "QUARANTINE_QUEUE_URL": QUARANTINE_URL,
        "TELEMETRY_WORK_QUEUE_URL": WORK_URL,
        "TENANT_WORK_CYCLE_S": "300",
        "TELEMETRY_WORK_DIR": str(work_dir),
    }


@pytest.fixture
def facts_handler(aws: dict[str, Any], tmp_path: Path) -> Any:
    fn = MANIFEST.function("gui_telemetry_facts")
    return load_handler(fn, environment(tmp_path / "facts", fn.name))


@pytest.fixture
def aggregate_handler(aws: dict[str, Any], tmp_path: Path) -> Any:
    fn = MANIFEST.function("gui_telemetry")
    return load_handler(fn, {**environment(tmp_path / "aggregate", fn.name), "TELEMETRY_CACHE_S": "900"})


def context(name: str) -> Any:
    return lambda_context(MANIFEST.function(name), REGION)


def unwrapped(handler: Any) -> Any:
    while hasattr(handler, "__wrapped__"):
        handler = handler.__wrapped__
    return handler


def keys(aws: dict[str, Any], prefix: str = "telemetry/") -> list[str]:
    listed = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def quarantined(aws: dict[str, Any]) -> list[tuple[Quarantined, dict[str, str]]]:
    """Every message of the quarantine queue (read and deleted) with its attributes."""
    found = []
    while True:
        messages = (
            aws["sqs"]
            .receive_message(QueueUrl=QUARANTINE_URL, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            .get("Messages", [])
        )
        if not messages:
            return found
        for message in messages:
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            found.append((Quarantined.of(message), attributes))
            aws["sqs"].delete_message(QueueUrl=QUARANTINE_URL, ReceiptHandle=message["ReceiptHandle"])


def rows_of(aws: dict[str, Any], key: str, tmp_path: Path) -> list[tuple[Any, ...]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return connect(tmp_path / "read").execute("SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()


def record(envelope: dict[str, Any], n: int) -> dict[str, Any]:
    """A Kinesis record of the sample's shape carrying `envelope`, the n-th of the shard."""
    found: dict[str, Any] = copy.deepcopy(EVERY_SOURCE["Records"][0])
    sequence = str(SEQUENCE_BASE + n)
    found["kinesis"].update(
        data=base64.b64encode(json.dumps(envelope).encode()).decode(),
        sequenceNumber=sequence,
        partitionKey=envelope["detail"].get("tenant", "?"),
    )
    found["eventID"] = f"shardId-000000000000:{sequence}"
    return found


def envelope(kind: str, **detail: Any) -> dict[str, Any]:
    found = copy.deepcopy(SAMPLES[kind])
    found["detail"].update(detail)
    return found


# -- the facts writer ----------------------------------------------------------------------------------


def test_every_source_batch_becomes_one_file_per_tenant_and_day(
    facts_handler: Any, aws: dict[str, Any], tmp_path: Path
) -> None:
    answer = facts_handler(EVERY_SOURCE, context("gui_telemetry_facts"))

    assert answer == {"batchItemFailures": []}
    first, waiver_expired = (EVERY_SOURCE["Records"][i]["kinesis"]["sequenceNumber"] for i in (0, 13))
    assert sorted(keys(aws)) == [
        f"telemetry/acme/facts/day=2026-11-27/shardId-000000000000-{first}.parquet",
        f"telemetry/acme/facts/day=2026-12-04/shardId-000000000000-{waiver_expired}.parquet",
    ]
    rows = [r for key in keys(aws) for r in rows_of(aws, key, tmp_path)]
    # 15 events: 14 of one row, MetricsReported of three
    assert len(rows) == 17
    assert {r[2] for r in rows} == set(SAMPLES)


def test_a_redelivered_batch_leaves_one_file_not_two(
    facts_handler: Any, aws: dict[str, Any], tmp_path: Path
) -> None:
    batch = {"Records": [EVERY_SOURCE["Records"][i] for i in (8, 9, 10)]}  # job requested, running, metrics

    facts_handler(batch, context("gui_telemetry_facts"))
    before = {key: rows_of(aws, key, tmp_path / "1") for key in keys(aws)}
    facts_handler(batch, context("gui_telemetry_facts"))

    assert len(before) == 1
    assert keys(aws) == list(before)
    assert rows_of(aws, keys(aws)[0], tmp_path / "2") == next(iter(before.values()))


def test_poison_records_are_quarantined_raw_with_their_reason_and_other_kinds_skipped(
    facts_handler: Any, aws: dict[str, Any]
) -> None:
    """Events of tenants not homed here, undecodable and refused records are not written, and no
    longer only counted (issue 12, #14): each is kept in the quarantine queue as Lambda gave it."""
    garbage = record(envelope("JobRequested"), 1)
    garbage["kinesis"]["data"] = base64.b64encode(b"\xff not json").decode()
    batch = {
        "Records": [
            record(envelope("JobRequested", tenant="faraway"), 0),
            garbage,
            record(envelope("JobRequested", tenant="nobody"), 2),
            record(envelope("JobRequested", schema_version="9"), 3),
            record({**envelope("JobRequested"), "detail-type": "WeatherChanged"}, 4),
            record(envelope("JobRequested", attempt="first"), 5),
        ]
    }

    assert facts_handler(batch, context("gui_telemetry_facts")) == {"batchItemFailures": []}
    assert keys(aws) == []
    kept = {message.sequence_number: (message, attributes) for message, attributes in quarantined(aws)}
    expected = {
        0: "wrong_region",
        1: "undecodable",
        2: "unknown_tenant",
        3: "unknown_schema_version",
        5: "invalid",
    }
    assert set(kept) == {batch["Records"][n]["kinesis"]["sequenceNumber"] for n in expected}
    for n, reason in expected.items():
        message, attributes = kept[batch["Records"][n]["kinesis"]["sequenceNumber"]]
        assert message.record == batch["Records"][n]
        assert (message.reason, message.function, message.region) == (reason, "gui_telemetry_facts", REGION)
        assert message.error
        assert attributes == {"function": "gui_telemetry_facts", "reason": reason}
    counts = unwrapped(facts_handler).__globals__["batches"].handle(batch["Records"]).counts
    assert dict(counts) == {
        "Records": 6,
        "ResidencyRefused": 2,
        "InvalidEvent": 2,
        "UnknownSchemaVersion": 1,
        "NotForTelemetry": 1,
        "RecordsQuarantined": 5,
    }


def test_a_record_whose_quarantine_fails_fails_from_its_position_on(
    facts_handler: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = unwrapped(facts_handler).__globals__["batches"]
    quarantine = MemoryQuarantine()
    quarantine.unreachable.add("faraway")
    monkeypatch.setattr(batches, "_quarantine", quarantine)
    records = [
        record(envelope("JobRequested", tenant="acme", event_id="a-0"), 0),
        record(envelope("JobRequested", tenant="faraway", event_id="f-1"), 1),
        record(envelope("JobRequested", tenant="acme", event_id="a-2"), 2),
    ]

    answer = facts_handler({"Records": records}, context("gui_telemetry_facts"))

    assert answer == {
        "batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in records[1:]]
    }
    assert quarantine.kept == []
    quarantine.unreachable.clear()  # Lambda delivers them again
    assert facts_handler({"Records": records[1:]}, context("gui_telemetry_facts")) == {
        "batchItemFailures": []
    }
    assert quarantine.reasons() == [(records[1]["kinesis"]["sequenceNumber"], "wrong_region")]


class FailingFor:
    """The real writer, except for one tenant's writes."""

    def __init__(self, writer: FactWriter, tenant: str) -> None:
        self._writer, self._tenant = writer, tenant

    def write(self, tenant: str, day: Any, batch: str, facts: Any) -> str:
        if tenant == self._tenant:
            raise ConnectionError("S3 is unreachable")
        return self._writer.write(tenant, day, batch, facts)


def test_a_failed_write_fails_every_record_from_the_groups_first_on(
    facts_handler: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = unwrapped(facts_handler).__globals__["batches"]
    monkeypatch.setattr(batches, "_writer", FailingFor(batches._writer, "beta"))
    records = [
        record(envelope("JobRequested", tenant="acme", event_id="a-0"), 0),
        record(envelope("JobRequested", tenant="beta", event_id="b-1"), 1),
        record(envelope("JobRequested", tenant="acme", event_id="a-2"), 2),
        record(envelope("JobRequested", tenant="beta", event_id="b-3"), 3),
        record(envelope("JobRequested", tenant="acme", event_id="a-4"), 4),
    ]

    answer = facts_handler({"Records": records}, context("gui_telemetry_facts"))

    # Lambda retries from the lowest failed sequence number: beta's first record, and all after it
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in records[1:]]
    }
    assert keys(aws) == [f"telemetry/acme/facts/day=2026-11-27/shardId-000000000000-{SEQUENCE_BASE}.parquet"]


class FailingTenants:
    """The tenant directory, unreachable for one tenant."""

    def __init__(self, tenants: Any, tenant: str) -> None:
        self._tenants, self._tenant = tenants, tenant

    def get(self, tenant_id: str) -> Any:
        if tenant_id == self._tenant:
            raise ConnectionError("DynamoDB is unreachable")
        return self._tenants.get(tenant_id)


def test_a_tenant_that_cannot_be_read_fails_its_record_and_defers_the_later_groups(
    facts_handler: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = unwrapped(facts_handler).__globals__["batches"]
    monkeypatch.setattr(batches, "_tenants", FailingTenants(batches._tenants, "beta"))
    records = [
        record(envelope("JobRequested", tenant="acme", event_id="a-0"), 0),
        record(envelope("JobRequested", tenant="beta", event_id="b-1"), 1),
        record(envelope("JobRequested", tenant="acme", event_id="a-2", time="2026-11-28T09:00:00+00:00"), 2),
        record(envelope("JobRequested", tenant="acme", event_id="a-3"), 3),
    ]

    answer = facts_handler({"Records": records}, context("gui_telemetry_facts"))

    assert answer == {
        "batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in records[1:]]
    }
    # acme's group of the 27th (records 0 and 3) is written; its group of the 28th starts after the
    # failure and waits for the retry
    assert keys(aws) == [f"telemetry/acme/facts/day=2026-11-27/shardId-000000000000-{SEQUENCE_BASE}.parquet"]


# -- the aggregation -----------------------------------------------------------------------------------


def recent(kind: str, at: datetime, **detail: Any) -> dict[str, Any]:
    """The sample `kind` with its time(s) moved to `at`."""
    times = {"time": at.isoformat()}
    if kind == "ArtifactPublished":
        times["published_at"] = at.isoformat()
    return envelope(kind, **times, **detail)


def a_mapping_job(tenant: str, job_id: str, requested: datetime, n: int) -> list[dict[str, Any]]:
    """Requested, running a minute later, succeeded ten minutes after that."""
    job = {"tenant": tenant, "job_id": job_id}
    running = requested + timedelta(minutes=1)
    return [
        record(recent("JobRequested", requested, verb="mapping", event_id=f"{job_id}-q", **job), n),
        record(recent("JobStatusChanged", running, event_id=f"{job_id}-r", **job), n + 1),
        record(
            recent(
                "JobStatusChanged",
                requested + timedelta(minutes=11),
                status="succeeded",
                progress=100,
                event_id=f"{job_id}-s",
                **job,
            ),
            n + 2,
        ),
    ]


def queued_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    """The work items waiting (received and deleted), as the queue's mapping hands them over."""
    found: list[dict[str, Any]] = []
    while True:
        messages = aws["sqs"].receive_message(QueueUrl=WORK_URL, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(message)
            aws["sqs"].delete_message(QueueUrl=WORK_URL, ReceiptHandle=message["ReceiptHandle"])


def work_event(message: dict[str, Any]) -> dict[str, Any]:
    """The mapping's event for one message, in the sample's shape."""
    event = copy.deepcopy(WORK_ITEM)
    event["Records"][0].update(messageId=message["MessageId"], body=message["Body"])
    return event


def run_cycle(aggregate_handler: Any, aws: dict[str, Any], make_context: Any = None) -> list[Any]:
    """The schedule's invocation, then one invocation per work item it queued; their answers."""
    make_context = make_context or (lambda: context("gui_telemetry"))
    answers = [aggregate_handler(SCHEDULED, make_context())]
    answers += [aggregate_handler(work_event(m), make_context()) for m in queued_items(aws)]
    return answers


def test_the_schedule_queues_a_work_item_per_homed_tenant_and_each_writes_its_presets(
    facts_handler: Any, aggregate_handler: Any, aws: dict[str, Any]
) -> None:
    hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    records = [*a_mapping_job("acme", "job-1", hour_ago, 0), *a_mapping_job("beta", "job-2", hour_ago, 3)]
    assert facts_handler({"Records": records}, context("gui_telemetry_facts")) == {"batchItemFailures": []}

    assert aggregate_handler(SCHEDULED, context("gui_telemetry")) == {"tenants": 2, "queued": 2}
    items = queued_items(aws)
    bodies = [json.loads(m["Body"]) for m in items]
    assert sorted(b["tenant"] for b in bodies) == ["acme", "beta"]  # faraway is homed elsewhere
    assert {(b["kind"], b["v"]) for b in bodies} == {("telemetry", 1)}
    cycle = parse_time(bodies[0]["cycle"])
    assert cycle is not None
    assert {b["not_after"] for b in bodies} == {int(cycle.timestamp()) + 300}
    cache = MetricsCacheTable(Table(METRICS, aws["dynamodb"]))
    assert cache.get(telemetry_key("acme", "7d")) is None  # the schedule aggregated nothing itself

    for message in items:
        assert aggregate_handler(work_event(message), context("gui_telemetry")) == {"batchItemFailures": []}

    for tenant in ("acme", "beta"):
        for preset in ("24h", "7d", "30d"):
            item = cache.get(telemetry_key(tenant, preset))
            assert item is not None
            assert (item["producer"], item["kind"], item["schema"]) == ("telemetry", "metrics_cache", 1)
            as_of = parse_time(item["computed_at"])
            assert as_of is not None
            assert item["expires_at"] == int(as_of.timestamp()) + 900
            document = cached_document(item, now=as_of + timedelta(seconds=899))
            assert document is not None
            assert document["preset"] == preset
            assert cached_document(item, now=as_of + timedelta(seconds=900)) is None
            mapping = next(e for e in document["sla"] if e["verb"] == "mapping")
            figures = {f["name"]: f["value"] for f in mapping["figures"]}
            assert (figures["jobs_succeeded"], figures["duration_p50_s"]) == (1, 600.0)
            assert document["cost"]["total"]["value"] == 0.8  # 10 minutes x 0.08


class ShrinkingContext(LambdaContext):
    """A context whose time runs out fast: each look at it is 10 s later (a tenant takes long)."""

    def get_remaining_time_in_millis(self) -> int:
        self._deadline -= 10
        return super().get_remaining_time_in_millis()


def test_every_homed_tenant_is_aggregated_each_cycle_however_short_an_invocation(
    facts_handler: Any, aggregate_handler: Any, aws: dict[str, Any]
) -> None:
    """A region's tenants shared one invocation's 300 s: past what fit, they waited for later runs
    (at 1,000 tenants, hours), their 15-minute items expired meanwhile. Now each tenant has an
    invocation of its own: 12 tenants whose aggregation leaves under a minute each are all done."""
    hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    tenants = [f"t{n:02d}" for n in range(12)]
    for n, tenant in enumerate(tenants):
        item = {"pk": tenant, "sk": "tenant", "name": tenant, "home_region": REGION}
        aws["dynamodb"].put_item(TableName=TENANTS, Item=to_dynamo(item))
        facts_handler(
            {"Records": a_mapping_job(tenant, f"job-{n}", hour_ago, 3 * n)}, context("gui_telemetry_facts")
        )
    usual = context("gui_telemetry")

    def short() -> LambdaContext:
        return ShrinkingContext(
            usual.function_name, usual.memory_limit_in_mb, usual.invoked_function_arn, timeout_s=50
        )

    run_cycle(aggregate_handler, aws, short)

    cache = MetricsCacheTable(Table(METRICS, aws["dynamodb"]))
    done = [t for t in (*tenants, "acme", "beta") if cache.get(telemetry_key(t, "7d")) is not None]
    assert done == [*tenants, "acme", "beta"]


def test_a_failing_tenant_does_not_stop_the_others(
    facts_handler: Any, aggregate_handler: Any, aws: dict[str, Any]
) -> None:
    hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    facts_handler({"Records": a_mapping_job("beta", "job-2", hour_ago, 0)}, context("gui_telemetry_facts"))
    today = datetime.now(UTC).date()
    aws["s3"].put_object(Bucket=BUCKET, Key=fact_key("acme", today, "torn"), Body=b"not parquet")

    answers = run_cycle(aggregate_handler, aws)

    # The failure is counted (TelemetryTenantsFailed, an alarm) and its item consumed: the next cycle
    # tries again; a failed message would come back after the queue's 30 minutes, past its cycle.
    assert answers[1:] == [{"batchItemFailures": []}] * 2
    cache = MetricsCacheTable(Table(METRICS, aws["dynamodb"]))
    assert cache.get(telemetry_key("acme", "7d")) is None
    assert cache.get(telemetry_key("beta", "7d")) is not None


def test_a_work_item_its_cycle_outlived_is_dropped_and_one_of_another_kind_fails(
    aggregate_handler: Any, aws: dict[str, Any]
) -> None:
    late = {"MessageId": "m-late", "Body": json.dumps(
        {"kind": "telemetry", "tenant": "acme", "cycle": "2026-11-28T10:00:00Z", "not_after": 1, "v": 1}
    )}  # fmt: skip
    assert aggregate_handler(work_event(late), context("gui_telemetry")) == {"batchItemFailures": []}
    assert MetricsCacheTable(Table(METRICS, aws["dynamodb"])).get(telemetry_key("acme", "7d")) is None
    other = {"MessageId": "m-other", "Body": late["Body"].replace('"telemetry"', '"index-rebuild"')}
    answer = aggregate_handler(work_event(other), context("gui_telemetry"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-other"}]}


# -- copies and compaction, on the aggregation itself with a fixed clock ----------------------------------

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


@pytest.fixture
def aggregation(aws: dict[str, Any], tmp_path: Path) -> Aggregation:
    """The aggregation of one container, on moto's bucket and metrics table."""
    settings = AggregateSettings.model_validate(
        {**environment(tmp_path / "run", "gui_telemetry"), "TELEMETRY_CACHE_S": "600"}
    )
    return Aggregation(
        region=REGION,
        objects=ObjectStore(BUCKET, aws["s3"]),
        cache=MetricsCacheTable(Table(METRICS, aws["dynamodb"])),
        settings=settings,
    )


def write_sample_facts(aws: dict[str, Any], tmp_path: Path, kind: str, batch: str, **detail: Any) -> str:
    writer = FactWriter(ObjectStore(BUCKET, aws["s3"]), work_dir=tmp_path / "writer")
    facts = facts_of(kind, {**SAMPLES[kind]["detail"], **detail})
    return writer.write("acme", facts[0].occurred_at.date(), batch, facts)


def test_copies_are_reused_and_evicted_when_their_object_goes(
    aggregation: Aggregation, aws: dict[str, Any], tmp_path: Path
) -> None:
    key = write_sample_facts(aws, tmp_path, "JobRequested", "b1")
    first = aggregation.tenant("acme", now=NOW)
    second = aggregation.tenant("acme", now=NOW)
    aws["s3"].delete_object(Bucket=BUCKET, Key=key)
    third = aggregation.tenant("acme", now=NOW)

    assert (first.counts["FactFilesDownloaded"], first.counts["FactFilesReused"]) == (1, 0)
    assert (second.counts["FactFilesDownloaded"], second.counts["FactFilesReused"]) == (0, 1)
    assert third.counts["FactFilesEvicted"] == 1
    assert list((aggregation.files.root / "acme").rglob("*.parquet")) == []
    assert first.written == 3


def test_a_document_over_the_limit_is_refused_by_its_text_not_its_compressed_size(
    aggregation: Aggregation, aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit bounds what a reader gets back (the JSON text), which the item holds compressed."""
    write_sample_facts(aws, tmp_path, "JobRequested", "b1")
    assert aggregation.tenant("acme", now=NOW).written == 3
    item = MetricsCacheTable(Table(METRICS, aws["dynamodb"])).get(telemetry_key("acme", "24h"))
    assert item is not None
    assert stored_bytes(item) < document_bytes(item)
    # a limit the compressed body is within and the text is not
    monkeypatch.setattr(tenant_aggregation, "MAX_DOCUMENT_BYTES", stored_bytes(item) + 1)
    with pytest.raises(ValueError, match="the 24h document of acme has"):
        aggregation.tenant("acme", now=NOW + timedelta(minutes=5))


def test_files_of_a_closed_day_are_compacted_into_one_without_duplicates(
    aggregation: Aggregation, aws: dict[str, Any], tmp_path: Path
) -> None:
    # 2026-11-26 closed at 2026-11-28T00:00 (its end plus a day); 2026-11-27 is still open
    old = "2026-11-26T10:00:00+00:00"
    write_sample_facts(aws, tmp_path, "JobRequested", "b1", time=old)
    write_sample_facts(aws, tmp_path, "JobRequested", "b2", time=old)  # the same event again
    write_sample_facts(aws, tmp_path, "MetricsReported", "b3", time=old)
    write_sample_facts(aws, tmp_path, "JobRequested", "b4", job_id="job-27", event_id="e-27")  # 2026-11-27

    outcome = aggregation.tenant("acme", now=NOW)

    assert outcome.counts["DaysCompacted"] == 1
    assert sorted(keys(aws)) == [
        "telemetry/acme/facts/day=2026-11-26/compact.parquet",
        "telemetry/acme/facts/day=2026-11-27/b4.parquet",
    ]
    rows = rows_of(aws, "telemetry/acme/facts/day=2026-11-26/compact.parquet", tmp_path)
    assert sorted((r[2], r[10]) for r in rows) == [
        ("JobRequested", "attempt"),
        ("MetricsReported", "candidates.accepted_ratio"),
        ("MetricsReported", "jobs.failed"),
        ("MetricsReported", "jobs.succeeded"),
    ]
    again = aggregation.tenant("acme", now=NOW)
    assert again.counts["DaysCompacted"] == 0
    assert (again.counts["FactFilesDownloaded"], again.counts["FactFilesReused"]) == (0, 2)
    item = MetricsCacheTable(Table(METRICS, aws["dynamodb"])).get(telemetry_key("acme", "7d"))
    assert item is not None
    assert item["expires_at"] == int(NOW.timestamp()) + 600
    # stored compressed (a binary attribute through DynamoDB's wire format), read back whole
    assert item["encoding"] == "zlib"
    assert stored_bytes(item) < document_bytes(item) / 3
    document = cached_document(item, now=NOW)
    assert document is not None
    assert document_bytes(item) == len(json.dumps(document, separators=(",", ":"), sort_keys=True).encode())
    assert document["as_of"] == iso(NOW)
    assert document["queue"]["waiting"] == 2  # the job requested on the 26th (written twice) and job-27
