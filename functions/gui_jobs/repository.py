"""DynamoDB layout of the jobs store, behind the methods the routes and the status consumer need.

One table, partition = tenant; sort keys by kind of item:
  JOB#<job id>                        a job attempt (ids sort by creation time)
  IDEM#<subject>#<key>                an Idempotency-Key of a job request: body digest and job id
  JF#<filter>#<values>#<job id>       a key item of one list filter (below), naming the job
Every change of a job is a conditional write on its version, so of two racing commands (or an
executor report racing a command) exactly one wins; the other sees the new state and decides again.

List filters are served from key items, one per filter and job: `<filter>` names the fields it
holds (`v` verb, `s` status, `a` actor, and each combination: `vs`, `va`, `sa`, `vsa`), `<values>`
their values, percent-encoded, in that order. A filter's jobs are one key range, newest first by id,
so a page of `/jobs?status=failed&actor=ada` reads its page of key items and the jobs they name
(`gui_core.key_pages`). The verb and the actor never change; a status change moves the four key
items that hold the status in the same transaction as the job. The job records which status its key
items were written for (`keyed_status`; absent: no key items yet), so a writer removes exactly the
ones that exist, even after a release that did not know them rewrote the job (it carries the
attribute over). Migration 0010_jobs_filter_keys wrote them for the jobs stored before.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gui_core.date_times import iso
from gui_core.dynamo import (
    Condition,
    Delete,
    Page,
    Put,
    Table,
    TransactionCancelled,
    item_absent,
)
from gui_core.errors import Conflict

JOB_PREFIX = "JOB#"
FILTER_PREFIX = "JF#"
KEYED = "keyed_status"  # the status the job's key items were written for
# Each list filter and the job fields it holds, in the order they appear in its key items.
FILTERS: dict[str, tuple[str, ...]] = {
    "v": ("verb",),
    "s": ("status",),
    "a": ("requested_by",),
    "vs": ("verb", "status"),
    "va": ("verb", "requested_by"),
    "sa": ("status", "requested_by"),
    "vsa": ("verb", "status", "requested_by"),
}
STATUS_FILTERS = tuple(name for name, fields in FILTERS.items() if "status" in fields)
# A command's write that lost a race with the migration writing the job's key items is written
# again (the job itself did not change); this many times at most.
KEY_RACES = 3
# The migration that wrote the key items of the jobs stored before them, and the release before wrote
# during its deploy: a filtered list is served from the keys once its second pass is done for the
# tenant (gui_core.migrations.gate).
JOBS_KEYS_MIGRATION = "0012_jobs_filter_keys_again"


class JobChanged(Conflict):
    code, title = "job_changed", "The job changed while the command was applied"


def job_sk(job_id: str) -> str:
    return f"{JOB_PREFIX}{quote(job_id, safe='')}"


def idempotency_sk(subject: str, key: str) -> str:
    return f"IDEM#{quote(subject, safe='')}#{quote(key, safe='')}"


def filter_name(*, verb: str | None, status: str | None, actor: str | None) -> str | None:
    """The filter serving these criteria (None: no criterion, the jobs' own range)."""
    name = "".join(c for c, wanted in (("v", verb), ("s", status), ("a", actor)) if wanted is not None)
    return name or None


def filter_prefix(name: str, values: tuple[str, ...]) -> str:
    """The key range of one filter's jobs: `JF#<filter>#<value>#...#` (values percent-encoded)."""
    return f"{FILTER_PREFIX}{name}#" + "".join(f"{quote(v, safe='')}#" for v in values)


def filter_sk(name: str, values: tuple[str, ...], job_id: str) -> str:
    """The key of one job's key item of a filter."""
    return filter_prefix(name, values) + quote(job_id, safe="")


def filter_values(name: str, job: dict[str, Any], *, status: str | None = None) -> tuple[str, ...]:
    """The job's values of a filter's fields (`status` instead of the job's own, when given)."""
    fields = FILTERS[name]
    return tuple(str(status if f == "status" and status is not None else job[f]) for f in fields)


def filter_items(
    tenant: str, job: dict[str, Any], names: tuple[str, ...] = tuple(FILTERS), *, status: str | None = None
) -> list[dict[str, Any]]:
    """The job's key items of the filters `names` (every filter by default)."""
    return [
        {
            "pk": tenant,
            "sk": filter_prefix(name, filter_values(name, job, status=status))
            + quote(str(job["id"]), safe=""),
            "kind": "job_key",
            "job_id": job["id"],
        }
        for name in names
    ]


def key_changes(tenant: str, keyed: str | None, job: dict[str, Any]) -> list[Put | Delete]:
    """The writes that make the job's key items those of its status, from the ones that exist (the
    job's `keyed_status`: None for none)."""
    if keyed is None:
        return [Put(item) for item in filter_items(tenant, job)]
    if keyed == job["status"]:
        return []
    stale = filter_items(tenant, job, STATUS_FILTERS, status=keyed)
    return [
        *(Delete({"pk": i["pk"], "sk": i["sk"]}) for i in stale),
        *(Put(item) for item in filter_items(tenant, job, STATUS_FILTERS)),
    ]


def now_iso() -> str:
    return iso(datetime.now(UTC))


def _version_and_status(version: int, status: str, keyed: str | None) -> Condition:
    """The stored job is the one read: its version, its status, and the key items it had then."""
    names = {"#v": "version", "#s": "status", "#k": KEYED}
    values: dict[str, Any] = {":v": version, ":s": status}
    if keyed is None:
        return Condition("#v = :v AND #s = :s AND attribute_not_exists(#k)", names=names, values=values)
    return Condition("#v = :v AND #s = :s AND #k = :k", names=names, values={**values, ":k": keyed})


def _absent_or_expired(now: int) -> Condition:
    # DynamoDB deletes expired items lazily: an expired key is free again.
    return Condition(
        "attribute_not_exists(#k) OR #e < :now", names={"#k": "sk", "#e": "expires_at"}, values={":now": now}
    )


class JobsRepository:
    def __init__(self, table: Table, *, idempotency_s: int = 86400) -> None:
        self._table = table
        self._idempotency_s = idempotency_s

    @staticmethod
    def _item(tenant: str, job: dict[str, Any]) -> dict[str, Any]:
        return {"pk": tenant, "sk": job_sk(job["id"]), "kind": "job", **job}

    def job(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return self._table.get({"pk": tenant, "sk": job_sk(job_id)})

    def idempotency_record(self, tenant: str, subject: str, key: str) -> dict[str, Any] | None:
        item = self._table.get({"pk": tenant, "sk": idempotency_sk(subject, key)})
        if item is None or int(item.get("expires_at", 0)) < int(time.time()):
            return None
        return item

    def create(
        self, tenant: str, job: dict[str, Any], *, idempotency: tuple[str, str, str] | None = None
    ) -> bool:
        """Record a new job; with `idempotency` (subject, key, digest) also its key record, in one
        transaction. False when the key was taken meanwhile (the caller reads the record again)."""
        operations: list[Put | Delete] = [
            Put(self._item(tenant, {**job, KEYED: job["status"]}), item_absent("sk"))
        ]
        if idempotency is not None:
            subject, key, digest = idempotency
            now = int(time.time())
            record = {
                "pk": tenant,
                "sk": idempotency_sk(subject, key),
                "kind": "idempotency",
                "digest": digest,
                "job_id": job["id"],
                "created_at": job["requested_at"],
                "expires_at": now + self._idempotency_s,
            }
            operations.append(Put(record, _absent_or_expired(now)))
        operations += key_changes(tenant, None, job)
        try:
            self._table.transact(operations)
        except TransactionCancelled as exc:
            if 1 in exc.failed:
                return False
            raise
        return True

    def replace(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Write `new` if the stored job is still `old` (version and status), with its key items;
        else JobChanged."""
        self._write(tenant, old, new)

    def retry(
        self, tenant: str, old: dict[str, Any], linked: dict[str, Any], attempt: dict[str, Any]
    ) -> None:
        """Link the old attempt to its retry and record the retry, all or nothing."""
        extra = [
            Put(self._item(tenant, {**attempt, KEYED: attempt["status"]}), item_absent("sk")),
            *key_changes(tenant, None, attempt),
        ]
        self._write(tenant, old, linked, extra)

    def _write(
        self, tenant: str, old: dict[str, Any], new: dict[str, Any], extra: list[Put | Delete] | None = None
    ) -> None:
        keyed = old.get(KEYED)
        for _ in range(KEY_RACES):
            operations: list[Put | Delete] = [
                Put(
                    self._item(tenant, {**_plain(new), KEYED: new["status"]}),
                    _version_and_status(int(old["version"]), str(old["status"]), keyed),
                ),
                *key_changes(tenant, keyed, new),
                *(extra or []),
            ]
            try:
                self._table.transact(operations)
            except TransactionCancelled as exc:
                if 0 not in exc.failed:
                    raise JobChanged("Another command changed the job first; read it again.") from exc
                stored = self.job(tenant, str(old["id"]))
                if (
                    stored is None
                    or int(stored["version"]) != int(old["version"])
                    or stored["status"] != old["status"]
                    or stored.get(KEYED) == keyed
                ):
                    raise JobChanged("Another command changed the job first; read it again.") from exc
                keyed = stored.get(KEYED)  # the migration wrote its key items meanwhile: again
            else:
                return
        raise JobChanged("The job's list keys kept changing; read it again.")

    def jobs(self, tenant: str, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored jobs among `job_ids`, by id (one BatchGetItem per 100)."""
        found = self._table.batch_get([{"pk": tenant, "sk": job_sk(i)} for i in job_ids])
        return {str(job["id"]): job for job in found}

    def filtered(
        self,
        tenant: str,
        name: str,
        values: tuple[str, ...],
        *,
        low: str,
        high: str,
        start_key: Mapping[str, Any] | None,
        limit: int,
    ) -> Page:
        """Key items of one filter whose job id is between `low` and `high`, newest first."""
        prefix = filter_prefix(name, values)
        return self._table.query(
            ("pk", tenant),
            sort_between=("sk", f"{prefix}{low}", f"{prefix}{high}"),
            limit=limit,
            start_key=start_key,
            forward=False,
        )

    def page(
        self,
        tenant: str,
        *,
        low: str,
        high: str,
        start_key: Mapping[str, Any] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Jobs whose id is between `low` and `high`, newest first."""
        page = self._table.query(
            ("pk", tenant),
            sort_between=("sk", f"{JOB_PREFIX}{low}", f"{JOB_PREFIX}{high}"),
            limit=limit,
            start_key=start_key,
            forward=False,
        )
        return page.items, page.last_key


def _plain(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in {"pk", "sk", "kind", KEYED}}
