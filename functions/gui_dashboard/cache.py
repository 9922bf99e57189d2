"""The metrics cache: key and item format shared by every writer (the dashboard's read-through on a
miss, and the telemetry aggregation writing DuckDB aggregates ahead of time).

One item per answer, in the `metrics` store:
  pk           the tenant
  sk           CACHE#<kind>#<module>#<from>#<to>#<bucket>
                 kind    `dashboard` (module `all`, bucket `-`), `series` (one module, a bucket) or
                         `telemetry` (module `all`, bucket `-`): the aggregate gui_telemetry computes
                         ahead of time for a preset range ending when it runs
                 from/to the range as `iso()` spells it: UTC, seconds, `Z` (2026-11-27T19:35:00Z);
                         for `telemetry`, the preset (`24h`, `7d`, `30d`) and `now`
                         (CACHE#telemetry#all#7d#now#-)
  kind         `metrics_cache`
  schema       DOCUMENT_SCHEMA: the version of the document's format
  document     the answer as JSON text, without `source` (the reader says `cache`); it carries
               `as_of`, the time its figures were computed
  producer     who wrote it (`dashboard`, `telemetry`)
  computed_at  = document.as_of
  expires_at   epoch seconds (the store's TTL attribute)
An item past `expires_at` is a miss even before DynamoDB's lazy TTL deletes it, and so is an item
of another schema version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gui_dashboard.logic import TimeRange, iso

CACHE_PREFIX = "CACHE#"
DOCUMENT_SCHEMA = 1
DASHBOARD_KIND = "dashboard"
SERIES_KIND = "series"
TELEMETRY_KIND = "telemetry"
ALL_MODULES = "all"
NO_BUCKET = "-"
ENDS_NOW = "now"
TELEMETRY_PRODUCER = "telemetry"


@dataclass(frozen=True)
class CacheKey:
    tenant: str
    kind: str
    module: str
    time_range: TimeRange
    bucket: str

    @property
    def sk(self) -> str:
        return "#".join(
            (
                CACHE_PREFIX.rstrip("#"),
                self.kind,
                self.module,
                iso(self.time_range.start),
                iso(self.time_range.end),
                self.bucket,
            )
        )

    def item_key(self) -> dict[str, str]:
        return {"pk": self.tenant, "sk": self.sk}


@dataclass(frozen=True)
class TelemetryKey:
    """The telemetry aggregate of a preset range that ends when the aggregation ran (its document's
    `range` says which one): one item per tenant and preset, replaced on every run."""

    tenant: str
    preset: str

    @property
    def sk(self) -> str:
        return "#".join(
            (CACHE_PREFIX.rstrip("#"), TELEMETRY_KIND, ALL_MODULES, self.preset, ENDS_NOW, NO_BUCKET)
        )

    def item_key(self) -> dict[str, str]:
        return {"pk": self.tenant, "sk": self.sk}


AnyKey = CacheKey | TelemetryKey


def telemetry_key(tenant: str, preset: str) -> TelemetryKey:
    return TelemetryKey(tenant, preset)


def dashboard_key(tenant: str, time_range: TimeRange) -> CacheKey:
    return CacheKey(tenant, DASHBOARD_KIND, ALL_MODULES, time_range, NO_BUCKET)


def series_key(tenant: str, module: str, time_range: TimeRange, bucket: str) -> CacheKey:
    return CacheKey(tenant, SERIES_KIND, module, time_range, bucket)


def ttl_s(time_range: TimeRange, now: datetime, *, open_s: int, closed_s: int) -> int:
    """Short for a range that may still receive records, longer for a closed past one."""
    return open_s if time_range.is_open(now) else closed_s


def cache_item(
    key: AnyKey, document: dict[str, Any], *, now: datetime, ttl: int, producer: str
) -> dict[str, Any]:
    return {
        **key.item_key(),
        "kind": "metrics_cache",
        "schema": DOCUMENT_SCHEMA,
        "document": json.dumps(document, separators=(",", ":"), sort_keys=True),
        "producer": producer,
        "computed_at": document.get("as_of", iso(now)),
        "expires_at": int(now.timestamp()) + ttl,
    }


def cached_document(item: dict[str, Any] | None, *, now: datetime) -> dict[str, Any] | None:
    """The document of a live item of this schema; None for a miss."""
    if item is None or int(item.get("schema", 0)) != DOCUMENT_SCHEMA:
        return None
    if int(item.get("expires_at", 0)) <= int(now.timestamp()):
        return None
    try:
        document = json.loads(str(item["document"]))
    except (KeyError, ValueError):
        return None
    return document if isinstance(document, dict) else None


class CacheStore(Protocol):
    def get(self, key: AnyKey) -> dict[str, Any] | None: ...

    def put(self, item: dict[str, Any]) -> None: ...
