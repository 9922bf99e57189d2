"""Facts: the flat rows the telemetry keeps of every domain event, one schema for every kind.

A fact is what an event says that can be counted, timed or summed later; `facts_of` turns an event
(its detail-type and detail, as `gui_core.domain_events.parse` reads them) into its rows:

- JobRequested: module of the verb, subject job_id, verb, status `queued`, metric `attempt`.
- JobCancelRequested: subject job_id, status `cancel_requested`.
- JobStatusChanged: subject job_id, status running/succeeded/failed/cancelled, the verb and its
  module when the executor names it, metric `cost_usd` when it reports one.
- ArtifactPublished: module = the artifact's kind, subject and artifact_id, status = its
  governance status, metric `version`.
- ArtifactDeprecated: subject and artifact_id, status `deprecated`, metric `version`.
- GovernanceAlert: module (its own, else `governance`), subject alert_id, artifact_id, status
  `raised`, severity.
- ReadinessGateChanged: module `readiness`, subject gate, artifact_id, status = the gate's new
  status, metric `score` when given.
- WaiverGranted / WaiverExpired: module `readiness`, subject waiver_id, artifact_id, status
  `granted` / `expired`.
- PromptPackCalibrationStatus: module `prompt_pack`, subject prompt_pack_id, status = the run's,
  metric `accuracy` when given.
- ConstraintAdherenceReported: module `prompt_pack`, subject prompt_pack_id, status `ok` or
  `below_threshold` (its threshold), metric `adherence`.
- CostAlert: module (its own, else `cost`), subject alert_id, status `raised`, severity, metric
  `spent_usd`.
- IncidentOpened / IncidentResolved: module, subject incident_id, status `opened` / `resolved`,
  severity (opened).
- MetricsReported: one row per metric (module, metric = its name, value); names with `queue` in
  them are the modules' queue lengths.

`occurred_at` is when it happened: `published_at`/`deprecated_at` for artifacts (their `time` is
optional), the detail's `time` otherwise. A severity left out takes the default the inbox gives it
(`gui_core.domain_events.EVENT_ROUTING`). (event_id, metric) identifies a row: the aggregation keeps
one row per pair, so a redelivered event never counts twice.

Job statuses carry the verb only when the executor names it; the aggregation takes a job's verb
from its `JobRequested` row. An executor may add `cost_usd` (the job's cost so far) to its
`JobStatusChanged` detail: the model ignores unknown fields, so it is read from the raw detail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from gui_core import domain_events as de
from gui_core.date_times import parse_time
from gui_dashboard.logic import MODULES

# The columns of a fact file, in order, with their DuckDB types. A column added later is read as
# NULL from older files (the aggregation reads with `union_by_name`); FACT_SCHEMA names the
# version in each file's Parquet metadata.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR"),
    ("tenant", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("occurred_at", "TIMESTAMPTZ"),
    ("module", "VARCHAR"),
    ("subject", "VARCHAR"),
    ("artifact_id", "VARCHAR"),
    ("verb", "VARCHAR"),
    ("status", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("metric", "VARCHAR"),
    ("value", "DOUBLE"),
)
FACT_SCHEMA = "1"

# The module of each job verb: the dashboard's modules that have exactly one verb, and `search` for
# reindexing (no dashboard module of its own; its cost counts in `cost`).
VERB_MODULES: dict[str, str] = {
    **{spec.verbs[0]: module for module, spec in MODULES.items() if len(spec.verbs) == 1},
    "reindex": "search",
}
assert set(VERB_MODULES) == set(de.VERBS), "every job verb has a module"

ENDED = ("succeeded", "failed", "cancelled")
QUEUED, CANCEL_REQUESTED = "queued", "cancel_requested"


@dataclass(frozen=True)
class Fact:
    """One row of a fact file (see COLUMNS)."""

    event_id: str
    tenant: str
    kind: str
    occurred_at: datetime
    module: str | None = None
    subject: str | None = None
    artifact_id: str | None = None
    verb: str | None = None
    status: str | None = None
    severity: str | None = None
    metric: str | None = None
    value: float | None = None

    def row(self) -> tuple[Any, ...]:
        return astuple(self)


assert tuple(Fact.__dataclass_fields__) == tuple(name for name, _ in COLUMNS)

Outcome = Literal["facts", "no_facts", "not_for_telemetry", "unknown_schema_version", "invalid"]


@dataclass(frozen=True)
class Extracted:
    """The rows of one event and what became of it (counted by the caller when there are none)."""

    outcome: Outcome
    facts: list[Fact] = field(default_factory=list)
    tenant: str | None = None
    error: str = ""  # why an event is refused (`unknown_schema_version`, `invalid`)


def extract(detail_type: str, detail: Mapping[str, Any]) -> Extracted:
    """The facts of one event; unknown kinds, unknown schema versions and invalid details give none."""
    try:
        event = de.parse(detail_type, detail)
    except de.UnknownKind:
        return Extracted("not_for_telemetry")
    except de.UnknownSchemaVersion as exc:
        return Extracted("unknown_schema_version", error=str(exc))
    except de.DomainEventError as exc:
        return Extracted("invalid", error=str(exc))
    facts = _facts(detail_type, event, detail)
    if facts is None:
        return Extracted("invalid", error=f"{detail_type}: its time cannot be read")
    return Extracted("facts" if facts else "no_facts", facts, str(detail["tenant"]))


def facts_of(detail_type: str, detail: Mapping[str, Any]) -> list[Fact]:
    """The facts of one event (none for an event that is unknown or does not validate)."""
    return extract(detail_type, detail).facts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _default_severity(kind: str, given: str | None) -> str | None:
    return given or de.EVENT_ROUTING[kind].severity


def _facts(kind: str, event: BaseModel, raw: Mapping[str, Any]) -> list[Fact] | None:  # noqa: PLR0911, PLR0912
    """The rows of a parsed event; None when its time cannot be read."""
    at = _occurred_at(event)
    if at is None:
        return None
    # Both are validated by every model: at least one character, at most 128.
    event_id, tenant = str(raw["event_id"]), str(raw["tenant"])

    def make(**values: Any) -> Fact:
        return Fact(event_id=event_id, tenant=tenant, kind=kind, occurred_at=at, **values)

    def one(**values: Any) -> list[Fact]:
        return [make(**values)]

    match event:
        case de.JobRequested():
            return one(
                module=VERB_MODULES.get(event.verb),
                subject=event.job_id,
                verb=event.verb,
                status=QUEUED,
                metric="attempt",
                value=float(event.attempt),
            )
        case de.JobCancelRequested():
            return one(subject=event.job_id, status=CANCEL_REQUESTED)
        case de.JobStatusChanged():
            cost = _number(raw.get("cost_usd"))
            cost = cost if cost is not None and cost >= 0 else None
            return one(
                module=VERB_MODULES.get(event.verb or ""),
                subject=event.job_id,
                verb=event.verb if event.verb in VERB_MODULES else None,
                status=event.status,
                metric="cost_usd" if cost is not None else None,
                value=cost,
            )
        case de.ArtifactPublished():
            return one(
                module=event.kind,
                subject=event.artifact_id,
                artifact_id=event.artifact_id,
                status=event.governance_status,
                metric="version",
                value=float(event.version),
            )
        case de.ArtifactDeprecated():
            return one(
                subject=event.artifact_id,
                artifact_id=event.artifact_id,
                status="deprecated",
                metric="version",
                value=float(event.version),
            )
        case de.GovernanceAlert():
            return one(
                module=event.module or "governance",
                subject=event.alert_id,
                artifact_id=event.artifact_id,
                status="raised",
                severity=_default_severity(kind, event.severity),
            )
        case de.ReadinessGateChanged():
            return one(
                module="readiness",
                subject=event.gate,
                artifact_id=event.artifact_id,
                status=event.status,
                metric="score" if event.score is not None else None,
                value=event.score,
            )
        case de.WaiverGranted() | de.WaiverExpired():
            return one(
                module="readiness",
                subject=event.waiver_id,
                artifact_id=event.artifact_id,
                status="granted" if isinstance(event, de.WaiverGranted) else "expired",
            )
        case de.PromptPackCalibrationStatus():
            return one(
                module="prompt_pack",
                subject=event.prompt_pack_id,
                status=event.status,
                metric="accuracy" if event.accuracy is not None else None,
                value=event.accuracy,
            )
        case de.ConstraintAdherenceReported():
            below = event.threshold is not None and event.adherence < event.threshold
            return one(
                module="prompt_pack",
                subject=event.prompt_pack_id,
                status="below_threshold" if below else "ok",
                metric="adherence",
                value=event.adherence,
            )
        case de.CostAlert():
            return one(
                module=event.module or "cost",
                subject=event.alert_id,
                status="raised",
                severity=_default_severity(kind, event.severity),
                metric="spent_usd",
                value=event.spent_usd,
            )
        case de.IncidentOpened():
            return one(
                module=event.module,
                subject=event.incident_id,
                status="opened",
                severity=_default_severity(kind, event.severity),
            )
        case de.IncidentResolved():
            return one(module=event.module, subject=event.incident_id, status="resolved")
        case de.MetricsReported():
            return [
                make(module=event.module, metric=name, value=value)
                for name, value in sorted(event.metrics.items())
                if math.isfinite(value)
            ]
    return []


def _occurred_at(event: BaseModel) -> datetime | None:
    if isinstance(event, de.ArtifactPublished):
        return event.published_at
    if isinstance(event, de.ArtifactDeprecated):
        return event.deprecated_at
    at = getattr(event, "time", None)
    return at if isinstance(at, datetime) else parse_time(at)
