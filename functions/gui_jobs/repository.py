"""DynamoDB layout of the jobs store, behind the methods the routes and the status consumer need.

One table, partition = tenant; sort keys by kind of item:
  JOB#<job id>                        a job attempt (ids sort by creation time)
  IDEM#<subject>#<key>                an Idempotency-Key of a job request: body digest and job id
Every change of a job is a conditional write on its version, so of two racing commands (or an
executor report racing a command) exactly one wins; the other sees the new state and decides again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gui_core.dynamo import (
    Condition,
    ConditionFailed,
    Put,
    Table,
    TransactionCancelled,
    item_absent,
)
from gui_core.errors import Conflict

JOB_PREFIX = "JOB#"


class JobChanged(Conflict):
    code, title = "job_changed", "The job changed while the command was applied"


def job_sk(job_id: str) -> str:
    return f"{JOB_PREFIX}{quote(job_id, safe='')}"


def idempotency_sk(subject: str, key: str) -> str:
    return f"IDEM#{quote(subject, safe='')}#{quote(key, safe='')}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _version_and_status(version: int, status: str) -> Condition:
    return Condition(
        "#v = :v AND #s = :s", names={"#v": "version", "#s": "status"}, values={":v": version, ":s": status}
    )


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
        operations = [Put(self._item(tenant, job), item_absent("sk"))]
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
        try:
            self._table.transact(operations)
        except TransactionCancelled as exc:
            if 1 in exc.failed:
                return False
            raise
        return True

    def replace(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Write `new` if the stored job is still `old` (version and status); else JobChanged."""
        try:
            self._table.put(
                self._item(tenant, _plain(new)),
                condition=_version_and_status(int(old["version"]), str(old["status"])),
            )
        except ConditionFailed as exc:
            raise JobChanged("Another command changed the job first; read it again.") from exc

    def retry(
        self, tenant: str, old: dict[str, Any], linked: dict[str, Any], attempt: dict[str, Any]
    ) -> None:
        """Link the old attempt to its retry and record the retry, all or nothing."""
        try:
            self._table.transact(
                [
                    Put(
                        self._item(tenant, _plain(linked)),
                        _version_and_status(int(old["version"]), str(old["status"])),
                    ),
                    Put(self._item(tenant, attempt), item_absent("sk")),
                ]
            )
        except TransactionCancelled as exc:
            raise JobChanged("Another command changed the job first; read it again.") from exc

    def page(
        self,
        tenant: str,
        *,
        low: str,
        high: str,
        start_key: dict[str, Any] | None,
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
    return {k: v for k, v in job.items() if k not in {"pk", "sk", "kind"}}
