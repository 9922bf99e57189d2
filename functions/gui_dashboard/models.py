"""Response models of the dashboard group (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

Source = Literal["cache", "computed"]
Direction = Literal["up", "down", "flat"]


class Range(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="Start (inclusive), UTC, e.g. 2026-11-20T19:36:00Z.")
    to: str = Field(description="End (exclusive), UTC.")


class Trend(BaseModel):
    delta: int | float | None = Field(
        description="Value minus the previous period's; null if either is null."
    )
    percent: float | None = Field(description="Delta in percent of the previous value; null if that is 0.")
    direction: Direction


class Figure(BaseModel):
    name: str = Field(examples=["success_rate"])
    unit: Literal["count", "ratio", "seconds", "usd"]
    value: int | float | None = Field(
        description="For the range; null when there is nothing to compute it on."
    )
    previous: int | float | None = Field(description="For the previous period of the same length.")
    trend: Trend


Breakdown = dict[str, dict[str, int | float]]


class ModuleFigures(BaseModel):
    module: str = Field(examples=["mapping"])
    figures: list[Figure]
    breakdown: Breakdown = Field(description="Counts of the range by dimension (status, verb, kind, ...).")


class Point(BaseModel):
    start: str
    end: str
    values: dict[str, int | float] = Field(description="One value per name of `series`.")


# -- telemetry: the aggregates gui_telemetry computes ahead of time from the domain events' facts -------

TelemetryStatus = Literal["fresh", "pending", "preset_only"]


def _figure_example(name: str, unit: str, value: float, previous: float) -> JsonDict:
    delta = round(value - previous, 6)
    return {
        "name": name,
        "unit": unit,
        "value": value,
        "previous": previous,
        "trend": {
            "delta": delta,
            "percent": round(delta / previous * 100, 2) if previous else None,
            "direction": "up" if delta > 0 else "down" if delta < 0 else "flat",
        },
    }


class TelemetrySla(BaseModel):
    verb: str = Field(examples=["mapping"])
    module: str = Field(description="The module the verb's jobs belong to.", examples=["mapping"])
    target_s: int = Field(
        description="The turnaround (request to end) a job of the verb is expected to keep."
    )
    figures: list[Figure] = Field(
        description="Of the jobs that ended in the range: `jobs_ended`, `jobs_succeeded`, `jobs_failed`, "
        "`jobs_cancelled`, `success_rate` (succeeded / (succeeded + failed)), `duration_p50_s` and "
        "`duration_p95_s` (run time of succeeded and failed jobs, nearest rank), `within_sla` (succeeded "
        "within `target_s` of their request / succeeded and failed)."
    )


class TelemetryModuleCost(BaseModel):
    module: str = Field(examples=["mapping"])
    cost_usd: Figure


class TelemetryBudgetAlert(BaseModel):
    alert_id: str
    module: str | None
    severity: str | None = Field(examples=["warning"])
    spent_usd: float | None = Field(description="The latest report's spend.")
    at: str = Field(description="When the latest report was made (UTC).")


class TelemetryCost(BaseModel):
    total: Figure = Field(description="`cost_usd` of every job that ended in the range.")
    modules: list[TelemetryModuleCost] = Field(
        description="Per module: the jobs' reported `cost_usd`, else run minutes x the verb's rate."
    )
    budget_alerts: list[TelemetryBudgetAlert] = Field(
        description="CostAlerts of the range, latest report of each."
    )


class TelemetryVerbQueue(BaseModel):
    verb: str = Field(examples=["mapping"])
    module: str = Field(examples=["mapping"])
    waiting: int = Field(description="Jobs requested and neither started nor ended now.")
    figures: list[Figure] = Field(
        description="`jobs_started` in the range, `wait_p50_s` and `wait_p95_s` (request to start)."
    )


class TelemetryReportedQueue(BaseModel):
    module: str = Field(examples=["mapping"])
    metric: str = Field(examples=["queue.length"])
    value: float | None
    at: str = Field(description="When it was reported (UTC).")


class TelemetryQueue(BaseModel):
    waiting: int = Field(description="Jobs waiting now, every verb.")
    figures: list[Figure] = Field(
        description="As each verb's, over every verb (percentiles computed, not composed). Empty in a "
        "module's answer whose module has no or several verbs."
    )
    verbs: list[TelemetryVerbQueue]
    reported: list[TelemetryReportedQueue] = Field(
        description="The latest value in the range of each reported metric whose name holds `queue`."
    )


class TelemetryTrends(BaseModel):
    bucket: Literal["1d"] = Field(description="Points are UTC days, the first and last cut to the range.")
    series: list[str] = Field(
        examples=[
            ["jobs_requested", "jobs_ended", "jobs_failed", "cost_usd", "artifacts_published", "alerts"]
        ]
    )
    points: list[Point]


class TelemetryReportedMetric(BaseModel):
    name: str = Field(examples=["candidates.accepted_ratio"])
    latest: float | None = Field(description="The latest value reported in the range.")
    at: str = Field(description="When the latest value was reported (UTC).")
    sum: float | None = Field(description="The sum of the values reported in the range.")
    reports: int = Field(description="How many reports the range has.")


class TelemetryModuleReports(BaseModel):
    module: str = Field(examples=["mapping"])
    metrics: list[TelemetryReportedMetric] = Field(description="From the module's MetricsReported events.")


class TelemetryGovernance(BaseModel):
    figures: list[Figure] = Field(
        description="`alerts_raised`, `alerts_critical`, `artifacts_published`, `artifacts_deprecated`."
    )
    alerts_by_severity: dict[str, int]
    artifacts_by_governance_status: dict[str, int] = Field(description="Of the publications of the range.")
    artifacts_by_kind: dict[str, int]


class TelemetryGate(BaseModel):
    gate: str = Field(examples=["coverage"])
    artifact_id: str | None = Field(description="Null for a release gate.")
    status: str = Field(description="The gate's latest status: pending, open, blocked or waived.")
    score: float | None
    at: str = Field(description="When the gate last changed (UTC).")


class TelemetryReadiness(BaseModel):
    figures: list[Figure] = Field(
        description="`gate_changes`, `gates_blocked` (changes to blocked), `waivers_granted`, "
        "`waivers_expired`."
    )
    gates_by_status: dict[str, int] = Field(description="Gates by their latest status.")
    gates: list[TelemetryGate] = Field(
        description="The gates by their latest change, newest first (at most 100)."
    )


class TelemetryPromptPack(BaseModel):
    prompt_pack_id: str
    calibration_status: str | None = Field(description="Of its latest calibration report.")
    accuracy: float | None = Field(description="Its latest calibration accuracy.")
    accuracy_at: str | None
    adherence: float | None = Field(description="Its latest constraint adherence.")
    adherence_at: str | None
    below_threshold: bool | None = Field(description="The latest adherence is below its threshold.")


class TelemetryPromptPacks(BaseModel):
    figures: list[Figure] = Field(
        description="`calibrations_completed`, `calibrations_failed`, `adherence_reports`, "
        "`adherence_below_threshold`."
    )
    packs: list[TelemetryPromptPack] = Field(description="By id (at most 100).")


class TelemetryIncidents(BaseModel):
    figures: list[Figure] = Field(
        description="`incidents_opened`, `incidents_critical`, `incidents_resolved`."
    )
    open: int = Field(description="Incidents open now.")
    open_by_module: dict[str, int]


_FRESH_TELEMETRY: JsonDict = {
    "status": "fresh",
    "preset": "24h",
    "as_of": "2026-11-28T00:00:00.000+00:00",
    "range": {"from": "2026-11-27T00:00:00.000+00:00", "to": "2026-11-28T00:00:00.000+00:00"},
    "previous_range": {"from": "2026-11-26T00:00:00.000+00:00", "to": "2026-11-27T00:00:00.000+00:00"},
    "facts": 42,
    "sla": [
        {
            "verb": "mapping",
            "module": "mapping",
            "target_s": 3600,
            "figures": [
                _figure_example("jobs_ended", "count", 5, 2),
                _figure_example("success_rate", "ratio", 0.75, 1.0),
                _figure_example("duration_p95_s", "seconds", 3600.0, 1800.0),
                _figure_example("within_sla", "ratio", 0.5, 1.0),
            ],
        }
    ],
    "cost": {
        "total": _figure_example("cost_usd", "usd", 13.8, 3.2),
        "modules": [{"module": "mapping", "cost_usd": _figure_example("cost_usd", "usd", 13.6, 3.2)}],
        "budget_alerts": [
            {
                "alert_id": "cost-2026-11-acme-90",
                "module": "mapping",
                "severity": "critical",
                "spent_usd": 4800.0,
                "at": "2026-11-27T14:00:00.000+00:00",
            }
        ],
    },
    "queue": {
        "waiting": 2,
        "figures": [
            _figure_example("jobs_started", "count", 6, 3),
            _figure_example("wait_p50_s", "seconds", 300.0, 60.0),
            _figure_example("wait_p95_s", "seconds", 1800.0, 300.0),
        ],
        "verbs": [
            {
                "verb": "mapping",
                "module": "mapping",
                "waiting": 0,
                "figures": [_figure_example("wait_p95_s", "seconds", 1800.0, 60.0)],
            }
        ],
        "reported": [
            {
                "module": "mapping",
                "metric": "queue.length",
                "value": 2.0,
                "at": "2026-11-27T12:00:00.000+00:00",
            }
        ],
    },
    "trends": {
        "bucket": "1d",
        "series": ["jobs_requested", "jobs_failed", "cost_usd"],
        "points": [
            {
                "start": "2026-11-27T00:00:00.000+00:00",
                "end": "2026-11-28T00:00:00.000+00:00",
                "values": {"jobs_requested": 8, "jobs_failed": 1, "cost_usd": 13.8},
            }
        ],
    },
    "modules": [
        {
            "module": "mapping",
            "metrics": [
                {
                    "name": "queue.length",
                    "latest": 2.0,
                    "at": "2026-11-27T12:00:00.000+00:00",
                    "sum": 6.0,
                    "reports": 2,
                }
            ],
        }
    ],
    "governance": {
        "figures": [_figure_example("alerts_raised", "count", 2, 1)],
        "alerts_by_severity": {"critical": 1, "warning": 1},
        "artifacts_by_governance_status": {"approved": 1, "draft": 1},
        "artifacts_by_kind": {"coverage": 1, "mapping": 1},
    },
    "readiness": {
        "figures": [_figure_example("gates_blocked", "count", 0, 1)],
        "gates_by_status": {"open": 1},
        "gates": [
            {
                "gate": "coverage",
                "artifact_id": "map-icd10-snomed",
                "status": "open",
                "score": 0.85,
                "at": "2026-11-27T10:00:00.000+00:00",
            }
        ],
    },
    "prompt_packs": {
        "figures": [_figure_example("calibrations_completed", "count", 1, 0)],
        "packs": [
            {
                "prompt_pack_id": "pp-clinical-coder",
                "calibration_status": "calibrated",
                "accuracy": 0.934,
                "accuracy_at": "2026-11-27T02:00:00.000+00:00",
                "adherence": 0.962,
                "adherence_at": "2026-11-27T03:00:00.000+00:00",
                "below_threshold": False,
            }
        ],
    },
    "incidents": {
        "figures": [_figure_example("incidents_opened", "count", 2, 0)],
        "open": 1,
        "open_by_module": {"coverage": 1},
    },
}
_PENDING_TELEMETRY: JsonDict = {"status": "pending", "preset": "7d"}
_PRESET_ONLY_TELEMETRY: JsonDict = {"status": "preset_only", "preset": None, "module": "mapping"}


class Telemetry(BaseModel):
    """The aggregates of the telemetry facts (job runs, artifacts, alerts, gates, prompt packs,
    incidents, reported module metrics) that the scheduled aggregation keeps in the metrics cache
    for each preset range. Sections are null unless `status` is `fresh`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [_FRESH_TELEMETRY, _PENDING_TELEMETRY, _PRESET_ONLY_TELEMETRY]}
    )

    status: TelemetryStatus = Field(
        description="`fresh`: the aggregate of the preset, as of `as_of` (within the aggregation's "
        "schedule of the answer's range end). `pending`: none is cached yet or the last one expired "
        "(the aggregation has not run for the tenant lately). `preset_only`: the range was given as "
        "`from`/`to`; the aggregation computes the presets `24h`, `7d` and `30d` only, ending when it runs."
    )
    preset: Literal["24h", "7d", "30d"] | None = Field(description="The preset of the answer's range.")
    module: str | None = Field(
        default=None,
        description="The module whose slice this is (`/metrics/{module}`); null or absent on the dashboard.",
    )
    as_of: str | None = Field(default=None, description="When the aggregation ran: the range's end (UTC).")
    range: Range | None = None
    previous_range: Range | None = None
    facts: int | None = Field(default=None, description="Facts of the tenant in the range.")
    sla: list[TelemetrySla] | None = Field(default=None, description="Per job verb.")
    cost: TelemetryCost | None = Field(default=None, description="Null for a module without job verbs.")
    queue: TelemetryQueue | None = None
    trends: TelemetryTrends | None = Field(default=None, description="On the dashboard only.")
    modules: list[TelemetryModuleReports] | None = None
    governance: TelemetryGovernance | None = Field(default=None, description="Dashboard and `governance`.")
    readiness: TelemetryReadiness | None = Field(default=None, description="Dashboard and `readiness`.")
    prompt_packs: TelemetryPromptPacks | None = Field(
        default=None, description="Dashboard and `prompt_pack`."
    )
    incidents: TelemetryIncidents | None = Field(default=None, description="On the dashboard only.")


