"""One invocation of the indexer: a Kinesis batch of artifact events (the mapping's filter lets only
those through) applied per tenant, one new index version per tenant and batch.

Per record: decode the EventBridge envelope and parse the event. A kind other than an artifact
event is skipped (`IndexEventsIgnored`). A poison record, which no redelivery can cure, is counted
and quarantined (`gui_core.quarantine`, with its reason): data that is not an envelope
(`IndexEventsInvalid`), an unknown schema version or an invalid detail (`IndexEventsInvalid`), a
tenant unknown here (`IndexEventsUnknownTenant`) or homed in another region
(`IndexEventsOtherRegion`). A record whose quarantine fails is reported failed: Lambda delivers it
again.

A tenant whose index could not be updated reports its records as failed; Lambda then delivers the
batch again from the first of them, and the tenants already done see their events again, which
change nothing (see gui_indexer.indexer). One tenant's failure does not stop the others.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gui_core import domain_events
from gui_core.domain_events import (
    ArtifactDeprecated,
    ArtifactPublished,
    InvalidEvent,
    UnknownKind,
    UnknownSchemaVersion,
)
from gui_core.metric_names import IndexerMetric, MetricName
from gui_core.quarantine import PoisonRecord, Quarantine, keep_counted
from gui_core.tenancy import NotHomedHere, TenantLookup, homed_here
from gui_indexer.indexer import Applied, ArtifactEvent

logger = logging.getLogger("gui_indexer")
# The metric of each residency refusal (gui_core.tenancy.homed_here).
_REFUSED_METRICS = {
    "unknown_tenant": IndexerMetric.EVENTS_UNKNOWN_TENANT,
    "wrong_region": IndexerMetric.EVENTS_OTHER_REGION,
}


class Indexes(Protocol):
    """What a batch needs of `gui_indexer.indexer.TenantIndexes`."""

    def apply(self, tenant: str, events: Sequence[ArtifactEvent]) -> Applied: ...


@dataclass
class BatchResult:
    counts: Counter[MetricName] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)  # sequence numbers
    published: list[Applied] = field(default_factory=list)  # the tenants that got a new version

    def response(self) -> dict[str, list[dict[str, str]]]:
        ordered = sorted(self.failed, key=int)
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in ordered]}


class IndexBatches:
    def __init__(
        self, *, region: str, tenants: TenantLookup, indexes: Indexes, quarantine: Quarantine
    ) -> None:
        self.region = region
        self._tenants = tenants
        self._indexes = indexes
        self._quarantine = quarantine

    def handle(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        result = BatchResult()
        counts = result.counts
        by_tenant: dict[str, list[tuple[str, ArtifactEvent]]] = defaultdict(list)
        for record in records:
            kinesis: Mapping[str, Any] = record.get("kinesis") or {}
            sequence = str(kinesis.get("sequenceNumber"))
            try:
                model = self._event(kinesis)
            except PoisonRecord as poison:
                if not keep_counted(self._quarantine, record, poison, counts):
                    result.failed.append(sequence)
                continue
            if model is None:
                counts[IndexerMetric.EVENTS_IGNORED] += 1
                continue
            by_tenant[model.tenant].append((sequence, model))
        for tenant, items in by_tenant.items():
            try:
                applied = self._indexes.apply(tenant, [model for _, model in items])
            except Exception:
                logger.exception("the index of a tenant could not be updated", extra={"tenant": tenant})
                counts[IndexerMetric.TENANT_FAILURES] += 1
                result.failed += [sequence for sequence, _ in items]
                continue
            counts[IndexerMetric.EVENTS_APPLIED] += applied.applied
            counts[IndexerMetric.EVENTS_SKIPPED] += sum(applied.skipped.values())
            if applied.version is not None:
                counts[IndexerMetric.VERSIONS_PUBLISHED] += 1
                result.published.append(applied)
        return result

    def _event(self, kinesis: Mapping[str, Any]) -> ArtifactEvent | None:
        """The record's artifact event; None for another kind; PoisonRecord with the reason."""
        try:
            envelope = domain_events.kinesis_envelope(kinesis)
        except ValueError as exc:
            raise PoisonRecord("undecodable", IndexerMetric.EVENTS_INVALID, str(exc)) from exc
        try:
            model = domain_events.parse(str(envelope["detail-type"]), envelope.get("detail") or {})
        except UnknownKind:
            return None
        except UnknownSchemaVersion as exc:
            raise PoisonRecord("unknown_schema_version", IndexerMetric.EVENTS_INVALID, str(exc)) from exc
        except InvalidEvent as exc:
            raise PoisonRecord("invalid", IndexerMetric.EVENTS_INVALID, str(exc)) from exc
        if not isinstance(model, ArtifactPublished | ArtifactDeprecated):
            return None
        try:
            homed_here(
                self._tenants,
                model.tenant,
                region=self.region,
                what=f"record {kinesis.get('sequenceNumber')}",
            )
        except NotHomedHere as refused:
            raise PoisonRecord(refused.reason, _REFUSED_METRICS[refused.reason], str(refused)) from refused
        return model
