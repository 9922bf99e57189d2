"""The region's ledger of migrations: the migrations store, behind the methods the engine and the
admin API need.

Layout (partition = the migration's id; region-level data, not a tenant's):
- `RUN`: the run record: the migration's description, phase, target and version; its status
  (pending, running, done, failed) and mode (inline in the deploy step, or queued per tenant); who
  started it, when, with which code version; the tenants to do and done (an atomic counter), the
  counts of the tenants done, the duration and the last error.
- `TENANT#<tenant>`: the tenant's checkpoint: its status, the position after the last page done
  (a query's LastEvaluatedKey, an object key), the pages done and their counts, its error.
A catalog partition (`LEDGER`, one item per migration recorded) lists the runs without a Scan.
`DEPLOY`/`STEP` holds the highest function version that ran the deploy step (`claim_deploy`).

A checkpoint advances only from the page count its runner read (a conditional write): two runners of
one tenant (a redelivered work item) never both advance it, and the one that loses stops. A tenant's
last page and the run's counter move in one transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gui_core.date_times import iso
from gui_core.dynamo import (
    Condition,
    ConditionFailed,
    Queryable,
    TransactionCancelled,
    Update,
    read_up_to,
)
from gui_core.migrations.keys import RUN_SK, TENANT_PREFIX  # its format, in a module the gate imports
from gui_core.migrations.model import Counts, Migration, Status
from gui_core.migrations.targets import Position

CATALOG_PK = "LEDGER"
DEPLOY_KEY = {"pk": "DEPLOY", "sk": "STEP"}
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class RunRecord:
    migration: str
    description: str
    phase: str
    target: str
    version: int
    status: Status
    mode: str | None
    tenants_total: int
    tenants_done: int
    counts: Counts
    planned_at: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    started_by: str | None
    code_version: str | None
    error: Mapping[str, Any] | None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunRecord:
        return cls(
            migration=str(item["pk"]),
            description=str(item.get("description") or ""),
            phase=str(item.get("phase") or ""),
            target=str(item.get("target") or ""),
            version=int(item.get("version") or 1),
            status=Status(str(item.get("status") or Status.PENDING)),
            mode=item.get("mode"),
            tenants_total=int(item.get("tenants_total") or 0),
            tenants_done=int(item.get("tenants_done") or 0),
            counts=Counts.of(item),
            planned_at=str(item.get("planned_at") or ""),
            started_at=item.get("started_at"),
            finished_at=item.get("finished_at"),
            duration_s=float(item["duration_s"]) if item.get("duration_s") is not None else None,
            started_by=item.get("started_by"),
            code_version=item.get("code_version"),
            error=item.get("error"),
        )

    @property
    def complete(self) -> bool:
        return self.status is Status.RUNNING and self.tenants_done >= self.tenants_total

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.migration,
            "description": self.description,
            "phase": self.phase,
            "target": self.target,
            "version": self.version,
            "status": self.status.value,
            "mode": self.mode,
            "tenants": {"total": self.tenants_total, "done": self.tenants_done},
            "counts": self.counts.as_dict(),
            "planned_at": self.planned_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "started_by": self.started_by,
            "code_version": self.code_version,
            "error": dict(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class Checkpoint:
    migration: str
    tenant: str
    status: Status
    position: Position | None
    pages: int
    counts: Counts
    updated_at: str | None = None
    error: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Checkpoint:
        position = item.get("position")
        return cls(
            migration=str(item["pk"]),
            tenant=str(item["tenant"]),
            status=Status(str(item.get("status") or Status.PENDING)),
            position=json.loads(position) if position else None,
            pages=int(item.get("pages") or 0),
            counts=Counts.of(item),
            updated_at=item.get("updated_at"),
            error=item.get("error"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.migration,
            "tenant": self.tenant,
            "status": self.status.value,
            "position": self.position,
            "pages": self.pages,
            "counts": self.counts.as_dict(),
            "updated_at": self.updated_at,
            "error": self.error,
        }


class LedgerTable(Queryable, Protocol):
    """What the ledger needs of a `gui_core.dynamo.Table` (its queries: `Queryable`)."""

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None: ...

    def put(self, item: Mapping[str, Any], *, condition: Condition | None = None) -> None: ...

    def update(
        self,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        condition: Condition | None = None,
        add: Mapping[str, int | float] | None = None,
        remove: Sequence[str] = (),
        returning: bool = False,
    ) -> dict[str, Any] | None: ...

    def transact(self, operations: Sequence[Update]) -> None: ...


# The condition of an update that may make its item (Table.update's own is that the item exists).
_ANY = Condition("attribute_not_exists(#pk) OR attribute_exists(#pk)", names={"#pk": "pk"})


def _status_is(*statuses: Status) -> Condition:
    if len(statuses) == 1:
        return Condition(
            "#status = :status", names={"#status": "status"}, values={":status": statuses[0].value}
        )
    clauses = " OR ".join(f"#status = :status{i}" for i in range(len(statuses)))
    return Condition(
        f"({clauses})",
        names={"#status": "status"},
        values={f":status{i}": s.value for i, s in enumerate(statuses)},
    )


def _pages_are(pages: int) -> Condition:
    if pages == 0:
        return Condition("attribute_not_exists(#pages)", names={"#pages": "pages"})
    return Condition("#pages = :pages", names={"#pages": "pages"}, values={":pages": pages})


class Ledger:
    def __init__(
        self, table: LedgerTable, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._table = table
        self._clock = clock

    # -- reading (the engine, the CLI, the admin API) ---------------------------------------------

    def run(self, migration_id: str) -> RunRecord | None:
        item = self._table.get({"pk": migration_id, "sk": RUN_SK})
        return RunRecord.from_item(item) if item else None

    def runs(self) -> list[RunRecord]:
        """Every run recorded in the region, by migration id."""
        found = []
        for entry in self._all(CATALOG_PK, None):
            record = self.run(str(entry["sk"]))
            if record is not None:
                found.append(record)
        return sorted(found, key=lambda r: r.migration)

    def checkpoint(self, migration_id: str, tenant: str) -> Checkpoint:
        """The tenant's checkpoint (a pending one at the start when none is recorded)."""
        item = self._table.get({"pk": migration_id, "sk": f"{TENANT_PREFIX}{tenant}"})
        if item is None:
            return Checkpoint(migration_id, tenant, Status.PENDING, None, 0, Counts())
        return Checkpoint.from_item(item)

    def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        return [Checkpoint.from_item(item) for item in self._all(migration_id, TENANT_PREFIX)]

    def _all(self, partition: str, prefix: str | None) -> Iterator[dict[str, Any]]:
        read = read_up_to(
            self._table,
            ("pk", partition),
            limit=None,
            chunk=200,
            sort_prefix=("sk", prefix) if prefix else None,
            consistent=True,
        )
        yield from read.items

    def claim_deploy(self, version: int) -> int | None:
        """Record that function `version` runs the deploy step; the higher version that ran it
        before, when there is one (this call is then an older release's: CloudFormation rolling
        a failed update back invokes the previous version through the trigger)."""
        try:
            self._table.update(
                DEPLOY_KEY,
                {"version": version, "at": iso(self._clock())},
                condition=Condition(
                    "attribute_not_exists(#v) OR #v <= :v", names={"#v": "version"}, values={":v": version}
                ),
            )
        except ConditionFailed:
            claimed = self._table.get(DEPLOY_KEY) or {}
            return int(claimed.get("version") or 0)
        return None

    # -- the run record -------------------------------------------------------------------------

    def record(self, migration: Migration) -> RunRecord:
        """The migration's run record, made pending when it has none (the plan of a deploy)."""
        now = iso(self._clock())
        item = {
            "pk": migration.id,
            "sk": RUN_SK,
            "description": migration.description,
            "phase": migration.phase.value,
            "target": migration.target,
            "version": migration.version,
            "status": Status.PENDING.value,
            "planned_at": now,
            "tenants_total": 0,
            "tenants_done": 0,
            **Counts().as_dict(),
        }
        absent = Condition("attribute_not_exists(#pk)", names={"#pk": "pk"})
        for written in (item, {"pk": CATALOG_PK, "sk": migration.id, "planned_at": now}):
            with contextlib.suppress(ConditionFailed):  # recorded by an earlier plan
                self._table.put(written, condition=absent)
        record = self.run(migration.id)
        assert record is not None
        return record

    def start(
        self,
        migration: Migration,
        *,
        tenants: Sequence[str],
        mode: str,
        started_by: str,
        code_version: str,
        from_status: Status,
    ) -> RunRecord | None:
        """Running now, from `from_status` (None when another runner moved it first): the tenants to
        do are `tenants`, those already done counted as done; the version is the code's."""
        done = {cp.tenant for cp in self.checkpoints(migration.id) if cp.status is Status.DONE}
        now = self._clock()
        values: dict[str, Any] = {
            "status": Status.RUNNING.value,
            "mode": mode,
            "version": migration.version,
            "description": migration.description,
            "tenants_total": len(tenants),
            "tenants_done": len(done & set(tenants)),
            "started_by": started_by,
            "code_version": code_version,
            "resumed_at" if from_status is not Status.PENDING else "started_at": iso(now),
        }
        if from_status is Status.PENDING:
            values["started_epoch"] = now.timestamp()
        try:
            item = self._table.update(
                {"pk": migration.id, "sk": RUN_SK},
                values,
                condition=_status_is(from_status),
                remove=("error",),
                returning=True,
            )
        except ConditionFailed:
            return None
        return RunRecord.from_item(item) if item else self.run(migration.id)

    def set_mode(self, migration_id: str, mode: str) -> None:
        self._table.update({"pk": migration_id, "sk": RUN_SK}, {"mode": mode})

    def complete(self, migration_id: str) -> bool:
        """Done, if it was running (False: done already, or failed meanwhile)."""
        now = self._clock()
        run = self._table.get({"pk": migration_id, "sk": RUN_SK}) or {}
        started = run.get("started_epoch")
        values: dict[str, Any] = {"status": Status.DONE.value, "finished_at": iso(now)}
        if started is not None:
            values["duration_s"] = round(now.timestamp() - float(started), 3)
        try:
            self._table.update(
                {"pk": migration_id, "sk": RUN_SK}, values, condition=_status_is(Status.RUNNING)
            )
        except ConditionFailed:
            return False
        return True

    # -- checkpoints ----------------------------------------------------------------------------

    def advance(self, checkpoint: Checkpoint, position: Position, counts: Counts) -> Checkpoint | None:
        """One more page done: the next one starts at `position`. None when another runner
        advanced the checkpoint since it was read (this runner stops)."""
        try:
            item = self._table.update(
                {"pk": checkpoint.migration, "sk": f"{TENANT_PREFIX}{checkpoint.tenant}"},
                {
                    "tenant": checkpoint.tenant,
                    "status": Status.RUNNING.value,
                    "position": json.dumps(position, sort_keys=True, default=str),
                    "pages": checkpoint.pages + 1,
                    "updated_at": iso(self._clock()),
                },
                add=counts.as_dict(),
                condition=_pages_are(checkpoint.pages),
                remove=("error",),
                returning=True,
            )
        except ConditionFailed:
            return None
        return (
            Checkpoint.from_item(item) if item else self.checkpoint(checkpoint.migration, checkpoint.tenant)
        )

    def finish_tenant(self, checkpoint: Checkpoint, counts: Counts) -> bool:
        """The tenant's last page done: its checkpoint done and the run's counter and counts moved,
        in one transaction. False when another runner advanced the checkpoint since it was read,
        or the run is no longer running."""
        total = checkpoint.counts + counts
        now = iso(self._clock())
        try:
            self._table.transact(
                [
                    Update(
                        {"pk": checkpoint.migration, "sk": f"{TENANT_PREFIX}{checkpoint.tenant}"},
                        values={
                            "tenant": checkpoint.tenant,
                            "status": Status.DONE.value,
                            "pages": checkpoint.pages + 1,
                            "updated_at": now,
                            "finished_at": now,
                        },
                        add=counts.as_dict(),
                        remove=("position", "error"),
                        condition=_pages_are(checkpoint.pages),
                    ),
                    Update(
                        {"pk": checkpoint.migration, "sk": RUN_SK},
                        add={"tenants_done": 1, **total.as_dict()},
                        condition=_status_is(Status.RUNNING),
                    ),
                ]
            )
        except TransactionCancelled:
            return False
        return True

    def fail(self, migration: Migration, checkpoint: Checkpoint, error: str) -> None:
        """The migration stopped on `error` in the tenant's part: the checkpoint keeps the last page
        done; the run is failed with the error, until a fixed version (or an operator) resumes it."""
        now = iso(self._clock())
        message = error[:MAX_ERROR_CHARS]
        self._table.update(
            {"pk": checkpoint.migration, "sk": f"{TENANT_PREFIX}{checkpoint.tenant}"},
            {"tenant": checkpoint.tenant, "status": Status.FAILED.value, "error": message, "updated_at": now},
            condition=_ANY,
        )
        self._table.update(
            {"pk": checkpoint.migration, "sk": RUN_SK},
            {
                "status": Status.FAILED.value,
                "version": migration.version,
                "error": {
                    "tenant": checkpoint.tenant,
                    "message": message,
                    "at": now,
                    "version": migration.version,
                    "pages_done": checkpoint.pages,
                },
            },
            add={"failures": 1},
        )
