"""Domain events: the EventBridge `detail` of every source the GUI backend consumes or produces, and
how each one reaches the GUI.

Every detail carries `tenant`, `event_id`, `schema_version`, `region` and `time`
(`gui_core.bus.EventPublisher` adds them). `parse` turns a detail-type and a detail into its model
or raises one of three distinct errors, so a consumer can count each and drop the event instead of
crashing on it: `UnknownKind` (not a detail-type of this registry), `UnknownSchemaVersion` (a
producer ahead of us: refused rather than half-read) and `InvalidEvent` (validation failed).

`EVENT_ROUTING` says which live channels (`gui_core.replay_log.CHANNELS`, docs/gui/live_channels.md)
carry each kind and whether it makes an inbox item. The job and artifact models were first written
in gui_jobs.models and gui_artifacts.models, which re-export them; their fields are unchanged.

JSON Schema files of these models are generated into events/schemas/ (`python -m
local.event_schemas`) for producers in other services.

The models are built on first use (pydantic's `defer_build`, set on the five base classes and
inherited): the validator and serializer of a kind are made the first time it is validated,
dumped or asked for its schema, not at import. A function reads a few kinds and built all of them
in its cold start, most of the module's import; a kind's first use now pays for its own build
(ArtifactPublished's the dearest: the regex of `source_uri`; bench/README.md, "cold start",
`bench/cold_start.py`). Fields, validation and schemas are unchanged; pydantic (2.14) serializes
a first build that several threads start at once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from gui_core.storable import Storable

SCHEMA_VERSION = "1"  # what EventPublisher stamps today
SUPPORTED_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION})

# -- errors ----------------------------------------------------------------------------------------


class DomainEventError(Exception):
    """A detail that cannot become a model; the subclass says why (each is counted on its own)."""

    def __init__(self, detail_type: str, message: str) -> None:
        super().__init__(f"{detail_type}: {message}")
        self.detail_type = detail_type


class UnknownKind(DomainEventError):
    """A detail-type this registry does not know (not for the GUI)."""


class UnknownSchemaVersion(DomainEventError):
    """A schema version other than the supported ones: refused, never guessed at."""

    def __init__(self, detail_type: str, version: object) -> None:
        super().__init__(
            detail_type, f"schema_version {version!r} is not one of {sorted(SUPPORTED_SCHEMA_VERSIONS)}"
        )
        self.version = version


class InvalidEvent(DomainEventError):
    """The detail does not validate against its model."""

    def __init__(self, detail_type: str, errors: list[Any]) -> None:
        super().__init__(detail_type, f"invalid detail: {errors}")
        self.errors = errors


# -- shared field types ----------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+05:00: a ValueError makes it an invalid event
        raise ValueError("the time is outside the years 1 to 9999 in UTC") from exc


Instant = Annotated[datetime, AfterValidator(_utc)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
TenantId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
RegionName = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")]
ModuleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=4000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Every number of an event is stored (inbox, replay log, registry, facts): one DynamoDB cannot hold
# makes the event invalid (quarantined) rather than a write that fails on every redelivery.
Count = Annotated[int, Storable]
Fraction = Annotated[float, Field(ge=0, le=1), Storable]
Usd = Annotated[float, Field(ge=0), Storable]

# Inbox vocabulary; the same values as gui_notifications.models (a unit test holds them together).
Severity = Literal["info", "warning", "critical"]
Category = Literal["governance", "readiness", "prompt_pack", "cost", "incident", "job"]
SEVERITIES: tuple[str, ...] = Severity.__args__  # type: ignore[attr-defined]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]


class EventDetail(BaseModel):
    """Fields of every detail. Unknown fields are ignored: a producer may add fields within a
    schema version; a change that breaks readers takes a new version."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    tenant: TenantId
    event_id: EventId
    schema_version: Literal["1"]
    region: RegionName
    time: Instant = Field(description="When it happened (ISO 8601 with an offset).")


