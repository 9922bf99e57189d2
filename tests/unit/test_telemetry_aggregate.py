"""gui_telemetry.aggregate: every figure of a hand-written set of facts against the value computed by
hand here. Facts go through real Parquet files (written as the facts writer writes them).

The range is the day 2026-11-27 (now = 2026-11-28T00:00Z, window 24h); the previous period is
2026-11-26. Times below are on 2026-11-27 unless they say `prev` (2026-11-26).

Jobs (mapping: target 3600 s, 0.08 USD/min; ingest: target 900 s, 0.02 USD/min):
  m1 mapping   requested 01:00, running 01:05, succeeded 01:15    wait  300, run  600, turnaround  900
  m2 mapping   requested 02:00, running 02:01, succeeded 02:21    wait   60, run 1200, turnaround 1260
  m3 mapping   requested 03:00, running 03:10, failed    03:15    wait  600, run  300
  m4 mapping   requested 04:00, running 04:30, succeeded 05:30    wait 1800, run 3600, turnaround 5400
               (over 3600), reports cost_usd 10.0
  m5 mapping   requested 05:00, running 05:02, cancelled 05:12    wait  120, run  600
  x1 ingest    requested prev 23:50, running prev 23:55, succeeded 00:05  wait 300, run 600, turnaround 900
  w1 overlay   requested 23:00                                     waiting at now
  w2 overlay   requested 23:30, running 23:45                      wait 900, running at now
  w3 ingest    requested 22:00, cancel requested 22:10             waiting at now (no confirmation yet)
  f1 mapping   requested 2026-11-28 00:30                          after now: not counted
  p1 mapping   requested prev 10:00, running prev 10:00:30, succeeded prev 10:10:30  wait 30, run 600
  p2 mapping   requested prev 11:00, running prev 11:01, succeeded prev 11:31        wait 60, run 1800
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gui_dashboard.logic import percentile
from gui_telemetry.aggregate import SLA_TARGET_S, aggregate, open_facts
from gui_telemetry.facts import VERB_MODULES, Fact
from gui_telemetry.store import parquet_bytes

NOW = datetime(2026, 11, 28, tzinfo=UTC)
DAY = timedelta(days=1)
_ids = itertools.count(1)


def t(clock: str, *, prev: bool = False, day: int | None = None) -> datetime:
    """`HH:MM[:SS]` on 2026-11-27 (`prev`: 2026-11-26; or the given day of November)."""
    parts = [int(p) for p in clock.split(":")] + [0]
    return datetime(2026, 11, day or (26 if prev else 27), parts[0], parts[1], parts[2], tzinfo=UTC)


def fact(kind: str, at: datetime, **values: Any) -> Fact:
    return Fact(
        event_id=values.pop("event_id", f"e{next(_ids)}"), tenant="acme", kind=kind, occurred_at=at, **values
    )


def job(
    job_id: str,
    verb: str,
    requested: datetime,
    running: datetime | None = None,
    ended: datetime | None = None,
    outcome: str | None = None,
    cost_usd: float | None = None,
) -> list[Fact]:
    """A job's facts as the events give them: the verb on the request only."""
    facts = [
        fact(
            "JobRequested",
            requested,
            module=VERB_MODULES[verb],
            subject=job_id,
            verb=verb,
            status="queued",
            metric="attempt",
            value=1.0,
        )
    ]
    if running:
        facts.append(fact("JobStatusChanged", running, subject=job_id, status="running"))
    if ended:
        cost = {"metric": "cost_usd", "value": cost_usd} if cost_usd is not None else {}
        facts.append(fact("JobStatusChanged", ended, subject=job_id, status=outcome, **cost))
    return facts


def metrics_reported(at: datetime, module: str, event_id: str, **metrics: float) -> list[Fact]:
    return [
        fact("MetricsReported", at, event_id=event_id, module=module, metric=name.replace("_", "."), value=v)
        for name, v in metrics.items()
    ]


