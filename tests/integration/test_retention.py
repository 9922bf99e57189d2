"""Retention locally: TTL items expire, and the archiver gets their removal records and keeps them.

moto keeps one state per process, shared by every moto server of the pytest run, so these tests
write under fresh tenants and read back by key; the sweeper tests with stub consumers run in a
region no other test uses.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from gui_core.dynamo import from_dynamo, to_dynamo
from local.apigw import sample_event
from local.aws import aws_client, create_resources
from local.containers import Container
from local.runtime import LocalBackend
from local.ttl import Consumer, TtlSweeper
from stacks.manifest import MANIFEST
from stacks.source_filters import TTL_REMOVAL_PATTERN, matches

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
PREFERENCES = MANIFEST.store("preferences")
LIMITS = MANIFEST.store("limits")
ARCHIVER = MANIFEST.function("gui_archiver")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """A backend with its own moto server and a short sweep interval."""
    keys_dir = tmp_path_factory.mktemp("retention-keys")
    with LocalBackend(port=0, seed=False, keys_dir=keys_dir, ttl_sweep_s=0.5) as started:
        yield started


def _client(backend: LocalBackend, service: str, region: str = REGION) -> Any:
    return aws_client(service, endpoint_url=backend.aws_endpoint_url, region=region)


def _history_item(tenant: str, *, expires_at: Any) -> dict[str, Any]:
    return {
        "pk": tenant,
        "sk": f"HIST#ada%40{tenant}#2026-05-30T08:15:02.417+00:00#0000000001",
        "kind": "preference_history",
        "subject": f"ada@{tenant}",
        "overrides": {"theme": "dark", "pinned_dashboards": ["overview"]},
        "version": 1,
        "changed_at": "2026-05-30T08:15:02.417+00:00",
        "changed_by": f"ada@{tenant}",
        "reason": "user_update",
        "expires_at": expires_at,
    }


def _archived(backend: LocalBackend, tenant: str, region: str = REGION) -> dict[str, Any]:
    """Archive objects of one tenant's preferences in the region's bucket: key -> document."""
    s3 = _client(backend, "s3", region)
    bucket = MANIFEST.bucket.local_bucket_name(region)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"archive/preferences/{tenant}/")
    return {
        obj["Key"]: json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        for obj in listed.get("Contents", [])
    }


def test_an_expired_history_item_is_removed_and_archived(backend: LocalBackend) -> None:
    # GIVEN a preference history item whose TTL passed a minute ago, and one not yet due
    tenant = f"ttl-{uuid.uuid4().hex[:10]}"
    expired = _history_item(tenant, expires_at=int(time.time()) - 60)
    due_later = {**_history_item(tenant, expires_at=int(time.time()) + 3600), "sk": "HIST#later"}
    dynamodb = _client(backend, "dynamodb")
    for item in (expired, due_later):
        dynamodb.put_item(TableName=PREFERENCES.local_table_name(), Item=to_dynamo(item))

    # WHEN the TTL sweep runs
    backend.sweep_now()

    # THEN the expired item is gone, the other stays, and the archive holds the expired one
    def get(sk: str) -> dict[str, Any] | None:
        key = to_dynamo({"pk": tenant, "sk": sk})
        found = dynamodb.get_item(TableName=PREFERENCES.local_table_name(), Key=key, ConsistentRead=True)
        return from_dynamo(found["Item"]) if "Item" in found else None

    assert get(expired["sk"]) is None
    assert get(due_later["sk"]) == due_later
    (key, document), *others = _archived(backend, tenant).items()
    assert others == []
    removed_at = datetime.fromisoformat(document["removed_at"])
    assert abs(removed_at.timestamp() - time.time()) < 60
    assert key == (f"archive/preferences/{tenant}/{removed_at:%Y/%m/%d}/{document['event_id']}.json")
    assert document["item"] == expired
    assert document["keys"] == {"pk": tenant, "sk": expired["sk"]}
    assert (document["store"], document["tenant"], document["region"]) == ("preferences", tenant, REGION)


def test_the_periodic_sweep_expires_without_being_asked(backend: LocalBackend) -> None:
    tenant = f"ttl-{uuid.uuid4().hex[:10]}"
    item = _history_item(tenant, expires_at=int(time.time()) - 5)
    _client(backend, "dynamodb").put_item(TableName=PREFERENCES.local_table_name(), Item=to_dynamo(item))

    deadline = time.monotonic() + 10
    while not _archived(backend, tenant) and time.monotonic() < deadline:
        time.sleep(0.2)

    assert [d["item"]["sk"] for d in _archived(backend, tenant).values()] == [item["sk"]]


def test_stores_without_a_stream_consumer_expire_without_archiving(backend: LocalBackend) -> None:
    tenant = f"ttl-{uuid.uuid4().hex[:10]}"
    counter = {"pk": f"{tenant}#reads", "sk": "2026-11-26T10:35", "count": 3, "expires_at": 1}
    counter["expires_at"] = int(time.time()) - 1
    dynamodb = _client(backend, "dynamodb")
    dynamodb.put_item(TableName=LIMITS.local_table_name(), Item=to_dynamo(counter))

    backend.sweep_now()

    key = to_dynamo({"pk": counter["pk"], "sk": counter["sk"]})
    assert "Item" not in dynamodb.get_item(TableName=LIMITS.local_table_name(), Key=key, ConsistentRead=True)
    bucket = MANIFEST.bucket.local_bucket_name(REGION)
    listed = _client(backend, "s3").list_objects_v2(Bucket=bucket, Prefix=f"archive/limits/{tenant}")
    assert "Contents" not in listed


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param("1", id="a string never expires"),
        pytest.param(int(time.time()) - 6 * 365 * 86400, id="more than five years past"),
    ],
)
def test_items_dynamodb_would_not_expire_stay(backend: LocalBackend, expires_at: Any) -> None:
    tenant = f"ttl-{uuid.uuid4().hex[:10]}"
    item = _history_item(tenant, expires_at=expires_at)
    dynamodb = _client(backend, "dynamodb")
    dynamodb.put_item(TableName=PREFERENCES.local_table_name(), Item=to_dynamo(item))

    backend.sweep_now()

    key = to_dynamo({"pk": tenant, "sk": item["sk"]})
    assert "Item" in dynamodb.get_item(TableName=PREFERENCES.local_table_name(), Key=key, ConsistentRead=True)
    assert _archived(backend, tenant) == {}


# -- delivery semantics, with stub consumers in a region of their own ---------------------------

STUB_REGION = "ap-southeast-2"


class Recorder:
    """A stream consumer that reports the sequence numbers it is told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.fail_subjects: set[str] = set()
        self.crash = False

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append(records)
        if self.crash:
            raise RuntimeError("the function crashed")
        failed = [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
            for r in records
            if r["dynamodb"]["OldImage"]["subject"]["S"] in self.fail_subjects
        ]
        return {"batchItemFailures": failed}


