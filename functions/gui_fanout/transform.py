"""Domain event -> what the GUI receives: a small payload per kind (the `payload` of a live event,
docs/gui/asyncapi.yaml, versioned by `gui_core.replay_log.PAYLOAD_VERSION`) and, for inbox kinds,
the inbox item.

Payloads carry ids, statuses and short texts, never a whole record (an artifact's source text,
a job's parameters): the GUI fetches the rest through REST. An inbox item's id is derived from the
event id and time, so a redelivered event names the same item and the writer stores it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from gui_core.date_times import aware_time, iso
from gui_core.domain_events import (
    VERBS,
    ArtifactDeprecated,
    ArtifactPublished,
    ConstraintAdherenceReported,
    CostAlert,
    GovernanceAlert,
    IncidentOpened,
    IncidentResolved,
    JobRequested,
    JobStatusChanged,
    PromptPackCalibrationStatus,
    ReadinessGateChanged,
    Routing,
    Severity,
    WaiverExpired,
    WaiverGranted,
)
from gui_notifications.logic import notification_id
from gui_notifications.models import NewNotification, NotificationSource

TITLE_LIMIT = 200
BODY_LIMIT = 4000
_PERIOD_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True)
class GuiEvent:
    """One domain event as the GUI sees it, before it gets a channel and a cursor."""

    kind: str
    tenant: str
    event_id: str
    at: str  # ISO 8601, UTC, milliseconds
    channels: tuple[str, ...]
    payload: dict[str, Any]
    notification: NewNotification | None = None


@dataclass(frozen=True)
class _Note:
    """The words of an inbox item; category and default severity come from the routing."""

    title: str
    body: str = ""
    module: str | None = None
    artifact_id: str | None = None
    job_id: str | None = None
    severity: Severity | None = None


def to_gui(kind: str, event: BaseModel, routing: Routing) -> GuiEvent:
    """The GUI form of a parsed domain event of `kind` (a detail-type of EVENT_ROUTING)."""
    tenant = str(getattr(event, "tenant"))  # noqa: B009  # every detail model has it
    event_id = str(getattr(event, "event_id"))  # noqa: B009
    at = occurred_at(event)
    payload = _payload(event)
    notification = None
    if routing.inbox:
        note = _note(event)
        assert routing.category is not None  # Routing checks both for an inbox kind
        assert routing.severity is not None
        notification = NewNotification(
            id=notification_id(aware_time(at), event_id),
            category=routing.category,
            severity=note.severity or routing.severity,
            title=_clip(note.title, TITLE_LIMIT),
            body=_clip(note.body, BODY_LIMIT),
            source=NotificationSource(module=note.module, artifact_id=note.artifact_id, job_id=note.job_id),
            created_at=aware_time(at),
        )
        payload = {
            "notification_id": notification.id,
            "category": notification.category,
            "severity": notification.severity,
            "title": notification.title,
            "body": notification.body,
            "source": notification.source.model_dump(exclude_none=True),
            **payload,
        }
    return GuiEvent(kind, tenant, event_id, at, routing.channels, payload, notification)


def occurred_at(event: BaseModel) -> str:
    """When the event happened: its `time`, else (older artifact producers) its own instant."""
    value = getattr(event, "time", None)
    if value is None and isinstance(event, ArtifactPublished):
        value = event.published_at
    elif value is None and isinstance(event, ArtifactDeprecated):
        value = event.deprecated_at
    if isinstance(value, datetime):
        return iso(value)
    return iso(aware_time(str(value)))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _payload(event: BaseModel) -> dict[str, Any]:  # noqa: PLR0911, PLR0912  # one answer per kind
    match event:
        case JobStatusChanged():
            return _compact(
                {
                    "job_id": event.job_id,
                    "verb": event.verb if event.verb in VERBS else None,
                    "status": event.status,
                    "progress": event.progress,
                    "error": event.error.model_dump() if event.error else None,
                }
            )
        case JobRequested():
            return {
                "job_id": event.job_id,
                "verb": event.verb,
                "status": "queued",
                "attempt": event.attempt,
                "requested_by": event.requested_by,
            }
        case ArtifactPublished():
            return {
                "artifact_id": event.artifact_id,
                "version": event.version,
                "kind": event.kind,
                "governance_status": event.governance_status,
            }
        case ArtifactDeprecated():
            return _compact(
                {"artifact_id": event.artifact_id, "version": event.version, "replaced_by": event.replaced_by}
            )
        case GovernanceAlert():
            return _compact({"alert_id": event.alert_id, "policy_id": event.policy_id})
        case CostAlert():
            return _compact(
                {
                    "alert_id": event.alert_id,
                    "budget_id": event.budget_id,
                    "period": event.period,
                    "spent_usd": event.spent_usd,
                    "budget_usd": event.budget_usd,
                    "forecast_usd": event.forecast_usd,
                }
            )
        case IncidentOpened():
            return {"incident_id": event.incident_id, "state": "open"}
        case IncidentResolved():
            return {"incident_id": event.incident_id, "state": "resolved"}
        case ReadinessGateChanged():
            return _compact(
                {
                    "gate": event.gate,
                    "artifact_id": event.artifact_id,
                    "status": event.status,
                    "previous_status": event.previous_status,
                    "score": event.score,
                    "threshold": event.threshold,
                    "reason": _clip(event.reason, 500) if event.reason else None,
                }
            )
        case WaiverGranted():
            return _compact(
                {
                    "waiver_id": event.waiver_id,
                    "gate": event.gate,
                    "artifact_id": event.artifact_id,
                    "status": "granted",
                    "granted_by": event.granted_by,
                    "expires_at": iso(event.expires_at),
                }
            )
        case WaiverExpired():
            return _compact(
                {
                    "waiver_id": event.waiver_id,
                    "gate": event.gate,
                    "artifact_id": event.artifact_id,
                    "status": "expired",
                    "expired_at": iso(event.expired_at),
                }
            )
        case PromptPackCalibrationStatus():
            return _compact(
                {
                    "prompt_pack_id": event.prompt_pack_id,
                    "status": event.status,
                    "job_id": event.job_id,
                    "progress": event.progress,
                    "accuracy": event.accuracy,
                    "sample_size": event.sample_size,
                    "error": event.error.model_dump() if event.error else None,
                }
            )
        case ConstraintAdherenceReported():
            return _compact(
                {
                    "prompt_pack_id": event.prompt_pack_id,
                    "adherence": event.adherence,
                    "threshold": event.threshold,
                    "violations": event.violations,
                    "sample_size": event.sample_size,
                    "constraint_set": event.constraint_set,
                    "below_threshold": event.threshold is not None and event.adherence < event.threshold,
                }
            )
    raise TypeError(f"no GUI payload for {type(event).__name__}")


def _note(event: BaseModel) -> _Note:  # noqa: PLR0911  # one answer per kind
    match event:
        case GovernanceAlert():
            return _Note(
                event.title,
                event.body,
                event.module or "governance",
                event.artifact_id,
                severity=event.severity,
            )
        case CostAlert():
            share = round(100 * event.spent_usd / event.budget_usd)
            body = f"Spent {event.spent_usd:,.2f} USD of {event.budget_usd:,.2f} USD"
            if event.forecast_usd is not None:
                body += f"; forecast {event.forecast_usd:,.2f} USD by the end of the {event.period}"
            title = f"Cost alert: {share} % of the {_PERIOD_ADJECTIVE[event.period]} budget {event.budget_id}"
            return _Note(title, body + ".", event.module or "cost", severity=event.severity)
        case IncidentOpened():
            return _Note(f"Incident: {event.title}", event.summary, event.module, severity=event.severity)
        case IncidentResolved():
            return _Note(f"Resolved: {event.title or event.incident_id}", event.resolution, event.module)
        case ArtifactPublished():
            return _Note(
                f"Published: {event.title} (version {event.version})",
                f"{event.owner} published version {event.version} of {event.artifact_id}; "
                f"governance status: {event.governance_status.replace('_', ' ')}.",
                "governance",
                event.artifact_id,
            )
        case ArtifactDeprecated():
            body = event.reason or ""
            if event.replaced_by:
                body = f"{body} Replaced by {event.replaced_by}.".strip()
            return _Note(
                f"Deprecated: {event.artifact_id} (version {event.version})",
                body,
                "governance",
                event.artifact_id,
            )
        case WaiverGranted():
            subject = f"the {event.gate} gate" + (f" of {event.artifact_id}" if event.artifact_id else "")
            body = f"{event.granted_by} waived {subject} until {iso(event.expires_at)}."
            if event.reason:
                body += f" {event.reason}"
            return _Note(f"Waiver granted: {subject}", body, "readiness", event.artifact_id)
        case WaiverExpired():
            subject = f"the {event.gate} gate" + (f" of {event.artifact_id}" if event.artifact_id else "")
            return _Note(
                f"Waiver expired: {subject}",
                f"Waiver {event.waiver_id} ended at {iso(event.expired_at)}; the gate counts again.",
                "readiness",
                event.artifact_id,
            )
    raise TypeError(f"no inbox item for {type(event).__name__}")
