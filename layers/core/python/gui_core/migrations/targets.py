"""The pagers: one tenant's items of a store, or objects under a prefix, a page at a time, and the
conditional write of a change (only where the old shape is still there).

A position (`Position`) is where a tenant's walk stands: the query's `LastEvaluatedKey`, or the last
object key listed. It is plain JSON, so the ledger keeps it as the tenant's checkpoint. The adapters
they walk are the `gui_core.dynamo.Table` and `gui_core.objects.ObjectStore` (or fakes with the same
methods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gui_core.dynamo import Check, Condition, ConditionFailed, Delete, Page, Put, TransactionCancelled, Update
from gui_core.migrations.model import ItemChange, ItemMigration, Migration, ObjectMigration
from gui_core.objects import ListedPage, StoredObject, Superseded

Position = dict[str, Any]
# A change written over an object that another writer replaced meanwhile is read and decided again,
# this many times at most.
OBJECT_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class Batch:
    """One page of a tenant's items or objects, and where the next one starts (None: the last)."""

    units: Sequence[Any]
    next: Position | None


@dataclass(frozen=True)
class Pending:
    """A change one item or object needs: `key` names it, `change` is the pager's own."""

    key: Mapping[str, Any]
    change: Any

    def example(self) -> dict[str, Any]:
        """How a plan shows it: the key and what would be set or removed."""
        if isinstance(self.change, ItemChange):
            shown: dict[str, Any] = {
                "key": dict(self.key),
                "set": dict(self.change.values),
                "remove": list(self.change.remove),
            }
            if self.change.also:
                shown["also"] = [_described(op) for op in self.change.also]
            return shown
        if isinstance(self.change, NewBody):
            return {"key": dict(self.key), "bytes": len(self.change.body)}
        return {"key": dict(self.key)}


def _described(operation: Put | Delete | Update | Check) -> dict[str, Any]:
    """A write beside an item's change, as a plan shows it: what it does to which key."""
    if isinstance(operation, Put):
        return {"put": {k: operation.item[k] for k in ("pk", "sk") if k in operation.item}}
    if isinstance(operation, Update):
        return {"update": dict(operation.key), "set": dict(operation.values), "add": dict(operation.add)}
    return {type(operation).__name__.lower(): dict(operation.key)}


class Pager(Protocol):
    def page(self, tenant: str, after: Position | None, limit: int) -> Batch: ...

    def write_page(self, units: Sequence[Any]) -> None:
        """What the migration writes for a page as a whole, before its units' changes (a run's,
        never a plan's)."""

    def pending(self, unit: Any) -> Pending | None:
        """The change `unit` needs; None: in the new shape already (or gone). Reads only."""

    def apply(self, pending: Pending) -> bool:
        """Write the change; False when the unit was no longer in the old shape (or gone)."""

    def estimate(self, limit: int) -> int | None:
        """How many units the target holds region-wide, as far as it can tell cheaply (more than
        `limit` may be answered as `limit + 1`); None: it cannot tell."""


class ItemTable(Protocol):
    """What the item pager needs of a `gui_core.dynamo.Table`."""

    def query(
        self,
        partition: tuple[str, str],
        *,
        sort_prefix: tuple[str, str] | None = None,
        limit: int = 50,
        start_key: Mapping[str, Any] | None = None,
        consistent: bool = False,
    ) -> Page: ...

    def update(
        self,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        condition: Condition | None = None,
        remove: Sequence[str] = (),
    ) -> dict[str, Any] | None: ...

    def approximate_count(self) -> int: ...

    def transact(self, operations: Sequence[Put | Delete | Check | Update]) -> None: ...