# -- jobs (gui_jobs publishes JobRequested/JobCancelRequested; executors report JobStatusChanged) ---

Verb = Literal["ingest", "coverage", "mapping", "overlay", "readiness", "prompt_pack_calibration", "reindex"]
VERBS: tuple[str, ...] = Verb.__args__  # type: ignore[attr-defined]


class JobError(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str


class _JobEventDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: str = Field(min_length=1)
    event_id: str = Field(min_length=1, max_length=128)
    schema_version: str = "1"
    region: str | None = None
    time: str


class JobRequested(_JobEventDetail):
    """Published by the jobs group when a job (or a new attempt) is recorded."""

    job_id: str
    verb: Verb
    parameters: dict[str, object]
    requested_by: str
    attempt: Count = Field(ge=1)


class JobCancelRequested(_JobEventDetail):
    """Published by the jobs group when a user asks to cancel a queued or running job."""

    job_id: str
    requested_by: str


class JobStatusChanged(_JobEventDetail):
    """Published by executors: a job started, progressed, ended, or confirmed its cancellation."""

    model_config = ConfigDict(extra="ignore")

    job_id: Identifier
    status: Literal["running", "succeeded", "failed", "cancelled"]
    progress: int | None = Field(default=None, ge=0, le=100)
    error: JobError | None = None
    verb: str | None = Field(default=None, description="The job's verb, when the executor names it.")


# -- artifacts (producers publish; gui_artifact_events feeds the registry) --------------------------

ArtifactKind = Literal[
    "coverage", "mapping", "overlay", "readiness", "prompt_pack", "ingestion", "governance"
]
ARTIFACT_KINDS: tuple[str, ...] = ArtifactKind.__args__  # type: ignore[attr-defined]
GovernanceStatus = Literal["draft", "in_review", "approved", "deprecated", "blocked"]
GOVERNANCE_STATUSES: tuple[str, ...] = GovernanceStatus.__args__  # type: ignore[attr-defined]

ARTIFACT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
ArtifactId = Annotated[str, StringConstraints(pattern=ARTIFACT_ID_PATTERN)]
Relation = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")]
DiffHash = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:_-]{8,140}$")]
MAX_INPUTS = 24  # one publication is one transaction: 1 record + 2 items per edge added or removed


class _ArtifactEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    tenant: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    schema_version: Literal["1"]
    artifact_id: ArtifactId
    version: Count = Field(ge=1)
    region: str | None = None
    time: str | None = Field(default=None, description="When it was sent (EventPublisher adds it).")


class ArtifactInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: ArtifactId
    relation: Relation = "derived_from"


class ArtifactPublished(_ArtifactEvent):
    """A producer published a version of an artifact; `inputs` are the artifacts it was made from."""

    kind: ArtifactKind
    title: Short
    summary: Text | None = None
    owner: Short
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    license_tag: Short
    diff_hash: DiffHash
    previous_diff_hash: DiffHash | None = None
    governance_status: GovernanceStatus = "draft"
    licensing_notes: Text | None = None
    source_uri: Annotated[str, StringConstraints(pattern=r"^(s3|https)://[^\s]{1,1000}$")] | None = None
    source_text: Text | None = None
    published_at: Instant
    inputs: list[ArtifactInput] = Field(default_factory=list, max_length=MAX_INPUTS)

    @model_validator(mode="after")
    def _inputs_are_other_distinct_artifacts(self) -> ArtifactPublished:
        ids = [i.id for i in self.inputs]
        if len(set(ids)) != len(ids):
            raise ValueError("an input appears twice")
        if self.artifact_id in ids:
            raise ValueError("an artifact cannot be its own input")
        return self


class ArtifactDeprecated(_ArtifactEvent):
    """A producer withdrew an artifact (as of `version`); newer versions are not affected."""

    reason: Text | None = None
    replaced_by: ArtifactId | None = None
    deprecated_at: Instant


# -- governance, readiness, prompt packs, cost, incidents, metrics ----------------------------------


