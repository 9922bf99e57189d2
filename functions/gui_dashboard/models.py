"""Response models of the dashboard group (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class Dashboard(_Answer):
    previous_range: Range
    modules: list[ModuleFigures]


class Point(BaseModel):
    start: str
    end: str
    values: dict[str, int | float] = Field(description="One value per name of `series`.")


class ModuleMetrics(_Answer):
    module: str
    bucket: Literal["1h", "6h", "1d", "7d"]
    series: list[str] = Field(description="Names of the values of every point.")
    points: list[Point]
    breakdown: Breakdown