class _Answer(BaseModel):
    as_of: str = Field(description="When the figures were computed (UTC).")
    source: Source = Field(description="`cache` when read from the metrics cache, else `computed`.")
    range: Range
    complete: bool = Field(description="False when a store held more records than one answer reads.")


_MAPPING_BREAKDOWN: JsonDict = {
    "status": {"succeeded": 38, "failed": 3, "cancelled": 1},
    "verb": {"mapping": 42},
    "kind": {"mapping": 5},
}


class Dashboard(_Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-20T10:05:00.000+00:00",
                    "source": "cache",
                    "range": {"from": "2026-11-13T10:00:00.000+00:00", "to": "2026-11-20T10:00:00.000+00:00"},
                    "complete": True,
                    "previous_range": {
                        "from": "2026-11-06T10:00:00.000+00:00",
                        "to": "2026-11-13T10:00:00.000+00:00",
                    },
                    "modules": [
                        {
                            "module": "mapping",
                            "figures": [
                                {
                                    "name": "jobs",
                                    "unit": "count",
                                    "value": 42,
                                    "previous": 35,
                                    "trend": {"delta": 7, "percent": 20.0, "direction": "up"},
                                },
                                {
                                    "name": "success_rate",
                                    "unit": "ratio",
                                    "value": 0.9268,
                                    "previous": 0.9429,
                                    "trend": {"delta": -0.0161, "percent": -1.71, "direction": "down"},
                                },
                                {
                                    "name": "duration_p95_s",
                                    "unit": "seconds",
                                    "value": 498.2,
                                    "previous": 512.4,
                                    "trend": {"delta": -14.2, "percent": -2.77, "direction": "down"},
                                },
                                {
                                    "name": "cost_usd",
                                    "unit": "usd",
                                    "value": 18.42,
                                    "previous": 18.42,
                                    "trend": {"delta": 0.0, "percent": 0.0, "direction": "flat"},
                                },
                            ],
                            "breakdown": _MAPPING_BREAKDOWN,
                        }
                    ],
                    "telemetry": {**_PENDING_TELEMETRY},
                }
            ]
        }
    )

    previous_range: Range
    modules: list[ModuleFigures]
    telemetry: Telemetry = Field(
        description="The telemetry aggregate of the range's preset (`status` says whether there is one)."
    )


