"""Routes of the jobs group. Each parses the request, calls one use case of `gui_jobs.use_cases`
and answers its model; the OpenAPI document gets one operation per verb (`document_per_verb`)."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Query, Request, Response, status

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.guard import GroupPolicy, group_router
from gui_jobs import use_cases
from gui_jobs.logic import url_verb
from gui_jobs.models import (
    PARAMETER_MODELS,
    VERBS,
    Job,
    JobDetail,
    JobPage,
    JobQuery,
    JobStatus,
    StartJob,
)
from gui_jobs.use_cases import JobsPorts

PREFIX = "/service/gui/jobs"
router = group_router(
    prefix=PREFIX,
    policy=GroupPolicy("jobs", read_class="reads", write_class="job_commands", own_idempotency=True),
)

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


def _ports(request: Request) -> JobsPorts:
    ports: JobsPorts = request.app.state.ports
    return ports


Ports = Annotated[JobsPorts, Depends(_ports)]


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
    ports: Ports,
    response: Response,
    body: Annotated[
        dict[str, Any] | None, Body(openapi_examples={k: {"value": v} for k, v in _VERB_EXAMPLES.items()})
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    command = StartJob(verb=verb, body=body, idempotency_key=idempotency_key)
    started = use_cases.start_job(ports, caller, command)
    if started.earlier:
        response.status_code = status.HTTP_200_OK
    else:
        response.headers["Location"] = f"{PREFIX}/{started.job.id}"
    return started.job


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


@router.patch(
    "/{job_id}/retry",
    response_model=Job,
    status_code=status.HTTP_201_CREATED,
    summary="Retry a failed or cancelled job as a new attempt",
    responses={404: {}, 409: {"description": "Not failed or cancelled, already retried, or raced"}},
)
def retry_job(job_id: str, caller: Operator, ports: Ports, response: Response) -> Job:
    attempt = use_cases.retry_job(ports, caller, job_id)
    response.headers["Location"] = f"{PREFIX}/{attempt.id}"
    return attempt


@router.patch(
    "/{job_id}/cancel",
    response_model=Job,
    summary="Ask the executor to cancel a queued or running job",
    description="The job becomes `cancelling`; it becomes `cancelled` when the executor confirms.",
    responses={404: {}, 409: {"description": "Not queued or running, or raced"}},
)
def cancel_job(job_id: str, caller: Operator, ports: Ports) -> Job:
    return use_cases.cancel_job(ports, caller, job_id)


_LIST_DESCRIPTION = """Newest first. `verb`, `status` and `actor` combine (all must hold), with
`from`/`to` on when the job was requested. Each combination is served from its own keys, so a page
reads its jobs and one more, whatever the tenant holds; `next_cursor` is set only when another job
follows (a page with a cursor is never followed by an empty one). Until the deploy's migration
`0010_jobs_filter_keys` and its second pass `0012_jobs_filter_keys_again` (run by the next deploy)
are done, a filtered list reads the jobs in order and filters them instead (docs/decision_log.md)."""


@router.get(
    "", response_model=JobPage, summary="Jobs of the tenant, newest first", description=_LIST_DESCRIPTION
)
def list_jobs(
    caller: Operator,
    ports: Ports,
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
    query = JobQuery(
        verb=verb,
        status=status_filter,
        actor=actor,
        requested_from=from_,
        requested_to=to,
        limit=limit,
        cursor=cursor,
    )
    return use_cases.list_jobs(ports, caller, query, pages)


@router.get("/{job_id}", response_model=JobDetail, summary="A job with its attempts and state changes")
def get_job(job_id: str, caller: Operator, ports: Ports) -> JobDetail:
    return use_cases.get_job(ports, caller, job_id)
