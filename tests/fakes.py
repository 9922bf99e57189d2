"""In-memory fakes of the adapters' Protocols and a clock the test moves, shared by the tests (and
the benches that run the functions' code on fakes): import them from here rather than define one per
test module. Sample events load through `local.apigw.sample_event` (tests/events.py)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui_core.audit import AuditRecord
from gui_core.migrations.engine import WorkItem
from gui_core.objects import ListedPage, ObjectInfo, StoredObject, Superseded
from gui_core.quarantine import Reason
from local.memory_table import MemoryTable


@dataclass(frozen=True)
class Kept:
    record: Mapping[str, Any]  # a copy of the record as the consumer was given it
    reason: Reason
    error: str


class MemoryQuarantine:
    """`gui_core.quarantine.Quarantine` in memory: what was kept, in order. A record whose
    partition key is in `unreachable` raises instead, as SQS unreachable would."""

    def __init__(self) -> None:
        self.kept: list[Kept] = []
        self.unreachable: set[str] = set()

    def keep(self, record: Mapping[str, Any], reason: Reason, error: str = "") -> None:
        if str((record.get("kinesis") or {}).get("partitionKey")) in self.unreachable:
            raise ConnectionError("the quarantine queue is unreachable")
        self.kept.append(Kept(copy.deepcopy(dict(record)), reason, error))

    def reasons(self) -> list[tuple[str, Reason]]:
        """(sequence number, reason) of each record kept."""
        return [(str(k.record["kinesis"]["sequenceNumber"]), k.reason) for k in self.kept]


class MemoryWorkQueue:
    """`gui_core.migrations.engine.WorkQueue` in memory: the work items sent, in order."""

    def __init__(self) -> None:
        self.sent: list[WorkItem] = []

    def send(self, items: Sequence[WorkItem]) -> None:
        self.sent.extend(items)

    def take(self) -> list[WorkItem]:
        """The items sent so far, removed (as a consumer receives them)."""
        taken, self.sent = self.sent, []
        return taken


class MemoryObjects:
    """The objects of `gui_core.objects.ObjectStore` a migration reads and writes (listing by page,
    bytes with an ETag, conditional puts), in memory. `before_put` runs before each put (a test's
    concurrent writer)."""

    def __init__(self, objects: Mapping[str, bytes] | None = None) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.puts: list[str] = []
        self.before_put: Callable[[str], None] | None = None
        self._versions = 0
        for key, body in (objects or {}).items():
            self.write(key, body)

    def write(self, key: str, body: bytes) -> str:
        """Replace the object at `key` unconditionally (another writer); its new ETag."""
        self._versions += 1
        etag = f'"{self._versions}"'
        self.objects[key] = (body, etag)
        return etag

    def list_page(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> ListedPage:
        keys = sorted(
            k for k in self.objects if k.startswith(prefix) and (start_after is None or k > start_after)
        )
        page = keys[:limit]
        return ListedPage(
            [ObjectInfo(key=k, etag=self.objects[k][1], size=len(self.objects[k][0])) for k in page],
            more=len(keys) > limit,
        )

    def get_bytes(self, key: str) -> StoredObject | None:
        if key not in self.objects:
            return None
        body, etag = self.objects[key]
        return StoredObject(key=key, body=body, etag=etag)

    def put_bytes(self, key: str, body: bytes, *, content_type: str = "", if_match: str | None = None) -> str:
        if self.before_put is not None:
            self.before_put(key)
        if if_match is not None and (key not in self.objects or self.objects[key][1] != if_match):
            raise Superseded(key)
        self.puts.append(key)
        return self.write(key, body)


class CountedTable(MemoryTable):
    """`local.memory_table.MemoryTable` counting its queries: what a read cost."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        return super().query(*args, **kwargs)


