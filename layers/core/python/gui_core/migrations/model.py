"""What a migration is: an ordered, named, versioned unit that changes one target's stored shape.

A migration changes one target: the items of a DynamoDB store (`ItemMigration`) or the objects under
a prefix of the data bucket (`ObjectMigration`), tenant by tenant. It says what it changes
(`description`, `phase`), and for each item or object either what to change or that it is already in
the new shape. Its change is written only where the old shape is still there, so a writer of the new
shape running meanwhile wins, and a second run changes nothing.

Phases, the expand/contract rule: `expand` adds what old and new code both tolerate (an attribute,
a key, an index's partition); `migrate` rewrites existing values into a new shape, readers taking
both; `contract` removes the old shape, and only once the steps it `requires` are done everywhere,
in a later release than theirs. A fixed migration gets a higher `version`: the deploy resumes a
failed run only with a version above the one that failed.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from gui_core.dynamo import Check, Condition, Delete, Put, Update

ID_PATTERN = re.compile(r"^(\d{4})_[a-z0-9_]+$")


class Phase(StrEnum):
    EXPAND = "expand"
    MIGRATE = "migrate"
    CONTRACT = "contract"


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Counts:
    """Items (or objects) read, changed, and left alone (already in the new shape, or changed by
    another writer between the read and the write)."""

    scanned: int = 0
    changed: int = 0
    skipped: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.scanned + other.scanned, self.changed + other.changed, self.skipped + other.skipped
        )

    def as_dict(self) -> dict[str, int]:
        return {"scanned": self.scanned, "changed": self.changed, "skipped": self.skipped}

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Counts:
        return cls(
            int(item.get("scanned") or 0), int(item.get("changed") or 0), int(item.get("skipped") or 0)
        )


@dataclass(frozen=True)
class ItemChange:
    """What an item migration does to one item: attributes set and removed, written only while
    `condition` holds (the item is still in the old shape; the pager adds that it exists).

    `also`: writes of other items of the same store made in the same transaction (a key item the
    new shape adds beside the item, a counter it moves), each with its own condition: when one of
    them does not hold, nothing is written and the item counts as skipped (already done).

    `otherwise`: the change to write instead when this one's conditions do not hold, for an upgrade
    that cannot tell from the item alone which of two it needs (whether an item beside it exists);
    each alternative holds its own conditions, so at most one is written."""

    condition: Condition
    values: Mapping[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    also: tuple[Put | Delete | Update | Check, ...] = ()
    otherwise: ItemChange | None = None

    def __post_init__(self) -> None:
        if not self.values and not self.remove:
            raise ValueError("an item change sets or removes at least one attribute")


class Migration(ABC):
    """One migration. Subclasses set the class attributes and implement `upgrade`."""

    id: ClassVar[str]  # `<4-digit number>_<name>`: the number orders the migrations
    description: ClassVar[str]
    phase: ClassVar[Phase]
    version: ClassVar[int] = 1  # raise it when a fixed version replaces one that failed
    requires: ClassVar[tuple[str, ...]] = ()  # ids done everywhere before this one (a contract's)
    # The first pass this one repeats (a second pass: it `requires` it too). It starts only in a
    # deploy step after the one its first pass was done by, once the writers of the release before
    # that one are gone (engine.Engine.deploy).
    repeats: ClassVar[str | None] = None

    @property
    def number(self) -> int:
        found = ID_PATTERN.match(self.id)
        if found is None:
            raise ValueError(f"migration id {self.id!r}: `<4 digits>_<lowercase name>`")
        return int(found.group(1))

    @property
    @abstractmethod
    def target(self) -> str:
        """What it changes, as the ledger and the plan show it (`store:inbox`, `objects:search/`)."""


class ItemMigration(Migration):
    """Changes the items of one store, one tenant's partition at a time."""

    store: ClassVar[str]  # the manifest's store name
    key_attributes: ClassVar[tuple[str, str]] = ("pk", "sk")
    sort_prefix: ClassVar[str | None] = None  # only the tenant's items whose sort key begins so

    @property
    def target(self) -> str:
        return f"store:{self.store}"

    def partition(self, tenant: str) -> str:
        """The partition holding the tenant's items (the tenant, in a store keyed by tenant)."""
        return tenant

    @abstractmethod
    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        """The change `item` needs; None when it is in the new shape already. Reads only: a plan
        calls it too."""

    def write_page(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Writes elsewhere that a page of items needs as a whole, made before their changes and
        never by a plan (a backfill of another store's items from these, batched); none here."""


class ObjectMigration(Migration):
    """Changes the objects under `<prefix><tenant>/` of the data bucket."""

    prefix: ClassVar[str]  # a folder of the bucket, such as `telemetry/`
    content_type: ClassVar[str] = "application/octet-stream"

    @property
    def target(self) -> str:
        return f"objects:{self.prefix}"

    def tenant_prefix(self, tenant: str) -> str:
        return f"{self.prefix}{tenant}/"

    @abstractmethod
    def upgrade(self, key: str, body: bytes) -> bytes | None:
        """The new body of the object at `key`; None when it is in the new shape already."""


def ordered(migrations: Sequence[Migration]) -> tuple[Migration, ...]:
    """The migrations by number, checked: ids well formed and unique, a version of at least 1,
    `requires` naming earlier migrations, a contract requiring at least one, a second pass requiring
    the first it repeats."""
    found = sorted(migrations, key=lambda m: m.number)
    seen: set[str] = set()
    numbers: set[int] = set()
    for migration in found:
        if migration.id in seen or migration.number in numbers:
            raise ValueError(f"migration {migration.id}: its number is taken")
        if migration.version < 1:
            raise ValueError(f"migration {migration.id}: versions start at 1")
        missing = [r for r in migration.requires if r not in seen]
        if missing:
            raise ValueError(f"migration {migration.id} requires {missing}, which do not come before it")
        if migration.phase is Phase.CONTRACT and not migration.requires:
            raise ValueError(f"contract migration {migration.id} must name the steps it requires")
        if migration.repeats is not None and migration.repeats not in migration.requires:
            raise ValueError(f"migration {migration.id} repeats {migration.repeats}: it must require it")
        seen.add(migration.id)
        numbers.add(migration.number)
    return tuple(found)
