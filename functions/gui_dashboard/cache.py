"""The metrics cache: key and item format shared by every writer (the dashboard's read-through on a
miss, and the telemetry aggregation writing DuckDB aggregates ahead of time).

One item per answer, in the `metrics` store:
  pk           the tenant
  sk           CACHE#<kind>#<module>#<from>#<to>#<bucket>
                 kind    `dashboard` (module `all`, bucket `-`), `series` (one module, a bucket) or
                         `telemetry` (module `all`, bucket `-`): the aggregate gui_telemetry computes
                         ahead of time for a preset range ending when it runs
                 from/to the range as `key_time()` spells it: UTC, seconds, `Z` (2026-11-27T19:35:00Z);
                         for a preset range ending now (`telemetry` always, `dashboard` and
                         `series` when asked by preset), the preset (`24h`, `7d`, `30d`) and `now`
                         (CACHE#telemetry#all#7d#now#-, CACHE#dashboard#all#24h#now#-): one stable
                         key per preset, replaced by each recompute; the document's `range` says
                         which range it answers
  kind         `metrics_cache`
  schema       DOCUMENT_SCHEMA: the version of the document's format (its fields)
  encoding     ENCODING (`zlib`): `body` holds the document
  body         the answer as JSON text (UTF-8) compressed by zlib (level `ZLIB_LEVEL`), binary,
               without `source` (the reader says `cache`); it carries `as_of`, the time its figures
               were computed
  document_bytes  the JSON text's length in bytes (what a reader gets back; the telemetry
               aggregation bounds it)
  producer     who wrote it (`dashboard`, `telemetry`)
  computed_at  = document.as_of
  fresh_until  epoch seconds until which the document is fresh (absent: `expires_at`); after it
               and until `expires_at` it is stale: served at once while one caller recomputes
  expires_at   epoch seconds (the store's TTL attribute)
An item past `expires_at` is a miss even before DynamoDB's lazy TTL deletes it, and so is an item
of another schema version or encoding. Items written before the encoding (no `encoding`, the JSON
text in `document`) are read as they are until they expire: the reader checks `expires_at` itself,
and no writer gives more than 25 hours (the settings' bounds; as deployed an hour for a closed
range, 16 minutes for a preset, 15 for a telemetry aggregate), so no migration moves them.
Compressed (JSON of repeated keys), a cached answer is read in one 4 KB unit where its text took two
to four, and the digits that grow with a tenant's figures grow it far less.

Beside each preset item, its recompute lease (`LEASE#<sk of the item>`, kind `metrics_lease`):
`owner` (a random token of the caller recomputing), `lease_until` (epoch seconds; past it, another
caller may take the lease over) and `expires_at`. A caller takes it with a conditional put (absent
or lapsed), so one caller at a time recomputes a key, whatever the number of containers.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gui_core.date_times import iso, parse_time
from gui_dashboard.logic import TimeRange

CACHE_PREFIX = "CACHE#"
LEASE_PREFIX = "LEASE#"
DOCUMENT_SCHEMA = 1
ENCODING = "zlib"
# zlib's default level: a document is written once per recompute, so its compression's CPU is small
# beside the recompute (docs/decision_log.md, "The metrics cache keeps its documents compressed").
ZLIB_LEVEL = 6
DASHBOARD_KIND = "dashboard"
SERIES_KIND = "series"
TELEMETRY_KIND = "telemetry"
ALL_MODULES = "all"
NO_BUCKET = "-"
ENDS_NOW = "now"
TELEMETRY_PRODUCER = "telemetry"


def key_time(at: datetime) -> str:
    """A range's bound as the cache's keys spell it: UTC, seconds, `Z`. Stored keys are spelled so;
    answers spell times with `gui_core.date_times.iso`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
                key_time(self.time_range.start),
                key_time(self.time_range.end),
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


@dataclass(frozen=True)
class PresetKey:
    """A dashboard or series answer of a preset range ending now: one item per tenant, kind,
    module, preset and bucket, replaced by each recompute (its document's `range` says which one)."""

    tenant: str
    kind: str
    module: str
    preset: str
    bucket: str

    @property
    def sk(self) -> str:
        return "#".join(
            (CACHE_PREFIX.rstrip("#"), self.kind, self.module, self.preset, ENDS_NOW, self.bucket)
        )

    def item_key(self) -> dict[str, str]:
        return {"pk": self.tenant, "sk": self.sk}

    def lease_key(self) -> dict[str, str]:
        return {"pk": self.tenant, "sk": LEASE_PREFIX + self.sk}


AnyKey = CacheKey | TelemetryKey | PresetKey