class ItemPager:
    """A tenant's partition of one store, by key order, read consistently."""

    def __init__(self, migration: ItemMigration, table: ItemTable) -> None:
        self.migration = migration
        self._table = table

    def page(self, tenant: str, after: Position | None, limit: int) -> Batch:
        partition_key, sort_key = self.migration.key_attributes
        prefix = self.migration.sort_prefix
        page = self._table.query(
            (partition_key, self.migration.partition(tenant)),
            sort_prefix=(sort_key, prefix) if prefix else None,
            limit=limit,
            start_key=after,
            consistent=True,
        )
        return Batch(page.items, page.last_key)

    def write_page(self, units: Sequence[Any]) -> None:
        self.migration.write_page(units)

    def pending(self, unit: Any) -> Pending | None:
        change = self.migration.upgrade(unit)
        if change is None:
            return None
        return Pending({name: unit[name] for name in self.migration.key_attributes}, change)

    def apply(self, pending: Pending) -> bool:
        change: ItemChange | None = pending.change
        while change is not None:
            if self._write(pending.key, change):
                return True
            change = change.otherwise
        return False

    def _write(self, key: Mapping[str, Any], change: ItemChange) -> bool:
        # The item still exists (an update would make it again) and is still in the old shape.
        exists = Condition(
            f"attribute_exists(#migration_key) AND ({change.condition.expression})",
            names={"#migration_key": self.migration.key_attributes[0], **change.condition.names},
            values=dict(change.condition.values),
        )
        if change.also:
            # The item's change and the writes beside it, all or nothing.
            update = Update(dict(key), values=change.values, remove=change.remove, condition=exists)
            try:
                self._table.transact([update, *change.also])
            except TransactionCancelled:
                return False
            return True
        try:
            self._table.update(key, change.values, condition=exists, remove=change.remove)
        except ConditionFailed:
            return False
        return True

    def estimate(self, limit: int) -> int | None:
        return self._table.approximate_count()


class ObjectFiles(Protocol):
    """What the object pager needs of a `gui_core.objects.ObjectStore`."""

    def list_page(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> ListedPage: ...

    def get_bytes(self, key: str) -> StoredObject | None: ...

    def put_bytes(
        self, key: str, body: bytes, *, content_type: str = ..., if_match: str | None = None
    ) -> str: ...


@dataclass(frozen=True)
class NewBody:
    body: bytes
    etag: str  # of the object the new body was made from: the write is conditional on it


class ObjectPager:
    """A tenant's objects under the migration's prefix, by key order; each change replaces the
    object only if it is still the version it was made from (S3's If-Match)."""

    def __init__(self, migration: ObjectMigration, files: ObjectFiles) -> None:
        self.migration = migration
        self._files = files

    def page(self, tenant: str, after: Position | None, limit: int) -> Batch:
        listed = self._files.list_page(
            self.migration.tenant_prefix(tenant), start_after=(after or {}).get("key"), limit=limit
        )
        last = listed.objects[-1].key if listed.objects else None
        return Batch(listed.objects, {"key": last} if listed.more and last else None)

    def write_page(self, units: Sequence[Any]) -> None:
        del units  # an object migration writes each object's new body alone

    def pending(self, unit: Any) -> Pending | None:
        return self._decide(str(unit.key))

    def _decide(self, key: str) -> Pending | None:
        stored = self._files.get_bytes(key)
        if stored is None:
            return None
        body = self.migration.upgrade(key, stored.body)
        return None if body is None else Pending({"key": key}, NewBody(body, stored.etag))

    def apply(self, pending: Pending) -> bool:
        current: Pending | None = pending
        for _ in range(OBJECT_WRITE_ATTEMPTS):
            if current is None:
                return False  # gone, or rewritten in the new shape meanwhile
            change: NewBody = current.change
            try:
                self._files.put_bytes(
                    str(current.key["key"]),
                    change.body,
                    content_type=self.migration.content_type,
                    if_match=change.etag,
                )
            except Superseded:
                current = self._decide(str(current.key["key"]))
                continue
            return True
        raise Superseded(str(pending.key["key"]))

    def estimate(self, limit: int) -> int | None:
        counted, after = 0, None
        while counted <= limit:
            listed = self._files.list_page(self.migration.prefix, start_after=after, limit=1000)
            counted += len(listed.objects)
            if not listed.more or not listed.objects:
                return counted
            after = listed.objects[-1].key
        return counted


def pager_for(migration: Migration, *, tables: Mapping[str, ItemTable], files: ObjectFiles | None) -> Pager:
    """The pager of `migration` over the adapters a function holds: its store's table, or the bucket."""
    if isinstance(migration, ItemMigration):
        if migration.store not in tables:
            raise LookupError(
                f"migration {migration.id} changes the {migration.store} store, which this function "
                "cannot reach: add it to the migration functions' stores (stacks/manifest.py)"
            )
        return ItemPager(migration, tables[migration.store])
    if isinstance(migration, ObjectMigration):
        if files is None:
            raise LookupError(
                f"migration {migration.id} changes objects under {migration.prefix}, and this function "
                "has no access to the data bucket: grant it (stacks/manifest.py)"
            )
        return ObjectPager(migration, files)
    raise TypeError(f"migration {migration.id}: neither an item nor an object migration")
