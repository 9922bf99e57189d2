"""Rollups of the dashboard: counters per tenant and time bucket that answer a range by reading its
buckets, not its records. Pure rules; `gui_dashboard.rollup_store` reads and writes them.

A record contributes to the buckets (an hour, its day, its month) of its time (a job's
`requested_at`, an inbox item's `created_at`, an artifact's publication or creation), as these
counters (attribute names; `|` in a value is written `%7C`, `%` `%25`):
  j|<verb>|<status>            jobs
  c|<verb>                     their cost (USD, the record's own or the cost model's)
  d|<verb>|<bin>, s|<verb>|<bin>   ended jobs (succeeded, failed) with a run time: how many fall in a
                               log bin of run time (bin b holds (g^(b-1), g^b], g = `GAMMA` 1.01; `z` holds 0)
                               and the sum of their run times
  a|<category>|<severity>|<open>   inbox items (open: 1 when unread, read or snoozed, else 0)
  p|<kind>|<governance status>     artifacts
Artifacts also count in the tenant's totals item (`ROLLUP#total`): the artifacts that exist at a
time are the totals less those of the buckets from that time on.

Stored, a counter has a short name (`stored_counters`, read back by `add_up`): every counter of the
closed vocabularies (`LAYOUT`: verbs x job statuses, costs, categories x severities x open, artifact
kinds x governance statuses) is `<family><index>`, and a bucket item holds all of them from its first
write on (zeros included), so its size does not grow as combinations appear: a bucket read costs the
same whatever the tenant holds. Run-time bins of a known verb are `d<verb index>_<bin>` and
`s<verb index>_<bin>`, their bins bounded (`MAX_RUN_BIN`: up to `MAX_RUN_S`, and 1 s and under in
bin 0), so a verb has at most `MAX_RUN_BIN` + 2 of each; a value outside the vocabularies keeps its
spelled name (as the items written before the layout, which migration 0023 moves to it).

A record's contribution depends on its current state only (`contribution`), so a change of the
record moves the counters by the difference of its new and old contributions, and the counters are
always the sum of the stored records' contributions: the old computation over the same range, except
the run-time percentiles, which come from the bins (within 1 % of the exact nearest rank; exact
when the values of the rank's bin are equal).

A range is answered from whole hours: its bounds are aligned to hours (`align`), and its cover
(`cover`) takes the largest aligned buckets that fit (hours, then days, then months), at most
23 + 30 + 11 per side plus a month per month between: about 130 items for the largest range and its
previous period, however many records the tenant has.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gui_core.date_times import iso, parse_time
from gui_core.domain_events import ARTIFACT_KINDS, CATEGORIES, GOVERNANCE_STATUSES, SEVERITIES, VERBS
from gui_dashboard.logic import (
    BUCKETS,
    MODULES,
    OPEN_ALERT_STATUSES,
    ModuleSpec,
    TimeRange,
    _bucket_floor,
    artifact_time,
    bucket_bounds,
    dashboard_answer,
    duration_s,
    figures_entry,
    job_cost_usd,
    metrics_answer,
    module_spec,
    series_names,
)

ROLLUP_PREFIX = "ROLLUP#"
TOTAL_SK = "ROLLUP#total"
GAMMA = 1.01
_LOG_GAMMA = math.log(GAMMA)
MAX_RUN_S = 7 * 24 * 3600  # longer run times share the last bin (its mean is theirs)
MAX_RUN_BIN = math.ceil(round(math.log(MAX_RUN_S) / _LOG_GAMMA, 9))
# gui_jobs.models.JOB_STATUSES (a unit test holds them together): the dashboard does not import gui_jobs.
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelling", "cancelled")
HOUR = timedelta(hours=1)
JOBS, INBOX, ARTIFACTS = "jobs", "inbox", "artifacts"

Counters = dict[str, float]


# -- buckets -------------------------------------------------------------------------------------


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _day(at: datetime) -> datetime:
    return _hour(at).replace(hour=0)


def _month(at: datetime) -> datetime:
    return _day(at).replace(day=1)


def _next_month(at: datetime) -> datetime:
    return at.replace(year=at.year + 1, month=1) if at.month == 12 else at.replace(month=at.month + 1)


def bucket_sk(granularity: str, start: datetime) -> str:
    """`ROLLUP#h#2026-11-27T10`, `ROLLUP#d#2026-11-27`, `ROLLUP#m#2026-11`: the spelling sorts as time."""
    spelled = {"h": "%Y-%m-%dT%H", "d": "%Y-%m-%d", "m": "%Y-%m"}[granularity]
    return f"{ROLLUP_PREFIX}{granularity}#{start.strftime(spelled)}"


def parse_bucket(sk: str) -> datetime:
    """The start of a bucket item's bucket."""
    granularity, _, spelled = sk.removeprefix(ROLLUP_PREFIX).partition("#")
    spelling = {"h": "%Y-%m-%dT%H", "d": "%Y-%m-%d", "m": "%Y-%m"}[granularity]
    return datetime.strptime(spelled, spelling).replace(tzinfo=UTC)


