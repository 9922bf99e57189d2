"""Applies executors' JobStatusChanged reports to the job records (the gui_job_events function).

Region first: a report for a tenant homed in another region (or unknown here) is refused and counted,
never written, since the tenant's jobs live in its home region. Then the pure rule
`logic.apply_status` decides; the write is conditional on the version read, and a lost race reads
the job again, so a report is applied once, in order, whatever else writes the job meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from gui_core.metric_names import JobEventsMetric
from gui_core.tenancy import NotHomedHere, TenantLookup, homed_here
from gui_jobs.logic import apply_status
from gui_jobs.models import JobStatusChanged
from gui_jobs.repository import JobChanged, now_iso

logger = logging.getLogger("gui_jobs.status")
MAX_RACES = 5

Outcome = Literal["applied", "ignored", "unknown_job", "wrong_region", "invalid"]


class JobStore(Protocol):
    """What the consumer needs of `JobsRepository` (unit tests pass an in-memory one)."""

    def job(self, tenant: str, job_id: str) -> dict[str, Any] | None: ...

    def replace(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None: ...


@dataclass
class StatusConsumer:
    region: str
    tenants: TenantLookup
    repository: JobStore
    count: Callable[[JobEventsMetric], None] = lambda _name: None

    def handle(self, event: dict[str, Any]) -> Outcome:
        """One EventBridge event (the envelope, as Lambda receives it)."""
        try:
            report = JobStatusChanged.model_validate(event.get("detail") or {})
        except ValidationError as exc:
            # Redelivering a malformed report cannot fix it: drop it, with a count for the alarm.
            logger.warning("invalid JobStatusChanged: %s", exc.errors(include_url=False))
            self.count(JobEventsMetric.INVALID)
            return "invalid"
        try:
            homed_here(
                self.tenants, report.tenant, region=self.region, what=f"JobStatusChanged of {report.job_id}"
            )
        except NotHomedHere:
            self.count(JobEventsMetric.RESIDENCY_REFUSALS)
            return "wrong_region"
        for _ in range(MAX_RACES):
            job = self.repository.job(report.tenant, report.job_id)
            if job is None:
                self.count(JobEventsMetric.UNKNOWN_JOB)
                return "unknown_job"
            updated = apply_status(job, report, at=now_iso())
            if updated is None:
                self.count(JobEventsMetric.IGNORED)
                return "ignored"
            try:
                self.repository.replace(report.tenant, job, updated)
            except JobChanged:
                continue  # a command or another report won: decide again on what it wrote
            self.count(JobEventsMetric.APPLIED)
            return "applied"
        raise JobChanged(f"job {report.job_id} kept changing; the event will be delivered again")