JOBS = [
    *job("m1", "mapping", t("01:00"), t("01:05"), t("01:15"), "succeeded"),
    *job("m2", "mapping", t("02:00"), t("02:01"), t("02:21"), "succeeded"),
    *job("m3", "mapping", t("03:00"), t("03:10"), t("03:15"), "failed"),
    *job("m4", "mapping", t("04:00"), t("04:30"), t("05:30"), "succeeded", cost_usd=10.0),
    *job("m5", "mapping", t("05:00"), t("05:02"), t("05:12"), "cancelled"),
    *job("x1", "ingest", t("23:50", prev=True), t("23:55", prev=True), t("00:05"), "succeeded"),
    *job("w1", "overlay", t("23:00")),
    *job("w2", "overlay", t("23:30"), t("23:45")),
    *job("w3", "ingest", t("22:00")),
    fact("JobCancelRequested", t("22:10"), subject="w3", status="cancel_requested"),
    *job("f1", "mapping", t("00:30", day=28)),
    *job(
        "p1",
        "mapping",
        t("10:00", prev=True),
        t("10:00:30", prev=True),
        t("10:10:30", prev=True),
        "succeeded",
    ),
    *job("p2", "mapping", t("11:00", prev=True), t("11:01", prev=True), t("11:31", prev=True), "succeeded"),
]


def other(kind: str, at: datetime, subject: str, status: str, **values: Any) -> Fact:
    return fact(kind, at, subject=subject, status=status, **values)


GOVERNANCE = {"module": "governance"}
MAPPING, COVERAGE = {"module": "mapping"}, {"module": "coverage"}
READINESS, PACKS = {"module": "readiness"}, {"module": "prompt_pack"}
SPENT = {"module": "mapping", "metric": "spent_usd"}
ACCURACY = {"module": "prompt_pack", "metric": "accuracy"}
OTHERS = [
    other("ArtifactPublished", t("08:00"), "a1", "approved", artifact_id="a1", **MAPPING),
    other("ArtifactPublished", t("09:00"), "a2", "draft", artifact_id="a2", **COVERAGE),
    other("ArtifactPublished", t("08:00", prev=True), "a3", "in_review", artifact_id="a3", **MAPPING),
    other("ArtifactDeprecated", t("10:00"), "a3", "deprecated", artifact_id="a3"),
    other("GovernanceAlert", t("11:00"), "g1", "raised", severity="warning", **GOVERNANCE),
    other("GovernanceAlert", t("12:00"), "g2", "raised", severity="critical", **GOVERNANCE),
    other("GovernanceAlert", t("12:00", prev=True), "g3", "raised", severity="warning", **GOVERNANCE),
    other("CostAlert", t("13:00"), "c1", "raised", severity="warning", value=4512.4, **SPENT),
    other("CostAlert", t("14:00"), "c1", "raised", severity="critical", value=4800.0, **SPENT),
    other("IncidentOpened", t("15:00"), "i1", "opened", severity="critical", **MAPPING),
    other("IncidentResolved", t("16:00"), "i1", "resolved", **MAPPING),
    other("IncidentOpened", t("17:00"), "i2", "opened", severity="critical", **COVERAGE),
    other(
        "ReadinessGateChanged", t("10:00", prev=True), "coverage", "blocked",
        artifact_id="A", metric="score", value=0.71, **READINESS,
    ),
    other(
        "ReadinessGateChanged", t("10:00"), "coverage", "open",
        artifact_id="A", metric="score", value=0.85, **READINESS,
    ),
    other("ReadinessGateChanged", t("11:00"), "release", "waived", **READINESS),
    other("WaiverGranted", t("11:00"), "w-1", "granted", **READINESS),
    other("WaiverExpired", t("11:00", prev=True), "w-0", "expired", **READINESS),
    other("PromptPackCalibrationStatus", t("01:00"), "pp1", "running", **PACKS),
    other("PromptPackCalibrationStatus", t("02:00"), "pp1", "calibrated", **ACCURACY, value=0.934),
    other("ConstraintAdherenceReported", t("03:00"), "pp1", "ok", metric="adherence", value=0.962, **PACKS),
    other(
        "ConstraintAdherenceReported", t("05:00", prev=True), "pp2", "below_threshold",
        metric="adherence", value=0.90, **PACKS,
    ),
    other("PromptPackCalibrationStatus", t("04:00"), "pp2", "failed", **PACKS),
    *metrics_reported(t("06:00"), "mapping", "mr1", queue_length=4, candidates_accepted_ratio=0.8),
    *metrics_reported(t("12:00"), "mapping", "mr2", queue_length=2, candidates_accepted_ratio=0.9),
    *metrics_reported(t("12:00", prev=True), "ingestion", "mr0", queue_length=7),
]  # fmt: skip


