"""Pure rules of the dashboard group: time ranges, previous periods, trends, buckets, and the
aggregation of job, inbox and artifact records into module figures and time series.

Which records count in a period: a job by `requested_at`, an inbox item by `created_at`, an
artifact by `published_at` (else `created_at`); a period is half-open, [from, to).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gui_core.date_times import EARLIEST, LATEST, iso, parse_time
from gui_core.errors import NotFound, ValidationFailed

PRESETS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_PRESET = "7d"
MAX_SPAN = timedelta(days=366)
# 7d is not asked for by clients often, but without it a range over 200 days has no series.
BUCKETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}
MAX_POINTS = 200
# Buckets are aligned to this Monday 00:00 UTC: days at midnight, weeks on Mondays.
_BUCKET_ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)
# A range whose end is this close to now may still receive records: it is "open".
OPEN_RANGE_GRACE = timedelta(minutes=5)

ENDED = frozenset({"succeeded", "failed", "cancelled"})
OPEN_ALERT_STATUSES = frozenset({"unread", "read", "snoozed"})

# The cost model while job records carry no cost: USD per minute of run time (started to finished)
# per verb, roughly the compute each verb's executor uses. A record's own `cost_usd` wins.
COST_PER_MINUTE_USD: dict[str, float] = {
    "ingest": 0.02,
    "coverage": 0.05,
    "mapping": 0.08,
    "overlay": 0.03,
    "readiness": 0.01,
    "prompt_pack_calibration": 0.25,
    "reindex": 0.01,
}
ALL_VERBS: tuple[str, ...] = tuple(COST_PER_MINUTE_USD)
ANY_KIND = "*"


class UnknownModule(NotFound):
    code, title = "unknown_module", "There is no dashboard module of this name"


class InvalidRange(ValidationFailed):
    code, title = "invalid_range", "The time range is not valid"


class TooManyPoints(ValidationFailed):
    code, title = "too_many_points", "The series would have too many points"


@dataclass(frozen=True)
class ModuleSpec:
    """What feeds a module: the job verbs, artifact kinds (`*` all) and inbox categories."""

    verbs: tuple[str, ...] = ()
    artifact_kinds: tuple[str, ...] = ()
    alert_categories: tuple[str, ...] = ()


MODULES: dict[str, ModuleSpec] = {
    "ingestion": ModuleSpec(verbs=("ingest",)),
    "coverage": ModuleSpec(verbs=("coverage",), artifact_kinds=("coverage",)),
    "mapping": ModuleSpec(verbs=("mapping",), artifact_kinds=("mapping",)),
    "overlay": ModuleSpec(verbs=("overlay",), artifact_kinds=("overlay",)),
    "readiness": ModuleSpec(
        verbs=("readiness",), artifact_kinds=("readiness",), alert_categories=("readiness",)
    ),
    "prompt_pack": ModuleSpec(
        verbs=("prompt_pack_calibration",), artifact_kinds=("prompt_pack",), alert_categories=("prompt_pack",)
    ),
    "governance": ModuleSpec(artifact_kinds=(ANY_KIND,), alert_categories=("governance",)),
    "cost": ModuleSpec(verbs=ALL_VERBS, alert_categories=("cost",)),
}


def module_spec(module: str) -> ModuleSpec:
    spec = MODULES.get(module)
    if spec is None:
        raise UnknownModule(f"No module {module!r}; known: {', '.join(MODULES)}.", module=module)
    return spec


# -- time ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> TimeRange:
        """The period of the same length that ends where this one starts."""
        return TimeRange(self.start - self.span, self.start)

    def contains(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end

    def is_open(self, now: datetime) -> bool:
        return self.end > now - OPEN_RANGE_GRACE


def _ceil_minute(at: datetime) -> datetime:
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)


# A range and the previous period before it, with a bucket's room on each side, within the years
# 1 to 9999: a bound at the calendar's edge (gui_core.date_times holds one there) is refused, not
# an overflow (an answer of 500 before).
_EDGE = max(BUCKETS.values())


def _fits_calendar(span: timedelta, end: datetime) -> bool:
    return end - EARLIEST >= 2 * span + _EDGE and LATEST - end >= _EDGE


def resolve_range(
    *, start: datetime | None, end: datetime | None, preset: str | None, now: datetime
) -> TimeRange:
    """`from`/`to` (aware, UTC: gui_core.date_times.QueryTime) or a preset (default 7d) ending now.
    A range ending now ends at the next full minute, so calls within a minute share one cache
    entry. `from` alone ends now; `to` alone starts one preset (7d) earlier. Times are kept to the
    second."""
    if preset is not None and (start is not None or end is not None):
        raise InvalidRange("Give either `range` or `from`/`to`, not both.")
    length = PRESETS.get(DEFAULT_PRESET if preset is None else preset)  # `range=` names no range
    if length is None:
        raise InvalidRange(f"Unknown range {preset!r}; known: {', '.join(PRESETS)}.", parameter="range")
    upper = end.replace(microsecond=0) if end is not None else _ceil_minute(now)
    lower = start.replace(microsecond=0) if start is not None else None
    span = upper - lower if lower is not None else length
    if span <= timedelta(0):
        raise InvalidRange("`from` must be before `to`.")
    if span > MAX_SPAN:
        raise InvalidRange(f"A range spans at most {MAX_SPAN.days} days.")
    if not _fits_calendar(span, upper):
        raise InvalidRange("The range and the period before it must lie within the years 1 to 9999.")
    return TimeRange(upper - span, upper)


# -- trends --------------------------------------------------------------------------------------


def trend(value: float | None, previous: float | None) -> dict[str, Any]:
    """Delta, percent change (None when the previous value is 0 or missing) and direction."""
    if value is None or previous is None:
        return {"delta": None, "percent": None, "direction": "flat"}
    delta = round(value - previous, 6)
    percent = round(delta / previous * 100, 2) if previous else None
    direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return {"delta": delta, "percent": percent, "direction": direction}


# -- buckets -------------------------------------------------------------------------------------


def _bucket_floor(at: datetime, size: timedelta) -> datetime:
    steps = (at - _BUCKET_ORIGIN) // size
    return _BUCKET_ORIGIN + steps * size


def point_count(time_range: TimeRange, bucket: str) -> int:
    size = BUCKETS[bucket]
    return math.ceil((time_range.end - _bucket_floor(time_range.start, size)) / size)


def choose_bucket(time_range: TimeRange, bucket: str | None) -> str:
    """The given bucket if it gives at most `MAX_POINTS` points, else the finest one that does."""
    if bucket is not None:
        if bucket not in BUCKETS:
            raise InvalidRange(f"Unknown bucket {bucket!r}; known: {', '.join(BUCKETS)}.", parameter="bucket")
        points = point_count(time_range, bucket)
        if points > MAX_POINTS:
            raise TooManyPoints(
                f"Bucket {bucket} gives {points} points over this range; at most {MAX_POINTS}.",
                max_points=MAX_POINTS,
            )
        return bucket
    return next(name for name in BUCKETS if point_count(time_range, name) <= MAX_POINTS)


def bucket_bounds(time_range: TimeRange, bucket: str) -> list[TimeRange]:
    """The buckets covering the range, aligned to UTC, the first and last cut to the range."""
    size = BUCKETS[bucket]
    bounds: list[TimeRange] = []
    start = _bucket_floor(time_range.start, size)
    while start < time_range.end:
        bounds.append(TimeRange(max(start, time_range.start), min(start + size, time_range.end)))
        start += size
    return bounds


# -- records -------------------------------------------------------------------------------------


def duration_s(job: Mapping[str, Any]) -> float | None:
    started, finished = parse_time(job.get("started_at")), parse_time(job.get("finished_at"))
    if started is None or finished is None or finished < started:
        return None
    return (finished - started).total_seconds()


def job_cost_usd(job: Mapping[str, Any]) -> float:
    """The record's `cost_usd` when it has one, else the cost model over its run time (0 if it did
    not run to an end)."""
    own = job.get("cost_usd")
    if isinstance(own, int | float) and not isinstance(own, bool):
        return float(own)
    seconds = duration_s(job)
    if seconds is None:
        return 0.0
    return seconds / 60 * COST_PER_MINUTE_USD.get(str(job.get("verb")), 0.0)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p% of values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def artifact_time(artifact: Mapping[str, Any]) -> datetime | None:
    return parse_time(artifact.get("published_at")) or parse_time(artifact.get("created_at"))


def _jobs_of(spec: ModuleSpec, jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [j for j in jobs if j.get("verb") in spec.verbs]


def _artifacts_of(spec: ModuleSpec, artifacts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if ANY_KIND in spec.artifact_kinds:
        return list(artifacts)
    return [a for a in artifacts if a.get("kind") in spec.artifact_kinds]


def _alerts_of(spec: ModuleSpec, alerts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [a for a in alerts if a.get("category") in spec.alert_categories]


def _in(period: TimeRange, records: Iterable[Mapping[str, Any]], field: str) -> list[Mapping[str, Any]]:
    return [r for r in records if period.contains(parse_time(r.get(field)))]


def _is_open_alert(alert: Mapping[str, Any]) -> bool:
    return alert.get("status") in OPEN_ALERT_STATUSES


# -- figures -------------------------------------------------------------------------------------

UNITS = {  # each figure's unit, as answers give it (the rollups' answers too)
    "jobs": "count",
    "jobs_succeeded": "count",
    "jobs_failed": "count",
    "success_rate": "ratio",
    "duration_p50_s": "seconds",
    "duration_p95_s": "seconds",
    "cost_usd": "usd",
    "artifacts_published": "count",
    "artifacts_total": "count",
    "alerts_raised": "count",
    "alerts_open": "count",
    "alerts_critical_open": "count",
}


def _job_values(jobs: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    statuses = Counter(str(j.get("status")) for j in jobs)
    decided = statuses["succeeded"] + statuses["failed"]
    durations = [
        d for j in jobs if j.get("status") in {"succeeded", "failed"} and (d := duration_s(j)) is not None
    ]
    return {
        "jobs": len(jobs),
        "jobs_succeeded": statuses["succeeded"],
        "jobs_failed": statuses["failed"],
        "success_rate": round(statuses["succeeded"] / decided, 4) if decided else None,
        "duration_p50_s": percentile(durations, 50),
        "duration_p95_s": percentile(durations, 95),
        "cost_usd": round(sum(job_cost_usd(j) for j in jobs), 4),
    }


def _artifact_values(period: TimeRange, artifacts: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    times = [artifact_time(a) for a in artifacts]
    return {
        "artifacts_published": sum(1 for t in times if period.contains(t)),
        "artifacts_total": sum(1 for t in times if t is not None and t < period.end),
    }


def _alert_values(alerts: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    open_alerts = [a for a in alerts if _is_open_alert(a)]
    return {
        "alerts_raised": len(alerts),
        "alerts_open": len(open_alerts),
        "alerts_critical_open": sum(1 for a in open_alerts if a.get("severity") == "critical"),
    }


def _period_values(spec: ModuleSpec, period: TimeRange, records: SourceRecords) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    if spec.verbs:
        values.update(_job_values(_in(period, _jobs_of(spec, records.jobs), "requested_at")))
    if spec.artifact_kinds:
        values.update(_artifact_values(period, _artifacts_of(spec, records.artifacts)))
    if spec.alert_categories:
        values.update(_alert_values(_in(period, _alerts_of(spec, records.alerts), "created_at")))
    return values


@dataclass(frozen=True)
class SourceRecords:
    """What the stores gave: jobs of the range and the previous period, inbox items of both, every
    artifact; `complete` is False when a store held more than was read."""

    jobs: Sequence[Mapping[str, Any]]
    alerts: Sequence[Mapping[str, Any]]
    artifacts: Sequence[Mapping[str, Any]]
    complete: bool = True


def _counts(values: Iterable[Any]) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items()))


def breakdown(spec: ModuleSpec, period: TimeRange, records: SourceRecords) -> dict[str, dict[str, float]]:
    """Counts of the range by the dimensions the module has; artifact counts are of the artifacts
    that exist at the end of the range."""
    result: dict[str, dict[str, float]] = {}
    if spec.verbs:
        jobs = _in(period, _jobs_of(spec, records.jobs), "requested_at")
        result["jobs_by_status"] = dict(_counts(j.get("status") for j in jobs))
        result["jobs_by_verb"] = dict(_counts(j.get("verb") for j in jobs))
        cost: dict[str, float] = defaultdict(float)
        for job in jobs:
            cost[str(job.get("verb"))] += job_cost_usd(job)
        result["cost_usd_by_verb"] = {verb: round(cost[verb], 4) for verb in sorted(cost)}
    if spec.artifact_kinds:
        existing = [
            a
            for a in _artifacts_of(spec, records.artifacts)
            if (t := artifact_time(a)) is not None and t < period.end
        ]
        result["artifacts_by_kind"] = dict(_counts(a.get("kind") for a in existing))
        result["artifacts_by_governance_status"] = dict(_counts(a.get("governance_status") for a in existing))
    if spec.alert_categories:
        alerts = [a for a in _in(period, _alerts_of(spec, records.alerts), "created_at") if _is_open_alert(a)]
        result["alerts_open_by_severity"] = dict(_counts(a.get("severity") for a in alerts))
        result["alerts_open_by_category"] = dict(_counts(a.get("category") for a in alerts))
    return result


def figures_entry(
    module: str,
    current: Mapping[str, float | None],
    previous: Mapping[str, float | None],
    module_breakdown: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """One module's entry of the dashboard answer, each figure with its previous-period value and
    trend: the one shape the records' reader and the rollups' reader (`rollups`) both give."""
    figures = [
        {
            "name": name,
            "unit": UNITS[name],
            "value": value,
            "previous": previous.get(name),
            "trend": trend(value, previous.get(name)),
        }
        for name, value in current.items()
    ]
    return {"module": module, "figures": figures, "breakdown": module_breakdown}


def dashboard_answer(
    period: TimeRange, modules: list[dict[str, Any]], *, complete: bool, as_of: datetime
) -> dict[str, Any]:
    """The dashboard answer around its modules' entries, without `source` (which the reader adds)."""
    return {
        "as_of": iso(as_of),
        "range": {"from": iso(period.start), "to": iso(period.end)},
        "previous_range": {"from": iso(period.previous().start), "to": iso(period.previous().end)},
        "complete": complete,
        "modules": modules,
    }


