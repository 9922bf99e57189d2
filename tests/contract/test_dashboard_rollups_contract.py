"""The dashboard's rollups in the metrics store of the local runtime (moto's server), written as the
stream consumer writes them (`gui_dashboard.rollup_events.apply_records`, stream-shaped records):
exact under racing writers, redelivered and out-of-order changes."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.dynamo import Table, to_dynamo
from gui_dashboard import logic
from gui_dashboard.logic import SourceRecords
from gui_dashboard.rollup_events import apply_records
from gui_dashboard.rollup_store import RollupStore
from gui_dashboard.rollups import align, contribution
from local.runtime import LocalBackend
from stacks.manifest import DASHBOARD_FUNCTION, DASHBOARD_ROLLUPS_FUNCTION
from tests.contract.conftest import aws, group_backend, table

_numbers = itertools.count()
JOBS_ARN = f"arn:aws:dynamodb:eu-west-1:000000000000:table/{table('jobs')}/stream/2026-12-07T00:00:00.000"
STORES = {table("jobs"): "jobs", table("inbox"): "inbox", table("artifacts"): "artifacts"}
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def rollup_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, DASHBOARD_FUNCTION.name) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(rollup_backend: LocalBackend) -> Any:
    return aws(rollup_backend, "dynamodb")


def _record(job: dict[str, Any] | None, sk: str, tenant: str, sequence: int) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Keys": to_dynamo({"pk": tenant, "sk": sk}),
        "SequenceNumber": str(sequence),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if job is not None:
        change["NewImage"] = to_dynamo(job)
    return {
        "eventID": f"e{sequence}",
        "eventName": "REMOVE" if job is None else "MODIFY",
        "eventSourceARN": JOBS_ARN,
        "dynamodb": change,
    }


def _job(tenant: str, n: int, status: str, hours_ago: float) -> dict[str, Any]:
    requested = NOW - timedelta(hours=hours_ago)
    job = {
        "pk": tenant,
        "sk": f"JOB#{n:04d}",
        "verb": "mapping",
        "status": status,
        "requested_at": requested.isoformat(timespec="milliseconds"),
    }
    if status in {"succeeded", "failed"}:
        job["started_at"] = job["requested_at"]
        job["finished_at"] = (requested + timedelta(minutes=10 + n % 7)).isoformat(timespec="milliseconds")
    return job


def _dashboard_equals_records(store: RollupStore, tenant: str, jobs: list[dict[str, Any]]) -> None:
    for preset in logic.PRESETS:
        period = align(logic.resolve_range(start=None, end=None, preset=preset, now=NOW))
        expected = logic.dashboard_document(
            period, SourceRecords(jobs=jobs, alerts=[], artifacts=[]), as_of=NOW
        )
        got = store.dashboard(tenant, period, now=NOW)
        mapping = next(m for m in got["modules"] if m["module"] == "mapping")
        wanted = next(m for m in expected["modules"] if m["module"] == "mapping")
        got_values = {f["name"]: f["value"] for f in mapping["figures"]}
        wanted_values = {f["name"]: f["value"] for f in wanted["figures"]}
        assert {k for k, v in got_values.items() if v is None} == {
            k for k, v in wanted_values.items() if v is None
        }
        assert {k: v for k, v in got_values.items() if v is not None} == pytest.approx(
            {k: v for k, v in wanted_values.items() if v is not None}, rel=0.01
        )
        assert mapping["breakdown"] == wanted["breakdown"]


def test_racing_writers_of_different_records_lose_no_count(ddb: Any) -> None:
    tenant = f"roll-{next(_numbers)}"
    store = RollupStore(Table(table("metrics"), ddb))
    jobs = [
        _job(tenant, n, random.Random(n).choice(["succeeded", "failed", "running"]), n % 30)
        for n in range(48)
    ]
    records = [_record(job, job["sk"], tenant, 100 + n) for n, job in enumerate(jobs)]
    with ThreadPoolExecutor(8) as pool:  # 8 writers, 6 records each, all on the same hour buckets
        failures = list(pool.map(lambda i: apply_records(records[i::8], store, STORES), range(8)))
    assert failures == [[]] * 8
    _dashboard_equals_records(store, tenant, jobs)


def test_changes_of_one_record_redelivered_and_racing_end_at_its_last_image(ddb: Any) -> None:
    tenant = f"roll-{next(_numbers)}"
    store = RollupStore(Table(table("metrics"), ddb))
    sk = "JOB#0001"
    images = [
        _job(tenant, 1, "queued", 5),
        _job(tenant, 1, "running", 5),
        _job(tenant, 1, "failed", 5),
        _job(tenant, 1, "succeeded", 5),  # a retry's attempt ended
    ]
    records = [_record(image, sk, tenant, 500 + n) for n, image in enumerate(images)]
    deliveries = records * 4  # each change 4 times, in any order, 8 writers at once
    random.Random(7).shuffle(deliveries)
    start = threading.Barrier(8)

    def deliver(i: int) -> list[dict[str, str]]:
        start.wait()
        return apply_records(deliveries[i::8], store, STORES)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(deliver, range(8))) == [[]] * 8
    _dashboard_equals_records(store, tenant, [images[-1]])
    # A removal (TTL) after them takes the job out; its redelivery and a late change do nothing.
    removal = _record(None, sk, tenant, 600)
    assert apply_records([removal, removal, records[1]], store, STORES) == []
    _dashboard_equals_records(store, tenant, [])
    item = ddb.get_item(TableName=table("metrics"), Key=to_dynamo({"pk": tenant, "sk": f"ROLLREC#jobs#{sk}"}))
    assert item["Item"]["contribution"]["S"] == "{}"
    assert contribution("jobs", None) == {}


def test_items_of_other_kinds_and_other_tables_are_passed_by(ddb: Any) -> None:
    tenant = f"roll-{next(_numbers)}"
    store = RollupStore(Table(table("metrics"), ddb))
    idempotency = _record({"pk": tenant, "sk": "IDEM#x", "verb": "mapping"}, "IDEM#x", tenant, 1)
    elsewhere = _record(_job(tenant, 2, "running", 1), "JOB#0002", tenant, 2) | {
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:000000000000:table/other/stream/x"
    }
    assert apply_records([idempotency, elsewhere], store, STORES) == []
    found = ddb.query(
        TableName=table("metrics"),
        KeyConditionExpression="pk = :t",
        ExpressionAttributeValues={":t": {"S": tenant}},
    )
    assert found["Items"] == []


# -- the consumer in its container, fed by the local runtime's stream reader ------------------------


@pytest.fixture(scope="module")
def streaming_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with group_backend(tmp_path_factory, DASHBOARD_FUNCTION.name, DASHBOARD_ROLLUPS_FUNCTION.name) as running:
        yield running


def test_the_consumer_keeps_the_rollups_as_the_stores_change(streaming_backend: LocalBackend) -> None:
    """Jobs, inbox items and artifacts written, changed and deleted in their stores reach
    gui_dashboard_rollups through the stores' streams; its rollups answer as the records do."""
    client = aws(streaming_backend, "dynamodb")
    tenant = f"roll-{next(_numbers)}"
    jobs = [_job(tenant, n, ("succeeded", "failed", "running")[n % 3], n % 40) for n in range(30)]
    alerts = [
        {
            "pk": tenant,
            "sk": f"NOTE#n{n:04d}",
            "category": "readiness",
            "severity": "critical",
            "status": "unread",
            "created_at": (NOW - timedelta(hours=n)).isoformat(),
        }
        for n in range(10)
    ]
    artifacts = [
        {
            "pk": tenant,
            "sk": f"ART#a{n}",
            "kind": "mapping",
            "governance_status": "draft",
            "created_at": (NOW - timedelta(days=n * 3)).isoformat(timespec="milliseconds"),
        }
        for n in range(8)
    ]
    for name, items in (("jobs", jobs), ("inbox", alerts), ("artifacts", artifacts)):
        for item in items:
            client.put_item(TableName=table(name), Item=to_dynamo(item))
    jobs[2] = jobs[2] | {"status": "cancelled"}  # a job cancelled, an alert read, one deleted
    client.put_item(TableName=table("jobs"), Item=to_dynamo(jobs[2]))
    alerts[0] = alerts[0] | {"status": "acknowledged"}
    client.put_item(TableName=table("inbox"), Item=to_dynamo(alerts[0]))
    client.delete_item(TableName=table("inbox"), Key=to_dynamo({"pk": tenant, "sk": alerts[1]["sk"]}))
    del alerts[1]
    artifacts[0] = artifacts[0] | {"governance_status": "approved"}
    client.put_item(TableName=table("artifacts"), Item=to_dynamo(artifacts[0]))
    assert streaming_backend.pump_table_streams() >= 48 + 4
    store = RollupStore(Table(table("metrics"), client))
    records = SourceRecords(jobs=jobs, alerts=alerts, artifacts=artifacts)
    for preset in logic.PRESETS:
        period = align(logic.resolve_range(start=None, end=None, preset=preset, now=NOW))
        expected = logic.dashboard_document(period, records, as_of=NOW)
        got = store.dashboard(tenant, period, now=NOW)
        for wanted, found in zip(expected["modules"], got["modules"], strict=True):
            values = {
                f["name"]: f["value"] for f in found["figures"] if not f["name"].startswith("duration_p")
            }
            assert values == {
                f["name"]: f["value"] for f in wanted["figures"] if not f["name"].startswith("duration_p")
            }
            assert found["breakdown"] == wanted["breakdown"]
    assert streaming_backend.pump_table_streams() == 0  # nothing delivered twice
