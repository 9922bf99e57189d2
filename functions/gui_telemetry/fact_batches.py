"""The facts writer's batches: a Kinesis batch of the `gui-events` stream becomes one Parquet file
per tenant and UTC day (built once per container by `gui_telemetry.gui_telemetry_facts`).

Per record: decode the EventBridge envelope, turn it into facts (`gui_telemetry.facts`). Kinds
telemetry does not count and events without facts are counted and skipped. Poison records, which
no redelivery can cure, are counted and quarantined (`gui_core.quarantine`: the raw record and the
reason, for an operator to inspect and replay): undecodable data, an unknown schema version, an
invalid event, a tenant unknown here or homed in another region (nothing of it is written here: its
data stays home). A record whose quarantine fails fails like a failed write, below. The facts are
grouped by (tenant, day) and each group written as one object (`gui_telemetry.store`).

A group whose write fails (or a record whose tenant cannot be read) fails its records: Lambda
retries a Kinesis batch from the lowest failed sequence number, so the answer lists every record
from the first failed one on (batch order is sequence order), and the groups that start after it
are not written now. The groups written before are written again on the retry, at the same keys
when the batch starts at the same record, and de-duplicated by the aggregation otherwise.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from gui_core.domain_events import kinesis_envelope
from gui_core.metric_names import MetricName, TelemetryFactsMetric
from gui_core.quarantine import PoisonRecord, Quarantine, Reason, keep_counted
from gui_core.tenancy import NotHomedHere, TenantLookup, homed_here
from gui_telemetry.facts import Fact, extract
from gui_telemetry.store import batch_id, utc_day

_log = logging.getLogger("gui_telemetry")

_DROPPED_METRICS = {
    "invalid": TelemetryFactsMetric.INVALID_EVENT,
    "unknown_schema_version": TelemetryFactsMetric.UNKNOWN_SCHEMA_VERSION,
    "not_for_telemetry": TelemetryFactsMetric.NOT_FOR_TELEMETRY,
    "no_facts": TelemetryFactsMetric.EVENTS_WITHOUT_FACTS,
}


class Writer(Protocol):
    def write(self, tenant: str, day: date, batch: str, facts: Sequence[Fact]) -> str: ...


@dataclass
class _Group:
    first: int  # position in the batch of the group's first record
    batch: str  # the batch id of its file
    facts: list[Fact] = field(default_factory=list)


@dataclass
class BatchResult:
    counts: Counter[MetricName]
    failed: list[str]  # sequence numbers, in batch order

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed]}


class _TenantUnreadable(Exception):
    """The record's tenant could not be read: the record fails, Lambda delivers it again."""


class FactBatches:
    def __init__(self, *, region: str, tenants: TenantLookup, writer: Writer, quarantine: Quarantine) -> None:
        self.region = region
        self._tenants = tenants
        self._writer = writer
        self._quarantine = quarantine

    def handle(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        counts: Counter[MetricName] = Counter()
        groups: dict[tuple[str, date], _Group] = {}
        failed_at: list[int] = []
        for position, record in enumerate(records):
            counts[TelemetryFactsMetric.RECORDS] += 1
            kinesis = record.get("kinesis") or {}
            sequence_number = str(kinesis.get("sequenceNumber"))
            try:
                admitted = self._admit(kinesis, counts)
            except PoisonRecord as poison:
                if not keep_counted(self._quarantine, record, poison, counts):
                    failed_at.append(position)
                continue
            except _TenantUnreadable as unreadable:
                _log.exception("tenant %s of record %s could not be read", unreadable, sequence_number)
                failed_at.append(position)
                continue
            if admitted is None:
                continue
            tenant_id, facts = admitted
            shard = str(record.get("eventID") or "shard").split(":", 1)[0]
            for fact in facts:
                key = (tenant_id, utc_day(fact.occurred_at))
                group = groups.setdefault(key, _Group(position, batch_id(shard, sequence_number)))
                group.facts.append(fact)
        for (tenant_id, day), group in groups.items():  # in the order of their first records
            if failed_at and group.first > min(failed_at):
                counts[TelemetryFactsMetric.FACT_WRITES_DEFERRED] += (
                    1  # Lambda delivers it again after the failure
                )
                continue
            try:
                self._writer.write(tenant_id, day, group.batch, group.facts)
            except Exception:
                _log.exception("facts of %s on %s could not be written", tenant_id, day)
                counts[TelemetryFactsMetric.FACT_WRITES_FAILED] += 1
                failed_at.append(group.first)
                continue
            counts[TelemetryFactsMetric.FACT_FILES] += 1
            counts[TelemetryFactsMetric.FACTS] += len(group.facts)
        failed: list[str] = []
        if failed_at:
            failed = [str((r.get("kinesis") or {}).get("sequenceNumber")) for r in records[min(failed_at) :]]
            counts[TelemetryFactsMetric.RECORDS_FAILED] += len(failed)
        return BatchResult(counts, failed)

    def _admit(
        self, kinesis: Mapping[str, Any], counts: Counter[MetricName]
    ) -> tuple[str, list[Fact]] | None:
        """The record's tenant and facts; None for a record skipped (counted here); PoisonRecord."""
        try:
            envelope = kinesis_envelope(kinesis)
        except ValueError as exc:
            _log.warning("undecodable record %s: %s", kinesis.get("sequenceNumber"), exc)
            raise PoisonRecord("undecodable", TelemetryFactsMetric.INVALID_EVENT, str(exc)) from exc
        detail = envelope.get("detail")
        extracted = extract(str(envelope.get("detail-type")), detail if isinstance(detail, Mapping) else {})
        if extracted.outcome in ("invalid", "unknown_schema_version"):
            reason: Reason = "invalid" if extracted.outcome == "invalid" else "unknown_schema_version"
            raise PoisonRecord(reason, _DROPPED_METRICS[extracted.outcome], extracted.error)
        if extracted.outcome != "facts":
            counts[_DROPPED_METRICS[extracted.outcome]] += 1
            return None
        tenant_id = str(extracted.tenant)
        try:
            homed_here(
                self._tenants, tenant_id, region=self.region, what=f"record {kinesis.get('sequenceNumber')}"
            )
        except NotHomedHere as refused:
            raise PoisonRecord(
                refused.reason, TelemetryFactsMetric.RESIDENCY_REFUSED, str(refused)
            ) from refused
        except Exception as exc:
            raise _TenantUnreadable(tenant_id) from exc
        return tenant_id, extracted.facts
