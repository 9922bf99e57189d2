"""In-memory fakes of the adapters' Protocols, shared by the unit tests (and the benches that run
the functions' code on fakes): import them from here rather than define one per test module."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui_core.migrations.engine import WorkItem
from gui_core.objects import ListedPage, ObjectInfo, StoredObject, Superseded
from gui_core.quarantine import Reason


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
