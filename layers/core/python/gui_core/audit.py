"""Audit trail: one append-only record per mutation, successful or not."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Protocol

from gui_core.dynamo import Table, item_absent


@dataclass(frozen=True)
class AuditRecord:
    tenant: str
    actor: str
    endpoint: str  # the route template, e.g. /service/gui/preferences/views/{view_id}
    method: str
    path: str
    payload_sha256: str
    status: int
    latency_ms: float
    request_id: str
    trace_id: str | None
    at: str  # ISO 8601 UTC with microseconds
    code: str | None = None  # the problem code of a refused mutation


class AuditSink(Protocol):
    def append(self, record: AuditRecord) -> None: ...


class DynamoAuditSink:
    """Writes each record once: the put is conditional, so a retry never overwrites a record."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def append(self, record: AuditRecord) -> None:
        item = {
            "pk": record.tenant,
            "sk": f"{record.at}#{record.request_id}",
            "tenant_actor": f"{record.tenant}#{record.actor}",
            **asdict(record),
        }
        self._table.put(item, condition=item_absent())


def payload_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
