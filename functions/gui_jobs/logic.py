"""Pure rules of the jobs group: verbs, parameters, request digests, ids and the job state machine.

States: queued -> running -> succeeded | failed; queued | running -> cancelling (a user's command)
-> cancelled (the executor's confirmation). Commands come from users (retry, cancel); status comes
from executors as JobStatusChanged events and only ever moves a job forward.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from gui_core.errors import Conflict, NotFound, ValidationFailed
from gui_jobs.models import PARAMETER_MODELS, JobStatusChanged

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
RETRYABLE = frozenset({"failed", "cancelled"})
CANCELLABLE = frozenset({"queued", "running"})
MAX_HISTORY = 50
MAX_EVENT_IDS = 20  # recent executor event ids kept on the job, to drop redeliveries


class UnknownVerb(NotFound):
    code, title = "unknown_verb", "There is no job of this kind"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The job is not in a state that allows this command"


class IdempotencyKeyReused(ValidationFailed):
    code, title = "idempotency_key_reused", "The Idempotency-Key was used with another request"


def canonical_verb(raw: str) -> str:
    """The verb as stored (`prompt_pack_calibration`) from its URL form (`prompt-pack-calibration`)."""
    verb = raw.replace("-", "_")
    if verb not in PARAMETER_MODELS:
        raise UnknownVerb(f"No job verb {raw!r}; known: {', '.join(url_verb(v) for v in PARAMETER_MODELS)}.")
    return verb


def url_verb(verb: str) -> str:
    return verb.replace("_", "-")


def validate_parameters(verb: str, body: Any) -> dict[str, Any]:
    """The verb's parameters, defaults filled in; 422 with field errors as the API reports them."""
    try:
        model = PARAMETER_MODELS[verb].model_validate({} if body is None else body)
    except ValidationError as exc:
        fields = [
            {
                "location": ["body", *(str(p) for p in e["loc"])],
                "pointer": "/" + "/".join(str(p) for p in e["loc"]),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        raise ValidationFailed(f"{len(fields)} field(s) are not valid.", errors=fields) from exc
    return model.model_dump(mode="json", exclude_none=True)


def request_digest(verb: str, parameters: dict[str, Any]) -> str:
    """What `the same body` means for Idempotency-Key: the verb and its validated parameters, so
    key order, whitespace or a default spelled out do not count as a different request."""
    canonical = json.dumps({"verb": verb, "parameters": parameters}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_job_id(now_ms: int) -> str:
    """Sorts by creation time (12 hex digits of milliseconds), then 10 random hex digits."""
    return f"{now_ms:012x}{secrets.token_hex(5)}"


def id_bound(value: datetime | None, *, high: bool) -> str:
    """A bound on job ids from a time: ids begin with the creation time in hex milliseconds."""
    if value is None:
        return "~" if high else ""
    ms = max(0, int(value.timestamp() * 1000))
    return f"{ms:012x}~" if high else f"{ms:012x}"


def matches(job: Mapping[str, Any], criteria: Mapping[str, str | None]) -> bool:
    """Whether the job holds every criterion given (field -> wanted value; None: any)."""
    return all(job.get(field) == wanted for field, wanted in criteria.items() if wanted is not None)


def history_entry(
    at: str, actor: str, status: str, previous: str | None, note: str | None = None
) -> dict[str, Any]:
    entry = {"at": at, "actor": actor, "status": status, "previous_status": previous}
    if note:
        entry["note"] = note
    return entry


def _with_history(job: dict[str, Any], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(job.get("history") or []), entry][-MAX_HISTORY:]


def new_job(
    *,
    job_id: str,
    verb: str,
    parameters: dict[str, Any],
    actor: str,
    at: str,
    attempt: int = 1,
    previous_attempt: str | None = None,
) -> dict[str, Any]:
    note = f"retry of {previous_attempt}" if previous_attempt else None
    return {
        "id": job_id,
        "verb": verb,
        "parameters": parameters,
        "status": "queued",
        "progress": 0,
        "attempt": attempt,
        "previous_attempt": previous_attempt,
        "next_attempt": None,
        "requested_by": actor,
        "requested_at": at,
        "started_at": None,
        "finished_at": None,
        "updated_at": at,
        "error": None,
        "version": 1,
        "history": [history_entry(at, actor, "queued", None, note)],
        "event_ids": [],
    }


def retried(job: dict[str, Any], *, next_id: str, actor: str, at: str) -> dict[str, Any]:
    """The old attempt, linked to its retry. Only a failed or cancelled job not yet retried."""
    if job["status"] not in RETRYABLE:
        raise InvalidTransition(
            f"A {job['status']} job cannot be retried; only failed or cancelled ones.",
            job_status=job["status"],
        )
    if job.get("next_attempt"):
        raise InvalidTransition(
            f"The job was retried already, as {job['next_attempt']}.", job_status=job["status"]
        )
    return {**job, "next_attempt": next_id, "updated_at": at, "version": int(job["version"]) + 1}


def cancel_requested(job: dict[str, Any], *, actor: str, at: str) -> dict[str, Any]:
    """A queued or running job goes to `cancelling`, even a queued one: JobRequested is on the bus
    already, so an executor may hold it; only the executor's confirmation makes it `cancelled`."""
    if job["status"] not in CANCELLABLE:
        raise InvalidTransition(
            f"A {job['status']} job cannot be cancelled; only queued or running ones.",
            job_status=job["status"],
        )
    return {
        **job,
        "status": "cancelling",
        "updated_at": at,
        "version": int(job["version"]) + 1,
        "history": _with_history(job, history_entry(at, actor, "cancelling", job["status"])),
    }


def dispatch_failed(job: dict[str, Any], *, at: str, message: str) -> dict[str, Any]:
    """JobRequested could not be published: no executor will ever see the job, so it fails (and
    may be retried) instead of staying queued forever."""
    return {
        **job,
        "status": "failed",
        "finished_at": at,
        "updated_at": at,
        "error": {"code": "dispatch_failed", "message": message},
        "version": int(job["version"]) + 1,
        "history": _with_history(job, history_entry(at, "jobs", "failed", job["status"], "dispatch failed")),
    }


def apply_status(job: dict[str, Any], event: JobStatusChanged, *, at: str) -> dict[str, Any] | None:
    """The job after an executor's report, or None when the report changes nothing.

    Reports only move a job forward: a terminal job stays as it is; a redelivered event (same
    event_id) or one older than the last applied report is dropped; progress never goes back. A
    cancelling job stays cancelling on progress reports until the executor confirms `cancelled`
    (or reports that the job ended first)."""
    status = job["status"]
    if status in TERMINAL or event.event_id in (job.get("event_ids") or []):
        return None
    last = job.get("last_event_time")
    if last and event.time < last:  # ISO-8601 UTC strings of one format sort in time order
        return None
    progress = max(int(job.get("progress") or 0), event.progress or 0)
    new_status: str = event.status
    if new_status == "running" and status == "cancelling":
        new_status = "cancelling"
    if new_status == "succeeded":
        progress = 100
    if new_status == status and progress == int(job.get("progress") or 0):
        return None  # a repeated progress report: nothing to write
    updated = {**job, "status": new_status, "progress": progress}
    if new_status != status:
        updated["history"] = _with_history(job, history_entry(event.time, "executor", new_status, status))
    if event.status in {"running", "succeeded", "failed"}:
        updated["started_at"] = job.get("started_at") or event.time
    if new_status in TERMINAL:
        updated["finished_at"] = event.time
    if new_status == "failed":
        updated["error"] = (
            event.error.model_dump() if event.error else {"code": "failed", "message": "The job failed."}
        )
    updated["event_ids"] = [*(job.get("event_ids") or []), event.event_id][-MAX_EVENT_IDS:]
    updated["last_event_time"] = event.time
    updated["updated_at"] = at
    updated["version"] = int(job["version"]) + 1
    return updated