def module_figures(module: str, period: TimeRange, records: SourceRecords) -> dict[str, Any]:
    """One module's figures for the range, each with its previous-period value and trend."""
    spec = module_spec(module)
    current = _period_values(spec, period, records)
    previous = _period_values(spec, period.previous(), records)
    return figures_entry(module, current, previous, breakdown(spec, period, records))


def dashboard_document(period: TimeRange, records: SourceRecords, *, as_of: datetime) -> dict[str, Any]:
    """The dashboard answer without `source` (which the reader adds)."""
    modules = [module_figures(module, period, records) for module in MODULES]
    return dashboard_answer(period, modules, complete=records.complete, as_of=as_of)


def series_names(spec: ModuleSpec) -> list[str]:
    names: list[str] = []
    if spec.verbs:
        names += ["jobs", "jobs_succeeded", "jobs_failed", "cost_usd"]
    if spec.artifact_kinds:
        names += ["artifacts_published"]
    if spec.alert_categories:
        names += ["alerts_raised"]
    return names


def metrics_answer(
    module: str,
    period: TimeRange,
    bucket: str,
    series: list[str],
    points: list[dict[str, Any]],
    module_breakdown: dict[str, dict[str, float]],
    *,
    complete: bool,
    as_of: datetime,
) -> dict[str, Any]:
    """One module's metrics answer around its points, without `source`: the one shape the records'
    reader and the rollups' reader both give."""
    return {
        "module": module,
        "as_of": iso(as_of),
        "range": {"from": iso(period.start), "to": iso(period.end)},
        "bucket": bucket,
        "complete": complete,
        "series": series,
        "points": points,
        "breakdown": module_breakdown,
    }


