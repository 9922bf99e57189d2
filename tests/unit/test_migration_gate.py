"""The migration gate (gui_core.migrations.gate) on a real Ledger over the in-memory table: a reader
uses new keys for a tenant once its backfill is done (its checkpoint, or the whole run), never before,
and reads the ledger at most once per `recheck_s` while waiting and never again once done."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gui_core.migrations.gate import Always, MigrationGate
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.model import Counts, ItemChange, ItemMigration, Phase, Status
from local.memory_table import MemoryTable
from tests.fakes import ManualClock

TENANTS = ("acme", "initech")


class Backfill(ItemMigration):
    id = "0099_backfill"
    description = "a backfill the readers wait for"
    phase = Phase.EXPAND
    store = "things"

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        return None


class CountingTable(MemoryTable):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        self.gets += 1
        return super().get(key, consistent=consistent)


def started(table: CountingTable) -> Ledger:
    ledger = Ledger(table)
    ledger.record(Backfill())
    ledger.start(
        Backfill(),
        tenants=TENANTS,
        mode="queued",
        started_by="test",
        code_version="1",
        from_status=Status.PENDING,
    )
    return ledger


def test_a_migration_the_ledger_never_heard_of_is_not_done() -> None:
    gate = MigrationGate(CountingTable())
    assert gate.done(Backfill.id, "acme") is False


def test_a_pending_or_running_migration_is_not_done_for_a_tenant_without_its_checkpoint() -> None:
    pending = CountingTable()
    Ledger(pending).record(Backfill())
    assert MigrationGate(pending).done(Backfill.id, "acme") is False
    running = CountingTable()
    started(running)
    assert MigrationGate(running).done(Backfill.id, "acme") is False


def test_a_tenant_is_done_when_its_own_checkpoint_is_and_the_other_tenant_is_not() -> None:
    table = CountingTable()
    ledger = started(table)
    assert ledger.finish_tenant(ledger.checkpoint(Backfill.id, "acme"), Counts())
    gate = MigrationGate(table, recheck_s=0)
    assert gate.done(Backfill.id, "acme") is True
    assert gate.done(Backfill.id, "initech") is False
    assert gate.done(Backfill.id, "globex") is False


def test_a_done_run_is_done_for_every_tenant_including_one_created_since() -> None:
    table = CountingTable()
    ledger = started(table)
    for tenant in TENANTS:
        assert ledger.finish_tenant(ledger.checkpoint(Backfill.id, tenant), Counts())
    assert ledger.complete(Backfill.id)
    gate = MigrationGate(table)
    assert gate.done(Backfill.id, "acme") is True
    reads = table.gets
    assert gate.done(Backfill.id, "new-tenant") is True  # the region is done: no read, no checkpoint
    assert table.gets == reads


def test_a_failed_run_is_not_done_but_a_tenant_done_before_the_failure_is() -> None:
    table = CountingTable()
    ledger = started(table)
    assert ledger.finish_tenant(ledger.checkpoint(Backfill.id, "acme"), Counts())
    ledger.fail(Backfill(), ledger.checkpoint(Backfill.id, "initech"), "boom")
    gate = MigrationGate(table)
    assert gate.done(Backfill.id, "acme") is True
    assert gate.done(Backfill.id, "initech") is False


def test_once_done_the_gate_reads_the_ledger_no_more() -> None:
    table = CountingTable()
    ledger = started(table)
    assert ledger.finish_tenant(ledger.checkpoint(Backfill.id, "acme"), Counts())
    gate = MigrationGate(table)
    before = table.gets
    assert gate.done(Backfill.id, "acme") is True
    assert table.gets - before == 2  # the run record, then the tenant's checkpoint
    for _ in range(100):
        assert gate.done(Backfill.id, "acme") is True
    assert table.gets - before == 2
    assert gate.reads == 2


def test_while_not_done_the_gate_rereads_at_most_every_recheck_and_sees_it_finish() -> None:
    table = CountingTable()
    ledger = started(table)
    clock = ManualClock(1000.0)
    gate = MigrationGate(table, recheck_s=5.0, clock=clock)
    assert gate.done(Backfill.id, "acme") is False
    first = table.gets
    for _ in range(50):
        clock.now += 0.01
        assert gate.done(Backfill.id, "acme") is False
    assert table.gets == first  # within recheck_s: remembered, no read

    assert ledger.finish_tenant(ledger.checkpoint(Backfill.id, "acme"), Counts())
    first = table.gets
    assert gate.done(Backfill.id, "acme") is False  # still within recheck_s of the last read
    assert table.gets == first
    clock.now += 5.0
    assert gate.done(Backfill.id, "acme") is True
    assert table.gets == first + 2
    # the remembered "not yet" of one tenant does not hold back another's first read
    assert gate.done(Backfill.id, "initech") is False
    assert table.gets == first + 4


def test_always_answers_its_fixed_answer() -> None:
    assert Always().done("anything", "acme") is True
    assert Always(False).done("anything", "acme") is False