def buckets_of(at: datetime) -> tuple[str, str, str]:
    """The hour, day and month a time counts in."""
    return bucket_sk("h", _hour(at)), bucket_sk("d", _day(at)), bucket_sk("m", _month(at))


def ceil_hour(at: datetime) -> datetime:
    floor = _hour(at)
    return floor if floor == at else floor + HOUR


def align(period: TimeRange) -> TimeRange:
    """The range widened to whole hours (start down, end up)."""
    return TimeRange(_hour(period.start), ceil_hour(period.end))


@dataclass(frozen=True)
class Segment:
    """Buckets of one granularity whose starts lie in [first, last]: one query of a key range."""

    granularity: str
    first: datetime
    last: datetime

    def bounds(self) -> tuple[str, str]:
        return bucket_sk(self.granularity, self.first), bucket_sk(self.granularity, self.last)


def cover(period: TimeRange) -> list[Segment]:
    """Segments whose buckets are exactly the hour-aligned range: hours up to a day, days up to a
    month, months, then days and hours to the end."""
    start, end = period.start, period.end
    if _hour(start) != start or _hour(end) != end:
        raise ValueError("a rollup range is aligned to hours")
    segments: list[Segment] = []

    def add(granularity: str, first: datetime, stop: datetime, step: Any) -> None:
        if first < stop:
            last = first
            while step(last) < stop:
                last = step(last)
            segments.append(Segment(granularity, first, last))

    def hours(at: datetime) -> datetime:
        return at + HOUR

    def days(at: datetime) -> datetime:
        return at + timedelta(days=1)

    day_from = start if _day(start) == start else _day(start) + timedelta(days=1)
    day_to = _day(end)
    if day_from >= day_to:  # within a day or across one midnight: hours only
        add("h", start, end, hours)
        return segments
    month_from = day_from if _month(day_from) == day_from else _next_month(_month(day_from))
    month_to = _month(day_to)
    add("h", start, day_from, hours)
    if month_from >= month_to:
        add("d", day_from, day_to, days)
    else:
        add("d", day_from, month_from, days)
        add("m", month_from, month_to, _next_month)
        add("d", month_to, day_to, days)
    add("h", day_to, end, hours)
    return segments


# -- contributions -------------------------------------------------------------------------------


def _part(value: Any) -> str:
    return str(value).replace("%", "%25").replace("|", "%7C")


def _unpart(value: str) -> str:
    return value.replace("%7C", "|").replace("%25", "%")


def duration_bin(seconds: float) -> str:
    if seconds <= 0:
        return "z"
    return str(min(max(math.ceil(round(math.log(seconds) / _LOG_GAMMA, 9)), 0), MAX_RUN_BIN))


