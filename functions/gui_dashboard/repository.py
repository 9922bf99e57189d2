"""Reads of the stores the dashboard aggregates, and the metrics cache table.

Jobs (`JOB#<id>`) and inbox items (`NOTE#n<id>`) have ids that start with their creation time in
milliseconds (12 hex digits), so one key-range query per store reads the range and its previous
period. Artifacts (`ART#<id>`) are read whole: their counts are of what exists at the end of a range.
Each store is read up to `READ_LIMIT` items; beyond, answers say `complete: false`. Records are
read defensively: a missing or odd field makes a record count less, never fail the answer.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any

from gui_core.dynamo import Condition, ConditionFailed, Table, read_up_to
from gui_dashboard.cache import AnyKey, PresetKey
from gui_dashboard.logic import SourceRecords, TimeRange

QUERY_PAGE = 1000
READ_LIMIT = 20_000


def _millis_hex(at_ms: int) -> str:
    return f"{max(at_ms, 0):012x}"


class StoreSources:
    """The jobs, inbox and artifacts stores, read-only."""

    def __init__(self, *, jobs: Table, inbox: Table, artifacts: Table) -> None:
        self._jobs, self._inbox, self._artifacts = jobs, inbox, artifacts

    def records(self, tenant: str, span: TimeRange) -> SourceRecords:
        """Jobs and inbox items created in `span` (callers pass the range with its previous period),
        and every artifact of the tenant."""
        lo, hi = int(span.start.timestamp() * 1000), int(span.end.timestamp() * 1000)
        jobs, jobs_complete = self._read(
            self._jobs, tenant, between=(f"JOB#{_millis_hex(lo)}", f"JOB#{_millis_hex(hi)}~")
        )
        alerts, alerts_complete = self._read(
            self._inbox, tenant, between=(f"NOTE#n{_millis_hex(lo)}", f"NOTE#n{_millis_hex(hi)}~")
        )
        artifacts, artifacts_complete = self._read(self._artifacts, tenant, prefix="ART#")
        return SourceRecords(
            jobs=jobs,
            alerts=alerts,
            artifacts=artifacts,
            complete=jobs_complete and alerts_complete and artifacts_complete,
        )

    @staticmethod
    def _read(
        table: Table, tenant: str, *, between: tuple[str, str] | None = None, prefix: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        read = read_up_to(
            table,
            ("pk", tenant),
            limit=READ_LIMIT,
            chunk=QUERY_PAGE,
            sort_prefix=("sk", prefix) if prefix else None,
            sort_between=("sk", *between) if between else None,
        )
        return read.items, read.complete


class MetricsCacheTable:
    """The metrics store as the cache: items as `gui_dashboard.cache` describes them, and the
    recompute leases beside the preset items (a conditional put: absent or lapsed)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, key: AnyKey, *, consistent: bool = False) -> dict[str, Any] | None:
        return self._table.get(key.item_key(), consistent=consistent)

    def put(self, item: dict[str, Any]) -> None:
        self._table.put(item)

    def acquire(self, key: PresetKey, owner: str, *, now: datetime, lease_s: int) -> bool:
        at = int(now.timestamp())
        lapsed = Condition(
            "attribute_not_exists(#k) OR #u < :now",
            names={"#k": "pk", "#u": "lease_until"},
            values={":now": at},
        )
        item = {
            **key.lease_key(),
            "kind": "metrics_lease",
            "owner": owner,
            "lease_until": at + lease_s,
            "expires_at": at + lease_s + 3600,
        }
        try:
            self._table.put(item, condition=lapsed)
        except ConditionFailed:
            return False
        return True

    def release(self, key: PresetKey, owner: str) -> None:
        mine = Condition("#o = :o", names={"#o": "owner"}, values={":o": owner})
        with contextlib.suppress(ConditionFailed):  # lapsed and taken over by another caller: theirs now
            self._table.delete(key.lease_key(), condition=mine)


class ContainerLeases:
    """Leases within one container (a test's in-memory cache, or in front of the store's): one
    recompute of a key at a time among the container's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], tuple[str, float]] = {}

    def acquire(self, key: PresetKey, owner: str, *, now: datetime, lease_s: int) -> bool:
        at = now.timestamp()
        with self._lock:
            held = self._held.get((key.tenant, key.sk))
            if held is not None and held[1] >= at:
                return False
            self._held[(key.tenant, key.sk)] = (owner, at + lease_s)
            return True

    def release(self, key: PresetKey, owner: str) -> None:
        with self._lock:
            if self._held.get((key.tenant, key.sk), ("", 0.0))[0] == owner:
                del self._held[(key.tenant, key.sk)]
