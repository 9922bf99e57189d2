"""The use cases of the migrations, each door's one call: the deploy step (`deploy`), an operator's
`apply`, the worker's step (`work`), `status` and `plan`.

Migrations run one after the other in the region, in the order of their numbers. A migration whose
target holds few items (the pager's cheap estimate, at most `inline_max_items`) runs inside the
call that starts it, tenant after tenant; a larger one is queued as one work item per tenant homed
in the region, and the worker finishes it asynchronously: a deploy never waits hours. Inline work
whose budget runs out queues its remaining tenants the same way. When the worker finishes a
migration's last tenant, it starts the next pending one.

A second pass (`repeats`: the same upgrade again, for what the release before wrote in the old shape
while its deploy ran, after the first pass had gone by) is held until a deploy step after the one
its first pass was done by: the deploy step runs before the functions are updated, so until the
next one, the release before may still be writing. The worker holds it too (a queued first pass may
finish during its deploy); an operator's `apply` starts it. In a region where no migration was done
yet (a new region: its functions are made after the step) nothing writes the old shape, and both
passes run in the same deploy.

The deploy step fails (raises `MigrationBlocked`) when a migration failed before and this code
holds no fixed version of it (a higher `version`), when a migration fails now, and when a contract
migration's prerequisites are not done: the code of such a release would read data in a shape it
no longer understands. An operator's `apply` resumes a failed run whatever its version (after the
data was fixed, or the cause was transient).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gui_core.metric_names import MetricName, MigrationMetric
from gui_core.migrations.ledger import Ledger, RunRecord
from gui_core.migrations.model import Counts, Migration, Phase, Status
from gui_core.migrations.runner import Budget, MigrationFailed, Outcome, TenantResult, run_tenant
from gui_core.migrations.targets import Pager

INLINE, QUEUED = "inline", "queued"
WORK_ITEM_VERSION = 1


class MigrationBlocked(Exception):
    """The migrations cannot proceed; the message says why and what to do (the deploy step fails
    with it)."""


@dataclass(frozen=True)
class WorkItem:
    """One tenant's part of one migration, as a message of the work queue. Where it stands is the
    ledger's checkpoint, not the message's: a redelivered or re-queued item continues from there."""

    migration: str
    tenant: str

    def body(self) -> str:
        return json.dumps(
            {"migration": self.migration, "tenant": self.tenant, "v": WORK_ITEM_VERSION}, sort_keys=True
        )

    @classmethod
    def of(cls, body: str) -> WorkItem:
        document = json.loads(body)
        if not isinstance(document, dict) or document.get("v") != WORK_ITEM_VERSION:
            raise ValueError("not a migration work item of this version")
        return cls(str(document["migration"]), str(document["tenant"]))


class WorkQueue(Protocol):
    def send(self, items: Sequence[WorkItem]) -> None: ...


@dataclass(frozen=True)
class RunIdentity:
    """Who runs migrations (a function's ARN, an operator's identity) and the code's version."""

    who: str
    code_version: str


@dataclass(frozen=True)
class Step:
    """What one call did with one migration."""

    migration: str
    action: str  # done, queued, waiting, held, paused, superseded, failed, skipped, stale, unknown
    tenants: int = 0
    counts: Counts = field(default_factory=Counts)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.migration,
            "action": self.action,
            "tenants": self.tenants,
            "counts": self.counts.as_dict(),
            "detail": self.detail,
        }

    def line(self) -> str:
        counted = self.counts
        text = f"{self.migration}: {self.action}"
        if self.tenants:
            text += f", {self.tenants} tenant(s)"
        if counted.scanned:
            text += f", {counted.changed} changed of {counted.scanned} read ({counted.skipped} skipped)"
        return text + (f" ({self.detail})" if self.detail else "")


def _heading(migration: MigrationState | MigrationPlan) -> dict[str, Any]:
    """What a state and a plan both show first: the migration's identity and status."""
    return {
        "migration": migration.migration,
        "description": migration.description,
        "phase": migration.phase,
        "version": migration.version,
        "target": migration.target,
        "status": migration.status,
    }