def contribution(store: str, record: Mapping[str, Any] | None) -> dict[str, Counters]:
    """What one stored record adds to each bucket item (and the totals item): {sk: {attribute: n}}."""
    if record is None:
        return {}
    counters: Counters = {}
    if store == JOBS:
        at = parse_time(record.get("requested_at"))
        verb = _part(record.get("verb"))
        counters[f"j|{verb}|{_part(record.get('status'))}"] = 1
        counters[f"c|{verb}"] = round(job_cost_usd(record), 6)
        seconds = duration_s(record) if record.get("status") in {"succeeded", "failed"} else None
        if seconds is not None:
            slot = duration_bin(seconds)
            counters[f"d|{verb}|{slot}"] = 1
            counters[f"s|{verb}|{slot}"] = round(seconds, 3)
    elif store == INBOX:
        if not str(record.get("sk", "NOTE#n")).startswith("NOTE#n"):
            return {}  # counters, snoozes and other items of the store are no alerts
        at = parse_time(record.get("created_at"))
        is_open = int(record.get("status") in OPEN_ALERT_STATUSES)
        counters[f"a|{_part(record.get('category'))}|{_part(record.get('severity'))}|{is_open}"] = 1
    elif store == ARTIFACTS:
        if not str(record.get("sk", "ART#")).startswith("ART#"):
            return {}
        at = artifact_time(record)
        counters[f"p|{_part(record.get('kind'))}|{_part(record.get('governance_status'))}"] = 1
    else:
        raise ValueError(f"no rollups of the {store!r} store")
    if at is None:
        return {}  # the old computation counts no record without its time in any period
    found = {sk: dict(counters) for sk in buckets_of(at)}
    if store == ARTIFACTS:
        found[TOTAL_SK] = dict(counters)
    return found


def difference(new: Mapping[str, Counters], old: Mapping[str, Counters]) -> dict[str, Counters]:
    """What to add to each item to go from the old contribution to the new one (zeros left out)."""
    delta: dict[str, Counters] = {}
    for sk in set(new) | set(old):
        names = set(new.get(sk, {})) | set(old.get(sk, {}))
        moved = {n: round(new.get(sk, {}).get(n, 0) - old.get(sk, {}).get(n, 0), 6) for n in sorted(names)}
        moved = {n: v for n, v in moved.items() if v != 0}
        if moved:
            delta[sk] = moved
    return delta


# -- stored names --------------------------------------------------------------------------------


def _index(names: Iterable[str]) -> dict[str, int]:
    return {name: index for index, name in enumerate(names)}


# A stored name holds the values' places in the vocabularies (`j<verb>_<status>`), so a vocabulary
# may grow at its end, never change its order (a unit test pins them).
_VERB_INDEX = _index(VERBS)
_STATUS, _CATEGORY, _SEVERITY = _index(JOB_STATUSES), _index(CATEGORIES), _index(SEVERITIES)
_KIND, _GOVERNANCE = _index(ARTIFACT_KINDS), _index(GOVERNANCE_STATUSES)
# {counter: stored name} of the closed vocabularies: an item holds all of them.
LAYOUT: dict[str, str] = {
    **{f"j|{v}|{s}": f"j{_VERB_INDEX[v]}_{_STATUS[s]}" for v in VERBS for s in JOB_STATUSES},
    **{f"c|{v}": f"c{_VERB_INDEX[v]}" for v in VERBS},
    **{
        f"a|{c}|{s}|{is_open}": f"a{_CATEGORY[c]}_{_SEVERITY[s]}_{is_open}"
        for c in CATEGORIES
        for s in SEVERITIES
        for is_open in (0, 1)
    },
    **{f"p|{k}|{g}": f"p{_KIND[k]}_{_GOVERNANCE[g]}" for k in ARTIFACT_KINDS for g in GOVERNANCE_STATUSES},
}
_SPELLED = {short: name for name, short in LAYOUT.items()}
WRITES = "w"  # the writes an item took: a migration's rewrite of it holds while none came between
_RUN_BIN = re.compile(r"([ds])(\d+)_(z|\d+)")


def stored_name(name: str) -> str:
    """A counter's name in an item: short in the vocabularies, else as spelled."""
    short = LAYOUT.get(name)
    if short is not None:
        return short
    kind, _, rest = name.partition("|")
    verb, _, slot = rest.rpartition("|")
    if kind in {"d", "s"} and _unpart(verb) in _VERB_INDEX and (slot == "z" or slot.isdigit()):
        return f"{kind}{_VERB_INDEX[_unpart(verb)]}_{slot}"
    return name  # outside the vocabularies, or a bin below 0 written before bins were bounded


def counter_name(stored: str) -> str | None:
    """The counter an item's attribute holds; None for the item's other attributes (its key)."""
    if "|" in stored:
        return stored
    spelled = _SPELLED.get(stored)
    if spelled is not None:
        return spelled
    found = _RUN_BIN.fullmatch(stored)
    if found is None or int(found[2]) >= len(VERBS):
        return None
    kind, verb, slot = found.groups()
    return f"{kind}|{_part(VERBS[int(verb)])}|{slot}"


