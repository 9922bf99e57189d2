"""gui_indexer's batch (gui_indexer.batch.IndexBatches) on fakes: artifact events applied per tenant,
poison records quarantined raw with their reason (issue 12, #14), a failed quarantine or a failed
tenant reported as batch item failures. Records are built from the Kinesis and EventBridge samples
in events/aws/."""

from __future__ import annotations

import base64
import copy
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gui_core.tenancy import Tenant
from gui_indexer.batch import IndexBatches
from gui_indexer.indexer import Applied, ArtifactEvent
from local.apigw import sample_event
from tests.events import kinesis_record
from tests.fakes import MemoryQuarantine

KINESIS = kinesis_record()
PUBLISHED = sample_event("eventbridge_artifact_published")
DEPRECATED = sample_event("eventbridge_artifact_deprecated")
REGION = "eu-west-1"
TENANTS = {
    "acme": Tenant(id="acme", name="Acme", home_region=REGION),
    "beta": Tenant(id="beta", name="Beta", home_region=REGION),
    "globex": Tenant(id="globex", name="Globex", home_region="us-east-1"),
}


class Tenants:
    def get(self, tenant_id: str) -> Tenant | None:
        return TENANTS.get(tenant_id)


class Indexes:
    """Records what each tenant's index was given; `failing` tenants raise."""

    def __init__(self) -> None:
        self.applied: dict[str, list[ArtifactEvent]] = {}
        self.failing: set[str] = set()

    def apply(self, tenant: str, events: Sequence[ArtifactEvent]) -> Applied:
        if tenant in self.failing:
            raise ConnectionError("S3 is unreachable")
        self.applied.setdefault(tenant, []).extend(events)
        return Applied(tenant, applied=len(events), skipped=Counter(), version=1, documents=len(events))


def envelope(base: Mapping[str, Any], **detail: Any) -> dict[str, Any]:
    found = copy.deepcopy(dict(base))
    found["detail"].update(detail)
    return found


def record(data: Mapping[str, Any] | bytes, sequence: int, *, key: str = "acme") -> dict[str, Any]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    found: dict[str, Any] = copy.deepcopy(KINESIS)
    found["kinesis"].update(
        data=base64.b64encode(raw).decode(), sequenceNumber=str(sequence), partitionKey=key
    )
    found["eventID"] = f"shardId-000000000000:{sequence}"
    return found


@pytest.fixture
def quarantine() -> MemoryQuarantine:
    return MemoryQuarantine()


@pytest.fixture
def indexes() -> Indexes:
    return Indexes()


@pytest.fixture
def batches(quarantine: MemoryQuarantine, indexes: Indexes) -> IndexBatches:
    return IndexBatches(region=REGION, tenants=Tenants(), indexes=indexes, quarantine=quarantine)


POISON: dict[str, tuple[Any, str, str]] = {
    # reason: (the record's data or envelope, its partition key, the count it is kept under)
    "undecodable": (b"\x00\x01 not json", "acme", "IndexEventsInvalid"),
    "unknown_schema_version": (envelope(PUBLISHED, schema_version="7"), "acme", "IndexEventsInvalid"),
    "invalid": (envelope(PUBLISHED, version="third"), "acme", "IndexEventsInvalid"),
    "unknown_tenant": (envelope(PUBLISHED, tenant="nobody"), "nobody", "IndexEventsUnknownTenant"),
    "wrong_region": (envelope(DEPRECATED, tenant="globex"), "globex", "IndexEventsOtherRegion"),
}


@pytest.mark.parametrize("reason", sorted(POISON))
def test_a_poison_record_is_quarantined_raw_with_its_reason(
    batches: IndexBatches, quarantine: MemoryQuarantine, indexes: Indexes, reason: str
) -> None:
    data, key, metric = POISON[reason]
    poison = record(data, 11, key=key)
    good = record(PUBLISHED, 12)

    result = batches.handle([poison, good])

    assert result.response() == {"batchItemFailures": []}
    (kept,) = quarantine.kept
    assert kept.record == poison  # as Lambda gave it: base64 data, key, sequence number, event id
    assert kept.reason == reason
    assert kept.error
    assert [e.event_id for e in indexes.applied["acme"]] == [PUBLISHED["detail"]["event_id"]]
    assert result.counts[metric] == 1
    assert result.counts["RecordsQuarantined"] == 1


def test_only_the_poison_record_of_a_batch_is_quarantined(
    batches: IndexBatches, quarantine: MemoryQuarantine, indexes: Indexes
) -> None:
    """Good records are applied and other kinds skipped (IndexEventsIgnored): neither is kept."""
    not_an_artifact = sample_event("eventbridge_job_requested")
    unknown_kind = {**PUBLISHED, "detail-type": "WeatherChanged"}
    poison = record(envelope(PUBLISHED, schema_version="7"), 5)
    result = batches.handle(
        [
            record(PUBLISHED, 1),
            record(not_an_artifact, 2),
            record(unknown_kind, 3),
            record(DEPRECATED, 4),
            poison,
        ]
    )
    assert quarantine.reasons() == [("5", "unknown_schema_version")]
    assert result.counts["IndexEventsIgnored"] == 2
    assert result.counts["IndexEventsApplied"] == 2
    assert result.counts["RecordsQuarantined"] == 1
    assert len(indexes.applied["acme"]) == 2


def test_a_record_whose_quarantine_fails_is_reported_failed(
    batches: IndexBatches, quarantine: MemoryQuarantine, indexes: Indexes
) -> None:
    quarantine.unreachable.add("nobody")
    poison = record(envelope(PUBLISHED, tenant="nobody"), 21, key="nobody")
    result = batches.handle([record(PUBLISHED, 20), poison, record(DEPRECATED, 22)])
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "21"}]}
    assert quarantine.kept == []
    assert result.counts["QuarantineFailures"] == 1
    assert "IndexEventsUnknownTenant" not in result.counts
    assert len(indexes.applied["acme"]) == 2  # the tenants' events went on

    quarantine.unreachable.clear()  # Lambda delivers it again: now it is kept
    assert batches.handle([poison]).response() == {"batchItemFailures": []}
    assert quarantine.reasons() == [("21", "unknown_tenant")]


def test_a_failing_tenant_fails_its_records_only(batches: IndexBatches, indexes: Indexes) -> None:
    indexes.failing.add("beta")
    result = batches.handle(
        [
            record(PUBLISHED, 31),
            record(envelope(PUBLISHED, tenant="beta"), 32, key="beta"),
            record(DEPRECATED, 33),
        ]
    )
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "32"}]}
    assert result.counts["IndexTenantFailures"] == 1
    assert [a.tenant for a in result.published] == ["acme"]
