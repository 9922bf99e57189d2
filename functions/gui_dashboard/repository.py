"""Reads of the stores the dashboard aggregates, and the metrics cache table.

Jobs (`JOB#<id>`) and inbox items (`NOTE#n<id>`) have ids that start with their creation time in
milliseconds (12 hex digits), so one key-range query per store reads the range and its previous
period. Artifacts (`ART#<id>`) are read whole: their counts are of what exists at the end of a range.
Each store is read up to `READ_LIMIT` items; beyond, answers say `complete: false`. Records are
read defensively: a missing or odd field makes a record count less, never fail the answer.
"""

from __future__ import annotations

from typing import Any

from gui_core.dynamo import Table
from gui_dashboard.cache import AnyKey
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
        items: list[dict[str, Any]] = []
        start_key: dict[str, Any] | None = None
        while True:
            page = table.query(
                ("pk", tenant),
                sort_prefix=("sk", prefix) if prefix else None,
                sort_between=("sk", *between) if between else None,
                limit=min(QUERY_PAGE, READ_LIMIT - len(items)),
                start_key=start_key,
            )
            items.extend(page.items)
            if page.last_key is None:
                return items, True
            if len(items) >= READ_LIMIT:
                return items, False
            start_key = page.last_key


class MetricsCacheTable:
    """The metrics store as the cache: items as `gui_dashboard.cache` describes them."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, key: AnyKey) -> dict[str, Any] | None:
        return self._table.get(key.item_key(), consistent=False)

    def put(self, item: dict[str, Any]) -> None:
        self._table.put(item)
