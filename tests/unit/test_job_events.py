"""gui_job_events: executors' JobStatusChanged reports, from the sample EventBridge event, applied to
in-memory job records behind the repository interface."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gui_core.tenancy import Tenant
from gui_jobs.logic import new_job
from gui_jobs.repository import JobChanged
from gui_jobs.status import StatusConsumer
from local.apigw import sample_event

SAMPLE = sample_event("eventbridge_job_status_changed")
JOB_ID = SAMPLE["detail"]["job_id"]


class Jobs:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.races = 0  # how many writes to refuse as if a command had won first

    def job(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        item = self.items.get((tenant, job_id))
        return copy.deepcopy(item) if item else None

    def replace(self, tenant: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        stored = self.items[(tenant, old["id"])]
        if self.races:
            self.races -= 1
            stored["version"] += 1  # someone else wrote meanwhile
            raise JobChanged("raced")
        if stored["version"] != old["version"] or stored["status"] != old["status"]:
            raise JobChanged("raced")
        self.items[(tenant, old["id"])] = copy.deepcopy(new)


class Tenants:
    def get(self, tenant_id: str) -> Tenant | None:
        homes = {"acme": "eu-west-1", "globex": "us-east-1"}
        return Tenant(tenant_id, tenant_id, homes[tenant_id]) if tenant_id in homes else None


@pytest.fixture
def jobs() -> Jobs:
    store = Jobs()
    store.items[("acme", JOB_ID)] = new_job(
        job_id=JOB_ID,
        verb="reindex",
        parameters={"index": "search"},
        actor="ada",
        at="2026-11-27T10:15:00.000+00:00",
    )
    return store


@pytest.fixture
def counted() -> list[str]:
    return []


@pytest.fixture
def consumer(jobs: Jobs, counted: list[str]) -> StatusConsumer:
    return StatusConsumer(region="eu-west-1", tenants=Tenants(), repository=jobs, count=counted.append)


def _event(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(SAMPLE)
    event["detail"].update(detail)
    return event


def test_the_sample_event_moves_the_job_to_running(
    consumer: StatusConsumer, jobs: Jobs, counted: list[str]
) -> None:
    assert consumer.handle(SAMPLE) == "applied"
    job = jobs.items[("acme", JOB_ID)]
    assert (job["status"], job["progress"], job["version"]) == ("running", 25, 2)
    assert counted == ["StatusEventsApplied"]


def test_a_redelivered_event_is_applied_once(consumer: StatusConsumer, jobs: Jobs) -> None:
    assert consumer.handle(SAMPLE) == "applied"
    assert consumer.handle(SAMPLE) == "ignored"
    assert jobs.items[("acme", JOB_ID)]["version"] == 2


def test_an_out_of_order_event_is_ignored(consumer: StatusConsumer, jobs: Jobs) -> None:
    later = _event(event_id="later", progress=75, time="2026-11-27T10:15:40.000+00:00")
    assert consumer.handle(later) == "applied"
    assert consumer.handle(SAMPLE) == "ignored"  # older than the report already applied
    assert jobs.items[("acme", JOB_ID)]["progress"] == 75


@pytest.mark.parametrize("tenant", ["globex", "nobody"])
def test_a_tenant_not_homed_here_is_refused_and_counted(
    consumer: StatusConsumer, jobs: Jobs, counted: list[str], tenant: str
) -> None:
    assert consumer.handle(_event(tenant=tenant)) == "wrong_region"
    assert counted == ["ResidencyRefusals"]
    assert jobs.items[("acme", JOB_ID)]["status"] == "queued"


@pytest.mark.parametrize(
    "detail", [{"status": "exploded"}, {"progress": 101}, {"job_id": None}, {"event_id": ""}]
)
def test_an_invalid_report_is_dropped_and_counted(
    consumer: StatusConsumer, counted: list[str], detail: dict[str, Any]
) -> None:
    assert consumer.handle(_event(**detail)) == "invalid"
    assert counted == ["InvalidStatusEvents"]


def test_a_report_of_an_unknown_job_is_counted(consumer: StatusConsumer, counted: list[str]) -> None:
    assert consumer.handle(_event(job_id="nope")) == "unknown_job"
    assert counted == ["UnknownJobEvents"]


def test_a_lost_race_is_decided_again_on_the_new_state(consumer: StatusConsumer, jobs: Jobs) -> None:
    jobs.races = 2
    assert consumer.handle(SAMPLE) == "applied"
    assert jobs.items[("acme", JOB_ID)]["status"] == "running"


def test_cancelling_becomes_cancelled_on_confirmation(consumer: StatusConsumer, jobs: Jobs) -> None:
    jobs.items[("acme", JOB_ID)]["status"] = "cancelling"
    assert consumer.handle(_event(status="running", progress=50)) == "applied"
    assert jobs.items[("acme", JOB_ID)]["status"] == "cancelling"
    confirmed = _event(status="cancelled", event_id="c1", time="2026-11-27T10:16:00.000+00:00")
    assert consumer.handle(confirmed) == "applied"
    assert jobs.items[("acme", JOB_ID)]["status"] == "cancelled"
