"""Request and response models of the jobs group (they are its OpenAPI schema), the parameter model of
each verb. The domain events the group publishes and consumes live in gui_core.domain_events (the
fan-out reads them too) and are re-exported here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.config import JsonDict

from gui_core.domain_events import (
    VERBS,
    Identifier,
    JobCancelRequested,
    JobError,
    JobRequested,
    JobStatusChanged,
    Verb,
)
from gui_core.storable import StoredFloat, StoredInt

# Re-exported: the event models and the verbs moved to gui_core.domain_events.
__all__ = [
    "VERBS",
    "Identifier",
    "JobCancelRequested",
    "JobError",
    "JobRequested",
    "JobStatusChanged",
    "Verb",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]
JOB_STATUSES: tuple[str, ...] = JobStatus.__args__  # type: ignore[attr-defined]

LanguageTag = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")
]
SourceUri = Annotated[str, StringConstraints(pattern=r"^(s3|https)://[^\s]{1,1000}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Parameters(_Strict):
    # Built on first use (`defer_build`, inherited): a request validates one verb's parameters, a
    # cold start none. Building all seven took about 25 ms, IngestParameters most of it (the regex
    # of `source_uri`, compiled by pydantic-core with its bounded repetition).
    model_config = ConfigDict(defer_build=True)

    simulate: Literal["failure"] | None = Field(
        default=None, description="Local demo executor only: end the job as failed."
    )


class IngestParameters(_Parameters):
    source_uri: SourceUri = Field(description="Where to read the source (s3:// or https://).")
    format: Literal["csv", "json", "parquet", "owl", "skos"]
    dataset: Identifier
    full_refresh: StrictBool = False


class CoverageParameters(_Parameters):
    concept_scheme: Identifier
    target_depth: StoredInt = Field(default=3, ge=1, le=10)
    include_deprecated: StrictBool = False


class MappingParameters(_Parameters):
    source_scheme: Identifier
    target_scheme: Identifier
    threshold: StoredFloat = Field(default=0.8, ge=0, le=1)
    max_candidates: StoredInt = Field(default=5, ge=1, le=50)


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
    sample_size: StoredInt = Field(default=200, ge=10, le=10_000)
    temperature: StoredFloat = Field(default=0.0, ge=0, le=2)


class ReindexParameters(_Parameters):
    index: Literal["artifacts", "search", "lineage"]
    full: StrictBool = False


PARAMETER_MODELS: dict[str, type[_Parameters]] = {
    "ingest": IngestParameters,
    "coverage": CoverageParameters,
    "mapping": MappingParameters,
    "overlay": OverlayParameters,
    "readiness": ReadinessParameters,
    "prompt_pack_calibration": PromptPackCalibrationParameters,
    "reindex": ReindexParameters,
}


class HistoryEntry(BaseModel):
    at: str
    actor: str = Field(description="The user of a command, or `executor` for a reported status.")
    status: JobStatus
    previous_status: JobStatus | None = None
    note: str | None = None


_MAPPING_PARAMETERS: JsonDict = {
    "source_scheme": "icd10",
    "target_scheme": "snomed",
    "threshold": 0.8,
    "max_candidates": 5,
}
_JOB_EXAMPLE: JsonDict = {
    "id": "01a1f83cda207d3f9a2c1e",
    "verb": "mapping",
    "parameters": _MAPPING_PARAMETERS,
    "status": "running",
    "progress": 40,
    "attempt": 1,
    "requested_by": "otto@acme",
    "requested_at": "2026-11-20T09:15:00.000+00:00",
    "started_at": "2026-11-20T09:15:02.418+00:00",
    "updated_at": "2026-11-20T09:21:37.904+00:00",
    "version": 3,
}
_FAILED_JOB_EXAMPLE: JsonDict = {
    "id": "01a1f8680cb8c41e09b2d7",
    "verb": "ingest",
    "parameters": {
        "source_uri": "s3://acme-raw/loinc/loinc-2.78.csv",
        "format": "csv",
        "dataset": "loinc",
        "full_refresh": False,
    },
    "status": "failed",
    "progress": 65,
    "attempt": 1,
    "requested_by": "ada@acme",
    "requested_at": "2026-11-20T10:02:11.000+00:00",
    "started_at": "2026-11-20T10:02:12.871+00:00",
    "finished_at": "2026-11-20T10:04:55.126+00:00",
    "updated_at": "2026-11-20T10:04:55.126+00:00",
    "error": {"code": "source_unreadable", "message": "s3://acme-raw/loinc/loinc-2.78.csv: access denied"},
    "version": 4,
}


class Job(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [_JOB_EXAMPLE]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01a1f8f230005be3d1f47a",
                    "verb": "ingest",
                    "parameters": {
                        "source_uri": "s3://acme-raw/loinc/loinc-2.78.csv",
                        "format": "csv",
                        "dataset": "loinc",
                        "full_refresh": False,
                    },
                    "status": "succeeded",
                    "progress": 100,
                    "attempt": 2,
                    "previous_attempt": "01a1f8680cb8c41e09b2d7",
                    "requested_by": "ada@acme",
                    "requested_at": "2026-11-20T12:33:04.000+00:00",
                    "started_at": "2026-11-20T12:33:05.212+00:00",
                    "finished_at": "2026-11-20T12:37:48.530+00:00",
                    "updated_at": "2026-11-20T12:37:48.530+00:00",
                    "version": 4,
                    "attempts": [
                        {
                            "id": "01a1f8680cb8c41e09b2d7",
                            "attempt": 1,
                            "status": "failed",
                            "requested_by": "ada@acme",
                            "requested_at": "2026-11-20T10:02:11.000+00:00",
                            "finished_at": "2026-11-20T10:04:55.126+00:00",
                        },
                        {
                            "id": "01a1f8f230005be3d1f47a",
                            "attempt": 2,
                            "status": "succeeded",
                            "requested_by": "ada@acme",
                            "requested_at": "2026-11-20T12:33:04.000+00:00",
                            "finished_at": "2026-11-20T12:37:48.530+00:00",
                        },
                    ],
                    "history": [
                        {
                            "at": "2026-11-20T12:33:04.000+00:00",
                            "actor": "ada@acme",
                            "status": "queued",
                            "note": "retry of 01a1f8680cb8c41e09b2d7",
                        },
                        {
                            "at": "2026-11-20T12:33:05.212+00:00",
                            "actor": "executor",
                            "status": "running",
                            "previous_status": "queued",
                        },
                        {
                            "at": "2026-11-20T12:37:48.530+00:00",
                            "actor": "executor",
                            "status": "succeeded",
                            "previous_status": "running",
                        },
                    ],
                }
            ]
        }
    )

    attempts: list[AttemptSummary] = Field(description="Every attempt of this job, oldest first.")
    history: list[HistoryEntry] = Field(description="State changes of this attempt, oldest first.")


class JobPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_FAILED_JOB_EXAMPLE, _JOB_EXAMPLE],
                    "next_cursor": "eyJwayI6ImFjbWUiLCJzayI6ImpvYiMwMWExZjgzY2RhMjA3ZDNmOWEyYzFlIn0",
                }
            ]
        }
    )

    items: list[Job]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


# -- the use cases' inputs and outputs that are not a route's schema (gui_jobs.use_cases) ----------


class StartJob(BaseModel):
    """A request to start a job: the verb as the URL names it, its parameters as sent, and the
    Idempotency-Key (the same key with the same parameters answers the job it started)."""

    verb: str
    body: dict[str, Any] | None = None
    idempotency_key: str | None = None


class StartedJob(BaseModel):
    """The job a start request answers; `earlier` when a request before it with the same key started it."""

    job: Job
    earlier: bool = False


class JobQuery(BaseModel):
    """Which jobs a list asks for: the filters combine (all must hold); `actor` `me` is the caller."""

    verb: str | None = None
    status: JobStatus | None = None
    actor: str | None = None
    requested_from: datetime | None = None
    requested_to: datetime | None = None
    limit: int = 50
    cursor: str | None = None
