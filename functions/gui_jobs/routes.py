"""Routes of the jobs group. Each parses, calls the pure rules and the repository, publishes the
event executors wait for, answers."""

from __future__ import annotations

import copy
import logging
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Query, Request, Response, status

from gui_core import rbac
from gui_core.bus import Publisher
from gui_core.context import RequestContext
from gui_core.cursors import position_text
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.errors import BadRequest, NotFound
from gui_core.guard import GroupPolicy, group_router
from gui_jobs.logic import (
    IdempotencyKeyReused,
    cancel_requested,
    canonical_verb,
    dispatch_failed,
    new_job,
    new_job_id,
    request_digest,
    retried,
    url_verb,
    validate_parameters,
)
from gui_jobs.models import PARAMETER_MODELS, VERBS, AttemptSummary, Job, JobDetail, JobPage, JobStatus
from gui_jobs.repository import JobsRepository, now_iso

PREFIX = "/service/gui/jobs"
SOURCE = "domaindetermine.jobs"
MAX_ATTEMPTS_SHOWN = 20
router = group_router(
    prefix=PREFIX,
    policy=GroupPolicy("jobs", read_class="reads", write_class="job_commands", own_idempotency=True),
)
logger = logging.getLogger("gui_jobs")

Operator = Annotated[RequestContext, Depends(require_scope(rbac.JOBS))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="The same key with the same body returns the same job; with another body, 422.",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
    ),
]


def _repository(request: Request) -> JobsRepository:
    repository: JobsRepository = request.app.state.repository
    return repository


def _publisher(request: Request) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


Repository = Annotated[JobsRepository, Depends(_repository)]
Bus = Annotated[Publisher, Depends(_publisher)]


