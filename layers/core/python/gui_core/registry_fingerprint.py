"""The fingerprint of a set of (artifact id, version) pairs: how many, and the sum of each pair's
64-bit hash. Order-independent and kept by deltas (a pair added, removed or replaced moves it by
its own hash alone), so the registry keeps one with DynamoDB ADD in each artifact write's
transaction, the search index one in each manifest it publishes, and the drift check compares the
two instead of the two sets. The sum is exact (not reduced modulo 2^64): a million pairs stay
within the 38 digits a DynamoDB number holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass


def pair_hash(artifact_id: str, version: int) -> int:
    """The pair's 64-bit hash (unsigned)."""
    digest = hashlib.blake2b(f"{artifact_id}\x00{int(version)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Fingerprint:
    count: int = 0
    total: int = 0

    @classmethod
    def of(cls, versions: Mapping[str, int]) -> Fingerprint:
        """The fingerprint of {id: version}."""
        return cls(len(versions), sum(pair_hash(i, v) for i, v in versions.items()))

    @classmethod
    def change(cls, artifact_id: str, before: int | None, after: int | None) -> Fingerprint:
        """What the fingerprint moves by when the artifact's version goes from `before` to `after`
        (None: not in the set)."""
        count, total = 0, 0
        if before is not None:
            count, total = count - 1, total - pair_hash(artifact_id, before)
        if after is not None:
            count, total = count + 1, total + pair_hash(artifact_id, after)
        return cls(count, total)

    def __add__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(self.count + other.count, self.total + other.total)

    def document(self) -> dict[str, int]:
        return {"count": self.count, "sum": self.total}

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> Fingerprint:
        return cls(int(str(data["count"])), int(str(data["sum"])))