def telemetry_key(tenant: str, preset: str) -> TelemetryKey:
    return TelemetryKey(tenant, preset)


def dashboard_key(tenant: str, time_range: TimeRange) -> CacheKey:
    return CacheKey(tenant, DASHBOARD_KIND, ALL_MODULES, time_range, NO_BUCKET)


def series_key(tenant: str, module: str, time_range: TimeRange, bucket: str) -> CacheKey:
    return CacheKey(tenant, SERIES_KIND, module, time_range, bucket)


def preset_dashboard_key(tenant: str, preset: str) -> PresetKey:
    return PresetKey(tenant, DASHBOARD_KIND, ALL_MODULES, preset, NO_BUCKET)


def preset_series_key(tenant: str, module: str, preset: str, bucket: str) -> PresetKey:
    return PresetKey(tenant, SERIES_KIND, module, preset, bucket)


def ttl_s(time_range: TimeRange, now: datetime, *, open_s: int, closed_s: int) -> int:
    """Short for a range that may still receive records, longer for a closed past one."""
    return open_s if time_range.is_open(now) else closed_s


def cache_item(
    key: AnyKey,
    document: dict[str, Any],
    *,
    now: datetime,
    ttl: int,
    producer: str,
    fresh_s: int | None = None,
) -> dict[str, Any]:
    """The item of `document`, live `ttl` seconds; with `fresh_s`, fresh for that long and stale
    (served while one caller recomputes) for the rest of `ttl`."""
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    item = {
        **key.item_key(),
        "kind": "metrics_cache",
        "schema": DOCUMENT_SCHEMA,
        "encoding": ENCODING,
        "body": zlib.compress(text, ZLIB_LEVEL),
        "document_bytes": len(text),
        "producer": producer,
        "computed_at": document.get("as_of", iso(now)),
        "expires_at": int(now.timestamp()) + ttl,
    }
    if fresh_s is not None:
        item["fresh_until"] = int(now.timestamp()) + min(fresh_s, ttl)
    return item


def document_bytes(item: dict[str, Any]) -> int:
    """The length of an item's document as JSON text, in bytes: what a reader gets back."""
    if "document_bytes" in item:
        return int(item["document_bytes"])
    return len(str(item.get("document", "")).encode())


def stored_bytes(item: dict[str, Any]) -> int:
    """The bytes an item's document takes in the store (compressed, or the older items' text)."""
    if item.get("encoding") == ENCODING:
        return len(bytes(item["body"]))
    return len(str(item.get("document", "")).encode())


def _text(item: dict[str, Any]) -> str:
    encoding = item.get("encoding")
    if encoding is None:
        return str(item["document"])  # written before the encoding: read until it expires
    if encoding != ENCODING:
        raise ValueError(f"an encoding this reader does not know: {encoding!r}")
    # bytes, or boto3's Binary as the store's reader gives it back
    return zlib.decompress(bytes(item["body"])).decode()


def cached_document(item: dict[str, Any] | None, *, now: datetime) -> dict[str, Any] | None:
    """The document of a live item of this schema; None for a miss."""
    if item is None or int(item.get("schema", 0)) != DOCUMENT_SCHEMA:
        return None
    if int(item.get("expires_at", 0)) <= int(now.timestamp()):
        return None
    try:
        document = json.loads(_text(item))
    except (KeyError, TypeError, ValueError, zlib.error):
        return None
    return document if isinstance(document, dict) else None


@dataclass(frozen=True)
class Entry:
    """A live cached document: `fresh` until its `fresh_until`, stale after; `age_s`, the seconds
    since its figures were computed (its `as_of`)."""

    document: dict[str, Any]
    fresh: bool
    age_s: int


def cached_entry(item: dict[str, Any] | None, *, now: datetime) -> Entry | None:
    """The live document of an item with its freshness; None for a miss."""
    document = cached_document(item, now=now)
    if document is None or item is None:
        return None
    fresh_until = int(item.get("fresh_until", item.get("expires_at", 0)))
    computed = parse_time(document.get("as_of"))
    age = int((now - computed).total_seconds()) if computed is not None else 0
    return Entry(document, fresh=int(now.timestamp()) < fresh_until, age_s=max(age, 0))


class CacheStore(Protocol):
    def get(self, key: AnyKey, *, consistent: bool = False) -> dict[str, Any] | None: ...

    def put(self, item: dict[str, Any]) -> None: ...


class LeaseStore(Protocol):
    """Who recomputes a preset key: one caller at a time."""

    def acquire(self, key: PresetKey, owner: str, *, now: datetime, lease_s: int) -> bool: ...

    def release(self, key: PresetKey, owner: str) -> None: ...
