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
from gui_core.quarantine import PoisonRecord, Quarantine, keep_counted
from gui_core.tenancy import TenantLookup
from gui_indexer.indexer import Applied, ArtifactEvent

logger = logging.getLogger("gui_indexer")


class Indexes(Protocol):
    """What a batch needs of `gui_indexer.indexer.TenantIndexes`."""

    def apply(self, tenant: str, events: Sequence[ArtifactEvent]) -> Applied: ...


@dataclass
class BatchResult:
    counts: Counter[str] = field(default_factory=Counter)
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
                counts["IndexEventsIgnored"] += 1
                continue
            by_tenant[model.tenant].append((sequence, model))
        for tenant, items in by_tenant.items():
            try:
                applied = self._indexes.apply(tenant, [model for _, model in items])
            except Exception:
                logger.exception("the index of a tenant could not be updated", extra={"tenant": tenant})
                counts["IndexTenantFailures"] += 1
                result.failed += [sequence for sequence, _ in items]
                continue
            counts["IndexEventsApplied"] += applied.applied
            counts["IndexEventsSkipped"] += sum(applied.skipped.values())
            if applied.version is not None:
                counts["IndexVersionsPublished"] += 1
                result.published.append(applied)
        return result

    def _event(self, kinesis: Mapping[str, Any]) -> ArtifactEvent | None:
        """The record's artifact event; None for another kind; PoisonRecord with the reason."""
        try:
            envelope = domain_events.kinesis_envelope(kinesis)
        except ValueError as exc:
            raise PoisonRecord("undecodable", "IndexEventsInvalid", str(exc)) from exc
        try:
            model = domain_events.parse(str(envelope["detail-type"]), envelope.get("detail") or {})
        except UnknownKind:
            return None
        except UnknownSchemaVersion as exc:
            raise PoisonRecord("unknown_schema_version", "IndexEventsInvalid", str(exc)) from exc
        except InvalidEvent as exc:
            raise PoisonRecord("invalid", "IndexEventsInvalid", str(exc)) from exc
        if not isinstance(model, ArtifactPublished | ArtifactDeprecated):
            return None
        tenant = self._tenants.get(model.tenant)
        if tenant is None:
            raise PoisonRecord(
                "unknown_tenant", "IndexEventsUnknownTenant", f"tenant {model.tenant} is unknown here"
            )
        if tenant.home_region != self.region:
            raise PoisonRecord(
                "wrong_region",
                "IndexEventsOtherRegion",
                f"tenant {model.tenant} is homed in {tenant.home_region}, not {self.region}",
            )
        return model
