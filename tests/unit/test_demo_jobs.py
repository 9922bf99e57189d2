"""Demo jobs: every state, valid records, a linked retry, written to the home region only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gui_jobs.models import JOB_STATUSES, Job, JobDetail
from local.demo import TENANTS
from local.demo_jobs import demo_jobs

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_every_state_appears_for_every_demo_tenant() -> None:
    for tenant in TENANTS:
        jobs = demo_jobs(tenant, NOW)
        assert {j["status"] for j in jobs} == set(JOB_STATUSES)
        for job in jobs:
            Job.model_validate(job)
            JobDetail.model_validate({**job, "attempts": [], "history": job["history"]})


def test_the_retry_is_linked_both_ways() -> None:
    jobs: dict[str, dict[str, Any]] = {j["id"]: j for j in demo_jobs(TENANTS[0], NOW)}
    retry = next(j for j in jobs.values() if j["attempt"] == 2)
    assert jobs[retry["previous_attempt"]]["next_attempt"] == retry["id"]
    assert jobs[retry["previous_attempt"]]["status"] == "failed"


def test_ids_sort_by_request_time() -> None:
    jobs = demo_jobs(TENANTS[0], NOW)
    assert [j["id"] for j in sorted(jobs, key=lambda j: j["requested_at"])] == sorted(j["id"] for j in jobs)
