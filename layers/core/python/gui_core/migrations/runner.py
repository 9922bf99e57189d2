"""One tenant's part of one migration, page by page within a time budget, checkpointed after each
page: an interrupted run (its time up, its function stopped) continues from the last page done, and
a page done is never done again. A page interrupted before its checkpoint is read again; its writes
are conditional on the old shape, so what it changed then is only counted as skipped now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gui_core.migrations.ledger import Checkpoint, Ledger
from gui_core.migrations.model import Counts, Migration, Status
from gui_core.migrations.targets import Pager

MAX_ERROR_CHARS = 1500


class Outcome(StrEnum):
    DONE = "done"  # the tenant's last page is done
    PAUSED = "paused"  # the budget ran out: the checkpoint holds the next page
    SUPERSEDED = "superseded"  # another runner advanced the checkpoint: this one stopped


class Budget:
    """The time a run may take: it stops once fewer than `reserve_s` seconds remain (before the
    function's timeout), or after `max_pages` pages when given (tests, benches)."""

    def __init__(
        self,
        remaining_s: Callable[[], float] | None = None,
        *,
        reserve_s: float = 30.0,
        max_pages: int | None = None,
    ) -> None:
        self._remaining_s = remaining_s
        self.reserve_s = reserve_s
        self.max_pages = max_pages
        self.pages = 0

    @classmethod
    def seconds(cls, seconds: float, *, reserve_s: float = 0.0) -> Budget:
        deadline = time.monotonic() + seconds
        return cls(lambda: deadline - time.monotonic(), reserve_s=reserve_s)

    def spend_page(self) -> None:
        self.pages += 1

    def left_s(self) -> float | None:
        return None if self._remaining_s is None else self._remaining_s() - self.reserve_s

    def exhausted(self) -> bool:
        if self.max_pages is not None and self.pages >= self.max_pages:
            return True
        left = self.left_s()
        return left is not None and left <= 0


class MigrationFailed(Exception):
    """A migration stopped on an error in one tenant's part; the ledger holds it and the checkpoint."""

    def __init__(self, migration: Migration, tenant: str, error: str, checkpoint: Checkpoint) -> None:
        super().__init__(
            f"migration {migration.id} (version {migration.version}) failed for tenant {tenant} after "
            f"{checkpoint.pages} page(s) done: {error}"
        )
        self.migration = migration
        self.tenant = tenant
        self.error = error
        self.checkpoint = checkpoint


@dataclass(frozen=True)
class TenantResult:
    migration: str
    tenant: str
    outcome: Outcome
    counts: Counts  # of this run's pages
    pages: int


def run_tenant(
    migration: Migration,
    tenant: str,
    *,
    pager: Pager,
    ledger: Ledger,
    budget: Budget,
    page_size: int = 100,
) -> TenantResult:
    """Continue `tenant`'s part of `migration` from its checkpoint until it is done, the budget is
    spent or another runner takes over. An error stops the migration: the ledger records it (the
    checkpoint stays at the last page done) and `MigrationFailed` is raised."""
    checkpoint = ledger.checkpoint(migration.id, tenant)
    counts = Counts()
    pages = 0
    if checkpoint.status is Status.DONE:
        return TenantResult(migration.id, tenant, Outcome.DONE, counts, pages)
    while True:
        if budget.exhausted():
            return TenantResult(migration.id, tenant, Outcome.PAUSED, counts, pages)
        try:
            batch = pager.page(tenant, checkpoint.position, page_size)
            pager.write_page(batch.units)
            page = Counts()
            for unit in batch.units:
                pending = pager.pending(unit)
                written = pending is not None and pager.apply(pending)
                page += Counts(1, 1, 0) if written else Counts(1, 0, 1)
        except Exception as exc:
            # Bounded: the message ends up in CloudFormation's reason, which takes 4 KB in all.
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            ledger.fail(migration, checkpoint, error)
            raise MigrationFailed(migration, tenant, error, checkpoint) from exc
        budget.spend_page()
        pages += 1
        if batch.next is None:
            finished = ledger.finish_tenant(checkpoint, page)
            outcome = Outcome.DONE if finished else Outcome.SUPERSEDED
            return TenantResult(migration.id, tenant, outcome, counts + page if finished else counts, pages)
        advanced = ledger.advance(checkpoint, batch.next, page)
        if advanced is None:
            return TenantResult(migration.id, tenant, Outcome.SUPERSEDED, counts, pages)
        checkpoint = advanced
        counts += page
