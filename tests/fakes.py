"""In-memory fakes of the adapters' Protocols, shared by the unit tests (and the benches that run
the functions' code on fakes): import them from here rather than define one per test module."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
