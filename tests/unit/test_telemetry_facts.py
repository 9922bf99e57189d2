"""gui_telemetry.facts: the rows every domain event sample in events/aws/ gives, and none for events
that are unknown, of another schema version or invalid. Also the keys of the fact files."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gui_core.domain_events import EVENT_MODELS, VERBS
from gui_telemetry.aggregate import connect
from gui_telemetry.facts import COLUMNS, VERB_MODULES, Fact, extract, facts_of
from gui_telemetry.store import batch_id, day_of_key, fact_key, parquet_bytes, segment
from tests.events import eventbridge_samples

SAMPLES = eventbridge_samples()


def detail(kind: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = copy.deepcopy(SAMPLES[kind]["detail"])
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def row(kind: str, event_id: str, at: str, **values: Any) -> Fact:
    return Fact(event_id=event_id, tenant="acme", kind=kind, occurred_at=utc(at), **values)


EXPECTED: dict[str, list[Fact]] = {
    "JobRequested": [
        row(
            "JobRequested",
            "3b7e2a91-0c4d-4f6e-8a15-9d2c7b4e1f03",
            "2026-11-27T10:15:00+00:00",
            module="search",
            subject="019c4a2b3f00a1b2c3d4e5",
            verb="reindex",
            status="queued",
            metric="attempt",
            value=1.0,
        )
    ],
    "JobCancelRequested": [
        row(
            "JobCancelRequested",
            "a1c9e5f7-2b3d-4e6f-9a8b-7c5d3e1f0a24",
            "2026-11-27T10:16:40+00:00",
            subject="019c4a2b3f00a1b2c3d4e5",
            status="cancel_requested",
        )
    ],
    "JobStatusChanged": [
        row(
            "JobStatusChanged",
            "8f1f0c7a-2d4e-4a8e-b1f2-6c5d9e0a7b31",
            "2026-11-27T10:15:30.120+00:00",
            subject="019c4a2b3f00a1b2c3d4e5",
            status="running",
        )
    ],
    "ArtifactPublished": [
        row(
            "ArtifactPublished",
            "3f9b8c2d-1e4a-4b7f-a6c5-0d2e9f8a7b61",
            "2026-11-27T09:42:04.512+00:00",  # published_at, not the envelope's time
            module="mapping",
            subject="map-icd10-snomed",
            artifact_id="map-icd10-snomed",
            status="in_review",
            metric="version",
            value=3.0,
        )
    ],
    "ArtifactDeprecated": [
        row(
            "ArtifactDeprecated",
            "8d2f6a1c-4e7b-4a3d-b9c8-1f0e2d3c4b5a",
            "2026-11-27T11:05:11.904+00:00",
            subject="map-icd10-snomed",
            artifact_id="map-icd10-snomed",
            status="deprecated",
            metric="version",
            value=3.0,
        )
    ],
    "GovernanceAlert": [
        row(
            "GovernanceAlert",
            "5e2f8c1a-7d4b-4a9e-b3c6-0f1e2d3c4b55",
            "2026-11-27T10:20:11+00:00",
            module="governance",
            subject="gov-review-overdue-3141",
            artifact_id="map-icd10-snomed",
            status="raised",
            severity="warning",
        )
    ],
    "ReadinessGateChanged": [
        row(
            "ReadinessGateChanged",
            "c7d1e3f5-9a2b-4c4d-8e6f-1a3b5c7d9e06",
            "2026-11-27T10:21:02+00:00",
            module="readiness",
            subject="coverage",
            artifact_id="map-icd10-snomed",
            status="blocked",
            metric="score",
            value=0.71,
        )
    ],
    "WaiverGranted": [
        row(
            "WaiverGranted",
            "d2e4f6a8-0b1c-4d3e-9f5a-2b4c6d8e0f17",
            "2026-11-27T10:30:45+00:00",
            module="readiness",
            subject="wv-2026-118",
            artifact_id="map-icd10-snomed",
            status="granted",
        )
    ],
    "WaiverExpired": [
        row(
            "WaiverExpired",
            "e3f5a7b9-1c2d-4e4f-8a6b-3c5d7e9f1a28",
            "2026-12-04T10:30:02+00:00",
            module="readiness",
            subject="wv-2026-118",
            artifact_id="map-icd10-snomed",
            status="expired",
        )
    ],
    "PromptPackCalibrationStatus": [
        row(
            "PromptPackCalibrationStatus",
            "f4a6b8c0-2d3e-4f5a-9b7c-4d6e8f0a2b39",
            "2026-11-27T11:02:19+00:00",
            module="prompt_pack",
            subject="pp-clinical-coder",
            status="calibrated",
            metric="accuracy",
            value=0.934,
        )
    ],
    "ConstraintAdherenceReported": [
        row(
            "ConstraintAdherenceReported",
            "0a5b7c9d-3e4f-4a6b-8c8d-5e7f9a1b3c4a",
            "2026-11-27T11:05:00+00:00",
            module="prompt_pack",
            subject="pp-clinical-coder",
            status="ok",  # 0.962 >= 0.95
            metric="adherence",
            value=0.962,
        )
    ],
    "CostAlert": [
        row(
            "CostAlert",
            "1b6c8d0e-4f5a-4b7c-9d9e-6f8a0b2c4d5b",
            "2026-11-27T12:00:03+00:00",
            module="mapping",
            subject="cost-2026-11-acme-90",
            status="raised",
            severity="warning",
            metric="spent_usd",
            value=4512.4,
        )
    ],
    "IncidentOpened": [
        row(
            "IncidentOpened",
            "2c7d9e1f-5a6b-4c8d-8e0f-7a9b1c3d5e6c",
            "2026-11-27T12:41:17+00:00",
            module="mapping",
            subject="inc-20261127-02",
            status="opened",
            severity="critical",
        )
    ],
    "IncidentResolved": [
        row(
            "IncidentResolved",
            "3d8e0f2a-6b7c-4d9e-9f1a-8b0c2d4e6f7d",
            "2026-11-27T13:26:50+00:00",
            module="mapping",
            subject="inc-20261127-02",
            status="resolved",
        )
    ],
    "MetricsReported": [
        row(
            "MetricsReported",
            "4e9f1a3b-7c8d-4e0f-8a2b-9c1d3e5f7a8e",
            "2026-11-27T13:00:00+00:00",
            module="mapping",
            metric=name,
            value=value,
        )
        for name, value in (
            ("candidates.accepted_ratio", 0.82),
            ("jobs.failed", 2.0),
            ("jobs.succeeded", 14.0),
        )
    ],
}


def test_every_domain_event_kind_has_a_sample_and_expected_rows() -> None:
    assert set(SAMPLES) == set(EVENT_MODELS) == set(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_sample_gives_its_rows(kind: str) -> None:
    sample = SAMPLES[kind]
    assert facts_of(sample["detail-type"], sample["detail"]) == EXPECTED[kind]
    assert extract(sample["detail-type"], sample["detail"]).tenant == "acme"


def test_every_verb_has_a_module_and_the_dashboard_modules_are_reused() -> None:
    assert set(VERB_MODULES) == set(VERBS)
    assert VERB_MODULES == {
        "ingest": "ingestion",
        "coverage": "coverage",
        "mapping": "mapping",
        "overlay": "overlay",
        "readiness": "readiness",
        "prompt_pack_calibration": "prompt_pack",
        "reindex": "search",
    }


def test_a_job_status_with_its_verb_and_cost_reported_by_the_executor() -> None:
    facts = facts_of(
        "JobStatusChanged", detail("JobStatusChanged", status="succeeded", verb="mapping", cost_usd=2.75)
    )
    assert [(f.status, f.verb, f.module, f.metric, f.value) for f in facts] == [
        ("succeeded", "mapping", "mapping", "cost_usd", 2.75)
    ]


@pytest.mark.parametrize("cost", [-1, True, "3.5", float("nan")])
def test_a_cost_that_is_not_a_non_negative_number_is_left_out(cost: Any) -> None:
    detail_ = {**SAMPLES["JobStatusChanged"]["detail"], "status": "failed", "cost_usd": cost}
    (fact,) = facts_of("JobStatusChanged", detail_)
    assert (fact.metric, fact.value) == (None, None)


def test_an_unknown_verb_named_by_an_executor_gives_no_module() -> None:
    (fact,) = facts_of("JobStatusChanged", detail("JobStatusChanged", verb="teleport"))
    assert (fact.verb, fact.module) == (None, None)


def test_absent_severities_take_the_inbox_defaults_and_modules_their_kind_default() -> None:
    (alert,) = facts_of("GovernanceAlert", detail("GovernanceAlert", severity=None, module=None))
    (incident,) = facts_of("IncidentOpened", detail("IncidentOpened", severity=None))
    (cost,) = facts_of("CostAlert", detail("CostAlert", severity=None, module=None))
    assert (alert.severity, alert.module) == ("warning", "governance")
    assert incident.severity == "critical"
    assert (cost.severity, cost.module) == ("warning", "cost")


def test_adherence_below_its_threshold_is_marked() -> None:
    (fact,) = facts_of("ConstraintAdherenceReported", detail("ConstraintAdherenceReported", adherence=0.9))
    assert (fact.status, fact.value) == ("below_threshold", 0.9)


def test_a_gate_without_a_score_and_a_calibration_without_accuracy_have_no_value() -> None:
    (gate,) = facts_of("ReadinessGateChanged", detail("ReadinessGateChanged", score=None))
    (run,) = facts_of("PromptPackCalibrationStatus", detail("PromptPackCalibrationStatus", accuracy=None))
    assert (gate.metric, gate.value) == (None, None)
    assert (run.metric, run.value) == (None, None)


def test_metrics_reported_without_metrics_gives_no_rows_and_says_so() -> None:
    extracted = extract("MetricsReported", detail("MetricsReported", metrics={}))
    assert (extracted.outcome, extracted.facts) == ("no_facts", [])


@pytest.mark.parametrize(
    ("kind", "changes", "outcome"),
    [
        ("JobRequested", {"verb": "teleport"}, "invalid"),
        ("JobRequested", {"time": "yesterday"}, "invalid"),
        ("GovernanceAlert", {"severity": "apocalyptic"}, "invalid"),
        ("ReadinessGateChanged", {"score": 1.5}, "invalid"),
        ("MetricsReported", {"metrics": {"Bad Name": 1}}, "invalid"),
        ("CostAlert", {"tenant": ""}, "invalid"),
        ("CostAlert", {"schema_version": "2"}, "unknown_schema_version"),
    ],
)
def test_invalid_events_give_no_rows(kind: str, changes: dict[str, Any], outcome: str) -> None:
    extracted = extract(kind, detail(kind, **changes))
    assert (extracted.outcome, extracted.facts) == (outcome, [])
    assert facts_of(kind, detail(kind, **changes)) == []


def test_unknown_kinds_and_non_objects_give_no_rows() -> None:
    assert extract("WeatherChanged", {"tenant": "acme"}).outcome == "not_for_telemetry"
    assert extract("CostAlert", "not an object").outcome == "invalid"  # type: ignore[arg-type]


# -- the files ---------------------------------------------------------------------------------------


def test_fact_keys_are_per_tenant_and_day_and_safe_for_any_tenant_id() -> None:
    day = date(2026, 11, 27)
    batch = batch_id("shardId-000000000000", "49590338271490256608559692538361571095921575989136588898")
    key = fact_key("acme", day, batch)
    assert key == (
        "telemetry/acme/facts/day=2026-11-27/"
        "shardId-000000000000-49590338271490256608559692538361571095921575989136588898.parquet"
    )
    assert day_of_key(key) == day
    assert segment("../other/x y.é") == "%2E%2E%2Fother%2Fx%20y%2E%C3%A9"
    assert fact_key("../other", day, "b").startswith("telemetry/%2E%2E%2Fother/facts/")


def test_a_fact_file_holds_the_rows_with_the_schema_and_its_version(tmp_path: Path) -> None:
    rows = [f for kind in sorted(EXPECTED) for f in EXPECTED[kind]]
    path = tmp_path / "facts.parquet"
    path.write_bytes(parquet_bytes(rows, work_dir=tmp_path / "work"))
    connection = connect(tmp_path / "read")
    schema = connection.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()
    assert [(name, kind) for name, kind, *_ in schema] == [
        (name, "TIMESTAMP WITH TIME ZONE" if kind == "TIMESTAMPTZ" else kind) for name, kind in COLUMNS
    ]
    metadata = connection.execute(
        "SELECT key, value FROM parquet_kv_metadata($p)", {"p": str(path)}
    ).fetchall()
    assert (b"fact_schema", b"1") in metadata
    read = connection.execute("SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()
    assert len(read) == len(rows)
    assert set(read) == {f.row() for f in rows}
