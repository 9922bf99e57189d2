"""The region's schema migrations as a tenant admin sees them (pure rules; the use case
`gui_admin.use_cases.list_migrations` reads the ledger): every run, with the caller's tenant's part.

A tenant admin sees a run as a whole (phase, status, when, how long, which code, what started it,
whether and when it failed) and its own tenant's part in full. Nothing of another tenant's is
answered: not the region's counts and tenant totals (they add up the other tenants' data and tell how
many the region holds), not another tenant's error (it may quote that tenant's keys or id). Nor the
operator's identity: `started_by` answers what started a run (a deploy, an operator, the worker),
not whose credentials did; `ddgui migrate status` shows an operator everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_admin.models import (
    MigrationCounts,
    MigrationFailure,
    MigrationRun,
    TenantMigrationPart,
)

if TYPE_CHECKING:
    from gui_core.migrations.ledger import Checkpoint, RunRecord


def started_by_kind(started_by: str | None) -> str | None:
    """What started a run, from the ledger's `started_by` (gui_migrate's handler and worker write
    `deploy <function>`, `worker <function>`, or `<operator> via <function>`)."""
    if not started_by:
        return None
    for kind in ("deploy", "worker"):
        if started_by.startswith(f"{kind} "):
            return kind
    return "operator"


def migration_run(record: RunRecord, checkpoint: Checkpoint, tenant: str) -> MigrationRun:
    """A run of the ledger as `tenant`'s admin sees it, with the tenant's checkpoint of it."""
    return MigrationRun(
        id=record.migration,
        description=record.description,
        phase=record.phase,  # type: ignore[arg-type]  # validated into the Phase enum
        target=record.target,
        version=record.version,
        status=record.status,
        mode=record.mode,
        planned_at=record.planned_at or None,
        started_at=record.started_at,
        finished_at=record.finished_at,
        duration_s=record.duration_s,
        started_by=started_by_kind(record.started_by),
        code_version=record.code_version,
        error=_failure(record, tenant),
        tenant=TenantMigrationPart(
            status=checkpoint.status,
            pages=checkpoint.pages,
            counts=MigrationCounts(**checkpoint.counts.as_dict()),
            updated_at=checkpoint.updated_at,
            error=checkpoint.error,
        ),
    )


def _failure(record: RunRecord, tenant: str) -> MigrationFailure | None:
    if record.error is None:
        return None
    error = record.error
    own = error.get("tenant") == tenant
    version = error.get("version")
    return MigrationFailure(
        at=error.get("at"),
        version=int(version) if version is not None else None,
        in_your_tenant=own,
        message=str(error.get("message")) if own and error.get("message") is not None else None,
    )
