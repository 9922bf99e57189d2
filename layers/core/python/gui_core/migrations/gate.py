"""Whether a reader may rely on what a migration adds: the ledger says when it is done for a tenant.

A release that brings new keys (an index's items, a counter) brings their writers and the migration
that backfills them on what is stored; its readers serve from the new keys only where the backfill is
done, and from the old path before. Done means the migration's run is done in the region (every
tenant homed here; a tenant created since has only items written by the writers of the new shape),
or the tenant's own checkpoint is done (a queued run finishes tenant by tenant).

Done never becomes undone, so a container remembers it and reads nothing more: a reader pays one or
two GetItems of the ledger per request while the migration runs (at most every `recheck_s` per
tenant), and none once it is done. A migration the ledger has never heard of is not done: a deploy's
step records every migration of its code before the functions that read them are updated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, overload

from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.keys import DONE, RUN_SK, TENANT_PREFIX

if TYPE_CHECKING:
    from botocore.client import BaseClient


class LedgerReader(Protocol):
    """What the gate needs of a `gui_core.dynamo.Table` of the migrations store."""

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None: ...


class Gate(Protocol):
    def done(self, migration_id: str, tenant: str) -> bool: ...


class MigrationGate:
    """The ledger's answer, remembered once it is yes (see the module doc)."""

    def __init__(
        self,
        ledger: LedgerReader,
        *,
        recheck_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._recheck_s = recheck_s
        self._clock = clock
        self._lock = threading.Lock()
        self._region_done: set[str] = set()
        self._tenant_done: set[tuple[str, str]] = set()
        self._not_yet: dict[tuple[str, str], float] = {}
        self.reads = 0  # ledger reads made (tests)

    def done(self, migration_id: str, tenant: str) -> bool:
        key = (migration_id, tenant)
        with self._lock:
            if migration_id in self._region_done or key in self._tenant_done:
                return True
            checked = self._not_yet.get(key)
            if checked is not None and self._clock() - checked < self._recheck_s:
                return False
        region, mine = self._read(migration_id, tenant)
        with self._lock:
            if region:
                self._region_done.add(migration_id)
            if region or mine:
                self._tenant_done.add(key)
                self._not_yet.pop(key, None)
                return True
            self._not_yet[key] = self._clock()
            return False

    def _read(self, migration_id: str, tenant: str) -> tuple[bool, bool]:
        self.reads += 1
        run = self._ledger.get({"pk": migration_id, "sk": RUN_SK})
        if run is None:
            return False, False
        if run.get("status") == DONE:
            return True, True
        self.reads += 1
        checkpoint = self._ledger.get({"pk": migration_id, "sk": f"{TENANT_PREFIX}{tenant}"})
        return False, checkpoint is not None and checkpoint.get("status") == DONE


class Always:
    """A gate with a fixed answer: fakes and tests of one path."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer

    def done(self, migration_id: str, tenant: str) -> bool:
        return self.answer


class NamesLedger(Protocol):
    """A group's settings that always name the migrations store."""

    @property
    def migrations_table(self) -> str: ...
    @property
    def region(self) -> str: ...


class MayNameLedger(Protocol):
    """A group's settings that may leave the migrations store out (a test's settings)."""

    @property
    def migrations_table(self) -> str | None: ...
    @property
    def region(self) -> str: ...


@overload
def settings_gate(settings: NamesLedger, client: BaseClient | None = None) -> MigrationGate: ...
@overload
def settings_gate(settings: MayNameLedger, client: BaseClient | None = None) -> MigrationGate | None: ...
def settings_gate(settings: MayNameLedger, client: BaseClient | None = None) -> MigrationGate | None:
    """The gate over the ledger a group's settings name, read with `client` (else the region's): one
    way for every group to build it. None where they name none (a test's settings; an empty name is
    none), and the group says what that means for it."""
    if not settings.migrations_table:
        return None
    return MigrationGate(Table(settings.migrations_table, client or dynamodb_client(settings.region)))
