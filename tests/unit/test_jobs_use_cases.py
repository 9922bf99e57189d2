"""The jobs' use cases called as a door other than REST would call them (gui_jobs.use_cases), over the
real repository on a table in memory: an Idempotency-Key answers the job it started, also to a request
that lost the race for the key, and a job whose JobRequested cannot be published is failed at once."""

from __future__ import annotations

from typing import Any

import pytest

from gui_core.bus import EventPublisher
from gui_core.context import RequestContext
from gui_core.migrations.gate import Always
from gui_jobs.logic import IdempotencyKeyReused
from gui_jobs.models import StartJob
from gui_jobs.repository import JobsRepository
from gui_jobs.use_cases import JobsPorts, get_job, start_job
from local.memory_table import MemoryTable
from tests.fakes import FakeEvents

CALLER = RequestContext("acme", "ada@acme", frozenset({"gui:jobs"}), (), "eu-west-1", "r", None, None, 0)
REINDEX = {"index": "search"}


def ports(repository: JobsRepository | None = None, *, failing: bool = False) -> tuple[JobsPorts, FakeEvents]:
    events = FakeEvents(failing=failing)
    publisher = EventPublisher("bus", events, region="eu-west-1")  # type: ignore[arg-type]
    return JobsPorts(repository or JobsRepository(MemoryTable()), publisher, Always()), events


def test_a_job_is_queued_and_requested_on_the_bus() -> None:
    jobs, events = ports()
    started = start_job(jobs, CALLER, StartJob(verb="reindex", body=REINDEX))
    assert (started.earlier, started.job.status, started.job.requested_by) == (False, "queued", "ada@acme")
    assert [e["DetailType"] for e in events.entries] == ["JobRequested"]
    assert get_job(jobs, CALLER, started.job.id).status == "queued"


def test_the_same_key_and_body_answer_the_earlier_job_and_another_body_is_refused() -> None:
    jobs, events = ports()
    first = start_job(jobs, CALLER, StartJob(verb="reindex", body=REINDEX, idempotency_key="k-1"))
    again = start_job(
        jobs, CALLER, StartJob(verb="reindex", body={**REINDEX, "full": False}, idempotency_key="k-1")
    )
    assert (again.earlier, again.job.id) == (True, first.job.id)  # a default spelled out is the same body
    assert len(events.entries) == 1
    with pytest.raises(IdempotencyKeyReused):
        start_job(jobs, CALLER, StartJob(verb="reindex", body={"index": "lineage"}, idempotency_key="k-1"))


class RecordSeenLate(JobsRepository):
    """The first look-up of a key finds nothing, as for a request racing the one that records it."""

    looked = 0

    def idempotency_record(self, tenant: str, subject: str, key: str) -> dict[str, Any] | None:
        self.looked += 1
        return None if self.looked == 1 else super().idempotency_record(tenant, subject, key)


def test_a_request_that_loses_the_race_for_its_key_answers_the_winners_job() -> None:
    table = MemoryTable()
    winner, _ = ports(JobsRepository(table))
    won = start_job(winner, CALLER, StartJob(verb="reindex", body=REINDEX, idempotency_key="k-2"))
    loser, events = ports(RecordSeenLate(table))
    lost = start_job(loser, CALLER, StartJob(verb="reindex", body=REINDEX, idempotency_key="k-2"))
    assert (lost.earlier, lost.job.id) == (True, won.job.id)
    assert events.entries == []  # nothing requested twice


def test_a_job_nobody_can_hear_of_is_failed_so_it_can_be_retried() -> None:
    jobs, _ = ports(failing=True)
    started = start_job(jobs, CALLER, StartJob(verb="reindex", body=REINDEX))
    assert started.job.status == "failed"
    assert started.job.error is not None
    assert started.job.error.code == "dispatch_failed"
    assert get_job(jobs, CALLER, started.job.id).status == "failed"
