"""Aggregates of a tenant's facts with DuckDB: SLA per verb, cost per module, queues, daily trends,
module figures (MetricsReported), governance, readiness, prompt-pack and incident figures.

`aggregate(files, now=..., window=...)` answers the document the metrics cache keeps for a range
[now - window, now), each figure with its value for the previous period of the same length
[now - 2 window, now - window) and the trend (`gui_dashboard.logic.trend`).

Rules:
- Rows are de-duplicated on (event_id, metric) first: a redelivered event counts once, in whichever
  files it landed.
- A job is its facts by `job_id` (JobRequested, JobStatusChanged): verb from any of them, requested
  = its first `queued`, started = its first `running`, ended = its last end (succeeded, failed,
  cancelled) and its outcome is that end's status. It counts in the period where it ended (SLA,
  cost), started (wait times) or was requested (the `jobs_requested` trend). A job whose verb is
  known from none of its facts (its request is older than the facts read) is left out.
- Run time = ended - started; wait = started - requested; turnaround = ended - requested.
  Duration percentiles are of succeeded and failed jobs (a cancellation is the user's decision),
  as on the dashboard. `within_sla` = succeeded jobs whose turnaround is within the verb's target /
  succeeded and failed jobs with a known turnaround (a failure misses its SLA).
- Percentiles are nearest-rank, `quantile_disc`: the same values as `gui_dashboard.logic.percentile`
  (the smallest value with at least p% of the values at or below it). They are computed from every
  fact of the period, never composed from other aggregates (per verb and for all verbs alike).
- Cost of a job: the last `cost_usd` its executor reported, else run minutes x
  `COST_PER_MINUTE_USD` of its verb (the dashboard's cost model), else 0.
- "Now" figures (jobs waiting, gates' latest status, open incidents, prompt packs' latest accuracy
  and adherence) look at every fact before `now` that was read.

DuckDB runs offline: the connection is in memory, with `home_directory` and `temp_directory` under
a writable folder (Lambda: /tmp) and extension auto-install and auto-load off; nothing is
downloaded. Parquet and ICU are built into the duckdb wheel.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from gui_core.date_times import iso
from gui_core.domain_events import VERBS
from gui_dashboard.logic import COST_PER_MINUTE_USD, TimeRange, bucket_bounds, trend
from gui_telemetry.facts import COLUMNS, VERB_MODULES

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

# Turnaround (request to end) each verb is expected to keep, in seconds.
SLA_TARGET_S: dict[str, int] = {
    "ingest": 900,
    "coverage": 1800,
    "mapping": 3600,
    "overlay": 1800,
    "readiness": 600,
    "prompt_pack_calibration": 7200,
    "reindex": 1800,
}
assert set(SLA_TARGET_S) == set(VERBS) == set(COST_PER_MINUTE_USD), "one target and cost rate per verb"

# Modules with job verbs, in the order the answers list them.
COST_MODULES: tuple[str, ...] = tuple(dict.fromkeys(VERB_MODULES[verb] for verb in VERBS))
TREND_SERIES: tuple[str, ...] = (
    "jobs_requested",
    "jobs_ended",
    "jobs_failed",
    "cost_usd",
    "artifacts_published",
    "alerts",
    "incidents",
)
# Gates, prompt packs, budget alerts and reported metrics of a module listed in one document (and
# five times as many reported metrics in all): the document stays well within a DynamoDB item.
LIST_LIMIT = 100
CURRENT, PREVIOUS = "current", "previous"


# -- the connection ----------------------------------------------------------------------------------


def connect(work_dir: Path, *, threads: int = 2, memory_limit_mb: int | None = None) -> DuckDBPyConnection:
    """An in-memory DuckDB that writes only under `work_dir` and never installs or loads an
    extension on its own (Lambda: no network at run time is assumed, and $HOME is not writable)."""
    home = work_dir / "duckdb"
    (home / "spill").mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "home_directory": str(home),
        "temp_directory": str(home / "spill"),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "threads": threads,
    }
    if memory_limit_mb:
        config["memory_limit"] = f"{memory_limit_mb}MB"
    connection = duckdb.connect(":memory:", config=config)
    connection.execute("SET TimeZone = 'UTC'")  # days are UTC days whatever the host says
    return connection


def create_facts_table(connection: DuckDBPyConnection, name: str = "facts") -> None:
    columns = ", ".join(f"{column} {kind}" for column, kind in COLUMNS)
    connection.execute(f"CREATE TABLE {name} ({columns})")


# -- the document ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Periods:
    now: datetime
    window: timedelta

    @property
    def current(self) -> TimeRange:
        return TimeRange(self.now - self.window, self.now)

    @property
    def previous(self) -> TimeRange:
        return self.current.previous()

    def params(self) -> dict[str, datetime]:
        return {"now": self.now, "start": self.current.start, "prev": self.previous.start}


class FactSet:
    """A tenant's facts loaded once (de-duplicated) into DuckDB, aggregated for any number of
    ranges. Close it (or use `open_facts`) to free the connection."""

    def __init__(self, connection: DuckDBPyConnection) -> None:
        self._db = connection

    @classmethod
    def load(cls, files: Sequence[Path], connection: DuckDBPyConnection) -> FactSet:
        create_facts_table(connection)
        if files:
            connection.execute(
                """
                INSERT INTO facts
                SELECT event_id, tenant, kind, occurred_at, module, subject, artifact_id, verb, status,
                       severity, metric, value
                FROM read_parquet($files, union_by_name = true)
                QUALIFY row_number() OVER (PARTITION BY event_id, metric ORDER BY occurred_at, kind) = 1
                """,
                {"files": [str(path) for path in files]},
            )
        return cls(connection)

    def close(self) -> None:
        self._db.close()

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM facts").fetchone()
        return int(row[0]) if row else 0

    def aggregate(self, *, now: datetime, window: timedelta) -> dict[str, Any]:
        """The document of [now - window, now) with the previous period of the same length."""
        if window <= timedelta(0):
            raise ValueError("the window must be positive")
        now = now.astimezone(UTC)
        periods = Periods(now, window)
        self._jobs(periods)
        counts = self._counts(periods)
        return {
            "as_of": iso(now),
            "range": _range(periods.current),
            "previous_range": _range(periods.previous),
            "facts": self._scalar(
                "SELECT count(*) FROM facts WHERE occurred_at >= $start AND occurred_at < $now", periods
            ),
            "sla": self._sla(periods),
            "cost": self._cost(periods),
            "queue": self._queue(periods),
            "trends": self._trends(periods),
            "modules": self._modules(periods),
            "governance": _governance(counts),
            "readiness": self._readiness(periods, counts),
            "prompt_packs": self._prompt_packs(periods, counts),
            "incidents": self._incidents(periods, counts),
        }

    # -- queries ---------------------------------------------------------------------------------

    def _rows(self, sql: str, periods: Periods) -> list[dict[str, Any]]:
        params: dict[str, object] = {**periods.params(), "limit": LIST_LIMIT}
        cursor = self._db.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _scalar(self, sql: str, periods: Periods) -> int:
        rows = self._rows(sql, periods)
        return int(next(iter(rows[0].values()))) if rows else 0

    def _jobs(self, periods: Periods) -> None:
        """One row per job from its facts before `now` (see the module's rules)."""
        self._db.execute(
            "CREATE OR REPLACE TEMP TABLE verbs (verb VARCHAR, module VARCHAR, rate DOUBLE, target_s DOUBLE)"
        )
        self._db.executemany(
            "INSERT INTO verbs VALUES (?, ?, ?, ?)",
            [(verb, VERB_MODULES[verb], COST_PER_MINUTE_USD[verb], SLA_TARGET_S[verb]) for verb in VERBS],
        )
        self._db.execute(
            """
            CREATE OR REPLACE TEMP TABLE jobs AS
            WITH job AS (
                SELECT subject AS job_id,
                       max(verb) AS verb,
                       min(occurred_at) FILTER (WHERE status = 'queued') AS requested_at,
                       min(occurred_at) FILTER (WHERE status = 'running') AS started_at,
                       max(occurred_at) FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled'))
                           AS ended_at,
                       arg_max(status, occurred_at)
                           FILTER (WHERE status IN ('succeeded', 'failed', 'cancelled')) AS outcome,
                       arg_max(value, occurred_at) FILTER (WHERE metric = 'cost_usd') AS reported_cost_usd
                FROM facts
                WHERE kind IN ('JobRequested', 'JobStatusChanged') AND subject IS NOT NULL
                  AND occurred_at < $now
                GROUP BY subject
            ), timed AS (
                SELECT job.*, verbs.module, verbs.rate, verbs.target_s,
                       CASE WHEN ended_at >= started_at THEN epoch(ended_at) - epoch(started_at) END AS run_s,
                       CASE WHEN started_at >= requested_at
                            THEN epoch(started_at) - epoch(requested_at) END AS wait_s,
                       CASE WHEN ended_at >= requested_at
                            THEN epoch(ended_at) - epoch(requested_at) END AS turnaround_s
                FROM job JOIN verbs USING (verb)
            )
            SELECT *,
                   CASE WHEN ended_at IS NULL THEN NULL
                        ELSE coalesce(reported_cost_usd, run_s / 60 * rate, 0) END AS cost_usd
            FROM timed
            """,
            {"now": periods.now},
        )

    def _counts(self, periods: Periods) -> list[dict[str, Any]]:
        """Events of both periods by kind, module, status and severity: the counted figures."""
        return self._rows(
            """
            SELECT kind, module, status, severity,
                   CASE WHEN occurred_at >= $start THEN 'current' ELSE 'previous' END AS period,
                   count(DISTINCT event_id) AS n
            FROM facts
            WHERE occurred_at >= $prev AND occurred_at < $now
            GROUP BY ALL
            """,
            periods,
        )

    def _sla(self, periods: Periods) -> list[dict[str, Any]]:
        rows = self._rows(
            """
            SELECT verb, CASE WHEN ended_at >= $start THEN 'current' ELSE 'previous' END AS period,
                   count(*) AS jobs_ended,
                   count(*) FILTER (WHERE outcome = 'succeeded') AS jobs_succeeded,
                   count(*) FILTER (WHERE outcome = 'failed') AS jobs_failed,
                   count(*) FILTER (WHERE outcome = 'cancelled') AS jobs_cancelled,
                   quantile_disc(run_s, 0.5) FILTER (WHERE outcome IN ('succeeded', 'failed')) AS p50,
                   quantile_disc(run_s, 0.95) FILTER (WHERE outcome IN ('succeeded', 'failed')) AS p95,
                   count(*) FILTER (WHERE outcome IN ('succeeded', 'failed') AND turnaround_s IS NOT NULL)
                       AS timed,
                   count(*) FILTER (WHERE outcome = 'succeeded' AND turnaround_s <= target_s) AS within
            FROM jobs
            WHERE ended_at >= $prev AND ended_at < $now
            GROUP BY ALL
            """,
            periods,
        )
        by = {(r["verb"], r["period"]): r for r in rows}
        answer = []
        for verb in VERBS:
            values = {p: _sla_values(by.get((verb, p))) for p in (CURRENT, PREVIOUS)}
            answer.append(
                {
                    "verb": verb,
                    "module": VERB_MODULES[verb],
                    "target_s": SLA_TARGET_S[verb],
                    "figures": _figures(values[CURRENT], values[PREVIOUS], _SLA_UNITS),
                }
            )
        return answer

    def _cost(self, periods: Periods) -> dict[str, Any]:
        rows = self._rows(
            """
            SELECT module, CASE WHEN ended_at >= $start THEN 'current' ELSE 'previous' END AS period,
                   sum(cost_usd) AS cost_usd
            FROM jobs WHERE ended_at >= $prev AND ended_at < $now
            GROUP BY ALL
            """,
            periods,
        )
        spent: dict[tuple[str, str], float] = {(r["module"], r["period"]): float(r["cost_usd"]) for r in rows}
        modules = [
            {
                "module": module,
                "cost_usd": _figure(
                    "cost_usd",
                    "usd",
                    _usd(spent.get((module, CURRENT), 0.0)),
                    _usd(spent.get((module, PREVIOUS), 0.0)),
                ),
            }
            for module in COST_MODULES
        ]
        total = {p: sum(v for (_, period), v in spent.items() if period == p) for p in (CURRENT, PREVIOUS)}
        alerts = self._rows(
            """
            SELECT subject AS alert_id, arg_max(module, occurred_at) AS module,
                   arg_max(severity, occurred_at) AS severity, arg_max(value, occurred_at) AS spent_usd,
                   max(occurred_at) AS "at"
            FROM facts
            WHERE kind = 'CostAlert' AND occurred_at >= $start AND occurred_at < $now
            GROUP BY subject ORDER BY "at" DESC, alert_id LIMIT $limit
            """,
            periods,
        )
        return {
            "total": _figure("cost_usd", "usd", _usd(total[CURRENT]), _usd(total[PREVIOUS])),
            "modules": modules,
            "budget_alerts": [{**a, "spent_usd": _usd(a["spent_usd"]), "at": iso(a["at"])} for a in alerts],
        }

    def _queue(self, periods: Periods) -> dict[str, Any]:
        waiting = {
            r["verb"]: int(r["n"])
            for r in self._rows(
                """
                SELECT verb, count(*) AS n FROM jobs
                WHERE requested_at IS NOT NULL AND started_at IS NULL AND ended_at IS NULL
                GROUP BY verb
                """,
                periods,
            )
        }
        rows = self._rows(
            """
            SELECT verb, grouping(verb) AS all_verbs,
                   CASE WHEN started_at >= $start THEN 'current' ELSE 'previous' END AS period,
                   count(*) AS jobs_started,
                   quantile_disc(wait_s, 0.5) AS p50, quantile_disc(wait_s, 0.95) AS p95
            FROM jobs WHERE started_at >= $prev AND started_at < $now
            GROUP BY GROUPING SETS ((verb, period), (period))
            """,
            periods,
        )
        by = {(None if r["all_verbs"] else r["verb"], r["period"]): r for r in rows}

        def figures(verb: str | None) -> list[dict[str, Any]]:
            values = {p: _wait_values(by.get((verb, p))) for p in (CURRENT, PREVIOUS)}
            return _figures(values[CURRENT], values[PREVIOUS], _QUEUE_UNITS)

        reported = self._rows(
            """
            SELECT module, metric, arg_max(value, occurred_at) AS value, max(occurred_at) AS "at"
            FROM facts
            WHERE kind = 'MetricsReported' AND metric LIKE '%queue%'
              AND occurred_at >= $start AND occurred_at < $now
            GROUP BY module, metric ORDER BY module, metric
            """,
            periods,
        )
        return {
            "waiting": sum(waiting.values()),
            "figures": figures(None),
            "verbs": [
                {
                    "verb": verb,
                    "module": VERB_MODULES[verb],
                    "waiting": waiting.get(verb, 0),
                    "figures": figures(verb),
                }
                for verb in VERBS
            ],
            "reported": [{**r, "value": _number(r["value"]), "at": iso(r["at"])} for r in reported],
        }

    def _trends(self, periods: Periods) -> dict[str, Any]:
        rows = self._rows(
            """
            SELECT strftime(date_trunc('day', t), '%Y-%m-%d') AS day, series, sum(v) AS v
            FROM (
                SELECT requested_at AS t, 'jobs_requested' AS series, 1.0 AS v FROM jobs
                UNION ALL SELECT ended_at, 'jobs_ended', 1.0 FROM jobs
                UNION ALL SELECT ended_at, 'jobs_failed', 1.0 FROM jobs WHERE outcome = 'failed'
                UNION ALL SELECT ended_at, 'cost_usd', cost_usd FROM jobs
                UNION ALL SELECT occurred_at, 'artifacts_published', 1.0 FROM facts
                    WHERE kind = 'ArtifactPublished'
                UNION ALL SELECT occurred_at, 'alerts', 1.0 FROM facts
                    WHERE kind IN ('GovernanceAlert', 'CostAlert')
                UNION ALL SELECT occurred_at, 'incidents', 1.0 FROM facts WHERE kind = 'IncidentOpened'
            )
            WHERE t >= $start AND t < $now
            GROUP BY ALL
            """,
            periods,
        )
        by_day: dict[str, dict[str, float]] = defaultdict(dict)
        for r in rows:
            by_day[r["day"]][r["series"]] = float(r["v"])
        points = []
        for bound in bucket_bounds(periods.current, "1d"):
            found = by_day.get(bound.start.strftime("%Y-%m-%d"), {})
            values: dict[str, int | float] = {
                name: _usd(found.get(name, 0.0)) if name == "cost_usd" else int(found.get(name, 0.0))
                for name in TREND_SERIES
            }
            points.append({"start": iso(bound.start), "end": iso(bound.end), "values": values})
        return {"bucket": "1d", "series": list(TREND_SERIES), "points": points}

    def _modules(self, periods: Periods) -> list[dict[str, Any]]:
        rows = self._rows(
            """
            SELECT module, metric AS name, arg_max(value, occurred_at) AS latest, max(occurred_at) AS "at",
                   sum(value) AS sum, count(*) AS reports
            FROM facts
            WHERE kind = 'MetricsReported' AND occurred_at >= $start AND occurred_at < $now
            GROUP BY module, metric ORDER BY module, metric
            """,
            periods,
        )
        modules: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows[: 5 * LIST_LIMIT]:
            if len(modules[r["module"]]) >= LIST_LIMIT:
                continue
            modules[r["module"]].append(
                {
                    "name": r["name"],
                    "latest": _number(r["latest"]),
                    "at": iso(r["at"]),
                    "sum": _number(r["sum"]),
                    "reports": int(r["reports"]),
                }
            )
        return [{"module": module, "metrics": metrics} for module, metrics in modules.items()]

    def _readiness(self, periods: Periods, counts: list[dict[str, Any]]) -> dict[str, Any]:
        gates = self._rows(
            """
            SELECT subject AS gate, artifact_id, arg_max_null(status, occurred_at) AS status,
                   arg_max_null(value, occurred_at) AS score, max(occurred_at) AS "at"
            FROM facts WHERE kind = 'ReadinessGateChanged' AND occurred_at < $now
            GROUP BY subject, artifact_id ORDER BY "at" DESC, gate, artifact_id
            """,
            periods,
        )
        tally = _tally(counts)
        return {
            "figures": [
                tally.figure("gate_changes", "ReadinessGateChanged"),
                tally.figure("gates_blocked", "ReadinessGateChanged", status="blocked"),
                tally.figure("waivers_granted", "WaiverGranted"),
                tally.figure("waivers_expired", "WaiverExpired"),
            ],
            "gates_by_status": dict(sorted(Counter(str(g["status"]) for g in gates).items())),
            "gates": [{**g, "score": _number(g["score"]), "at": iso(g["at"])} for g in gates[:LIST_LIMIT]],
        }

    def _prompt_packs(self, periods: Periods, counts: list[dict[str, Any]]) -> dict[str, Any]:
        packs = self._rows(
            """
            SELECT subject AS prompt_pack_id,
                   arg_max(status, occurred_at) FILTER (WHERE kind = 'PromptPackCalibrationStatus')
                       AS calibration_status,
                   arg_max(value, occurred_at) FILTER (WHERE metric = 'accuracy') AS accuracy,
                   max(occurred_at) FILTER (WHERE metric = 'accuracy') AS accuracy_at,
                   arg_max(value, occurred_at) FILTER (WHERE metric = 'adherence') AS adherence,
                   max(occurred_at) FILTER (WHERE metric = 'adherence') AS adherence_at,
                   arg_max(status, occurred_at) FILTER (WHERE kind = 'ConstraintAdherenceReported')
                       AS adherence_status
            FROM facts
            WHERE kind IN ('PromptPackCalibrationStatus', 'ConstraintAdherenceReported')
              AND occurred_at < $now
            GROUP BY subject ORDER BY subject LIMIT $limit
            """,
            periods,
        )
        tally = _tally(counts)
        return {
            "figures": [
                tally.figure("calibrations_completed", "PromptPackCalibrationStatus", status="calibrated"),
                tally.figure("calibrations_failed", "PromptPackCalibrationStatus", status="failed"),
                tally.figure("adherence_reports", "ConstraintAdherenceReported"),
                tally.figure(
                    "adherence_below_threshold", "ConstraintAdherenceReported", status="below_threshold"
                ),
            ],
            "packs": [
                {
                    "prompt_pack_id": p["prompt_pack_id"],
                    "calibration_status": p["calibration_status"],
                    "accuracy": _number(p["accuracy"]),
                    "accuracy_at": _iso_or_none(p["accuracy_at"]),
                    "adherence": _number(p["adherence"]),
                    "adherence_at": _iso_or_none(p["adherence_at"]),
                    "below_threshold": None
                    if p["adherence_status"] is None
                    else p["adherence_status"] == "below_threshold",
                }
                for p in packs
            ],
        }

    def _incidents(self, periods: Periods, counts: list[dict[str, Any]]) -> dict[str, Any]:
        latest = self._rows(
            """
            SELECT subject, arg_max(status, occurred_at) AS status,
                   arg_max(module, occurred_at) FILTER (WHERE module IS NOT NULL) AS module
            FROM facts WHERE kind IN ('IncidentOpened', 'IncidentResolved') AND occurred_at < $now
            GROUP BY subject
            """,
            periods,
        )
        still_open = [r for r in latest if r["status"] == "opened"]
        tally = _tally(counts)
        return {
            "figures": [
                tally.figure("incidents_opened", "IncidentOpened"),
                tally.figure("incidents_critical", "IncidentOpened", severity="critical"),
                tally.figure("incidents_resolved", "IncidentResolved"),
            ],
            "open": len(still_open),
            "open_by_module": dict(sorted(Counter(str(r["module"] or "-") for r in still_open).items())),
        }


@contextmanager
def open_facts(
    files: Sequence[Path], *, work_dir: Path | None = None, memory_limit_mb: int | None = None
) -> Iterator[FactSet]:
    """The facts of `files` loaded into a fresh in-memory DuckDB (under a temporary folder unless
    `work_dir` is given), closed on exit."""
    with tempfile.TemporaryDirectory(prefix="telemetry-") as scratch:
        connection = connect(work_dir or Path(scratch), memory_limit_mb=memory_limit_mb)
        facts = FactSet.load(files, connection)
        try:
            yield facts
        finally:
            facts.close()


def aggregate(fact_files: Sequence[Path], *, now: datetime, window: timedelta) -> dict[str, Any]:
    """The aggregate document of the facts in `fact_files` for [now - window, now)."""
    with open_facts(fact_files) as facts:
        return facts.aggregate(now=now, window=window)


# -- figures -----------------------------------------------------------------------------------------

_SLA_UNITS = {
    "jobs_ended": "count",
    "jobs_succeeded": "count",
    "jobs_failed": "count",
    "jobs_cancelled": "count",
    "success_rate": "ratio",
    "duration_p50_s": "seconds",
    "duration_p95_s": "seconds",
    "within_sla": "ratio",
}
_QUEUE_UNITS = {"jobs_started": "count", "wait_p50_s": "seconds", "wait_p95_s": "seconds"}


def _sla_values(row: Mapping[str, Any] | None) -> dict[str, float | None]:
    row = row or {}
    succeeded, failed = int(row.get("jobs_succeeded") or 0), int(row.get("jobs_failed") or 0)
    timed = int(row.get("timed") or 0)
    return {
        "jobs_ended": int(row.get("jobs_ended") or 0),
        "jobs_succeeded": succeeded,
        "jobs_failed": failed,
        "jobs_cancelled": int(row.get("jobs_cancelled") or 0),
        "success_rate": _ratio(succeeded, succeeded + failed),
        "duration_p50_s": _seconds(row.get("p50")),
        "duration_p95_s": _seconds(row.get("p95")),
        "within_sla": _ratio(int(row.get("within") or 0), timed),
    }


def _wait_values(row: Mapping[str, Any] | None) -> dict[str, float | None]:
    row = row or {}
    return {
        "jobs_started": int(row.get("jobs_started") or 0),
        "wait_p50_s": _seconds(row.get("p50")),
        "wait_p95_s": _seconds(row.get("p95")),
    }


def _figure(name: str, unit: str, value: float | None, previous: float | None) -> dict[str, Any]:
    return {"name": name, "unit": unit, "value": value, "previous": previous, "trend": trend(value, previous)}


def _figures(
    current: Mapping[str, float | None], previous: Mapping[str, float | None], units: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [_figure(name, units[name], current[name], previous[name]) for name in units]


@dataclass(frozen=True)
class _Tally:
    """Event counts of both periods (from `FactSet._counts`) as figures."""

    rows: Sequence[Mapping[str, Any]]

    def count(self, period: str, kind: str, **match: str) -> int:
        return sum(
            int(r["n"])
            for r in self.rows
            if r["period"] == period and r["kind"] == kind and all(r.get(k) == v for k, v in match.items())
        )

    def figure(self, name: str, kind: str, **match: str) -> dict[str, Any]:
        return _figure(name, "count", self.count(CURRENT, kind, **match), self.count(PREVIOUS, kind, **match))

    def breakdown(self, kind: str, dimension: str) -> dict[str, int]:
        found: Counter[str] = Counter()
        for r in self.rows:
            if r["period"] == CURRENT and r["kind"] == kind:
                found[str(r[dimension])] += int(r["n"])
        return dict(sorted(found.items()))


def _tally(rows: Iterable[Mapping[str, Any]]) -> _Tally:
    return _Tally(list(rows))


def _governance(counts: list[dict[str, Any]]) -> dict[str, Any]:
    tally = _tally(counts)
    return {
        "figures": [
            tally.figure("alerts_raised", "GovernanceAlert"),
            tally.figure("alerts_critical", "GovernanceAlert", severity="critical"),
            tally.figure("artifacts_published", "ArtifactPublished"),
            tally.figure("artifacts_deprecated", "ArtifactDeprecated"),
        ],
        "alerts_by_severity": tally.breakdown("GovernanceAlert", "severity"),
        "artifacts_by_governance_status": tally.breakdown("ArtifactPublished", "status"),
        "artifacts_by_kind": tally.breakdown("ArtifactPublished", "module"),
    }


# -- values ------------------------------------------------------------------------------------------


def _range(period: TimeRange) -> dict[str, str]:
    return {"from": iso(period.start), "to": iso(period.end)}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _usd(value: float) -> float:
    return round(float(value), 4)


def _iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)