@pytest.fixture
def stub_sweeper(moto_endpoint: str) -> Iterator[tuple[TtlSweeper, Recorder]]:
    create_resources(MANIFEST, endpoint_url=moto_endpoint, region=STUB_REGION)
    recorder = Recorder()
    source = next(s for s in ARCHIVER.stream_sources if s.store == "preferences")
    container = Container(ARCHIVER, STUB_REGION, recorder)
    consumer = Consumer(fn=ARCHIVER, source=source, region=STUB_REGION, container=container)
    sweeper = TtlSweeper(MANIFEST, endpoint_url=moto_endpoint, regions=[STUB_REGION], consumers=[consumer])
    yield sweeper, recorder
    container.close()


def _put_expired(moto_endpoint: str, tenant: str, subjects: list[str]) -> None:
    dynamodb = aws_client("dynamodb", endpoint_url=moto_endpoint, region=STUB_REGION)
    for subject in subjects:
        item = {**_history_item(tenant, expires_at=int(time.time()) - 1), "subject": subject}
        item["sk"] = f"HIST#{subject}"
        dynamodb.put_item(TableName=PREFERENCES.local_table_name(), Item=to_dynamo(item))


def test_delivered_records_are_ttl_removals_in_the_aws_shape(
    stub_sweeper: tuple[TtlSweeper, Recorder], moto_endpoint: str
) -> None:
    sweeper, recorder = stub_sweeper
    _put_expired(moto_endpoint, f"t-{uuid.uuid4().hex[:8]}", ["a"])

    report = sweeper.sweep()

    assert report.delivered == 1
    ((record,),) = recorder.batches
    sample = sample_event("dynamodb_stream_ttl_remove")["Records"][0]
    assert set(record) == set(sample)
    assert set(record["dynamodb"]) == set(sample["dynamodb"])
    assert matches(TTL_REMOVAL_PATTERN, record)
    assert record["awsRegion"] == STUB_REGION
    assert record["eventSourceARN"].startswith(f"arn:aws:dynamodb:{STUB_REGION}:")
    assert f":table/{PREFERENCES.local_table_name()}/stream/" in record["eventSourceARN"]
    assert record["dynamodb"]["StreamViewType"] == PREFERENCES.stream
    assert set(record["dynamodb"]["Keys"]) == {"pk", "sk"}


def test_records_reported_as_failed_come_again_on_the_next_sweep(
    stub_sweeper: tuple[TtlSweeper, Recorder], moto_endpoint: str
) -> None:
    sweeper, recorder = stub_sweeper
    recorder.fail_subjects = {"b"}
    _put_expired(moto_endpoint, f"t-{uuid.uuid4().hex[:8]}", ["a", "b", "c"])

    first = sweeper.sweep()
    recorder.fail_subjects = set()
    second = sweeper.sweep()

    subjects = [[r["dynamodb"]["OldImage"]["subject"]["S"] for r in batch] for batch in recorder.batches]
    assert sorted(subjects[0]) == ["a", "b", "c"]
    failed_at = subjects[0].index("b")
    # Lambda resumes from the first failed record: it and the ones after it come again.
    assert subjects[1] == subjects[0][failed_at:]
    assert (first.delivered, first.retrying) == (failed_at, 3 - failed_at)
    assert (second.delivered, second.retrying, second.expired_total) == (3 - failed_at, 0, 0)
    assert recorder.batches[1][0]["eventID"] == recorder.batches[0][failed_at]["eventID"]


def test_a_batch_that_keeps_failing_goes_to_the_dead_letters(
    stub_sweeper: tuple[TtlSweeper, Recorder], moto_endpoint: str
) -> None:
    sweeper, recorder = stub_sweeper
    recorder.crash = True
    _put_expired(moto_endpoint, f"t-{uuid.uuid4().hex[:8]}", ["a"])
    source = next(s for s in ARCHIVER.stream_sources if s.store == "preferences")

    reports = [sweeper.sweep() for _ in range(source.max_retries + 1)]

    assert len(recorder.batches) == source.max_retries + 1  # the first attempt and every retry
    assert [r.retrying for r in reports[:-1]] == [1] * source.max_retries
    assert reports[-1].dead_lettered == 1
    (dead,) = sweeper.dead_letters
    assert (dead.function, dead.store, dead.region) == (ARCHIVER.name, "preferences", STUB_REGION)
    assert sweeper.sweep().delivered == 0
    assert len(recorder.batches) == source.max_retries + 1
