"""Pure rules of the jobs group: verbs, parameters, digests, transitions and executor reports."""

from __future__ import annotations

from typing import Any

import pytest

from gui_core.errors import ValidationFailed
from gui_jobs.logic import (
    InvalidTransition,
    UnknownVerb,
    apply_status,
    cancel_requested,
    canonical_verb,
    new_job,
    new_job_id,
    request_digest,
    retried,
    validate_parameters,
)
from gui_jobs.models import JobStatusChanged

T0 = "2026-11-27T10:00:00.000+00:00"


def _job(**changes: Any) -> dict[str, Any]:
    job = new_job(job_id="j1", verb="reindex", parameters={"index": "search"}, actor="ada", at=T0)
    return {**job, **changes}


def _report(
    status: str, *, event_id: str = "e1", at: str = "2026-11-27T10:00:01.000+00:00", **more: Any
) -> JobStatusChanged:
    return JobStatusChanged.model_validate(
        {"tenant": "acme", "job_id": "j1", "status": status, "event_id": event_id, "time": at, **more}
    )


def test_verbs_accept_their_url_form_and_refuse_unknown_ones() -> None:
    assert canonical_verb("prompt-pack-calibration") == "prompt_pack_calibration"
    assert canonical_verb("ingest") == "ingest"
    with pytest.raises(UnknownVerb) as raised:
        canonical_verb("teleport")
    assert raised.value.status == 404
    assert raised.value.code == "unknown_verb"


def test_parameters_get_defaults_and_unknown_fields_are_refused_with_pointers() -> None:
    assert validate_parameters("mapping", {"source_scheme": "a", "target_scheme": "b"}) == {
        "source_scheme": "a",
        "target_scheme": "b",
        "threshold": 0.8,
        "max_candidates": 5,
    }
    with pytest.raises(ValidationFailed) as raised:
        validate_parameters("mapping", {"source_scheme": "a", "threshold": 2, "colour": "red"})
    pointers = sorted(e["pointer"] for e in raised.value.extensions["errors"])
    assert pointers == ["/colour", "/target_scheme", "/threshold"]


def test_the_digest_ignores_key_order_and_spelled_out_defaults() -> None:
    one = validate_parameters("reindex", {"index": "search"})
    two = validate_parameters("reindex", {"full": False, "index": "search"})
    assert request_digest("reindex", one) == request_digest("reindex", two)
    assert request_digest("reindex", one) != request_digest("reindex", {**one, "full": True})


def test_job_ids_sort_by_creation_time() -> None:
    assert new_job_id(1_000) < new_job_id(1_001) < new_job_id(10**12)
    assert len(new_job_id(1)) == 22


@pytest.mark.parametrize("status", ["queued", "running", "succeeded", "cancelling"])
def test_only_failed_or_cancelled_jobs_are_retried(status: str) -> None:
    with pytest.raises(InvalidTransition):
        retried(_job(status=status), next_id="j2", actor="ada", at=T0)


def test_a_retry_links_the_old_attempt_once() -> None:
    linked = retried(_job(status="failed"), next_id="j2", actor="ada", at=T0)
    assert (linked["next_attempt"], linked["version"], linked["status"]) == ("j2", 2, "failed")
    with pytest.raises(InvalidTransition):
        retried(linked, next_id="j3", actor="ada", at=T0)


@pytest.mark.parametrize("status", ["queued", "running"])
def test_queued_and_running_jobs_go_to_cancelling(status: str) -> None:
    cancelling = cancel_requested(_job(status=status), actor="otto", at=T0)
    assert cancelling["status"] == "cancelling"
    assert cancelling["history"][-1] == {
        "at": T0,
        "actor": "otto",
        "status": "cancelling",
        "previous_status": status,
    }


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled", "cancelling"])
def test_other_jobs_cannot_be_cancelled(status: str) -> None:
    with pytest.raises(InvalidTransition) as raised:
        cancel_requested(_job(status=status), actor="otto", at=T0)
    assert raised.value.status == 409


def test_reports_move_a_job_forward_and_never_back() -> None:
    job = _job()
    running = apply_status(job, _report("running", progress=25), at=T0)
    assert running is not None
    assert (running["status"], running["progress"], running["started_at"]) == (
        "running",
        25,
        "2026-11-27T10:00:01.000+00:00",
    )
    # the same event again, and an older one, change nothing
    assert apply_status(running, _report("running", progress=25), at=T0) is None
    assert (
        apply_status(
            running,
            _report("running", event_id="old", at="2026-11-27T09:59:00.000+00:00", progress=75),
            at=T0,
        )
        is None
    )
    # progress never goes back
    later = apply_status(
        running, _report("running", event_id="e2", at="2026-11-27T10:00:03.000+00:00", progress=10), at=T0
    )
    assert later is None
    done = apply_status(
        running, _report("succeeded", event_id="e3", at="2026-11-27T10:00:04.000+00:00"), at=T0
    )
    assert done is not None
    assert (done["status"], done["progress"], done["finished_at"]) == (
        "succeeded",
        100,
        "2026-11-27T10:00:04.000+00:00",
    )
    assert [h["status"] for h in done["history"]] == ["queued", "running", "succeeded"]
    # a terminal job ignores everything after
    assert (
        apply_status(done, _report("failed", event_id="e4", at="2026-11-27T10:00:05.000+00:00"), at=T0)
        is None
    )


def test_a_cancelling_job_stays_cancelling_until_the_executor_confirms() -> None:
    cancelling = cancel_requested(_job(status="running", progress=25), actor="otto", at=T0)
    progressed = apply_status(cancelling, _report("running", progress=50), at=T0)
    assert progressed is not None
    assert (progressed["status"], progressed["progress"]) == ("cancelling", 50)
    confirmed = apply_status(
        progressed, _report("cancelled", event_id="e2", at="2026-11-27T10:00:02.000+00:00"), at=T0
    )
    assert confirmed is not None
    assert (confirmed["status"], confirmed["finished_at"]) == ("cancelled", "2026-11-27T10:00:02.000+00:00")


def test_a_failure_keeps_the_executors_error() -> None:
    failed = apply_status(
        _job(), _report("failed", error={"code": "source_unreachable", "message": "404"}), at=T0
    )
    assert failed is not None
    assert failed["error"] == {"code": "source_unreachable", "message": "404"}
    assert failed["started_at"] == failed["finished_at"]