def write(directory: Path, name: str, facts: Sequence[Fact]) -> Path:
    path = directory / name
    path.write_bytes(parquet_bytes(facts, work_dir=directory / "work"))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The facts in three files, as three batches would write them; the second repeats the first
    job's end and a whole MetricsReported event (a redelivery)."""
    directory = tmp_path_factory.mktemp("facts")
    m1_end = next(f for f in JOBS if f.subject == "m1" and f.status == "succeeded")
    mr2 = [f for f in OTHERS if f.event_id == "mr2"]
    return [
        write(directory, "a.parquet", JOBS),
        write(directory, "b.parquet", [*OTHERS, m1_end]),
        write(directory, "c.parquet", [m1_end, *mr2]),
    ]


@pytest.fixture(scope="module")
def document(files: list[Path]) -> dict[str, Any]:
    return aggregate(files, now=NOW, window=DAY)


def figures(entries: Sequence[dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
    return {f["name"]: (f["value"], f["previous"]) for f in entries}


def entry(document: dict[str, Any], section: str, key: str, value: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in document[section] if e[key] == value)
    return found


# -- ranges and counts --------------------------------------------------------------------------------


def test_the_range_and_the_previous_period(document: dict[str, Any]) -> None:
    assert document["as_of"] == "2026-11-28T00:00:00.000+00:00"
    assert document["range"] == {
        "from": "2026-11-27T00:00:00.000+00:00",
        "to": "2026-11-28T00:00:00.000+00:00",
    }
    assert document["previous_range"] == {
        "from": "2026-11-26T00:00:00.000+00:00",
        "to": "2026-11-27T00:00:00.000+00:00",
    }


def test_facts_of_the_range_count_once_however_often_they_were_written(document: dict[str, Any]) -> None:
    # jobs: m1..m5 3 rows each (15) + x1's end (1) + w1 (1) + w2 (2) + w3 (2) = 21; artifacts 3,
    # governance alerts 2, cost alerts 2, incidents 3, gate changes 2, waiver 1, prompt packs 4,
    # metrics 2 events x 2 names = 4: 21 + 3 + 2 + 2 + 3 + 2 + 1 + 4 + 4 = 42
    assert document["facts"] == 42


# -- SLA -----------------------------------------------------------------------------------------------


def test_sla_of_mapping_jobs_with_hand_computed_percentiles(document: dict[str, Any]) -> None:
    mapping = entry(document, "sla", "verb", "mapping")
    assert (mapping["module"], mapping["target_s"]) == ("mapping", 3600)
    found = figures(mapping["figures"])
    # ended in the range: m1 m2 m3 m4 m5; previous: p1 p2
    assert found["jobs_ended"] == (5, 2)
    assert found["jobs_succeeded"] == (3, 2)
    assert found["jobs_failed"] == (1, 0)
    assert found["jobs_cancelled"] == (1, 0)
    # 3 / (3 + 1); previous 2 / 2
    assert found["success_rate"] == (0.75, 1.0)
    # runs of succeeded and failed jobs: [300, 600, 1200, 3600]; nearest rank: p50 = ceil(0.5 * 4) = 2nd
    # = 600, p95 = ceil(0.95 * 4) = 4th = 3600. Previous [600, 1800]: 1st = 600, ceil(1.9) = 2nd = 1800
    assert found["duration_p50_s"] == (600.0, 600.0)
    assert found["duration_p95_s"] == (3600.0, 1800.0)
    assert percentile([300, 600, 1200, 3600], 95) == 3600  # the dashboard's rule agrees
    # within 3600 s of the request and succeeded: m1 (900), m2 (1260); timed: m1..m4 -> 2 / 4.
    # Previous: p1 (630), p2 (1860) -> 2 / 2
    assert found["within_sla"] == (0.5, 1.0)
    trend = next(f for f in mapping["figures"] if f["name"] == "success_rate")["trend"]
    assert trend == {"delta": -0.25, "percent": -25.0, "direction": "down"}


def test_a_job_requested_in_the_previous_period_counts_where_it_ended(document: dict[str, Any]) -> None:
    ingest = figures(entry(document, "sla", "verb", "ingest")["figures"])
    assert ingest["jobs_ended"] == (1, 0)
    assert ingest["duration_p50_s"] == (600.0, None)
    assert ingest["within_sla"] == (1.0, None)  # turnaround 900 s, target 900 s
    assert ingest["success_rate"] == (1.0, None)


def test_every_verb_has_its_sla_entry_even_without_jobs(document: dict[str, Any]) -> None:
    assert [e["verb"] for e in document["sla"]] == list(SLA_TARGET_S)
    overlay = figures(entry(document, "sla", "verb", "overlay")["figures"])
    assert overlay["jobs_ended"] == (0, 0)
    assert overlay["success_rate"] == (None, None)


# -- cost ----------------------------------------------------------------------------------------------


def test_cost_per_module_from_reported_costs_and_run_minutes(document: dict[str, Any]) -> None:
    cost = document["cost"]
    by_module = {m["module"]: (m["cost_usd"]["value"], m["cost_usd"]["previous"]) for m in cost["modules"]}
    # mapping: m1 10 min x 0.08 = 0.8, m2 20 x 0.08 = 1.6, m3 5 x 0.08 = 0.4, m4 reported 10.0,
    # m5 (cancelled after 10 min) 0.8 -> 13.6. Previous: p1 10 x 0.08 + p2 30 x 0.08 = 3.2
    assert by_module["mapping"] == (13.6, 3.2)
    assert by_module["ingestion"] == (0.2, 0.0)  # x1: 10 min x 0.02
    assert by_module["overlay"] == (0.0, 0.0)  # w2 has not ended
    assert list(by_module) == [
        "ingestion",
        "coverage",
        "mapping",
        "overlay",
        "readiness",
        "prompt_pack",
        "search",
    ]
    total = cost["total"]
    assert (total["value"], total["previous"]) == (13.8, 3.2)
    # 13.8 - 3.2 = 10.6; 10.6 / 3.2 = 331.25 %
    assert total["trend"] == {"delta": 10.6, "percent": 331.25, "direction": "up"}


def test_budget_alerts_show_the_latest_report_of_each_alert(document: dict[str, Any]) -> None:
    assert document["cost"]["budget_alerts"] == [
        {
            "alert_id": "c1",
            "module": "mapping",
            "severity": "critical",
            "spent_usd": 4800.0,
            "at": "2026-11-27T14:00:00.000+00:00",
        }
    ]


# -- queue ---------------------------------------------------------------------------------------------


def test_queue_waiting_now_and_wait_percentiles(document: dict[str, Any]) -> None:
    queue = document["queue"]
    assert queue["waiting"] == 2  # w1 and w3 (a cancel request is not a cancellation)
    by_verb = {v["verb"]: v for v in queue["verbs"]}
    assert {verb: v["waiting"] for verb, v in by_verb.items() if v["waiting"]} == {"overlay": 1, "ingest": 1}
    # started in the range: waits m1 300, m2 60, m3 600, m4 1800, m5 120, w2 900
    # sorted [60, 120, 300, 600, 900, 1800]: p50 = ceil(3) = 3rd = 300, p95 = ceil(5.7) = 6th = 1800.
    # Previous: p1 30, p2 60, x1 300: p50 = ceil(1.5) = 2nd = 60, p95 = ceil(2.85) = 3rd = 300
    assert figures(queue["figures"]) == {
        "jobs_started": (6, 3),
        "wait_p50_s": (300.0, 60.0),
        "wait_p95_s": (1800.0, 300.0),
    }
    # mapping alone: [60, 120, 300, 600, 1800]: p50 = ceil(2.5) = 3rd = 300, p95 = ceil(4.75) = 5th
    assert figures(by_verb["mapping"]["figures"]) == {
        "jobs_started": (5, 2),
        "wait_p50_s": (300.0, 30.0),
        "wait_p95_s": (1800.0, 60.0),
    }
    assert figures(by_verb["overlay"]["figures"])["wait_p95_s"] == (900.0, None)


def test_reported_queue_lengths_are_the_latest_of_the_range(document: dict[str, Any]) -> None:
    # ingestion's queue.length was reported in the previous period only
    assert document["queue"]["reported"] == [
        {"module": "mapping", "metric": "queue.length", "value": 2.0, "at": "2026-11-27T12:00:00.000+00:00"}
    ]


# -- trends --------------------------------------------------------------------------------------------


def test_daily_trend_points_of_the_range(document: dict[str, Any]) -> None:
    trends = document["trends"]
    assert trends["bucket"] == "1d"
    assert trends["points"] == [
        {
            "start": "2026-11-27T00:00:00.000+00:00",
            "end": "2026-11-28T00:00:00.000+00:00",
            "values": {
                "jobs_requested": 8,  # m1..m5, w1, w2, w3 (f1 is after now, x1 the day before)
                "jobs_ended": 6,  # m1..m5, x1
                "jobs_failed": 1,  # m3
                "cost_usd": 13.8,
                "artifacts_published": 2,  # a1, a2
                "alerts": 4,  # g1, g2 and two reports of c1
                "incidents": 2,  # i1, i2
            },
        }
    ]


def test_a_range_across_midnight_has_a_point_per_day_cut_to_the_range(files: list[Path]) -> None:
    noon = t("12:00")
    document = aggregate(files, now=noon, window=DAY)
    assert [(p["start"], p["end"]) for p in document["trends"]["points"]] == [
        ("2026-11-26T12:00:00.000+00:00", "2026-11-27T00:00:00.000+00:00"),
        ("2026-11-27T00:00:00.000+00:00", "2026-11-27T12:00:00.000+00:00"),
    ]
    first, second = (p["values"] for p in document["trends"]["points"])
    # 26th from noon: x1 requested 23:50; g3 at 12:00
    assert first == {
        "jobs_requested": 1,
        "jobs_ended": 0,
        "jobs_failed": 0,
        "cost_usd": 0.0,
        "artifacts_published": 0,
        "alerts": 1,
        "incidents": 0,
    }
    # 27th before noon: m1..m5 requested; x1, m1..m5 ended; a1, a2; g1 (g2 at 12:00 is not before noon)
    assert second == {
        "jobs_requested": 5,
        "jobs_ended": 6,
        "jobs_failed": 1,
        "cost_usd": 13.8,
        "artifacts_published": 2,
        "alerts": 1,
        "incidents": 0,
    }


# -- module figures ------------------------------------------------------------------------------------


def test_reported_metrics_per_module_latest_and_sum(document: dict[str, Any]) -> None:
    # mr2 was written twice: it counts once (sum 4 + 2, not 4 + 2 + 2)
    NOON = "2026-11-27T12:00:00.000+00:00"  # noqa: N806
    assert document["modules"] == [
        {
            "module": "mapping",
            "metrics": [
                {"name": "candidates.accepted.ratio", "latest": 0.9, "at": NOON, "sum": 1.7, "reports": 2},
                {"name": "queue.length", "latest": 2.0, "at": NOON, "sum": 6.0, "reports": 2},
            ],
        }
    ]


def test_governance_figures(document: dict[str, Any]) -> None:
    governance = document["governance"]
    assert figures(governance["figures"]) == {
        "alerts_raised": (2, 1),  # g1, g2; previous g3
        "alerts_critical": (1, 0),
        "artifacts_published": (2, 1),  # a1, a2; previous a3
        "artifacts_deprecated": (1, 0),
    }
    assert governance["alerts_by_severity"] == {"critical": 1, "warning": 1}
    assert governance["artifacts_by_governance_status"] == {"approved": 1, "draft": 1}
    assert governance["artifacts_by_kind"] == {"coverage": 1, "mapping": 1}


def test_readiness_gates_by_their_latest_status(document: dict[str, Any]) -> None:
    readiness = document["readiness"]
    assert readiness["gates"] == [
        {
            "gate": "release",
            "artifact_id": None,
            "status": "waived",
            "score": None,
            "at": "2026-11-27T11:00:00.000+00:00",
        },
        {
            "gate": "coverage",
            "artifact_id": "A",
            "status": "open",
            "score": 0.85,
            "at": "2026-11-27T10:00:00.000+00:00",
        },
    ]
    assert readiness["gates_by_status"] == {"open": 1, "waived": 1}
    assert figures(readiness["figures"]) == {
        "gate_changes": (2, 1),
        "gates_blocked": (0, 1),
        "waivers_granted": (1, 0),
        "waivers_expired": (0, 1),
    }


def test_prompt_packs_latest_accuracy_and_adherence(document: dict[str, Any]) -> None:
    packs = document["prompt_packs"]
    assert packs["packs"] == [
        {
            "prompt_pack_id": "pp1",
            "calibration_status": "calibrated",
            "accuracy": 0.934,
            "accuracy_at": "2026-11-27T02:00:00.000+00:00",
            "adherence": 0.962,
            "adherence_at": "2026-11-27T03:00:00.000+00:00",
            "below_threshold": False,
        },
        {
            "prompt_pack_id": "pp2",
            "calibration_status": "failed",
            "accuracy": None,
            "accuracy_at": None,
            "adherence": 0.9,
            "adherence_at": "2026-11-26T05:00:00.000+00:00",
            "below_threshold": True,
        },
    ]
    assert figures(packs["figures"]) == {
        "calibrations_completed": (1, 0),
        "calibrations_failed": (1, 0),
        "adherence_reports": (1, 1),
        "adherence_below_threshold": (0, 1),
    }


def test_incidents_opened_resolved_and_still_open(document: dict[str, Any]) -> None:
    incidents = document["incidents"]
    assert figures(incidents["figures"]) == {
        "incidents_opened": (2, 0),
        "incidents_critical": (2, 0),
        "incidents_resolved": (1, 0),
    }
    assert (incidents["open"], incidents["open_by_module"]) == (1, {"coverage": 1})


# -- edge cases ----------------------------------------------------------------------------------------


def test_no_files_give_zeros_and_nulls_not_errors() -> None:
    document = aggregate([], now=NOW, window=DAY)
    assert document["facts"] == 0
    assert all(
        figures(e["figures"])["jobs_ended"] == (0, 0)
        and figures(e["figures"])["duration_p95_s"] == (None, None)
        for e in document["sla"]
    )
    assert document["cost"]["total"]["value"] == 0.0
    assert document["queue"]["waiting"] == 0
    assert figures(document["queue"]["figures"])["wait_p50_s"] == (None, None)
    assert document["trends"]["points"][0]["values"]["jobs_requested"] == 0
    assert document["modules"] == []
    assert document["readiness"]["gates"] == []
    assert document["prompt_packs"]["packs"] == []
    assert document["incidents"]["open"] == 0


def test_one_load_serves_every_preset_and_the_window_must_be_positive(files: list[Path]) -> None:
    with open_facts(files) as facts:
        # m1's end is in all three files and mr2 in two: each row is kept once
        assert facts.count() == len({(f.event_id, f.metric) for f in [*JOBS, *OTHERS]})
        week = facts.aggregate(now=NOW, window=timedelta(days=7))
        assert week["range"]["from"] == "2026-11-21T00:00:00.000+00:00"
        assert figures(entry(week, "sla", "verb", "mapping")["figures"])["jobs_ended"] == (7, 0)
        with pytest.raises(ValueError, match="positive"):
            facts.aggregate(now=NOW, window=timedelta(0))


@pytest.fixture
def no_duckdb_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in Lambda: HOME is not writable."""
    monkeypatch.setenv("HOME", "/nonexistent")
    return


def test_duckdb_needs_no_home_and_installs_nothing(no_duckdb_home: None, files: list[Path]) -> None:
    with open_facts(files) as facts:
        settings = dict(
            facts._db.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('autoinstall_known_extensions', 'autoload_known_extensions', 'home_directory', 'TimeZone')"
            ).fetchall()
        )
        loaded = {
            name
            for (name,) in facts._db.execute(
                "SELECT extension_name FROM duckdb_extensions() "
                "WHERE installed AND install_mode <> 'STATICALLY_LINKED'"
            ).fetchall()
        }
    assert settings["autoinstall_known_extensions"] == "false"
    assert settings["autoload_known_extensions"] == "false"
    assert settings["home_directory"].endswith("duckdb")
    assert settings["TimeZone"] == "UTC"
    assert loaded == set()