def stored_counters(moved: Mapping[str, float], *, whole_layout: bool) -> dict[str, float]:
    """What one write adds to an item: the moved counters by their stored names and one to `WRITES`;
    with `whole_layout` (an item's first write), zero to the rest of the layout too, so the item
    holds the whole layout from its first write on and later writes add only what they move."""
    added = (dict.fromkeys(LAYOUT.values(), 0.0) if whole_layout else {}) | {WRITES: 1}
    for name, value in moved.items():
        added[stored_name(name)] = value
    return added


def add_up(items: Iterable[Mapping[str, Any]]) -> Counters:
    """The sum of bucket items' counters (stored or spelled names), by their spelled names."""
    total: Counters = defaultdict(float)
    for item in items:
        for stored, value in item.items():
            name = counter_name(stored)
            if name is not None and isinstance(value, int | float) and not isinstance(value, bool):
                total[name] += value
    return dict(total)


def less(a: Mapping[str, float], b: Mapping[str, float]) -> Counters:
    return {n: a.get(n, 0) - b.get(n, 0) for n in set(a) | set(b)}


# -- figures from counters -----------------------------------------------------------------------


def _rows(counters: Mapping[str, float], kind: str) -> Iterable[tuple[list[str], float]]:
    for name, value in counters.items():
        head, _, rest = name.partition("|")
        if head == kind and round(value, 6) != 0:
            yield [_unpart(p) for p in rest.split("|")], value


def _percentile(bins: Mapping[str, tuple[float, float]], p: float) -> float | None:
    """Nearest rank over the bins (count, sum), as the mean of the rank's bin."""
    total = round(sum(count for count, _ in bins.values()))
    if total <= 0:
        return None
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0.0
    for _, (count, summed) in sorted(bins.items(), key=lambda kv: -1e9 if kv[0] == "z" else int(kv[0])):
        seen += count
        if seen >= rank - 1e-9:
            return round(summed / count, 3) if count else None
    return None


@dataclass
class Period:
    """What a range's buckets hold (`counters`), and the artifacts existing at its end (`existing`)."""

    counters: Counters
    existing: Counters = field(default_factory=dict)


def _job_values(spec: ModuleSpec, period: Period) -> dict[str, float | None]:
    statuses: Counter[str] = Counter()
    for (verb, status), value in _rows(period.counters, "j"):
        if verb in spec.verbs:
            statuses[status] += round(value)
    bins: dict[str, tuple[float, float]] = {}
    for (verb, slot), value in _rows(period.counters, "d"):
        if verb in spec.verbs:
            count, summed = bins.get(slot, (0.0, 0.0))
            bins[slot] = (count + value, summed + period.counters.get(f"s|{_part(verb)}|{slot}", 0.0))
    cost = sum(v for (verb,), v in _rows(period.counters, "c") if verb in spec.verbs)
    decided = statuses["succeeded"] + statuses["failed"]
    return {
        "jobs": sum(statuses.values()),
        "jobs_succeeded": statuses["succeeded"],
        "jobs_failed": statuses["failed"],
        "success_rate": round(statuses["succeeded"] / decided, 4) if decided else None,
        "duration_p50_s": _percentile(bins, 50),
        "duration_p95_s": _percentile(bins, 95),
        "cost_usd": round(cost, 4),
    }


def _kind_matches(spec: ModuleSpec, kind: str) -> bool:
    return "*" in spec.artifact_kinds or kind in spec.artifact_kinds


def _artifact_values(spec: ModuleSpec, period: Period) -> dict[str, float | None]:
    return {
        "artifacts_published": round(
            sum(v for (k, _), v in _rows(period.counters, "p") if _kind_matches(spec, k))
        ),
        "artifacts_total": round(
            sum(v for (k, _), v in _rows(period.existing, "p") if _kind_matches(spec, k))
        ),
    }


def _alert_values(spec: ModuleSpec, period: Period) -> dict[str, float | None]:
    raised = opened = critical = 0
    for (category, severity, is_open), value in _rows(period.counters, "a"):
        if category in spec.alert_categories:
            raised += round(value)
            if is_open == "1":
                opened += round(value)
                critical += round(value) if severity == "critical" else 0
    return {"alerts_raised": raised, "alerts_open": opened, "alerts_critical_open": critical}