def _load(repository: JobsRepository, caller: RequestContext, job_id: str) -> dict[str, Any]:
    job = repository.job(caller.tenant, job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job


def _dispatch(
    repository: JobsRepository, bus: Publisher, caller: RequestContext, job: dict[str, Any]
) -> dict[str, Any]:
    """Publish JobRequested; a job nobody can hear of is failed at once so it can be retried."""
    detail = {
        "tenant": caller.tenant,
        "job_id": job["id"],
        "verb": job["verb"],
        "parameters": job["parameters"],
        "requested_by": job["requested_by"],
        "attempt": job["attempt"],
    }
    try:
        bus.publish(SOURCE, "JobRequested", detail, trace_id=caller.trace_id)
    except Exception:
        logger.exception("JobRequested could not be published", extra={"job_id": job["id"]})
        failed = dispatch_failed(job, at=now_iso(), message="The job could not be handed to an executor.")
        repository.replace(caller.tenant, job, failed)
        return failed
    return job


_VERB_EXAMPLES: dict[str, dict[str, Any]] = {
    "ingest": {"source_uri": "s3://raw/concepts.csv", "format": "csv", "dataset": "concepts"},
    "coverage": {"concept_scheme": "icd10", "target_depth": 3},
    "mapping": {"source_scheme": "icd10", "target_scheme": "snomed", "threshold": 0.8, "max_candidates": 5},
    "overlay": {"base_artifact_id": "icd10-2026", "overlay_name": "German labels", "languages": ["de"]},
    "readiness": {"artifact_id": "icd10-2026", "checks": ["coverage", "licensing"]},
    "prompt_pack_calibration": {"prompt_pack_id": "triage-v3", "sample_size": 200, "temperature": 0.0},
    "reindex": {"index": "search", "full": False},
}


@router.post(
    "/{verb}",
    response_model=Job,
    status_code=status.HTTP_201_CREATED,
    summary="Start a job",
    description="`verb` is one of: "
    + ", ".join(url_verb(v) for v in VERBS)
    + ". The body is the verb's parameters (see the `*Parameters` schemas).",
    responses={
        200: {"description": "The job an earlier request with the same Idempotency-Key started"},
        404: {"description": "Unknown verb (`unknown_verb`)"},
        422: {"description": "Invalid parameters, or an Idempotency-Key reused with another body"},
    },
)
def start_job(
    verb: str,
    caller: Operator,
    repository: Repository,
    bus: Bus,
    response: Response,
    body: Annotated[
        dict[str, Any] | None, Body(openapi_examples={k: {"value": v} for k, v in _VERB_EXAMPLES.items()})
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    canonical = canonical_verb(verb)
    parameters = validate_parameters(canonical, body)
    digest = request_digest(canonical, parameters)
    if idempotency_key is not None:
        earlier = _earlier(repository, caller, idempotency_key, digest)
        if earlier is not None:
            response.status_code = status.HTTP_200_OK
            return Job.model_validate(earlier)
    at = now_iso()
    job = new_job(
        job_id=new_job_id(int(time.time() * 1000)),
        verb=canonical,
        parameters=parameters,
        actor=caller.subject,
        at=at,
    )
    keyed = (caller.subject, idempotency_key, digest) if idempotency_key is not None else None
    if not repository.create(caller.tenant, job, idempotency=keyed):
        # A request with the same key won the race: answer its job, as for a later request.
        assert idempotency_key is not None
        earlier = _earlier(repository, caller, idempotency_key, digest)
        if earlier is None:
            raise BadRequest("The Idempotency-Key is being used by a request that did not finish.")
        response.status_code = status.HTTP_200_OK
        return Job.model_validate(earlier)
    job = _dispatch(repository, bus, caller, job)
    response.headers["Location"] = f"{PREFIX}/{job['id']}"
    return Job.model_validate(job)


def document_per_verb(document: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI document with `POST /jobs/{verb}` as one operation per verb, each with its
    own parameters schema (`start_<verb>_job`): which body a verb takes is a rule between the path
    and the body no schema of one operation can state. The route stays one (it validates the verb's
    model on use, so a cold start builds none of them)."""
    start = document["paths"].get(f"{PREFIX}/{{verb}}", {}).pop("post", None)
    if start is None:
        return document  # done already
    del document["paths"][f"{PREFIX}/{{verb}}"]
    schemas = document["components"]["schemas"]
    for verb, model in PARAMETER_MODELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        body: dict[str, Any] = {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
            "examples": {verb: {"value": _VERB_EXAMPLES[verb]}},
        }
        operation = copy.deepcopy(start)
        operation.update(
            operationId=f"start_{verb}_job",
            summary=f"Start a job: {url_verb(verb)}",
            description="The body is the verb's parameters.",
            requestBody={"required": True, "content": {"application/json": body}},
        )
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("in") != "path"]
        operation["responses"].pop("404", None)  # an unknown verb: no such operation
        document["paths"][f"{PREFIX}/{url_verb(verb)}"] = {"post": operation}
    return document


def _earlier(
    repository: JobsRepository, caller: RequestContext, key: str, digest: str
) -> dict[str, Any] | None:
    record = repository.idempotency_record(caller.tenant, caller.subject, key)
    if record is None:
        return None
    if record["digest"] != digest:
        raise IdempotencyKeyReused("This Idempotency-Key was sent before with another request body.")
    return repository.job(caller.tenant, str(record["job_id"]))


@router.patch(
    "/{job_id}/retry",
    response_model=Job,
    status_code=status.HTTP_201_CREATED,
    summary="Retry a failed or cancelled job as a new attempt",
    responses={404: {}, 409: {"description": "Not failed or cancelled, already retried, or raced"}},
)
def retry_job(job_id: str, caller: Operator, repository: Repository, bus: Bus, response: Response) -> Job:
    old = _load(repository, caller, job_id)
    at = now_iso()
    attempt = new_job(
        job_id=new_job_id(int(time.time() * 1000)),
        verb=old["verb"],
        parameters=old["parameters"],
        actor=caller.subject,
        at=at,
        attempt=int(old["attempt"]) + 1,
        previous_attempt=old["id"],
    )
    linked = retried(old, next_id=attempt["id"], actor=caller.subject, at=at)
    repository.retry(caller.tenant, old, linked, attempt)
    attempt = _dispatch(repository, bus, caller, attempt)
    response.headers["Location"] = f"{PREFIX}/{attempt['id']}"
    return Job.model_validate(attempt)


@router.patch(
    "/{job_id}/cancel",
    response_model=Job,
    summary="Ask the executor to cancel a queued or running job",
    description="The job becomes `cancelling`; it becomes `cancelled` when the executor confirms.",
    responses={404: {}, 409: {"description": "Not queued or running, or raced"}},
)
def cancel_job(job_id: str, caller: Operator, repository: Repository, bus: Bus) -> Job:
    old = _load(repository, caller, job_id)
    new = cancel_requested(old, actor=caller.subject, at=now_iso())
    repository.replace(caller.tenant, old, new)
    detail = {"tenant": caller.tenant, "job_id": job_id, "requested_by": caller.subject}
    try:
        bus.publish(SOURCE, "JobCancelRequested", detail, trace_id=caller.trace_id)
    except Exception:
        # The job says `cancelling`; the user may cancel again only after it ends, so the
        # missing event is logged and counted for the operator rather than failing the command.
        logger.exception("JobCancelRequested could not be published", extra={"job_id": job_id})
    return Job.model_validate(new)


def _id_bound(value: datetime | None, *, high: bool) -> str:
    """A bound on job ids from a time: ids begin with the creation time in hex milliseconds."""
    if value is None:
        return "~" if high else ""
    ms = max(0, int(value.timestamp() * 1000))
    return f"{ms:012x}~" if high else f"{ms:012x}"


@router.get("", response_model=JobPage, summary="Jobs of the tenant, newest first")
def list_jobs(
    caller: Operator,
    repository: Repository,
    pages: PageCursors,
    verb: Annotated[str | None, Query(description="Only jobs of this verb.")] = None,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
    actor: Annotated[
        str | None, Query(max_length=256, description="Who requested the job; `me` for the caller.")
    ] = None,
    from_: Annotated[QueryTime | None, Query(alias="from", description="Requested at or after.")] = None,
    to: Annotated[QueryTime | None, Query(description="Requested at or before.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> JobPage:
    wanted_verb = canonical_verb(verb) if verb else None
    who = caller.subject if actor == "me" else actor
    position = pages.read(cursor)
    start_key = {"pk": caller.tenant, "sk": position_text(position, "sk")} if position else None
    low, high = _id_bound(from_, high=False), _id_bound(to, high=True)
    found: list[Job] = []
    while True:
        items, last_key = repository.page(caller.tenant, low=low, high=high, start_key=start_key, limit=limit)
        for item in items:
            if (wanted_verb and item.get("verb") != wanted_verb) or (
                status_filter and item.get("status") != status_filter
            ):
                continue
            if who and item.get("requested_by") != who:
                continue
            found.append(Job.model_validate(item))
            if len(found) == limit:
                more = item is not items[-1] or last_key is not None
                return JobPage(
                    items=found,
                    next_cursor=pages.issue({"sk": item["sk"]}) if more else None,
                )
        if last_key is None:
            return JobPage(items=found, next_cursor=None)
        start_key = last_key


def _attempts(repository: JobsRepository, tenant: str, job: dict[str, Any]) -> list[AttemptSummary]:
    before: list[dict[str, Any]] = []
    current = job
    while current.get("previous_attempt") and len(before) < MAX_ATTEMPTS_SHOWN:
        found = repository.job(tenant, str(current["previous_attempt"]))
        if found is None:
            break
        before.insert(0, found)
        current = found
    after: list[dict[str, Any]] = []
    current = job
    while current.get("next_attempt") and len(after) < MAX_ATTEMPTS_SHOWN:
        found = repository.job(tenant, str(current["next_attempt"]))
        if found is None:
            break
        after.append(found)
        current = found
    return [AttemptSummary.model_validate(a) for a in (*before, job, *after)]


@router.get("/{job_id}", response_model=JobDetail, summary="A job with its attempts and state changes")
def get_job(job_id: str, caller: Operator, repository: Repository) -> JobDetail:
    job = _load(repository, caller, job_id)
    return JobDetail.model_validate(
        {**job, "attempts": _attempts(repository, caller.tenant, job), "history": job.get("history") or []}
    )