def metrics_document(
    module: str, period: TimeRange, bucket: str, records: SourceRecords, *, as_of: datetime
) -> dict[str, Any]:
    """One module's time series over the range in `bucket` steps and its breakdown, without
    `source`."""
    spec = module_spec(module)
    bounds = bucket_bounds(period, bucket)
    names = series_names(spec)
    values = [dict.fromkeys(names, 0.0) for _ in bounds]
    size = BUCKETS[bucket]
    first = _bucket_floor(period.start, size)

    def slot(at: datetime | None) -> int | None:
        return None if not period.contains(at) else int((at - first) // size)  # type: ignore[operator]

    for job in _jobs_of(spec, records.jobs):
        if (n := slot(parse_time(job.get("requested_at")))) is not None:
            values[n]["jobs"] += 1
            values[n]["jobs_succeeded"] += job.get("status") == "succeeded"
            values[n]["jobs_failed"] += job.get("status") == "failed"
            values[n]["cost_usd"] += job_cost_usd(job)
    for artifact in _artifacts_of(spec, records.artifacts) if spec.artifact_kinds else []:
        if (n := slot(artifact_time(artifact))) is not None:
            values[n]["artifacts_published"] += 1
    for alert in _alerts_of(spec, records.alerts):
        if (n := slot(parse_time(alert.get("created_at")))) is not None:
            values[n]["alerts_raised"] += 1
    points = [
        {
            "start": iso(b.start),
            "end": iso(b.end),
            "values": {k: (round(v, 4) if k == "cost_usd" else int(v)) for k, v in point.items()},
        }
        for b, point in zip(bounds, values, strict=True)
    ]
    return metrics_answer(
        module,
        period,
        bucket,
        names,
        points,
        breakdown(spec, period, records),
        complete=records.complete,
        as_of=as_of,
    )
