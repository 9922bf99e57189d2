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
                    "as_of": "2026-11-20T10:05:00Z",
                    "source": "cache",
                    "range": {"from": "2026-11-13T10:00:00Z", "to": "2026-11-20T10:00:00Z"},
                    "complete": True,
                    "previous_range": {"from": "2026-11-06T10:00:00Z", "to": "2026-11-13T10:00:00Z"},
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
                }
            ]
        }
    )

    previous_range: Range
    modules: list[ModuleFigures]


class Point(BaseModel):
    start: str
    end: str
    values: dict[str, int | float] = Field(description="One value per name of `series`.")


class ModuleMetrics(_Answer):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-20T10:05:00Z",
                    "source": "computed",
                    "range": {"from": "2026-11-17T00:00:00Z", "to": "2026-11-20T00:00:00Z"},
                    "complete": True,
                    "module": "mapping",
                    "bucket": "1d",
                    "series": ["jobs", "jobs_succeeded", "jobs_failed", "cost_usd", "artifacts_published"],
                    "points": [
                        {
                            "start": "2026-11-17T00:00:00Z",
                            "end": "2026-11-18T00:00:00Z",
                            "values": {
                                "jobs": 6.0,
                                "jobs_succeeded": 5.0,
                                "jobs_failed": 1.0,
                                "cost_usd": 2.61,
                                "artifacts_published": 1.0,
                            },
                        },
                        {
                            "start": "2026-11-18T00:00:00Z",
                            "end": "2026-11-19T00:00:00Z",
                            "values": {
                                "jobs": 7.0,
                                "jobs_succeeded": 7.0,
                                "jobs_failed": 0.0,
                                "cost_usd": 3.05,
                                "artifacts_published": 0.0,
                            },
                        },
                        {
                            "start": "2026-11-19T00:00:00Z",
                            "end": "2026-11-20T00:00:00Z",
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
                }
            ]
        }
    )

    module: str
    bucket: Literal["1h", "6h", "1d", "7d"]
    series: list[str] = Field(description="Names of the values of every point.")
    points: list[Point]
    breakdown: Breakdown