class GovernanceAlert(EventDetail):
    """A governance rule fired: a review is due, a policy was breached, an approval was revoked."""

    alert_id: Identifier
    severity: Severity | None = Field(default=None, description="Absent: warning.")
    title: Short
    body: Text = ""
    module: ModuleName | None = None
    artifact_id: ArtifactId | None = None
    policy_id: Identifier | None = None


# `open`: the gate lets the release (or the artifact) through; `blocked`: it does not; `waived`: a
# waiver lets it through while it lasts; `pending`: not evaluated yet.
GateStatus = Literal["pending", "open", "blocked", "waived"]


class ReadinessGateChanged(EventDetail):
    """A readiness gate (of a release, or of one artifact) changed status."""

    gate: Identifier
    status: GateStatus
    previous_status: GateStatus | None = None
    artifact_id: ArtifactId | None = None
    score: Fraction | None = None
    threshold: Fraction | None = None
    reason: Text | None = None


class WaiverGranted(EventDetail):
    """Someone waived a readiness gate until `expires_at`."""

    waiver_id: Identifier
    gate: Identifier
    artifact_id: ArtifactId | None = None
    granted_by: Short
    reason: Text = ""
    expires_at: Instant


class WaiverExpired(EventDetail):
    """A waiver reached its end: the gate counts again."""

    waiver_id: Identifier
    gate: Identifier
    artifact_id: ArtifactId | None = None
    expired_at: Instant


class PromptPackCalibrationStatus(EventDetail):
    """Progress or result of a prompt pack's calibration run."""

    prompt_pack_id: Identifier
    status: Literal["started", "running", "calibrated", "failed"]
    job_id: Identifier | None = None
    progress: int | None = Field(default=None, ge=0, le=100)
    accuracy: Fraction | None = None
    sample_size: Annotated[int, Field(ge=1), Storable] | None = None
    error: JobError | None = None


class ConstraintAdherenceReported(EventDetail):
    """How well a prompt pack's outputs kept its constraints over a sample."""

    prompt_pack_id: Identifier
    adherence: Fraction
    threshold: Fraction | None = None
    violations: Count = Field(default=0, ge=0)
    sample_size: Count = Field(ge=1)
    constraint_set: Identifier | None = None


class CostAlert(EventDetail):
    """Spend crossed a share of a budget (or is forecast to)."""

    alert_id: Identifier
    severity: Severity | None = Field(default=None, description="Absent: warning.")
    budget_id: Identifier
    period: Literal["day", "week", "month"]
    spent_usd: Usd
    budget_usd: Annotated[float, Field(gt=0), Storable]
    forecast_usd: Usd | None = None
    module: ModuleName | None = None


class IncidentOpened(EventDetail):
    """An operational incident that affects the tenant was opened."""

    incident_id: Identifier
    severity: Severity | None = Field(default=None, description="Absent: critical.")
    title: Short
    summary: Text = ""
    module: ModuleName | None = None


class IncidentResolved(EventDetail):
    """An incident was resolved."""

    incident_id: Identifier
    title: Short | None = None
    resolution: Text = ""
    module: ModuleName | None = None


MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]


class MetricsReported(EventDetail):
    """A module's figures for a window (telemetry; not shown live)."""

    module: ModuleName
    window_s: Annotated[int, Field(ge=1), Storable] | None = None
    metrics: dict[MetricName, Annotated[float, Storable]] = Field(max_length=100)


# -- registry and routing --------------------------------------------------------------------------

EVENT_MODELS: dict[str, type[BaseModel]] = {
    "JobRequested": JobRequested,
    "JobCancelRequested": JobCancelRequested,
    "JobStatusChanged": JobStatusChanged,
    "ArtifactPublished": ArtifactPublished,
    "ArtifactDeprecated": ArtifactDeprecated,
    "GovernanceAlert": GovernanceAlert,
    "ReadinessGateChanged": ReadinessGateChanged,
    "WaiverGranted": WaiverGranted,
    "WaiverExpired": WaiverExpired,
    "PromptPackCalibrationStatus": PromptPackCalibrationStatus,
    "ConstraintAdherenceReported": ConstraintAdherenceReported,
    "CostAlert": CostAlert,
    "IncidentOpened": IncidentOpened,
    "IncidentResolved": IncidentResolved,
    "MetricsReported": MetricsReported,
}


