"""Request and response models of the jobs group (they are its OpenAPI schema), the parameter model of
each verb, and the domain events the group publishes and consumes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]
JOB_STATUSES: tuple[str, ...] = JobStatus.__args__  # type: ignore[attr-defined]
Verb = Literal["ingest", "coverage", "mapping", "overlay", "readiness", "prompt_pack_calibration", "reindex"]
VERBS: tuple[str, ...] = Verb.__args__  # type: ignore[attr-defined]

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
LanguageTag = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")
]
SourceUri = Annotated[str, StringConstraints(pattern=r"^(s3|https)://[^\s]{1,1000}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Parameters(_Strict):
    simulate: Literal["failure"] | None = Field(
        default=None, description="Local demo executor only: end the job as failed."
    )


class IngestParameters(_Parameters):
    source_uri: SourceUri = Field(description="Where to read the source (s3:// or https://).")
    format: Literal["csv", "json", "parquet", "owl", "skos"]
    dataset: Identifier
    full_refresh: bool = False


class CoverageParameters(_Parameters):
    concept_scheme: Identifier
    target_depth: int = Field(default=3, ge=1, le=10)
    include_deprecated: bool = False


class MappingParameters(_Parameters):
    source_scheme: Identifier
    target_scheme: Identifier
    threshold: float = Field(default=0.8, ge=0, le=1)
    max_candidates: int = Field(default=5, ge=1, le=50)


class OverlayParameters(_Parameters):
    base_artifact_id: Identifier
    overlay_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    languages: list[LanguageTag] = Field(default_factory=list, max_length=20)


ReadinessCheck = Literal["coverage", "mapping", "licensing", "governance"]
READINESS_CHECKS: tuple[ReadinessCheck, ...] = ("coverage", "mapping", "licensing", "governance")


class ReadinessParameters(_Parameters):
    artifact_id: Identifier
    checks: list[ReadinessCheck] = Field(
        default_factory=lambda: list(READINESS_CHECKS), min_length=1, max_length=4
    )


class PromptPackCalibrationParameters(_Parameters):
    prompt_pack_id: Identifier
    sample_size: int = Field(default=200, ge=10, le=10_000)
    temperature: float = Field(default=0.0, ge=0, le=2)


class ReindexParameters(_Parameters):
    index: Literal["artifacts", "search", "lineage"]
    full: bool = False


PARAMETER_MODELS: dict[str, type[_Parameters]] = {
    "ingest": IngestParameters,
    "coverage": CoverageParameters,
    "mapping": MappingParameters,
    "overlay": OverlayParameters,
    "readiness": ReadinessParameters,
    "prompt_pack_calibration": PromptPackCalibrationParameters,
    "reindex": ReindexParameters,
}


class JobError(BaseModel):
    code: str
    message: str


class HistoryEntry(BaseModel):
    at: str
    actor: str = Field(description="The user of a command, or `executor` for a reported status.")
    status: JobStatus
    previous_status: JobStatus | None = None
    note: str | None = None


class Job(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    verb: Verb
    parameters: dict[str, object]
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    attempt: int = Field(ge=1)
    previous_attempt: str | None = Field(default=None, description="Id of the attempt this one retries.")
    next_attempt: str | None = Field(default=None, description="Id of the attempt that retried this one.")
    requested_by: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str
    error: JobError | None = None
    version: int


class AttemptSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    attempt: int
    status: JobStatus
    requested_by: str
    requested_at: str
    finished_at: str | None = None


class JobDetail(Job):
    attempts: list[AttemptSummary] = Field(description="Every attempt of this job, oldest first.")
    history: list[HistoryEntry] = Field(description="State changes of this attempt, oldest first.")


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


# -- domain events ---------------------------------------------------------------------------------


class _EventDetail(BaseModel):
    tenant: str = Field(min_length=1)
    event_id: str = Field(min_length=1, max_length=128)
    schema_version: str = "1"
    region: str | None = None
    time: str


class JobRequested(_EventDetail):
    """Published by the jobs group when a job (or a new attempt) is recorded."""

    job_id: str
    verb: Verb
    parameters: dict[str, object]
    requested_by: str
    attempt: int = Field(ge=1)


class JobCancelRequested(_EventDetail):
    """Published by the jobs group when a user asks to cancel a queued or running job."""

    job_id: str
    requested_by: str


class JobStatusChanged(_EventDetail):
    """Published by executors: a job started, progressed, ended, or confirmed its cancellation."""

    model_config = ConfigDict(extra="ignore")

    job_id: Identifier
    status: Literal["running", "succeeded", "failed", "cancelled"]
    progress: int | None = Field(default=None, ge=0, le=100)
    error: JobError | None = None