def period_values(spec: ModuleSpec, period: Period) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    if spec.verbs:
        values.update(_job_values(spec, period))
    if spec.artifact_kinds:
        values.update(_artifact_values(spec, period))
    if spec.alert_categories:
        values.update(_alert_values(spec, period))
    return values


def _sorted_counts(counts: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v) for k, v in sorted(counts.items()) if round(v) != 0}


def breakdown(spec: ModuleSpec, period: Period) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    if spec.verbs:
        by_status: dict[str, float] = defaultdict(float)
        by_verb: dict[str, float] = defaultdict(float)
        for (verb, status), value in _rows(period.counters, "j"):
            if verb in spec.verbs:
                by_status[status] += value
                by_verb[verb] += value
        verbs = _sorted_counts(by_verb)
        result["jobs_by_status"] = _sorted_counts(by_status)
        result["jobs_by_verb"] = verbs
        cost = {verb: period.counters.get(f"c|{_part(verb)}", 0.0) for verb in verbs}
        result["cost_usd_by_verb"] = {verb: round(cost[verb], 4) for verb in sorted(cost)}
    if spec.artifact_kinds:
        by_kind: dict[str, float] = defaultdict(float)
        by_status_a: dict[str, float] = defaultdict(float)
        for (kind, governance), value in _rows(period.existing, "p"):
            if _kind_matches(spec, kind):
                by_kind[kind] += value
                by_status_a[governance] += value
        result["artifacts_by_kind"] = _sorted_counts(by_kind)
        result["artifacts_by_governance_status"] = _sorted_counts(by_status_a)
    if spec.alert_categories:
        by_severity: dict[str, float] = defaultdict(float)
        by_category: dict[str, float] = defaultdict(float)
        for (category, severity, is_open), value in _rows(period.counters, "a"):
            if category in spec.alert_categories and is_open == "1":
                by_severity[severity] += value
                by_category[category] += value
        result["alerts_open_by_severity"] = _sorted_counts(by_severity)
        result["alerts_open_by_category"] = _sorted_counts(by_category)
    return result


def module_figures(module: str, current: Period, previous: Period) -> dict[str, Any]:
    spec = module_spec(module)
    return figures_entry(
        module, period_values(spec, current), period_values(spec, previous), breakdown(spec, current)
    )


def dashboard_document(
    period: TimeRange, current: Period, previous: Period, *, as_of: datetime
) -> dict[str, Any]:
    """The dashboard answer from rollups (an hour-aligned range), without `source`."""
    modules = [module_figures(module, current, previous) for module in MODULES]
    return dashboard_answer(period, modules, complete=True, as_of=as_of)


def point_values(spec: ModuleSpec, counters: Counters) -> dict[str, float]:
    values = period_values(spec, Period(counters))
    out: dict[str, float] = {}
    for name in series_names(spec):
        value = values.get(name) or 0
        out[name] = round(value, 4) if name == "cost_usd" else int(value)
    return out


def metrics_document(
    module: str,
    period: TimeRange,
    bucket: str,
    hours: Mapping[datetime, Counters],
    current: Period,
    *,
    as_of: datetime,
) -> dict[str, Any]:
    """One module's series from its range's hour (or, for `1d` and `7d`, day) counters keyed by their
    start, and its breakdown, without `source`."""
    spec = module_spec(module)
    size = BUCKETS[bucket]
    bounds = bucket_bounds(period, bucket)
    first = _bucket_floor(period.start, size)
    sums: list[Counters] = [{} for _ in bounds]
    for start, counters in hours.items():
        if period.contains(start):
            slot = sums[int((start - first) // size)]
            for name, value in counters.items():
                slot[name] = slot.get(name, 0) + value
    points = [
        {"start": iso(b.start), "end": iso(b.end), "values": point_values(spec, counters)}
        for b, counters in zip(bounds, sums, strict=True)
    ]
    return metrics_answer(
        module,
        period,
        bucket,
        series_names(spec),
        points,
        breakdown(spec, current),
        complete=True,
        as_of=as_of,
    )
