"""Demo jobs of the local runtime: for each demo tenant, in its home region, jobs of every verb in
every state (queued, running, succeeded, failed, cancelling, cancelled) and a retried failure
linked to its second attempt, so the jobs screens have something to show before anyone starts one.

Written straight through `JobsRepository`, as executors' reports would leave them: no JobRequested is
published, so the demo executor does not run them again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gui_core.dynamo import Table
from gui_jobs.logic import history_entry, new_job, new_job_id
from gui_jobs.repository import JobsRepository
from local.aws import aws_client
from local.demo import TENANTS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from local.demo import DemoTenant
    from stacks.manifest import Manifest

# (verb, parameters, status, progress, minutes ago); the error of a failed job is added below.
_PLAN: tuple[tuple[str, dict[str, Any], str, int, int], ...] = (
    (
        "ingest",
        {"source_uri": "s3://demo-raw/concepts.csv", "format": "csv", "dataset": "concepts"},
        "succeeded",
        100,
        600,
    ),
    ("coverage", {"concept_scheme": "icd-10", "target_depth": 3}, "succeeded", 100, 420),
    ("mapping", {"source_scheme": "icd-10", "target_scheme": "snomed", "threshold": 0.8}, "failed", 40, 300),
    (
        "overlay",
        {"base_artifact_id": "coverage-icd10", "overlay_name": "German labels", "languages": ["de-DE"]},
        "cancelled",
        50,
        240,
    ),
    ("readiness", {"artifact_id": "coverage-icd10"}, "cancelling", 60, 30),
    ("prompt_pack_calibration", {"prompt_pack_id": "pp-triage", "sample_size": 200}, "running", 45, 10),
    ("reindex", {"index": "search", "full": False}, "queued", 0, 1),
)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def demo_jobs(tenant: DemoTenant, now: datetime) -> list[dict[str, Any]]:
    """The demo tenant's jobs, oldest first (the operator requests, the admin retries)."""
    operator = next((u.subject for u in tenant.users if "operator" in u.roles), tenant.admin.subject)
    jobs: list[dict[str, Any]] = []
    for verb, parameters, status, progress, minutes in _PLAN:
        requested = now - timedelta(minutes=minutes)
        job = new_job(
            job_id=new_job_id(int(requested.timestamp() * 1000)),
            verb=verb,
            parameters=parameters,
            actor=operator,
            at=_iso(requested),
        )
        history = list(job["history"])
        started = requested + timedelta(seconds=20)
        if status != "queued":
            job["started_at"] = _iso(started)
            history.append(history_entry(_iso(started), "executor", "running", "queued"))
        if status in {"cancelling", "cancelled"}:
            history.append(
                history_entry(_iso(started + timedelta(minutes=1)), operator, "cancelling", "running")
            )
        final = started + timedelta(minutes=5)
        if status in {"succeeded", "failed", "cancelled"}:
            job["finished_at"] = _iso(final)
            previous = "cancelling" if status == "cancelled" else "running"
            history.append(history_entry(_iso(final), "executor", status, previous))
        if status == "failed":
            job["error"] = {
                "code": "target_scheme_unavailable",
                "message": "The SNOMED release was not found.",
            }
        job.update(status=status, progress=progress, history=history, updated_at=history[-1]["at"])
        job["version"] = len(history)
        jobs.append(job)
    # The failed mapping was retried by the admin and is running again as attempt 2.
    failed = next(j for j in jobs if j["status"] == "failed")
    retry_at = datetime.fromisoformat(failed["finished_at"]) + timedelta(minutes=10)
    retry = new_job(
        job_id=new_job_id(int(retry_at.timestamp() * 1000)),
        verb=failed["verb"],
        parameters=failed["parameters"],
        actor=tenant.admin.subject,
        at=_iso(retry_at),
        attempt=2,
        previous_attempt=failed["id"],
    )
    retry.update(status="running", progress=80, started_at=_iso(retry_at + timedelta(seconds=20)))
    failed["next_attempt"] = retry["id"]
    jobs.append(retry)
    return jobs


def seed_jobs(
    manifest: Manifest,
    *,
    endpoint_url: str,
    regions: Sequence[str],
    tenants: Sequence[DemoTenant] = TENANTS,
    now: datetime | None = None,
) -> int:
    """Write each demo tenant's jobs into its home region's jobs store (regions not served are
    skipped); returns how many were written. Each run adds a fresh set: ids are new every time."""
    moment = now or datetime.now(UTC)
    written = 0
    for tenant in tenants:
        if tenant.home_region not in regions:
            continue
        client = aws_client("dynamodb", endpoint_url=endpoint_url, region=tenant.home_region)
        repository = JobsRepository(Table(manifest.store("jobs").local_table_name(), client))
        for job in demo_jobs(tenant, moment):
            repository.create(tenant.tenant, job)
            written += 1
    return written