@dataclass(frozen=True)
class MigrationState:
    """A migration's run as the ledger holds it, with the progress of the tenants in progress."""

    migration: str
    description: str
    phase: str
    version: int
    target: str
    run: RunRecord | None
    tenants: Mapping[str, int] = field(default_factory=dict)  # checkpoints per status
    in_progress: Counts = field(default_factory=Counts)  # counts of the tenants not done
    failed_tenants: tuple[str, ...] = ()
    known: bool = True  # False: recorded in the ledger by code that no longer registers it

    @property
    def status(self) -> str:
        return self.run.status.value if self.run else Status.PENDING.value

    def as_dict(self) -> dict[str, Any]:
        return {
            **_heading(self),
            "run": self.run.as_dict() if self.run else None,
            "tenants": dict(self.tenants),
            "in_progress": self.in_progress.as_dict(),
            "failed_tenants": list(self.failed_tenants),
            "known": self.known,
        }


@dataclass
class MigrationPlan:
    """What a migration would change, from each tenant's checkpoint on, without writing."""

    migration: str
    description: str
    phase: str
    version: int
    target: str
    status: str
    estimate: int | None = None  # the target's items region-wide, as the pager estimates them
    mode: str | None = None  # how the deploy would run it
    counts: Counts = field(default_factory=Counts)  # scanned, would change, already new
    tenants: dict[str, Counts] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    partial: bool = False  # the budget ran out before every tenant was read
    after: tuple[str, ...] = ()  # earlier migrations not done yet: this plan reads data before them
    blocked: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **_heading(self),
            "estimate": self.estimate,
            "mode": self.mode,
            "would_change": self.counts.changed,
            "already_new": self.counts.skipped,
            "scanned": self.counts.scanned,
            "tenants": {t: c.as_dict() for t, c in sorted(self.tenants.items())},
            "examples": self.examples,
            "partial": self.partial,
            "after": list(self.after),
            "blocked": self.blocked,
        }


def _no_count(name: MetricName, value: float) -> None:
    del name, value