class ItemsReadTable(MemoryTable):
    """`local.memory_table.MemoryTable` counting in `read` the items its queries and batch gets hand
    back, as DynamoDB bills a read (the key pages' tests and benches)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        page = super().query(*args, **kwargs)
        self.read += len(page.items)
        return page

    def batch_get(self, keys: Any, *, consistent: bool = True) -> list[dict[str, Any]]:
        found = super().batch_get(keys, consistent=consistent)
        self.read += len(found)
        return found


class ManualClock:
    """A clock of seconds that moves only when a test sets `now`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeAudit:
    """`gui_core.audit`'s sink in memory: the records appended, in order."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self.records.append(record)


class FakeCounters:
    """The rate limiter's CounterStore contract in memory, atomic like DynamoDB's conditional ADD."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def increment_below(
        self, key: Mapping[str, Any], *, ceiling: int, expires_at: int, amount: int = 1
    ) -> int | None:
        with self.lock:
            k = (key["pk"], key["sk"])
            if self.counts.get(k, 0) + amount > ceiling:
                return None
            self.counts[k] = self.counts.get(k, 0) + amount
            return self.counts[k]

    def read_count(self, key: Mapping[str, Any]) -> int:
        return self.counts.get((key["pk"], key["sk"]), 0)


class FakeEvents:
    """EventBridge's PutEvents: keeps the entries; refuses them all when `failing`."""

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
        self.entries += Entries
        if self.failing:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "Throttled", "ErrorMessage": "later"}]}
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


class FakeLambdaContext:
    """The context the Lambda runtime hands a handler, for one function, with a fixed remaining time
    (`local.containers.LambdaContext` is the local runtime's, whose time runs out)."""

    function_version = "$LATEST"

    def __init__(
        self,
        function_name: str,
        *,
        memory_limit_in_mb: int = 512,
        aws_request_id: str = "9d5c3f2e-0d1a-4c5b-9e8f-7a6b5c4d3e2f",
        remaining_ms: int = 14_000,
    ) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        self.aws_request_id = aws_request_id
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class FakeManagement:
    """The management API (`@connections`): what each connection was sent; `gone` ones answer 410."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.sizes: list[int] = []
        self.gone: set[str] = set()

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:  # noqa: N803
        if ConnectionId in self.gone:
            error = Exception("gone")
            error.response = {"Error": {"Code": "GoneException"}}  # type: ignore[attr-defined]
            raise error
        self.sizes.append(len(Data))
        self.sent.setdefault(ConnectionId, []).append(json.loads(Data))

    def delete_connection(self, *, ConnectionId: str) -> None:  # noqa: N803
        self.gone.add(ConnectionId)


class FailingTable(MemoryTable):
    """A store that raises (as DynamoDB would when throttled) on transactions naming an event id of
    `poison`: the fan-out's replay log failing a record."""

    def __init__(self) -> None:
        super().__init__()
        self.poison: set[str] = set()

    def transact(self, operations: Any) -> None:
        for op in operations:
            if str(getattr(op, "item", {}).get("event_id", "")) in self.poison:
                raise RuntimeError("ProvisionedThroughputExceededException")
        super().transact(operations)


class SlowManagement(FakeManagement):
    """`slow` connections take a while to answer, `broken` ones fail with a 500."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: set[str] = set()
        self.broken: set[str] = set()
        self.finished: dict[str, float] = {}
        self._lock = threading.Lock()

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:  # noqa: N803
        if ConnectionId in self.slow:
            time.sleep(0.3)
        if ConnectionId in self.broken:
            error = Exception("internal")
            error.response = {"Error": {"Code": "InternalServerErrorException"}}  # type: ignore[attr-defined]
            raise error
        with self._lock:
            super().post_to_connection(ConnectionId=ConnectionId, Data=Data)
            self.finished[ConnectionId] = time.monotonic()


class StubHandler:
    """A function's handler for the local runtime's tests: records its events and answers what it
    is told (or raises `error`); the context it gets must have time left."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer
        self.error = error

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        assert context.get_remaining_time_in_millis() > 0
        if self.error is not None:
            raise self.error
        return self.answer