class ModuleMetrics(_Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-20T10:05:00.000+00:00",
                    "source": "computed",
                    "range": {"from": "2026-11-17T00:00:00.000+00:00", "to": "2026-11-20T00:00:00.000+00:00"},
                    "complete": True,
                    "module": "mapping",
                    "bucket": "1d",
                    "series": ["jobs", "jobs_succeeded", "jobs_failed", "cost_usd", "artifacts_published"],
                    "points": [
                        {
                            "start": "2026-11-17T00:00:00.000+00:00",
                            "end": "2026-11-18T00:00:00.000+00:00",
                            "values": {
                                "jobs": 6.0,
                                "jobs_succeeded": 5.0,
                                "jobs_failed": 1.0,
                                "cost_usd": 2.61,
                                "artifacts_published": 1.0,
                            },
                        },
                        {
                            "start": "2026-11-18T00:00:00.000+00:00",
                            "end": "2026-11-19T00:00:00.000+00:00",
                            "values": {
                                "jobs": 7.0,
                                "jobs_succeeded": 7.0,
                                "jobs_failed": 0.0,
                                "cost_usd": 3.05,
                                "artifacts_published": 0.0,
                            },
                        },
                        {
                            "start": "2026-11-19T00:00:00.000+00:00",
                            "end": "2026-11-20T00:00:00.000+00:00",
                            "values": {
                                "jobs": 5.0,
                                "jobs_succeeded": 4.0,
                                "jobs_failed": 1.0,
                                "cost_usd": 2.2,
                                "artifacts_published": 2.0,
                            },
                        },
                    ],
                    "breakdown": {"status": {"succeeded": 16, "failed": 2}, "verb": {"mapping": 18}},
                    "telemetry": _PRESET_ONLY_TELEMETRY,
                }
            ]
        }
    )

    module: str
    bucket: Literal["1h", "6h", "1d", "7d"]
    series: list[str] = Field(description="Names of the values of every point.")
    points: list[Point]
    breakdown: Breakdown
    telemetry: Telemetry = Field(
        description="The module's slice of the telemetry aggregate of the range's preset: its verbs' SLA "
        "and queues, its cost, its reported metrics and its own section."
    )
