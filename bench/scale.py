"""What one call costs when the tenant is small and when it is large (issue 14, "a request costs what
its page costs"): every list, count and dashboard route and every consumer, with one tenant of about
1,000 items in the collection the call reads, then one of about 100,000.

Per call: the DynamoDB items it read (`ScannedCount` of a Query or Scan, the items of a Get), the read
and write request units DynamoDB would bill for them (estimated from the items' sizes: 4 KB per read
unit, halved for an eventually consistent read, 1 KB per write unit, twice for a transaction, one
more write per index an item carries keys of), the S3 requests and bytes, and the latency. Every AWS
call of every function is seen by a botocore hook in this process (`Meter`, registered on boto3's
default session before the local runtime starts, as `local.iam.CallCheck` is): the functions sign
with their own roles' keys, so each call is told to its function; the operator's calls (seeding, the
runtime's pollers) are not counted. moto's `ConsumedCapacity` is a constant, so it is not used.

Each size gets a backend of its own (`LocalBackend`, one region, no demo data, no pollers: the bench
pumps the bus, the stream and the queues itself), a tenant seeded straight into the stores: each
collection is made by the code that writes it (the repositories' own writers, on an in-memory table
with the `gui_core.dynamo.Table` contract), and put straight into moto's table by the bench's own
endpoint (`bench/_scale_moto.py`: moto's server as the local runtime runs it, plus a bulk load, a
Query that reads its partition instead of sorting the whole table, and transactions that do not
deep-copy their tables); the tenant's search index is built and published by the indexer's own
rebuild, its telemetry facts written by the facts writer's own Parquet writer. The seeding time is
printed.

Goal (issue 14): at the large size each call consumes at most 1.2x what it consumes at the small one
(read and write units, S3 requests and bytes, each against a floor of one unit, one request and
64 KiB; for reads, what it may read at the small size's units per item), and no call reads more
DynamoDB items than it may: its page, or what its design reads for a page (`Row.reads`: key items
and the records they name, a search's read budget), plus `PAGE_SLACK`; a dashboard call reads its
range's rollup buckets, so at the large size no more than at the small one. Latency is shown with moto's own
cost of a 20-item Query on the same partition at both sizes (what the local endpoint adds as a
partition grows, which DynamoDB does not): read latency ratios against it. A row that fails prints
its error and the others go on; a call over `SLOW_MS` is measured once. Not a CI gate.

Usage: `python bench/scale.py` (sizes 1,000 and 100,000), `--quick` (200 and 5,000), `--sizes A,B`,
`--repeat N`, `--only WORD` (rows whose key contains it; only the collections they read are
seeded). Results: bench/results/scale.json (read by `bench/cost_model.py`); the functions' logs:
bench/results/scale.log.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import copy
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

import boto3  # noqa: E402
import httpx  # noqa: E402
from _common import load, stdout_to  # noqa: E402
from _scale_moto import ScaleMoto  # noqa: E402

from gui_artifacts.repository import SEARCH_READ_BUDGET  # noqa: E402
from gui_core.dynamo import ConditionFailed, Page, to_dynamo  # noqa: E402
from local.memory_table import MemoryTable  # noqa: E402
from stacks.manifest import DEFAULT_REGIONS, MANIFEST  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"
LOG = ROOT / "bench" / "results" / "scale.log"
REGION = DEFAULT_REGIONS[0]
TENANT = "scale"
PREFIX = "/service/gui"
SIZES = (1_000, 100_000)
QUICK_SIZES = (200, 5_000)
GOAL_RATIO = 1.2
PAGE_SLACK = 25  # items a call may read besides its page: tenant record, counters, cursors, heads
FLOORS = {"rru": 1.0, "wru": 1.0, "s3_requests": 1.0, "s3_bytes": 65_536.0}
DAYS = 30  # the seeded items are spread over the last 30 days
USERS = {  # subject: (roles, scopes)
    f"ada@{TENANT}": (("admin",), ()),
    f"otto@{TENANT}": (("operator",), ()),
    f"vic@{TENANT}": (("viewer",), ()),
}
RARE = f"rare@{TENANT}"  # owns 1 % of the jobs, views and audit records: a filter that matches little
HTTP_TIMEOUT_S = 60.0
SLOW_MS = 10_000  # a call this slow is measured once (see `measure`)
QUIET_S = 0.3  # no AWS call of any function for this long: the last call's work is over
STREAM_HOLD_S = 2  # the SSE route's hold here (20 s deployed): a hold's reads, not its wait
WORDS = [
    "icd",
    "snomed",
    "loinc",
    "rxnorm",
    "meddra",
    "atc",
    "coverage",
    "mapping",
    "overlay",
    "readiness",
    "triage",
    "pharmacy",
    "laboratory",
    "cardiology",
    "oncology",
    "german",
    "french",
    "labels",
    "synonyms",
    "release",
    "review",
    "governance",
    "calibration",
    "drift",
    "concept",
    "scheme",
    "candidate",
    "confidence",
    "reviewed",
    "clinical",
    "findings",
    "substances",
    "units",
    "conversion",
    "panel",
    "report",
    "pack",
    "prompt",
    "summary",
    "validation",
    "threshold",
    "export",
    "import",
    "registry",
    "lineage",
    "version",
]
SEARCH_TERMS = ("snomed", "coverage mapping", "triage", "lab*")
KINDS = ("ingestion", "coverage", "mapping", "overlay", "readiness", "prompt_pack", "governance")
VIEW_MODULES = ("coverage", "mapping", "overlay", "readiness", "governance", "cost", "jobs", "search")
JOB_PARAMETERS: dict[str, dict[str, Any]] = {
    "ingest": {"source_uri": "s3://bench-raw/concepts.csv", "format": "csv", "dataset": "concepts"},
    "coverage": {"concept_scheme": "icd-10", "target_depth": 3},
    "mapping": {"source_scheme": "icd-10", "target_scheme": "snomed", "threshold": 0.8},
    "overlay": {
        "base_artifact_id": "coverage-icd10",
        "overlay_name": "German labels",
        "languages": ["de-DE"],
    },
    "readiness": {"artifact_id": "coverage-icd10"},
    "prompt_pack_calibration": {"prompt_pack_id": "pp-triage", "sample_size": 200},
    "reindex": {"index": "search", "full": False},
}
JOB_STATUSES = ("succeeded",) * 12 + ("failed", "cancelled", "running", "queued")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the meter: every AWS call of every function ------------------------------------------------

_PARAMS = "ddgui.scale.params"
_FUNCTION = "ddgui.scale.function"
_S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjects",
    "ListObjectVersions",
}
_S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}


def attribute_size(value: Mapping[str, Any]) -> int:  # noqa: PLR0911 - a return per type
    """DynamoDB's size of one AttributeValue (wire format), as its capacity units count it."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def _body_length(params: Mapping[str, Any]) -> int:
    if params.get("ContentLength"):
        return int(params["ContentLength"])
    body = params.get("Body")
    if body is None:
        return 0
    if isinstance(body, bytes | bytearray | str):
        return len(body)
    with contextlib.suppress(Exception):
        position = body.tell()
        end = body.seek(0, 2)
        body.seek(position)
        return int(end)
    return 0