class Engine:
    def __init__(
        self,
        migrations: Sequence[Migration],
        *,
        ledger: Ledger,
        pager: Callable[[Migration], Pager],
        tenants: Callable[[], Sequence[str]],
        queue: WorkQueue,
        identity: RunIdentity,
        count: Callable[[MetricName, float], None] = _no_count,
        page_size: int = 100,
        inline_max_items: int = 2000,
    ) -> None:
        """`migrations` in order (`model.ordered`); `tenants`: the ids of the tenants homed in this
        region (`gui_core.tenancy.homed_tenants`), the only ones a run touches; `count(name, value)`
        adds to a metric."""
        self.migrations = tuple(migrations)
        self.ledger = ledger
        self._pager = pager
        self._tenants = tenants
        self._queue = queue
        self.identity = identity
        self._count = count
        self.page_size = page_size
        self.inline_max_items = inline_max_items

    def migration(self, migration_id: str) -> Migration | None:
        return next((m for m in self.migrations if m.id == migration_id), None)

    # -- the deploy step and the operator's apply ----------------------------------------------

    def deploy(self, budget: Budget, *, function_version: int | None = None) -> list[Step]:
        """Record the pending migrations, then run them in order (inline or queued). Raises
        `MigrationBlocked` when a migration failed before and is not fixed, fails now, or is a
        contract whose prerequisites are not done.

        `function_version` (the published version the trigger invoked; None locally, `$LATEST`):
        a version older than the highest that ran the step is a rollback's re-run of an earlier
        release and does nothing, so a failed update's rollback never fails on the ledger."""
        if function_version is not None:
            newer = self.ledger.claim_deploy(function_version)
            if newer is not None:
                return [
                    Step(
                        "*",
                        "skipped",
                        detail=f"version {function_version} of the deploy step is older than version "
                        f"{newer}, which ran it already: a rollback to an earlier release",
                    )
                ]
        settled = self._settled()
        for migration in self.migrations:
            run = self.ledger.record(migration)
            if run.status is Status.FAILED and run.version >= migration.version:
                raise MigrationBlocked(_failed_before(run, migration))
        steps = self._advance(budget, resume_failed=True, settled=settled)
        self._check_contracts()
        return steps

    def apply(self, budget: Budget, *, tenant: str | None = None) -> list[Step]:
        """The operator's run: as the deploy step, but a failed run is resumed whatever its
        version; with `tenant`, only that tenant's part of the migrations already running."""
        for migration in self.migrations:
            self.ledger.record(migration)
        if tenant is not None:
            return self._apply_tenant(budget, tenant)
        return self._advance(budget, resume_failed=True, settled=None)

    def _advance(
        self, budget: Budget, *, resume_failed: bool, settled: frozenset[str] | None = frozenset()
    ) -> list[Step]:
        """Run the migrations not done, in order. `settled`: the first passes whose second pass may
        start (done before this deploy step began); None: any (see the module doc)."""
        steps: list[Step] = []
        for migration in self.migrations:
            run = self.ledger.run(migration.id) or self.ledger.record(migration)
            if run.complete:
                self.ledger.complete(migration.id)
                continue
            if run.status is Status.DONE:
                continue
            if (
                migration.repeats is not None
                and run.status is Status.PENDING
                and settled is not None
                and migration.repeats not in settled
            ):
                steps.append(
                    Step(
                        migration.id,
                        "held",
                        detail=f"the second pass of {migration.repeats}: the next deploy step runs it "
                        "(the release before may write the old shape until this deploy is over)",
                    )
                )
                continue
            if run.status is Status.FAILED and not resume_failed:
                steps.append(Step(migration.id, "failed", detail=_error_text(run)))
                break
            missing = self._missing_requirements(migration)
            if missing:
                raise MigrationBlocked(_contract_blocked(migration, missing))
            if run.status is Status.RUNNING and run.mode == QUEUED:
                left = run.tenants_total - run.tenants_done
                steps.append(
                    Step(migration.id, "waiting", left, detail="queued per tenant: the worker finishes it")
                )
                break
            step = self._start_and_run(migration, run, budget)
            steps.append(step)
            if step.action != "done":
                break
        return steps

    def _start_and_run(self, migration: Migration, run: RunRecord, budget: Budget) -> Step:
        tenants = list(self._tenants())
        pager = self._pager(migration)
        estimate = pager.estimate(self.inline_max_items)
        inline = estimate is not None and estimate <= self.inline_max_items
        started = self.ledger.start(
            migration,
            tenants=tenants,
            mode=INLINE if inline else QUEUED,
            started_by=self.identity.who,
            code_version=self.identity.code_version,
            from_status=run.status,
        )
        if started is None:
            return Step(migration.id, "waiting", detail="another runner started it")
        todo = self._tenants_to_do(migration, tenants)
        if not inline:
            self._send([migration.id], todo)
            if self._complete(migration.id):
                return Step(migration.id, "done", detail="no tenant homed here")
            return Step(
                migration.id,
                "queued",
                len(todo),
                detail=f"about {estimate if estimate is not None else 'an unknown number of'} items: "
                "one work item per tenant",
            )
        counts = Counts()
        for position, tenant in enumerate(todo):
            result = self._run_tenant(migration, tenant, pager, budget)
            counts += result.counts
            if result.outcome is Outcome.PAUSED:
                self.ledger.set_mode(migration.id, QUEUED)
                self._send([migration.id], todo[position:])
                return Step(
                    migration.id, "queued", len(todo) - position, counts, detail="time ran out inline"
                )
        self._complete(migration.id)
        final = self.ledger.run(migration.id)
        if final is not None and final.status is Status.DONE:
            return Step(migration.id, "done", len(todo), counts, detail="inline")
        return Step(migration.id, "waiting", len(todo), counts, detail="other runners hold tenants")

    def _apply_tenant(self, budget: Budget, tenant: str) -> list[Step]:
        if tenant not in set(self._tenants()):
            raise MigrationBlocked(
                f"tenant {tenant} is not homed in this region: run its region's migrations"
            )
        steps = []
        for migration in self.migrations:
            run = self.ledger.run(migration.id)
            if run is not None and run.status is Status.DONE:
                continue
            if run is None or run.status is not Status.RUNNING:
                status = run.status.value if run else "unrecorded"
                steps.append(
                    Step(
                        migration.id,
                        "skipped",
                        detail=f"the run is {status}: `apply` without --tenant (or a deploy) starts or "
                        "resumes it for every tenant",
                    )
                )
                break
            result = self._run_tenant(migration, tenant, self._pager(migration), budget)
            if result.outcome is Outcome.DONE:
                self._complete(migration.id)
            steps.append(
                Step(migration.id, result.outcome.value, 1, result.counts, detail=f"tenant {tenant}")
            )
            if result.outcome is not Outcome.DONE:
                break
        return steps

    # -- the worker ---------------------------------------------------------------------------

    def work(self, item: WorkItem, budget: Budget) -> list[Step]:
        """One work item: the tenant's part from its checkpoint, re-queued when the budget runs
        out; when it finishes the migration's last tenant, the next migration starts."""
        migration = self.migration(item.migration)
        if migration is None:
            return [Step(item.migration, "unknown", detail="no such migration in this code")]
        run = self.ledger.run(migration.id)
        if run is None or run.status is not Status.RUNNING:
            status = run.status.value if run else "unrecorded"
            return [Step(migration.id, "stale", detail=f"the run is {status}")]
        if item.tenant not in set(self._tenants()):
            # Not (or no longer) homed here: nothing of it is this region's to change.
            checkpoint = self.ledger.checkpoint(migration.id, item.tenant)
            self.ledger.finish_tenant(checkpoint, Counts())
            steps = [Step(migration.id, "skipped", detail=f"tenant {item.tenant} is not homed here")]
            return steps + self._after_tenant(migration, budget)
        result = self._run_tenant(migration, item.tenant, self._pager(migration), budget)
        step = Step(migration.id, result.outcome.value, 1, result.counts, detail=f"tenant {item.tenant}")
        if result.outcome is Outcome.PAUSED:
            self._queue.send([item])
            return [step]
        if result.outcome is Outcome.DONE:
            return [step, *self._after_tenant(migration, budget)]
        return [step]

    def _after_tenant(self, migration: Migration, budget: Budget) -> list[Step]:
        if not self._complete(migration.id):
            return []
        try:
            return self._advance(budget, resume_failed=False)
        except MigrationBlocked as exc:
            return [Step(migration.id, "blocked", detail=str(exc))]

    # -- reading ------------------------------------------------------------------------------

    def status(self) -> list[MigrationState]:
        """Every registered migration's run, and the runs recorded by code that no longer registers
        them."""
        states = []
        for migration in self.migrations:
            run = self.ledger.run(migration.id)
            states.append(self._state(migration.id, run, migration=migration))
        registered = {m.id for m in self.migrations}
        states += [self._state(r.migration, r) for r in self.ledger.runs() if r.migration not in registered]
        return states

    def _state(
        self, migration_id: str, run: RunRecord | None, *, migration: Migration | None = None
    ) -> MigrationState:
        tenants: dict[str, int] = {}
        in_progress = Counts()
        failed: list[str] = []
        if run is not None and run.status in (Status.RUNNING, Status.FAILED):
            for checkpoint in self.ledger.checkpoints(migration_id):
                tenants[checkpoint.status.value] = tenants.get(checkpoint.status.value, 0) + 1
                if checkpoint.status is not Status.DONE:
                    in_progress += checkpoint.counts
                if checkpoint.status is Status.FAILED:
                    failed.append(checkpoint.tenant)
        return MigrationState(
            migration=migration_id,
            description=migration.description if migration else (run.description if run else ""),
            phase=migration.phase.value if migration else (run.phase if run else ""),
            version=migration.version if migration else (run.version if run else 0),
            target=migration.target if migration else (run.target if run else ""),
            run=run,
            tenants=tenants,
            in_progress=in_progress,
            failed_tenants=tuple(failed),
            known=migration is not None,
        )

    def plan(self, budget: Budget, *, tenant: str | None = None, examples: int = 3) -> list[MigrationPlan]:
        """What each migration not done would change, tenant by tenant from its checkpoint, with a
        few examples: reads only. A later migration's plan reads the data before the earlier ones
        ran (`after`)."""
        homed = list(self._tenants())
        if tenant is not None and tenant not in homed:
            raise MigrationBlocked(f"tenant {tenant} is not homed in this region")
        selection = [tenant] if tenant is not None else homed
        plans: list[MigrationPlan] = []
        before: list[str] = []
        for migration in self.migrations:
            run = self.ledger.run(migration.id)
            plan = MigrationPlan(
                migration.id,
                migration.description,
                migration.phase.value,
                migration.version,
                migration.target,
                run.status.value if run else Status.PENDING.value,
            )
            plans.append(plan)
            if run is not None and run.status is Status.DONE:
                continue
            missing = self._missing_requirements(migration)
            if missing:
                plan.blocked = _contract_blocked(migration, missing)
            plan.after = tuple(before)
            before.append(migration.id)
            pager = self._pager(migration)
            plan.estimate = pager.estimate(self.inline_max_items)
            inline = plan.estimate is not None and plan.estimate <= self.inline_max_items
            plan.mode = INLINE if inline else QUEUED
            for one in selection:
                if budget.exhausted():
                    plan.partial = True
                    break
                counted = self._plan_tenant(migration, one, pager, budget, plan, examples)
                plan.tenants[one] = counted
                plan.counts += counted
        return plans

    def _plan_tenant(
        self,
        migration: Migration,
        tenant: str,
        pager: Pager,
        budget: Budget,
        plan: MigrationPlan,
        examples: int,
    ) -> Counts:
        checkpoint = self.ledger.checkpoint(migration.id, tenant)
        counts = Counts()
        if checkpoint.status is Status.DONE:
            return counts
        position = checkpoint.position
        while True:
            if budget.exhausted():
                plan.partial = True
                return counts
            batch = pager.page(tenant, position, self.page_size)
            budget.spend_page()
            for unit in batch.units:
                pending = pager.pending(unit)
                counts += Counts(1, 0, 1) if pending is None else Counts(1, 1, 0)
                if pending is not None and len(plan.examples) < examples:
                    plan.examples.append({"tenant": tenant, **pending.example()})
            if batch.next is None:
                return counts
            position = batch.next

    # -- helpers ------------------------------------------------------------------------------

    def _settled(self) -> frozenset[str] | None:
        """The migrations done before this deploy step began (their second passes may start); None
        where none is done yet: a new region, whose functions come after the step."""
        done = frozenset(run.migration for run in self.ledger.runs() if run.status is Status.DONE)
        return done or None

    def _run_tenant(self, migration: Migration, tenant: str, pager: Pager, budget: Budget) -> TenantResult:
        try:
            result = run_tenant(
                migration, tenant, pager=pager, ledger=self.ledger, budget=budget, page_size=self.page_size
            )
        except MigrationFailed:
            self._count(MigrationMetric.FAILURES, 1)
            raise
        self._count(MigrationMetric.ITEMS_SCANNED, result.counts.scanned)
        self._count(MigrationMetric.ITEMS_CHANGED, result.counts.changed)
        if result.outcome is Outcome.DONE:
            self._count(MigrationMetric.TENANTS_DONE, 1)
        return result

    def _tenants_to_do(self, migration: Migration, tenants: Sequence[str]) -> list[str]:
        done = {cp.tenant for cp in self.ledger.checkpoints(migration.id) if cp.status is Status.DONE}
        return [t for t in tenants if t not in done]

    def _send(self, migration_ids: Sequence[str], tenants: Sequence[str]) -> None:
        items = [WorkItem(m, t) for m in migration_ids for t in tenants]
        if items:
            self._queue.send(items)
            self._count(MigrationMetric.WORK_ITEMS_QUEUED, len(items))

    def _complete(self, migration_id: str) -> bool:
        """Done when every tenant is (True also when it was done already)."""
        run = self.ledger.run(migration_id)
        if run is None:
            return False
        if run.status is Status.DONE:
            return True
        return run.complete and self.ledger.complete(migration_id)

    def _missing_requirements(self, migration: Migration) -> list[str]:
        missing = []
        for required in migration.requires:
            run = self.ledger.run(required)
            if run is None or run.status is not Status.DONE:
                missing.append(required)
        return missing

    def _check_contracts(self) -> None:
        """A contract migration of this code whose prerequisites are not done blocks the deploy,
        even when it waits behind queued work: this release's code relies on it."""
        for migration in self.migrations:
            if migration.phase is not Phase.CONTRACT:
                continue
            run = self.ledger.run(migration.id)
            if run is not None and run.status is Status.DONE:
                continue
            missing = self._missing_requirements(migration)
            if missing:
                raise MigrationBlocked(_contract_blocked(migration, missing))


def _error_text(run: RunRecord) -> str:
    error = run.error or {}
    return f"tenant {error.get('tenant')}: {error.get('message')}"


def _failed_before(run: RunRecord, migration: Migration) -> str:
    error = run.error or {}
    return (
        f"migration {migration.id} failed (version {run.version}) and this code holds no fixed version: "
        f"tenant {error.get('tenant')}, after {error.get('pages_done', 0)} page(s) done, "
        f"at {error.get('at')}: {error.get('message')}. Fix the migration and raise its version (the "
        "deploy then resumes it from its checkpoints), or fix the data and run `ddgui migrate apply`; "
        "`ddgui migrate status` shows it."
    )


def _contract_blocked(migration: Migration, missing: Sequence[str]) -> str:
    return (
        f"contract migration {migration.id} requires {', '.join(missing)} done in every tenant first "
        "(this release's code relies on it): wait until `ddgui migrate status` shows "
        f"{', '.join(missing)} done, then deploy again"
    )