@dataclass(frozen=True)
class Routing:
    """Where a kind goes: the live channels that carry it and, for `inbox` kinds, the inbox item's
    category and the severity used when the event names none."""

    channels: tuple[str, ...] = ()
    inbox: bool = False
    category: Category | None = None
    severity: Severity | None = None

    def __post_init__(self) -> None:
        if self.inbox and (self.category is None or self.severity is None):
            raise ValueError("an inbox kind names its category and default severity")


JOBS, NOTIFICATIONS, READINESS, PROMPT_PACK = "jobs", "notifications", "readiness", "prompt-pack"

EVENT_ROUTING: dict[str, Routing] = {
    "JobRequested": Routing((JOBS,)),
    "JobStatusChanged": Routing((JOBS,)),
    "JobCancelRequested": Routing(),  # the executors' business; the GUI sees the status it leads to
    "ArtifactPublished": Routing((NOTIFICATIONS,), inbox=True, category="governance", severity="info"),
    "ArtifactDeprecated": Routing((NOTIFICATIONS,), inbox=True, category="governance", severity="warning"),
    "GovernanceAlert": Routing((NOTIFICATIONS,), inbox=True, category="governance", severity="warning"),
    "CostAlert": Routing((NOTIFICATIONS,), inbox=True, category="cost", severity="warning"),
    "IncidentOpened": Routing((NOTIFICATIONS,), inbox=True, category="incident", severity="critical"),
    "IncidentResolved": Routing((NOTIFICATIONS,), inbox=True, category="incident", severity="info"),
    "ReadinessGateChanged": Routing((READINESS,)),
    "WaiverGranted": Routing((READINESS, NOTIFICATIONS), inbox=True, category="readiness", severity="info"),
    "WaiverExpired": Routing(
        (READINESS, NOTIFICATIONS), inbox=True, category="readiness", severity="warning"
    ),
    "PromptPackCalibrationStatus": Routing((PROMPT_PACK,)),
    "ConstraintAdherenceReported": Routing((PROMPT_PACK,)),
    "MetricsReported": Routing(),  # telemetry: the dashboards read aggregates, not a live feed
}


def parse(detail_type: str, detail: Mapping[str, Any]) -> BaseModel:
    """The model of `detail`; raises UnknownKind, UnknownSchemaVersion or InvalidEvent."""
    model = EVENT_MODELS.get(detail_type)
    if model is None:
        raise UnknownKind(detail_type, "not a known detail-type")
    if not isinstance(detail, Mapping):
        raise InvalidEvent(detail_type, [{"msg": "the detail is not an object"}])
    version = detail.get("schema_version")
    if version is not None and str(version) not in SUPPORTED_SCHEMA_VERSIONS:
        raise UnknownSchemaVersion(detail_type, version)
    try:
        return model.model_validate(dict(detail))
    except ValidationError as exc:
        raise InvalidEvent(detail_type, exc.errors(include_url=False, include_context=False)) from exc


def kinesis_envelope(kinesis: Mapping[str, Any]) -> dict[str, Any]:
    """The EventBridge envelope a Kinesis record of the GUI events stream carries (`data`: base64 of
    its JSON, as the rule `gui-events-to-stream` puts it); ValueError when it is not one."""
    try:
        envelope = json.loads(base64.b64decode(str(kinesis["data"]), validate=True))
    except (KeyError, ValueError) as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise ValueError(f"not a base64 JSON envelope: {exc}") from exc
    if not isinstance(envelope, dict) or "detail-type" not in envelope:
        raise ValueError("not an EventBridge envelope")
    return envelope