class Meter:
    """The botocore hooks counting every call of the local functions (see the module doc). Register
    before any function's client exists: a client copies its session's handlers when it is made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._indexes = {
            store.local_table_name(): [
                tuple(k.name for k in (i.partition_key, i.sort_key) if k) for i in store.indexes
            ]
            for store in MANIFEST.stores
        }
        self.usage: dict[str, Counter[str]] = defaultdict(Counter)
        self.detail: dict[str, Counter[str]] = defaultdict(Counter)
        self.calls = 0
        self.last_call = time.monotonic()

    def install(self) -> Meter:
        events = boto3._get_default_session().events
        events.register("before-parameter-build", self._params, unique_id="ddgui-scale-params")
        events.register("before-call", self._before, unique_id="ddgui-scale-before")
        events.register("after-call", self._after, unique_id="ddgui-scale-after")
        return self

    def know(self, credentials: Mapping[tuple[str, str], Mapping[str, str]]) -> None:
        """The access keys of the functions' role sessions (`LocalBackend.credentials`)."""
        with self._lock:
            self._keys = {c["AWS_ACCESS_KEY_ID"]: name for (_, name), c in credentials.items()}

    def snapshot(self) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
        with self._lock:
            return (
                {k: Counter(v) for k, v in self.usage.items()},
                {k: Counter(v) for k, v in self.detail.items()},
            )

    def since(
        self,
        before: tuple[dict[str, Counter[str]], dict[str, Counter[str]]],
        functions: Callable[[str], bool],
    ) -> tuple[Counter[str], Counter[str]]:
        """What the functions `functions` accepts consumed since `before` (usage, detail)."""
        usage, detail = self.snapshot()
        total, lines = Counter[str](), Counter[str]()
        for name, counts in usage.items():
            if functions(name):
                total.update(counts)
                total.subtract(before[0].get(name, Counter()))
        for name, counts in detail.items():
            if functions(name):
                lines.update(counts)
                lines.subtract(before[1].get(name, Counter()))
        return +total, +lines

    def quiet(self, *, idle_s: float = QUIET_S, limit_s: float = 180.0) -> None:
        """Wait until no function has called AWS for `idle_s` (an invocation the gateway gave up on
        may still run: its calls must not count toward the next one)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - self.last_call
            if idle >= idle_s:
                return
            time.sleep(idle_s - idle + 0.01)

    # -- hooks --------------------------------------------------------------------------------

    @staticmethod
    def _params(*, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = dict(params)

    def _before(self, *, request_signer: Any, context: dict[str, Any], **_: Any) -> None:
        credentials = getattr(request_signer, "_credentials", None)
        key = getattr(credentials, "access_key", None)
        name = self._keys.get(key) if key else None
        if name is not None:
            context[_FUNCTION] = name
            with self._lock:
                self.last_call = time.monotonic()

    def _after(
        self,
        *,
        http_response: Any,
        parsed: Mapping[str, Any],
        model: Any,
        context: Mapping[str, Any],
        **_: Any,
    ) -> None:
        name = context.get(_FUNCTION)
        if name is None:
            return
        params = context.get(_PARAMS) or {}
        service = model.service_model.endpoint_prefix
        operation = model.name
        counts: Counter[str] = Counter()
        target = ""
        ok = int(getattr(http_response, "status_code", 200)) < 300
        if service == "dynamodb":
            target = self._dynamodb(operation, params, parsed, ok, counts)
        elif service == "s3":
            target = str(params.get("Bucket", ""))
            self._s3(operation, params, parsed, ok, counts)
        else:
            counts[f"{service}.requests"] += 1
            counts[f"{service}.entries"] += len(params.get("Entries") or params.get("Records") or [0])
            target = str(params.get("StreamName") or params.get("QueueUrl") or "").rsplit("/", 1)[-1]
        with self._lock:
            self.usage[name].update(counts)
            self.detail[name][f"{service}:{operation} {target}".strip()] += 1
            self.calls += 1
            self.last_call = time.monotonic()

    def _dynamodb(
        self,
        operation: str,
        params: Mapping[str, Any],
        parsed: Mapping[str, Any],
        ok: bool,
        counts: Counter[str],
    ) -> str:
        counts["ddb_requests"] += 1
        table = str(params.get("TableName", ""))
        consistent = 1.0 if params.get("ConsistentRead") and not params.get("IndexName") else 0.5
        if operation in ("Query", "Scan"):
            scanned = int(parsed.get("ScannedCount", 0))
            items = parsed.get("Items") or []
            per_item = sum(item_size(i) for i in items) / len(items) if items else 1024
            counts["items_read"] += scanned
            counts["rru"] += _units(int(scanned * per_item), 4096) * consistent
        elif operation == "GetItem":
            counts["items_read"] += 1
            counts["rru"] += _units(item_size(parsed.get("Item") or {}), 4096) * consistent
        elif operation == "BatchGetItem":
            for name, items in (parsed.get("Responses") or {}).items():
                factor = 1.0 if params["RequestItems"].get(name, {}).get("ConsistentRead") else 0.5
                counts["items_read"] += len(items)
                counts["rru"] += sum(_units(item_size(i), 4096) * factor for i in items)
            table = ",".join(sorted(params.get("RequestItems") or {}))
        elif operation == "TransactGetItems":
            for answer in parsed.get("Responses") or []:
                counts["items_read"] += 1
                counts["rru"] += 2 * _units(item_size(answer.get("Item") or {}), 4096)
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            counts["items_written"] += 1
            counts["wru"] += self._write_units(table, params, parsed)
        elif operation == "BatchWriteItem":
            for name, requests in (params.get("RequestItems") or {}).items():
                for request in requests:
                    body = request.get("PutRequest") or {}
                    counts["items_written"] += 1
                    counts["wru"] += self._write_units(name, body, {})
            table = ",".join(sorted(params.get("RequestItems") or {}))
        elif operation == "TransactWriteItems":
            tables = set()
            for entry in params.get("TransactItems") or []:
                ((_, body),) = entry.items()
                tables.add(str(body.get("TableName", "")))
                counts["items_written"] += 1
                counts["wru"] += 2 * self._write_units(str(body.get("TableName", "")), body, {})
            table = ",".join(sorted(tables))
        return table

    def _write_units(self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> float:
        item = params.get("Item") or parsed.get("Attributes") or {}
        if not item:  # an update or delete without its item in the answer: key and values
            item = {**(params.get("Key") or {}), **(params.get("ExpressionAttributeValues") or {})}
        units = _units(item_size(item), 1024)
        names = set(item) | {str(v) for v in (params.get("ExpressionAttributeNames") or {}).values()}
        # One more write per index whose key the written item carries (a sparse index: only then).
        return float(units + sum(1 for keys in self._indexes.get(table, []) if keys and keys[0] in names))

    @staticmethod
    def _s3(
        operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool, counts: Counter[str]
    ) -> None:
        if operation in _S3_FREE:
            counts["s3_free_requests"] += 1
            return
        counts["s3_requests"] += 1
        counts["s3_put_requests" if operation in _S3_PUT_CLASS else "s3_get_requests"] += 1
        if operation == "GetObject" and ok:
            counts["s3_bytes_read"] += int(parsed.get("ContentLength") or 0)
        elif operation in ("PutObject", "UploadPart"):
            counts["s3_bytes_written"] += _body_length(params)


# -- seeding: each collection by the code that writes it, then copied into moto ---------------------


class SortedTable(MemoryTable):
    """`MemoryTable` with its keys kept sorted per partition, so a writer that queries while it
    writes (the registry counts an artifact's edges) costs a lookup, not a sort of the partition."""

    def __init__(self) -> None:
        self._keys: dict[str, list[str]] = defaultdict(list)
        super().__init__()

    def put(self, item: Mapping[str, Any], *, condition: Any = None) -> None:
        key = self._key(item)
        existing = self.items.get(key)
        if not self._holds(existing, condition):
            raise ConditionFailed(str(key))
        # No deep copy (MemoryTable's): the writers build each item afresh, and the bench only reads.
        self.items[key] = {k: v for k, v in item.items() if v is not None}
        if existing is None:
            bisect.insort(self._keys[key[0]], key[1])

    def delete(self, key: Mapping[str, Any], *, condition: Any = None) -> dict[str, Any] | None:
        gone = super().delete(key, condition=condition)
        if gone is not None:
            pk, sk = self._key(key)
            keys = self._keys[pk]
            del keys[bisect.bisect_left(keys, sk)]
        return gone

    def update(
        self, key: Mapping[str, Any], values: Mapping[str, Any], **kwargs: Any
    ) -> dict[str, Any] | None:
        k = self._key(key)
        new = k not in self.items
        answer = super().update(key, values, **kwargs)
        if new and k in self.items:
            bisect.insort(self._keys[k[0]], k[1])
        return answer

    def query(
        self,
        partition: tuple[str, str],
        *,
        sort_prefix: tuple[str, str] | None = None,
        sort_between: tuple[str, str, str] | None = None,
        index: str | None = None,
        limit: int = 50,
        start_key: Mapping[str, Any] | None = None,
        forward: bool = True,
        consistent: bool = False,
    ) -> Page:
        if index is not None or partition[0] != "pk":
            return super().query(
                partition,
                sort_prefix=sort_prefix,
                sort_between=sort_between,
                index=index,
                limit=limit,
                start_key=start_key,
                forward=forward,
                consistent=consistent,
            )
        keys = self._keys.get(partition[1], [])
        low, high = 0, len(keys)
        if sort_prefix:
            low = bisect.bisect_left(keys, sort_prefix[1])
            high = bisect.bisect_left(keys, sort_prefix[1] + "\U0010ffff")
        elif sort_between:
            low, high = bisect.bisect_left(keys, sort_between[1]), bisect.bisect_right(keys, sort_between[2])
        if start_key:
            after = str(start_key["sk"])
            if forward:
                low = max(low, bisect.bisect_right(keys, after))
            else:
                high = min(high, bisect.bisect_left(keys, after))
        chosen = keys[low:high] if forward else keys[low:high][::-1]
        page = [copy.deepcopy(self.items[(partition[1], sk)]) for sk in chosen[:limit]]
        last = {"pk": partition[1], "sk": page[-1]["sk"]} if len(chosen) > limit else None
        return Page(page, last)


def copy_to_moto(moto: ScaleMoto, store: str, items: Iterable[Mapping[str, Any]]) -> int:
    """The items into moto's table at once, through the bench's own endpoint (`bench/_scale_moto.py`):
    no BatchWriteItem per 25 items, no stream record."""
    table = MANIFEST.store(store).local_table_name()
    return moto.load(REGION, table, [to_dynamo(item) for item in items])


def stored_bytes(items: Iterable[Mapping[str, Any]]) -> int:
    """DynamoDB's size of the items (names and values), without its 100 bytes of overhead per item."""
    return sum(item_size(to_dynamo(item)) for item in items)


def _spread(n: int, size: int, now: datetime) -> datetime:
    """The n-th of `size` items' creation time: the newest a minute old, the oldest `DAYS` old."""
    return now - timedelta(minutes=1) - timedelta(days=DAYS) * (n / max(size, 1))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def _words(n: int, count: int) -> str:
    return " ".join(WORDS[(n * 7 + i * 13) % len(WORDS)] for i in range(count))


def inbox_items(size: int, now: datetime) -> list[dict[str, Any]]:
    from gui_core.date_times import iso
    from gui_notifications.logic import notification_id
    from gui_notifications.models import CATEGORIES, SEVERITIES
    from gui_notifications.repository import InboxRepository

    table = SortedTable()
    repository = InboxRepository(table, retention_days=90)  # type: ignore[arg-type]  # the Table contract
    users = sorted(USERS)
    statuses = ("read",) * 6 + ("unread",) * 2 + ("acknowledged", "archived")
    for n in range(size):
        created = _spread(n, size, now)
        repository.append(
            TENANT,
            {
                "id": notification_id(created, f"scale:{n}"),
                "category": CATEGORIES[n % len(CATEGORIES)],
                "severity": SEVERITIES[(n // 2) % len(SEVERITIES)],
                "title": f"Scale notification {n}",
                "body": _words(n, 12),
                "source": {"module": "governance"},
                "audience": users[n % len(users)] if n % 3 == 2 else "*",
                "status": statuses[n % len(statuses)],
                "created_at": iso(created),
            },
        )
    return list(table.items.values())


def job_items(size: int, now: datetime, queued: list[str] | None = None) -> list[dict[str, Any]]:
    from gui_jobs.logic import history_entry, new_job, new_job_id
    from gui_jobs.repository import JobsRepository

    table = SortedTable()
    repository = JobsRepository(table)  # type: ignore[arg-type]
    verbs = sorted(JOB_PARAMETERS)
    for n in range(size):
        requested = _spread(n, size, now)
        actor = RARE if n % 100 == 7 else f"user{n % 20}@{TENANT}"
        verb = verbs[n % len(verbs)]
        job = new_job(
            job_id=new_job_id(int(requested.timestamp() * 1000)),
            verb=verb,
            parameters=JOB_PARAMETERS[verb],
            actor=actor,
            at=_iso(requested),
        )
        status = JOB_STATUSES[n % len(JOB_STATUSES)]
        if status != "queued":
            started = _iso(requested + timedelta(seconds=20))
            job["started_at"] = started
            job["history"] = [*job["history"], history_entry(started, "executor", "running", "queued")]
        if status not in ("queued", "running"):
            finished = _iso(requested + timedelta(minutes=5))
            job["finished_at"] = finished
            job["history"] = [*job["history"], history_entry(finished, "executor", status, "running")]
            job["progress"] = 100 if status == "succeeded" else 40
        if status == "failed":
            job["error"] = {"code": "target_scheme_unavailable", "message": "The release was not found."}
        job.update(status=status, updated_at=job["history"][-1]["at"], version=len(job["history"]))
        repository.create(TENANT, job)
        if status == "queued" and queued is not None:
            queued.append(job["id"])
    return list(table.items.values())


def view_items(size: int, now: datetime) -> list[dict[str, Any]]:
    from gui_preferences.repository import PreferencesRepository

    table = SortedTable()
    repository = PreferencesRepository(table, history_days=180)  # type: ignore[arg-type]
    for n in range(size):
        at = _iso(_spread(n, size, now))
        owner = RARE if n % 100 == 7 else (f"vic@{TENANT}" if n % 100 == 8 else f"user{n % 50}@{TENANT}")
        repository.create_view(
            TENANT,
            {
                "name": f"view {n}",
                "module": VIEW_MODULES[n % len(VIEW_MODULES)],
                "filters": {"status": ["active"]},
                "sort": [{"field": "updated", "direction": "desc"}],
                "columns": ["title", "status", "updated"],
                "visibility": "tenant" if n % 10 < 3 else "private",
                "id": f"{int(_spread(n, size, now).timestamp() * 1000):012x}{n:010x}",
                "owner": owner,
                "version": 1,
                "created_at": at,
                "updated_at": at,
            },
        )
    # The name guards (VIEWNAME#) make names unique at writes; no measured call reads them.
    return [item for item in table.items.values() if not str(item["sk"]).startswith("VIEWNAME#")]


def audit_items(size: int, now: datetime) -> list[dict[str, Any]]:
    from gui_core.audit import AuditRecord, DynamoAuditSink

    table = SortedTable()
    sink = DynamoAuditSink(table)  # type: ignore[arg-type]
    for n in range(size):
        sink.append(
            AuditRecord(
                tenant=TENANT,
                actor=RARE if n % 100 == 7 else f"user{n % 20}@{TENANT}",
                endpoint="/service/gui/preferences/views/{view_id}",
                method="PUT",
                path=f"/service/gui/preferences/views/v{n}",
                payload_sha256="0" * 64,
                status=200,
                latency_ms=12.5,
                request_id=str(uuid.UUID(int=n)),
                trace_id=None,
                at=_spread(n, size, now).isoformat(timespec="microseconds"),
            )
        )
    return list(table.items.values())


def replay_items(size: int, now: datetime) -> list[dict[str, Any]]:
    from gui_core.replay_log import LiveEvent, ReplayLog, to_cursor

    table = SortedTable()
    replay = ReplayLog(table, window_s=86_400)  # type: ignore[arg-type]
    for n in range(size):
        replay.append(
            LiveEvent(
                tenant=TENANT,
                channel="notifications",
                cursor=to_cursor(n + 1),
                event_id=str(uuid.UUID(int=n)),
                kind="GovernanceAlert",
                at=_iso(_spread(size - n, size, now)),
                payload={"title": f"Scale alert {n}", "severity": "warning", "module": "governance"},
            )
        )
    # The event-id guards (E#) stop a redelivery from being logged twice; no measured call reads them.
    return [item for item in table.items.values() if not str(item["sk"]).startswith("E#")]


def _artifact_detail(n: int, size: int, now: datetime, *, hub: str, version: int = 1) -> dict[str, Any]:
    kind = "ingestion" if n == 0 else KINDS[1 + n % (len(KINDS) - 1)]
    artifact_id = hub if n == 0 else f"art-{n:07d}"
    return {
        "tenant": TENANT,
        "event_id": str(uuid.uuid4()),
        "schema_version": "1",
        "artifact_id": artifact_id,
        "version": version,
        "kind": kind,
        "title": f"{_words(n, 3).title()} {kind} {n}",
        "summary": _words(n + 3, 25),
        "owner": f"user{n % 40}@{TENANT}",
        "tags": [WORDS[n % len(WORDS)], "rare-tag" if n % 100 == 7 else "common"],
        "license_tag": "internal",
        "diff_hash": f"sha256:{uuid.UUID(int=n * 7 + version).hex * 2}",
        "governance_status": ("approved", "in_review", "draft")[n % 3],
        "published_at": _iso(_spread(size - n, size, now)),
        "region": REGION,
        "inputs": [] if n == 0 else [{"id": hub, "relation": "derived_from"}],
    }


def _envelope(detail_type: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "domaindetermine.bench",
        "account": "123456789012",
        "time": detail.get("published_at") or _iso(datetime.now(UTC)),
        "region": REGION,
        "resources": [],
        "detail": dict(detail),
    }


@dataclass(frozen=True)
class _HomedHere:
    def get(self, tenant_id: str) -> Any:
        from gui_core.tenancy import Tenant

        return Tenant(tenant_id, tenant_id, REGION)


def artifact_items(size: int, now: datetime, hub: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The registry as its consumer leaves it after `size` ArtifactPublished events, through
    `RegistryFeed`: a hub every other artifact derives from (its lineage has `size - 1` edges),
    and its fingerprint as the drift check's first full read sets it. Returns the store's items and
    the records (for the search index)."""
    from gui_artifacts.registry_feed import RegistryFeed
    from gui_artifacts.repository import ArtifactsRepository
    from gui_core.registry_fingerprint import Fingerprint

    table = SortedTable()
    registry = ArtifactsRepository(table)  # type: ignore[arg-type]
    feed = RegistryFeed(region=REGION, tenants=_HomedHere(), registry=registry)
    # The hub last: a publication recounts the edges of each input already registered (up to 1,000
    # read), and an input not registered yet counts its edges once, when it is.
    for n in [*range(1, size), 0]:
        outcome = feed.handle(_envelope("ArtifactPublished", _artifact_detail(n, size, now, hub=hub)))
        if outcome != "applied":
            raise RuntimeError(f"artifact {n} was not applied: {outcome}")
    records = [
        {k: v for k, v in item.items() if k not in ("pk", "sk", "type")}
        for item in table.items.values()
        if str(item["sk"]).startswith("ART#")
    ]
    pairs = Fingerprint.of({str(r["id"]): int(r["version"]) for r in records})
    if not registry.set_pairs(TENANT, pairs, mark=registry.pairs(TENANT), at=_iso(now)):
        raise RuntimeError("the registry's fingerprint was not set")
    return list(table.items.values()), records


def rollup_items(records: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The dashboard's rollups of the seeded records, as their backfill (migrations 0020-0022) or
    their streams' consumer leaves them in the metrics store: the bulk load writes no stream record.
    None where the code has no rollups."""
    try:
        from gui_dashboard.rollup_events import RECORD_PREFIXES
        from gui_dashboard.rollup_store import RollupStore
    except ImportError:
        return []
    table = SortedTable()
    rollups = RollupStore(table)  # type: ignore[arg-type]  # the Table contract
    for store, items in records.items():
        for item in items:
            if str(item["sk"]).startswith(RECORD_PREFIXES[store]):
                rollups.backfill(TENANT, store, item)
    return list(table.items.values())


def publish_index(backend: Any, records: Sequence[Mapping[str, Any]], work_dir: Path) -> None:
    """The tenant's search index, built and published by the indexer's own full rebuild."""
    from gui_core.objects import ObjectStore
    from gui_indexer.indexer import TenantIndexes
    from gui_search.store import IndexStore
    from local.aws import aws_client

    s3 = aws_client("s3", endpoint_url=backend.aws_endpoint_url, region=REGION)
    store = IndexStore(ObjectStore(MANIFEST.bucket.local_bucket_name(REGION), s3), prefix="search/")
    TenantIndexes(store, work_dir).rebuild(TENANT, records)


def write_facts(backend: Any, size: int, now: datetime, work_dir: Path) -> int:
    """`size` telemetry facts over the last `DAYS` days, one Parquet file per day, by the facts
    writer's own writer (events of four kinds made into facts by `gui_telemetry.facts`)."""
    from gui_core.objects import ObjectStore
    from gui_telemetry.facts import facts_of
    from gui_telemetry.store import FactWriter, utc_day
    from local.aws import aws_client

    samples = {
        name: json.loads((ROOT / "events" / "aws" / f"eventbridge_{name}.json").read_text())
        for name in ("job_status_changed", "governance_alert", "metrics_reported", "cost_alert")
    }
    by_day: dict[Any, list[Any]] = defaultdict(list)
    made = 0
    n = 0
    while made < size:
        envelope = samples[sorted(samples)[n % len(samples)]]
        at = _spread(size - made, size, now)
        detail = {
            **envelope["detail"],
            "tenant": TENANT,
            "event_id": str(uuid.UUID(int=n)),
            "time": _iso(at),
            "region": REGION,
        }
        for fact in facts_of(envelope["detail-type"], detail):
            by_day[utc_day(fact.occurred_at)].append(fact)
            made += 1
        n += 1
        if n > 4 * size + 10:
            raise RuntimeError("the sample events give no facts")
    s3 = aws_client("s3", endpoint_url=backend.aws_endpoint_url, region=REGION)
    writer = FactWriter(ObjectStore(MANIFEST.bucket.local_bucket_name(REGION), s3), work_dir=work_dir)
    try:
        for day, facts in sorted(by_day.items()):
            writer.write(TENANT, day, f"seed-{day.isoformat()}", facts)
    finally:
        writer.close()
    return made


@dataclass
class Seeded:
    hub: str = "hub-0000000"
    size: int = 0
    queued_jobs: list[str] = field(default_factory=list)  # the newest first
    seconds: dict[str, float] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)  # DynamoDB's size of each collection (sampled)


ALL_COLLECTIONS = frozenset(("inbox", "jobs", "views", "audit", "replay", "artifacts", "facts", "rollups"))
_SEEDS = {"preferences": {"views"}, "events": {"replay", "facts"}}


def collections_of(rows: Iterable[Row]) -> frozenset[str]:
    """The collections the rows read (the dashboard's reads span them all)."""
    found: set[str] = set()
    for row in rows:
        if row.key.startswith(("dashboard", "metrics")):
            return ALL_COLLECTIONS
        found |= _SEEDS.get(row.collection, {row.collection})
    return frozenset(found)


def seed(
    backend: Any, moto: ScaleMoto, size: int, work_dir: Path, collections: frozenset[str] = ALL_COLLECTIONS
) -> Seeded:
    """The tenant's `collections` at `size` (every one by default), timed."""
    from gui_core.rate_limit import DEFAULT_LIMITS
    from local.demo import provision_tenant

    seeded = Seeded(size=size)
    now = datetime.now(UTC)
    provision_tenant(
        MANIFEST,
        endpoint_url=backend.aws_endpoint_url,
        region=REGION,
        tenant=TENANT,
        home_region=REGION,
        plan="enterprise",
        rate_limits=dict.fromkeys(DEFAULT_LIMITS, 1_000_000),  # the bench measures reads, not 429s
        license_policy={"restricted_fields": ["source_text"], "license_tag": "scale-enterprise"},
    )

    records: dict[str, list[dict[str, Any]]] = {}  # the dashboard's stores' items, for their rollups

    def timed(name: str, store: str, make: Callable[[], list[dict[str, Any]]]) -> None:
        if name not in collections:
            return
        started = time.perf_counter()
        items = make()
        if store in ("jobs", "inbox", "artifacts"):
            records[store] = items
        made_s = time.perf_counter() - started
        seeded.items[name] = copy_to_moto(moto, store, items)
        seeded.bytes[name] = stored_bytes(items[:: max(1, len(items) // 1000)]) * max(1, len(items) // 1000)
        seeded.seconds[name] = time.perf_counter() - started
        log(
            f"  {name:<10} {seeded.items[name]:>8,} items  {made_s:6.1f} s to make, "
            f"{seeded.seconds[name] - made_s:6.1f} s to write"
        )

    timed("inbox", "inbox", lambda: inbox_items(size, now))
    timed("jobs", "jobs", lambda: job_items(size, now, seeded.queued_jobs))
    timed("views", "preferences", lambda: view_items(size, now))
    timed("audit", "audit", lambda: audit_items(size, now))
    timed("replay", "events", lambda: replay_items(size, now))
    found: list[dict[str, Any]] = []

    def artifacts() -> list[dict[str, Any]]:
        items, made = artifact_items(size, now, seeded.hub)
        found.extend(made)
        return items

    timed("artifacts", "artifacts", artifacts)
    if "artifacts" in collections:
        index(backend, found, work_dir, seeded)
    timed("rollups", "metrics", lambda: rollup_items(records))  # the dashboard's rows only
    if "facts" in collections:
        started = time.perf_counter()
        seeded.items["facts"] = write_facts(backend, size, now, work_dir / "facts")
        seeded.seconds["facts"] = time.perf_counter() - started
        log(f"  {'facts':<10} {seeded.items['facts']:>8,} facts  {seeded.seconds['facts']:6.1f} s to write")
    return seeded


def index(backend: Any, records: Sequence[Mapping[str, Any]], work_dir: Path, seeded: Seeded) -> None:
    started = time.perf_counter()
    publish_index(backend, records, work_dir / "index")
    seeded.seconds["search index"] = time.perf_counter() - started
    seeded.items["search index"] = len(records)
    took = seeded.seconds["search index"]
    log(f"  {'search':<10} {len(records):>8,} docs   {took:6.1f} s to build and publish")


def moto_baseline(backend: Any) -> dict[str, float]:
    """moto's own time for a 20-item Query of the tenant's partition in each table, in ms (median of
    3): what the local endpoint adds as its tables grow, which DynamoDB does not."""
    from local.aws import aws_client

    client = aws_client("dynamodb", endpoint_url=backend.aws_endpoint_url, region=REGION)
    found: dict[str, float] = {}
    for store, pk in (
        ("inbox", TENANT),
        ("jobs", TENANT),
        ("preferences", TENANT),
        ("audit", TENANT),
        ("events", f"{TENANT}#notifications"),
        ("artifacts", TENANT),
    ):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            client.query(
                TableName=MANIFEST.store(store).local_table_name(),
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": pk}},
                Limit=20,
            )
            times.append((time.perf_counter() - started) * 1000)
        found[store] = statistics.median(times)
    return found


# -- the rows: what one call is -----------------------------------------------------------------


@dataclass
class Context:
    backend: Any
    http: httpx.Client
    tokens: dict[str, str]
    seeded: Seeded
    latest_cursor: str | None = None
    counter: int = 0
    socket: Any = None  # the realtime row's WebSocket, opened by its first call's preparation
    closing: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def get(self, path: str, *, user: str = f"ada@{TENANT}", headers: Mapping[str, str] | None = None) -> int:
        answer = self.http.get(
            f"{PREFIX}{path}", headers={"Authorization": f"Bearer {self.tokens[user]}", **(headers or {})}
        )
        return answer.status_code

    def post(self, path: str, *, user: str = f"ada@{TENANT}") -> int:
        answer = self.http.post(
            f"{PREFIX}{path}",
            headers={
                "Authorization": f"Bearer {self.tokens[user]}",
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            content=b"{}",
        )
        return answer.status_code


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    collection: str  # the store (and moto baseline) the call reads
    page: int  # the items the call may return
    call: Callable[[Context], int]  # one call; its HTTP status (200 for a consumer that took its batch)
    functions: tuple[str, ...] = ()  # count only these functions (prefixes); () = every function
    warmup: bool = True  # one uncounted call first (a container's first call reads its secret, etc.)
    repeat: int | None = None  # calls counted (default: --repeat)
    before: Callable[[Context], None] | None = None  # uncounted preparation before each call
    # Items the call reads by design, when more than its page: key items and the records they name
    # (`reads`), or a time range's rollup buckets, the same items whatever the tenant holds
    # (`reads_by_range`: bounded when the large size reads no more than the small one).
    reads: int | None = None
    reads_by_range: bool = False
    # The call reads the search indexes on the file system the region's containers share: the
    # folder's pages are dropped from the page cache before it, and the bytes the process then reads
    # from disk are its `shared_bytes_read` (what an EFS client would fetch, read-ahead included).
    shared_io: bool = False

    def allowed(self, small_read: float) -> float:
        """Items the call may read: its design's reads (or its page) plus `PAGE_SLACK`."""
        if self.reads_by_range:
            return small_read
        return (self.page if self.reads is None else self.reads) + PAGE_SLACK


def _get(path: str, user: str = f"ada@{TENANT}") -> Callable[[Context], int]:
    return lambda ctx: ctx.get(path, user=user)


def _dashboard_range(ctx: Context) -> int:
    """A custom range: its own cache key (a new one each call)."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=ctx.next())
    start = end - timedelta(days=3)
    return ctx.get(f"/dashboard?from={start:%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}")


SEARCH_FILE_SYSTEM = "search"  # the manifest's file system of the search indexes


def _shared_root(ctx: Context) -> Path | None:
    root = ctx.backend.file_system_dir(REGION, SEARCH_FILE_SYSTEM)
    return root if root.is_dir() else None


def drop_cached_pages(root: Path) -> int:
    """Drop the page cache's copies of the files under `root` (flushed first: dirty pages stay), as
    a new Lambda environment's NFS client holds none; how many bytes the files hold (each file once,
    however many versions' folders link it)."""
    sizes: dict[tuple[int, int], int] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            status = os.fstat(descriptor)
            sizes[(status.st_dev, status.st_ino)] = status.st_size
        finally:
            os.close(descriptor)
    return sum(sizes.values())


def process_read_bytes() -> int:
    """Bytes this process made the kernel fetch from storage (page faults on mapped files and
    read-ahead included): /proc/self/io's read_bytes."""
    with open("/proc/self/io") as stream:
        for line in stream:
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    return 0


def _search(ctx: Context) -> int:
    return ctx.get(f"/search?q={SEARCH_TERMS[ctx.next() % len(SEARCH_TERMS)]}&limit=20", user=f"vic@{TENANT}")


def _sse_hold(ctx: Context) -> int:
    if ctx.latest_cursor is None:
        return 0
    return ctx.get(
        f"/stream/notifications/{TENANT}",
        headers={"Last-Event-ID": ctx.latest_cursor, "Accept": "text/event-stream"},
    )


def _sse_latest(ctx: Context) -> None:
    """The channel's latest cursor, from a stream opened without one (answered at once)."""
    if ctx.latest_cursor is not None:
        return
    answer = ctx.http.get(
        f"{PREFIX}/stream/notifications/{TENANT}",
        headers={"Authorization": f"Bearer {ctx.tokens[f'ada@{TENANT}']}", "Accept": "text/event-stream"},
    )
    for line in answer.text.splitlines():
        if line.startswith("id:") and line[3:].strip():
            ctx.latest_cursor = line[3:].strip()
            return


RESUME_BACK = 50  # the realtime row resumes this many events before the channel's latest


def _socket_open(ctx: Context) -> None:
    if ctx.socket is not None:
        return
    from websockets.sync.client import connect

    url = ctx.backend.websocket_url(REGION, tenant=TENANT, channel="notifications")
    token = ctx.tokens[f"vic@{TENANT}"]
    # No keepalive pings: the socket idles through the rows after its own, and a ping the busy local
    # gateway answered late closed it with a traceback on stderr (the rows' figures were not affected).
    protocols = ["ddgui.v1", token]
    opened = connect(url, subprotocols=protocols, max_size=None, open_timeout=60, ping_interval=None)  # type: ignore[arg-type]
    ctx.socket = ctx.closing.enter_context(opened)


def _resume(ctx: Context) -> int:
    """A `resume` over the WebSocket from `RESUME_BACK` events before the latest: the replay's last
    frame (it carries `latest`) ends the call."""
    from gui_core.replay_log import to_cursor

    cursor = to_cursor(max(1, ctx.seeded.size - RESUME_BACK))
    ctx.socket.send(json.dumps({"action": "resume", "channel": "notifications", "cursor": cursor}))
    while True:
        message = json.loads(ctx.socket.recv(timeout=HTTP_TIMEOUT_S))
        if message.get("type") == "replay" and "latest" in message:
            return 200
        if message.get("type") == "error":
            log(f"    realtime.resume: {message}")
            return 400


def _publish(ctx: Context, detail_type: str, details: Sequence[Mapping[str, Any]]) -> None:
    relay = ctx.backend.relays[REGION]
    for detail in details:
        relay.publish("domaindetermine.bench", detail_type, detail)
    ctx.backend.pump_events()


def _pump(ctx: Context, function: str) -> int:
    """Deliver what waits on the stream to `function` only; the number of records it took."""
    taken = 0
    for poller in ctx.backend.pollers[REGION]:
        if poller.fn.name == function:
            taken += poller.pump()
    return taken


def _drain(ctx: Context) -> None:
    """Every stream consumer and queue takes what waits (uncounted: before a consumer's row)."""
    ctx.backend.pump_events()
    ctx.backend.pump_stream()
    with contextlib.suppress(Exception):
        while ctx.backend.pump_queues():
            pass
    _pump_tables(ctx)


def _pump_tables(ctx: Context) -> int:
    """The stores' streams to the functions that read them in full (where the runtime has them)."""
    pump = getattr(ctx.backend, "pump_table_streams", None)
    return int(pump()) if pump is not None else 0


def _rollup(ctx: Context) -> int:
    """A job changes (the status consumer's update); the jobs store's stream feeds the rollups."""
    _job_event(ctx)
    return 200 if _pump_tables(ctx) else 0


def _alert(ctx: Context) -> Mapping[str, Any]:
    sample = json.loads((ROOT / "events" / "aws" / "eventbridge_governance_alert.json").read_text())["detail"]
    n = ctx.next()
    return {
        **sample,
        "tenant": TENANT,
        "alert_id": f"scale-{n}-{uuid.uuid4().hex[:8]}",
        "event_id": str(uuid.uuid4()),
        "time": _iso(datetime.now(UTC)),
        "region": REGION,
    }


def _fanout(ctx: Context) -> int:
    _publish(ctx, "GovernanceAlert", [_alert(ctx)])
    return 200 if _pump(ctx, "gui_fanout") else 0


def _facts(ctx: Context) -> int:
    _publish(ctx, "GovernanceAlert", [_alert(ctx)])
    return 200 if _pump(ctx, "gui_telemetry_facts") else 0


INDEXER_BATCH = 10


def _indexer(ctx: Context) -> int:
    size = ctx.seeded.items.get("search index", 1)
    n = ctx.next()
    details = [
        _artifact_detail(
            1 + (n * INDEXER_BATCH + i) % max(size - 1, 1),
            size,
            datetime.now(UTC),
            hub=ctx.seeded.hub,
            version=1 + n,
        )
        for i in range(INDEXER_BATCH)
    ]
    _publish(ctx, "ArtifactPublished", details)
    return 200 if _pump(ctx, "gui_indexer") else 0


def _job_event(ctx: Context) -> int:
    """A queued job starts running (a new job each call): the status consumer's update."""
    sample = json.loads((ROOT / "events" / "aws" / "eventbridge_job_status_changed.json").read_text())[
        "detail"
    ]
    jobs = ctx.seeded.queued_jobs
    job_id = jobs[ctx.next() % len(jobs)] if jobs else "none"
    detail = {
        **sample,
        "tenant": TENANT,
        "job_id": job_id,
        "status": "running",
        "progress": 10,
        "event_id": str(uuid.uuid4()),
        "time": _iso(datetime.now(UTC)),
        "region": REGION,
    }
    _publish(ctx, "JobStatusChanged", [detail])
    return 200


def _artifact_event(ctx: Context) -> int:
    """A new artifact derived from the hub (every other artifact's input): the registry consumer."""
    size = ctx.seeded.items.get("search index", 1)
    now = datetime.now(UTC)
    detail = {**_artifact_detail(size + ctx.next(), size, now, hub=ctx.seeded.hub), "published_at": _iso(now)}
    _publish(ctx, "ArtifactPublished", [detail])
    return 200


def _rebuild(ctx: Context) -> int:
    ctx.backend.fire_schedule("index-rebuild", REGION)
    with contextlib.suppress(Exception):
        while ctx.backend.pump_queues():
            pass
    return 200


def _expire_one(ctx: Context) -> None:
    """An inbox item of the tenant whose retention has passed, written by the operator (uncounted)."""
    from gui_core.date_times import iso
    from gui_notifications.logic import notification_id
    from gui_notifications.repository import InboxRepository
    from local.aws import aws_client

    table = SortedTable()
    created = datetime.now(UTC) - timedelta(days=91)
    InboxRepository(table, retention_days=90).append(  # type: ignore[arg-type]  # the Table contract
        TENANT,
        {
            "id": notification_id(created, f"expired:{ctx.next()}"),
            "category": "governance",
            "severity": "info",
            "title": "An expired notification",
            "body": _words(ctx.counter, 12),
            "source": {"module": "governance"},
            "audience": "*",
            "status": "read",
            "created_at": iso(created),
        },
    )
    dynamodb = aws_client("dynamodb", endpoint_url=ctx.backend.aws_endpoint_url, region=REGION)
    for stored in table.items.values():
        item = {**stored, "expires_at": int(time.time()) - 60} if "expires_at" in stored else stored
        dynamodb.put_item(TableName=MANIFEST.store("inbox").local_table_name(), Item=to_dynamo(item))


def _sweep(ctx: Context) -> int:
    """DynamoDB's TTL removes the expired item; the archiver takes its removal record. Only the inbox
    is swept: the local sweep scans a store whole (DynamoDB's TTL costs no read), and the large
    tenant's other stores made the sweep outlast the client's read timeout."""
    ctx.backend.sweep_now(stores=["inbox"])
    return 200


def _aggregate(ctx: Context) -> int:
    ctx.backend.fire_schedule("telemetry-aggregate", REGION)
    with contextlib.suppress(Exception):
        while ctx.backend.pump_queues():
            pass
    return 200


def recycle(ctx: Context, prefixes: Sequence[str], *, keep: Sequence[str] = ()) -> None:
    """Retire the idle containers of the functions named by `prefixes`: the next invocation is a cold
    start with an empty /tmp, as on a new Lambda execution environment. (The pool has no public way
    to do this; the bench reaches into it.)"""
    for (region, name), pool in ctx.backend.pools.items():
        if region != REGION or not name.startswith(tuple(prefixes)) or name in keep:
            continue
        with pool._lock:
            idle = list(pool._idle)
            pool._idle.clear()
            for container in idle:
                pool._containers.remove(container)
        for container in idle:
            container.close()


def rows() -> list[Row]:
    vic, otto, ada = f"vic@{TENANT}", f"otto@{TENANT}", f"ada@{TENANT}"
    telemetry = ("gui_telemetry",)
    return [
        Row(
            "notifications.list",
            "GET /notifications?limit=20",
            "inbox",
            20,
            _get("/notifications?limit=20", vic),
        ),
        Row(
            "notifications.unread",
            "GET /notifications?status=unread&limit=20",
            "inbox",
            20,
            _get("/notifications?status=unread&limit=20", vic),
        ),
        Row(
            "notifications.rare",
            "GET /notifications?severity=critical&category=cost&limit=20",
            "inbox",
            20,
            _get("/notifications?severity=critical&category=cost&limit=20", vic),
        ),
        Row(
            "notifications.read_all",
            "POST /notifications/read-all",
            "inbox",
            100,
            lambda ctx: ctx.post("/notifications/read-all", user=vic),
        ),
        Row("jobs.list", "GET /jobs?limit=20", "jobs", 20, _get("/jobs?limit=20", otto)),
        Row(
            "jobs.verb",
            "GET /jobs?verb=mapping&limit=20",
            "jobs",
            20,
            _get("/jobs?verb=mapping&limit=20", otto),
        ),
        Row(
            "jobs.status",
            "GET /jobs?status=failed&limit=20",
            "jobs",
            20,
            _get("/jobs?status=failed&limit=20", otto),
        ),
        Row(
            "jobs.actor",
            "GET /jobs?actor=<1 % of jobs>&limit=20",
            "jobs",
            20,
            _get(f"/jobs?actor={RARE}&limit=20", otto),
        ),
        Row(
            "views.list",
            "GET /preferences/views?limit=20",
            "preferences",
            20,
            _get("/preferences/views?limit=20", vic),
            reads=3 * 21,  # the shared and the own key ranges, 21 key items each, and 21 views
        ),
        Row(
            "views.module",
            "GET /preferences/views?module=mapping&limit=20",
            "preferences",
            20,
            _get("/preferences/views?module=mapping&limit=20", vic),
            reads=3 * 21,  # the shared and the own key ranges, 21 key items each, and 21 views
        ),
        Row(
            "views.mine",
            "GET /preferences/views?owner=me&limit=20 (1 % own)",
            "preferences",
            20,
            _get("/preferences/views?owner=me&limit=20", vic),
        ),
        Row(
            "artifacts.search",
            "GET /artifacts/search?limit=25",
            "artifacts",
            25,
            _get("/artifacts/search?limit=25", vic),
            reads=2 * 26,  # 26 order items and the records they name
        ),
        Row(
            "artifacts.kind",
            "GET /artifacts/search?kind=mapping&limit=25",
            "artifacts",
            25,
            _get("/artifacts/search?kind=mapping&limit=25", vic),
            reads=SEARCH_READ_BUDGET + 26,  # order items up to the budget (then `partial`), the records
        ),
        Row(
            "artifacts.tag",
            "GET /artifacts/search?tag=<1 %>&limit=25",
            "artifacts",
            25,
            _get("/artifacts/search?tag=rare-tag&limit=25", vic),
            reads=SEARCH_READ_BUDGET + 26,  # order items up to the budget (then `partial`), the records
        ),
        Row(
            "lineage.graph",
            "GET /artifacts/{hub}/lineage?direction=downstream&fan_out=25",
            "artifacts",
            26,
            lambda ctx: ctx.get(
                f"/artifacts/{ctx.seeded.hub}/lineage?direction=downstream&fan_out=25", user=vic
            ),
            reads=2 * 26 + 2,  # the cut's edges, the records they name, the degree counters
        ),
        Row(
            "lineage.layer",
            "GET /artifacts/{hub}/lineage?layer=downstream:1&fan_out=25",
            "artifacts",
            26,
            lambda ctx: ctx.get(
                f"/artifacts/{ctx.seeded.hub}/lineage?layer=downstream:1&fan_out=25", user=vic
            ),
            reads=2 * 26 + 2,  # the cut's edges, the records they name, the degree counters
        ),
        Row(
            "dashboard.first",
            "GET /dashboard?range=7d, first call",
            "jobs",
            0,
            _get("/dashboard?range=7d"),
            warmup=False,
            repeat=1,
            reads_by_range=True,
        ),
        Row(
            "dashboard.repeat",
            "GET /dashboard?range=7d, again",
            "jobs",
            0,
            _get("/dashboard?range=7d"),
            reads_by_range=True,
        ),
        Row(
            "dashboard.range",
            "GET /dashboard?from=&to= (a new range each call)",
            "jobs",
            0,
            _dashboard_range,
            reads_by_range=True,
        ),
        Row(
            "metrics.first",
            "GET /metrics/mapping?range=7d, first call",
            "jobs",
            0,
            _get("/metrics/mapping?range=7d"),
            warmup=False,
            repeat=1,
            reads_by_range=True,
        ),
        Row(
            "metrics.repeat",
            "GET /metrics/mapping?range=7d, again",
            "jobs",
            0,
            _get("/metrics/mapping?range=7d"),
            reads_by_range=True,
        ),
        Row(
            "search.warm",
            "GET /search?q=...&limit=20, warm container",
            "artifacts",
            0,
            _search,
            shared_io=True,
        ),
        Row(
            "search.cold",
            "GET /search?q=...&limit=20, new container",
            "artifacts",
            0,
            _search,
            warmup=False,
            before=lambda ctx: recycle(ctx, ("gui_search",)),
            shared_io=True,
        ),
        Row("audit.list", "GET /audit?limit=50", "audit", 50, _get("/audit?limit=50")),
        Row(
            "audit.actor",
            "GET /audit?actor=<1 %>&limit=50",
            "audit",
            50,
            _get(f"/audit?actor={RARE}&limit=50", ada),
        ),
        Row(
            "sse.hold",
            f"SSE long poll, one {STREAM_HOLD_S} s hold (per hold)",
            "events",
            0,
            _sse_hold,
            functions=("gui_stream",),
            before=_sse_latest,
        ),
        Row(
            "realtime.resume",
            f"WebSocket resume, {RESUME_BACK} events back",
            "events",
            RESUME_BACK,
            _resume,
            functions=("gui_realtime",),
            before=_socket_open,
        ),
        Row(
            "fanout.event",
            "gui_fanout, one notification event",
            "inbox",
            0,
            _fanout,
            functions=("gui_fanout",),
            before=_drain,
        ),
        Row(
            "facts.batch",
            "gui_telemetry_facts, a batch of one event",
            "events",
            0,
            _facts,
            functions=("gui_telemetry_facts",),
            before=_drain,
        ),
        Row(
            "indexer.batch",
            f"gui_indexer, a batch of {INDEXER_BATCH} ArtifactPublished",
            "artifacts",
            0,
            _indexer,
            functions=("gui_indexer",),
            before=_drain,
            shared_io=True,
        ),
        Row(
            "indexer.cold",
            f"gui_indexer, a batch of {INDEXER_BATCH}, new container",
            "artifacts",
            0,
            _indexer,
            functions=("gui_indexer",),
            warmup=False,
            repeat=1,
            before=lambda ctx: (_drain(ctx), recycle(ctx, ("gui_indexer",)))[0],
            shared_io=True,
        ),
        Row(
            "jobevents.status",
            "gui_job_events, one JobStatusChanged (queued to running)",
            "jobs",
            0,
            _job_event,
            functions=("gui_job_events",),
            before=_drain,
        ),
        Row(
            "artifactevents.published",
            "gui_artifact_events, one ArtifactPublished derived from the hub",
            "artifacts",
            0,
            _artifact_event,
            functions=("gui_artifact_events",),
            before=_drain,
        ),
        Row(
            "rollups.job",
            "gui_dashboard_rollups, one job's change from the jobs store's stream",
            "jobs",
            0,
            _rollup,
            functions=("gui_dashboard_rollups",),
            before=_drain,
        ),
        Row(
            "archiver.expired",
            "gui_archiver, one inbox item expired by TTL",
            "inbox",
            0,
            _sweep,
            functions=("gui_archiver",),
            before=_expire_one,
        ),
        Row(
            "rebuild.drift",
            "gui_index_rebuild, the drift check of the tenant's index",
            "artifacts",
            0,
            _rebuild,
            functions=("gui_index_rebuild",),
            repeat=2,
            shared_io=True,
        ),
        Row(
            "aggregate.warm",
            "telemetry aggregation of the tenant, warm",
            "events",
            0,
            _aggregate,
            functions=telemetry,
            repeat=2,
        ),
        Row(
            "aggregate.cold",
            "telemetry aggregation of the tenant, new container",
            "events",
            0,
            _aggregate,
            functions=telemetry,
            warmup=False,
            repeat=1,
            before=lambda ctx: recycle(ctx, telemetry, keep=("gui_telemetry_facts",)),
        ),
    ]


def _accepts(row: Row) -> Callable[[str], bool]:
    if not row.functions:
        return lambda _name: True
    if row.key.startswith("aggregate"):
        return lambda name: name.startswith(row.functions) and name != "gui_telemetry_facts"
    return lambda name: name.startswith(row.functions)


def measure(row: Row, ctx: Context, meter: Meter, repeat: int) -> dict[str, Any]:
    accepts = _accepts(row)
    calls: list[dict[str, Any]] = []
    count = row.repeat or repeat
    for index in range(count + (1 if row.warmup else 0)):
        if row.before is not None:
            try:
                row.before(ctx)
            except Exception as exc:  # the row cannot be prepared: recorded, the run goes on
                log(f"    {row.key}, preparing: {exc!r}")
                calls.append({"status": -1, "ms": None, "usage": {}, "detail": {}})
                break
        meter.quiet()
        shared = _shared_root(ctx) if row.shared_io else None
        held = drop_cached_pages(shared) if shared is not None else 0
        read_before = process_read_bytes()
        before = meter.snapshot()
        started = time.perf_counter()
        try:
            status = row.call(ctx)
        except Exception as exc:  # a consumer that raised, a timeout: recorded, the run goes on
            log(f"    {row.key}: {exc!r}")
            status = -1
        elapsed_ms = (time.perf_counter() - started) * 1000
        meter.quiet()
        usage, detail = meter.since(before, accepts)
        if shared is not None:
            usage["shared_bytes_read"] = process_read_bytes() - read_before
            usage["shared_bytes_held"] = held
        if row.warmup and index == 0:
            if elapsed_ms < SLOW_MS:
                continue
            # A call this slow reads far more than a page: what it consumes does not hang on a
            # container's first call, so the warm-up is the measurement and the rest are skipped.
            calls.append({"status": status, "ms": elapsed_ms, "usage": dict(usage), "detail": dict(detail)})
            break
        calls.append({"status": status, "ms": elapsed_ms, "usage": dict(usage), "detail": dict(detail)})
        if elapsed_ms >= SLOW_MS:
            break
    return summarize(calls)


def summarize(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    keys = sorted({k for call in calls for k in call["usage"]})
    usage = {k: statistics.median(float(call["usage"].get(k, 0)) for call in calls) for k in keys}
    usage["s3_bytes"] = usage.get("s3_bytes_read", 0.0) + usage.get("s3_bytes_written", 0.0)
    return {
        "calls": len(calls),
        "statuses": dict(Counter(str(call["status"]) for call in calls)),
        "ms": statistics.median(timed)
        if (timed := [c["ms"] for c in calls if c["ms"] is not None])
        else None,
        "usage": usage,
        "max_items_read": max((call["usage"].get("items_read", 0) for call in calls), default=0),
        "detail": calls[-1]["detail"] if calls else {},
    }


def run_size(size: int, meter: Meter, *, repeat: int, only: Sequence[str]) -> dict[str, Any]:
    from local.runtime import LocalBackend

    with tempfile.TemporaryDirectory(prefix="ddgui-scale-") as tmp, ScaleMoto() as moto:
        work = Path(tmp)
        backend = LocalBackend(
            aws_endpoint_url=moto.endpoint_url,
            regions=(REGION,),
            port=0,
            keys_dir=work / "keys",
            seed=False,
            ttl_sweep_s=None,
            bus_poll_s=None,
            environment={"gui_stream": {"STREAM_HOLD_S": str(STREAM_HOLD_S)}},
        )
        started = time.perf_counter()
        with backend:
            meter.know(backend.credentials)
            log(f"size {size:,}: backend up in {time.perf_counter() - started:.1f} s; seeding")
            started = time.perf_counter()
            chosen = [row for row in rows() if not only or any(word in row.key for word in only)]
            seeded = seed(backend, moto, size, work, collections_of(chosen))
            seeding_s = time.perf_counter() - started
            log(f"size {size:,}: seeded in {seeding_s:.1f} s")
            baseline = moto_baseline(backend)
            assert backend.keys is not None
            tokens = {
                user: backend.keys.mint(
                    tenant=TENANT, subject=user, roles=roles, scopes=scopes, ttl_s=4 * 3600
                )
                for user, (roles, scopes) in USERS.items()
            }
            results: dict[str, Any] = {}
            with httpx.Client(base_url=backend.base_urls[REGION], timeout=HTTP_TIMEOUT_S) as http:
                ctx = Context(backend, http, tokens, seeded)
                for row in chosen:
                    began = time.perf_counter()
                    results[row.key] = measure(row, ctx, meter, repeat)
                    usage = results[row.key]["usage"]
                    log(
                        f"  {row.key:<24} {time.perf_counter() - began:6.1f} s  items read "
                        f"{usage.get('items_read', 0):>8,.0f}  RRU {usage.get('rru', 0):>8,.1f}  "
                        f"statuses {results[row.key]['statuses']}"
                    )
                with contextlib.suppress(Exception):
                    ctx.closing.close()
        return {
            "size": size,
            "seeding_s": seeding_s,
            "seeding": {"seconds": seeded.seconds, "items": seeded.items, "bytes": seeded.bytes},
            "moto_query_ms": baseline,
            "rows": results,
        }


# -- the verdict --------------------------------------------------------------------------------


def verdict(row: Row, small: Mapping[str, Any], large: Mapping[str, Any]) -> dict[str, Any]:
    ratios = {}
    floors = dict(FLOORS)
    # A full page is not growth: a filter that matches a few items at the small size fills its page
    # at the large one, so the read floor is what a call may read (its page plus `PAGE_SLACK`) at the
    # small size's units per item.
    read_small = float(small["usage"].get("items_read", 0.0))
    if read_small:
        allowed = row.allowed(read_small)
        floors["rru"] = max(floors["rru"], small["usage"].get("rru", 0.0) / read_small * allowed)
    for unit, floor in floors.items():
        a, b = max(small["usage"].get(unit, 0.0), floor), max(large["usage"].get(unit, 0.0), floor)
        ratios[unit] = b / a
    worst = max(ratios, key=lambda u: ratios[u])
    read = large["max_items_read"]
    bounded = read <= row.allowed(float(small["max_items_read"]))
    failed = any(not code.startswith("2") for code in (*small["statuses"], *large["statuses"]))
    met = ratios[worst] <= GOAL_RATIO and bounded and not failed
    return {
        "ratios": ratios,
        "worst": worst,
        "ratio": ratios[worst],
        "bounded": bounded,
        "met": met,
        "errors": failed,
    }


def _fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


_STATUS = {"0": "the consumer took nothing", "-1": "raised"}  # the bench's own statuses


def report(
    small: Mapping[str, Any], large: Mapping[str, Any], markdown: list[str] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """The table (and in `markdown`, the same rows as a markdown table) and each row's verdict."""
    a, b = small["size"], large["size"]
    if markdown is not None:
        markdown += [
            f"| row | call | items read, {a:,} / {b:,} | RRU | WRU | S3 requests | S3 bytes | ms | ratio "
            "| verdict |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    lines = [
        f"{'row':<25} {'items read':>16} {'RRU':>14} {'WRU':>10} {'S3 req':>10} {'S3 bytes':>14} "
        f"{'ms':>16} {'ratio':>6}  verdict",
        f"{'':<25} {f'{a:,} / {b:,}':>16}",
    ]
    summary = []
    by_key = {row.key: row for row in rows()}
    for key, row in by_key.items():
        if key not in small["rows"] or key not in large["rows"]:
            continue
        s, l_ = small["rows"][key], large["rows"][key]
        v = verdict(row, s, l_)

        def pair(unit: str, s: Mapping[str, Any] = s, l_: Mapping[str, Any] = l_) -> str:
            return f"{_fmt(s['usage'].get(unit, 0))}/{_fmt(l_['usage'].get(unit, 0))}"

        why = (
            []
            if v["met"]
            else [
                *([f"{v['worst']} x{v['ratio']:.1f}"] if v["ratio"] > GOAL_RATIO else []),
                *(
                    [f"reads {_fmt(l_['max_items_read'])} > {_fmt(row.allowed(s['max_items_read']))}"]
                    if not v["bounded"]
                    else []
                ),
                *(
                    [
                        "failed: "
                        + ",".join(
                            _STATUS.get(c, c) for c in sorted({*s["statuses"], *l_["statuses"]} - {"200"})
                        )
                    ]
                    if v["errors"]
                    else []
                ),
            ]
        )
        ms = f"{s['ms']:.0f}/{l_['ms']:.0f}" if s["ms"] is not None and l_["ms"] is not None else "-"
        lines.append(
            f"{key:<25} {pair('items_read'):>16} {pair('rru'):>14} {pair('wru'):>10} "
            f"{pair('s3_requests'):>10} {pair('s3_bytes'):>14} {ms:>16} {v['ratio']:>5.2f}x  "
            f"{'met' if v['met'] else 'NOT met: ' + '; '.join(why)}"
        )
        summary.append({"key": key, "label": row.label, "page": row.page, "collection": row.collection, **v})
        if markdown is not None:
            cells = [pair(unit) for unit in ("items_read", "rru", "wru", "s3_requests", "s3_bytes")]
            label = row.label.replace("|", "\\|")
            verdict_text = "met" if v["met"] else "**not met**: " + "; ".join(why)
            markdown.append(
                f"| {key} | {label} | "
                + " | ".join(cells)
                + f" | {ms} | {v['ratio']:.2f}x | {verdict_text} |"
            )
    shared = shared_reads(small, large)
    lines += shared
    if markdown is not None and shared:
        markdown += ["", *shared]
    return lines, summary


def shared_reads(small: Mapping[str, Any], large: Mapping[str, Any]) -> list[str]:
    """What the rows reading the shared index folder read from it (not billed per request, so not in
    the verdict: EFS bills bytes), against what the folder held."""
    lines = []
    for key, s in small["rows"].items():
        l_ = large["rows"].get(key)
        if l_ is None or "shared_bytes_read" not in s["usage"] or "shared_bytes_read" not in l_["usage"]:
            continue
        lines.append(
            f"shared index folder, {key}: read {_fmt(s['usage']['shared_bytes_read'])} of "
            f"{_fmt(s['usage']['shared_bytes_held'])} bytes / {_fmt(l_['usage']['shared_bytes_read'])} of "
            f"{_fmt(l_['usage']['shared_bytes_held'])}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES[0]:,} and {QUICK_SIZES[1]:,}"
    )
    parser.add_argument("--sizes", help="two sizes, e.g. 1000,100000")
    parser.add_argument("--repeat", type=int, default=3, help="calls counted per row and size (median)")
    parser.add_argument(
        "--only", action="append", default=[], help="rows whose key contains this (repeatable)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--report", action="store_true", help="print the tables of --results as markdown, without running"
    )
    args = parser.parse_args()
    if args.report:
        measured = json.loads(args.results.read_text())
        table: list[str] = []
        report(*measured["phases"], markdown=table)
        print("\n".join(table))
        return
    sizes = (
        tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    )
    if len(sizes) != 2 or sizes[0] >= sizes[1]:
        parser.error("two sizes, the smaller first")
    meter = Meter().install()
    print(f"load before: {load()}")
    started = time.perf_counter()
    with stdout_to(LOG):
        phases = [run_size(size, meter, repeat=args.repeat, only=args.only) for size in sizes]
    elapsed = time.perf_counter() - started
    print(f"load after:  {load()}")
    small, large = phases
    print(
        f"scale: tenant {TENANT!r} at {sizes[0]:,} and {sizes[1]:,} items per collection, {args.repeat} "
        f"calls per row (median), {elapsed:.0f} s in all; seeding {small['seeding_s']:.0f} s and "
        f"{large['seeding_s']:.0f} s"
    )
    print(
        "moto's own 20-item Query, ms: "
        + ", ".join(
            f"{t} {small['moto_query_ms'][t]:.0f}/{large['moto_query_ms'][t]:.0f}"
            for t in small["moto_query_ms"]
        )
        + " (what the local endpoint adds as a partition grows; DynamoDB does not)"
    )
    lines, summary = report(small, large)
    print("\n".join(lines))
    met = sum(1 for s in summary if s["met"])
    print(
        f"goal (<= {GOAL_RATIO}x at {sizes[1]:,} what a call consumes at {sizes[0]:,}, reads <= page + "
        f"{PAGE_SLACK}): met by {met} of {len(summary)} rows"
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "sizes": sizes,
                "repeat": args.repeat,
                "seconds": elapsed,
                "goal_ratio": GOAL_RATIO,
                "page_slack": PAGE_SLACK,
                "floors": FLOORS,
                "phases": phases,
                "summary": summary,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
