"""The jobs group's use cases, one function per operation, whatever door calls it (REST today).

Each takes the group's ports, the caller and the operation's input, and answers the operation's
model: it reads and writes through the repository, decides with the pure rules of `gui_jobs.logic`,
and publishes the events executors wait for (JobRequested, JobCancelRequested). Idempotency-Key
lookups and the race of two requests with one key are decided here, not in a route.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gui_core.cursors import position_id
from gui_core.dynamo import Page
from gui_core.errors import BadRequest, NotFound
from gui_core.key_pages import collect, first_and_cursor, first_matching, key_items
from gui_jobs.logic import (
    IdempotencyKeyReused,
    cancel_requested,
    canonical_verb,
    dispatch_failed,
    id_bound,
    matches,
    new_job,
    new_job_id,
    request_digest,
    retried,
    validate_parameters,
)
from gui_jobs.models import AttemptSummary, Job, JobDetail, JobPage, JobQuery, StartedJob, StartJob
from gui_jobs.repository import (
    FILTERS,
    JOB_PREFIX,
    JOBS_KEYS_MIGRATION,
    JobsRepository,
    filter_name,
    filter_sk,
    job_sk,
    now_iso,
)

if TYPE_CHECKING:
    from gui_core.bus import Publisher
    from gui_core.context import RequestContext
    from gui_core.cursors import Pages
    from gui_core.migrations.gate import Gate

SOURCE = "domaindetermine.jobs"
MAX_ATTEMPTS_SHOWN = 20
logger = logging.getLogger("gui_jobs")


@dataclass(frozen=True)
class JobsPorts:
    """What the jobs' use cases read and write: the jobs store, the domain bus, and the migration
    ledger's gate (whether migration 0010 and its second pass 0012 wrote a tenant's list keys)."""

    repository: JobsRepository
    publisher: Publisher
    gate: Gate


def start_job(ports: JobsPorts, caller: RequestContext, command: StartJob) -> StartedJob:
    """Record a queued job of the verb and publish JobRequested. With an Idempotency-Key, a request
    the key already started (with the same parameters) answers that job, even one racing this."""
    verb = canonical_verb(command.verb)
    parameters = validate_parameters(verb, command.body)
    digest = request_digest(verb, parameters)
    key = command.idempotency_key
    if key is not None:
        earlier = _earlier(ports.repository, caller, key, digest)
        if earlier is not None:
            return StartedJob(job=Job.model_validate(earlier), earlier=True)
    job = new_job(
        job_id=new_job_id(int(time.time() * 1000)),
        verb=verb,
        parameters=parameters,
        actor=caller.subject,
        at=now_iso(),
    )
    keyed = (caller.subject, key, digest) if key is not None else None
    if not ports.repository.create(caller.tenant, job, idempotency=keyed):
        # A request with the same key won the race: answer its job, as for a later request.
        assert key is not None
        earlier = _earlier(ports.repository, caller, key, digest)
        if earlier is None:
            raise BadRequest("The Idempotency-Key is being used by a request that did not finish.")
        return StartedJob(job=Job.model_validate(earlier), earlier=True)
    return StartedJob(job=Job.model_validate(_dispatch(ports, caller, job)))


def retry_job(ports: JobsPorts, caller: RequestContext, job_id: str) -> Job:
    """A failed or cancelled job again, as a new attempt linked to the old one; JobRequested for it."""
    old = _load(ports.repository, caller, job_id)
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
    ports.repository.retry(caller.tenant, old, linked, attempt)
    return Job.model_validate(_dispatch(ports, caller, attempt))


def cancel_job(ports: JobsPorts, caller: RequestContext, job_id: str) -> Job:
    """A queued or running job becomes `cancelling`; JobCancelRequested asks its executor to stop."""
    old = _load(ports.repository, caller, job_id)
    new = cancel_requested(old, actor=caller.subject, at=now_iso())
    ports.repository.replace(caller.tenant, old, new)
    detail = {"tenant": caller.tenant, "job_id": job_id, "requested_by": caller.subject}
    try:
        ports.publisher.publish(SOURCE, "JobCancelRequested", detail, trace_id=caller.trace_id)
    except Exception:
        # The job says `cancelling`; the user may cancel again only after it ends, so the
        # missing event is logged and counted for the operator rather than failing the command.
        logger.exception("JobCancelRequested could not be published", extra={"job_id": job_id})
    return Job.model_validate(new)


def get_job(ports: JobsPorts, caller: RequestContext, job_id: str) -> JobDetail:
    """A job with every attempt of it and its state changes."""
    job = _load(ports.repository, caller, job_id)
    return JobDetail.model_validate(
        {
            **job,
            "attempts": _attempts(ports.repository, caller.tenant, job),
            "history": job.get("history") or [],
        }
    )


def list_jobs(ports: JobsPorts, caller: RequestContext, query: JobQuery, pages: Pages) -> JobPage:
    """A page of the tenant's jobs, newest first, that hold every filter of `query`. Each filter
    combination reads its own key items (gui_jobs.repository); until migration 0010 is done for the
    tenant, the jobs in order, filtered here."""
    repository, tenant, limit = ports.repository, caller.tenant, query.limit
    wanted_verb = canonical_verb(query.verb) if query.verb else None
    who = caller.subject if query.actor == "me" else query.actor
    after = position_id(pages.read(query.cursor), JOB_PREFIX)
    low, high = id_bound(query.requested_from, high=False), id_bound(query.requested_to, high=True)
    name = filter_name(verb=wanted_verb, status=query.status, actor=who)
    criteria = {"verb": wanted_verb, "status": query.status, "requested_by": who}
    if name is None or not ports.gate.done(JOBS_KEYS_MIGRATION, tenant):
        # No filter: the jobs' own key range. Before the filters' keys: as many jobs as lie
        # between two matches.
        read = _jobs_reader(repository, tenant, low=low, high=high, after=after)
        return _page(first_matching(read, lambda job: matches(job, criteria), want=limit + 1), limit, pages)
    values = tuple(str(criteria[f]) for f in FILTERS[name])
    first = {"pk": tenant, "sk": filter_sk(name, values, after)} if after else None

    def read_keys(start: Mapping[str, Any] | None, count: int) -> Page:
        return repository.filtered(
            tenant, name, values, low=low, high=high, start_key=start or first, limit=count
        )

    collected = collect(
        key_items(read_keys, start=None, chunk=limit + 1),
        fetch=lambda batch: repository.jobs(tenant, [str(k["job_id"]) for k in batch]),
        name=lambda key: str(key["job_id"]),
        # A key item a release that did not know it left stale is skipped: the job decides.
        accept=lambda _key, job: matches(job, criteria),
        want=limit + 1,
    )
    return _page([job for _, job in collected.found], limit, pages)


def _load(repository: JobsRepository, caller: RequestContext, job_id: str) -> dict[str, Any]:
    job = repository.job(caller.tenant, job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job


def _dispatch(ports: JobsPorts, caller: RequestContext, job: dict[str, Any]) -> dict[str, Any]:
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
        ports.publisher.publish(SOURCE, "JobRequested", detail, trace_id=caller.trace_id)
    except Exception:
        logger.exception("JobRequested could not be published", extra={"job_id": job["id"]})
        failed = dispatch_failed(job, at=now_iso(), message="The job could not be handed to an executor.")
        ports.repository.replace(caller.tenant, job, failed)
        return failed
    return job


def _earlier(
    repository: JobsRepository, caller: RequestContext, key: str, digest: str
) -> dict[str, Any] | None:
    """The job an earlier request with this key started; IdempotencyKeyReused for another body."""
    record = repository.idempotency_record(caller.tenant, caller.subject, key)
    if record is None:
        return None
    if record["digest"] != digest:
        raise IdempotencyKeyReused("This Idempotency-Key was sent before with another request body.")
    return repository.job(caller.tenant, str(record["job_id"]))


def _page(jobs: list[dict[str, Any]], limit: int, pages: Pages) -> JobPage:
    """The first `limit` jobs; a cursor only when one more was found."""
    shown, next_cursor = first_and_cursor(jobs, limit, pages)
    return JobPage(items=[Job.model_validate(j) for j in shown], next_cursor=next_cursor)


def _jobs_reader(
    repository: JobsRepository, tenant: str, *, low: str, high: str, after: str | None
) -> Callable[[Mapping[str, Any] | None, int], Page]:
    """The jobs' own key range between the bounds, newest first, after the job `after`."""
    first = {"pk": tenant, "sk": job_sk(after)} if after else None

    def read(start: Mapping[str, Any] | None, count: int) -> Page:
        items, last_key = repository.page(tenant, low=low, high=high, start_key=start or first, limit=count)
        return Page(items, last_key)

    return read


def _attempts(repository: JobsRepository, tenant: str, job: dict[str, Any]) -> list[AttemptSummary]:
    """The attempts before and after `job` (at most MAX_ATTEMPTS_SHOWN each way), oldest first."""
    before = _linked(repository, tenant, job, "previous_attempt")[::-1]
    after = _linked(repository, tenant, job, "next_attempt")
    return [AttemptSummary.model_validate(a) for a in (*before, job, *after)]


def _linked(repository: JobsRepository, tenant: str, job: dict[str, Any], link: str) -> list[dict[str, Any]]:
    """The attempts `link` leads to from `job`, nearest first, until one is missing."""
    found: list[dict[str, Any]] = []
    current = job
    while current.get(link) and len(found) < MAX_ATTEMPTS_SHOWN:
        linked = repository.job(tenant, str(current[link]))
        if linked is None:
            break
        found.append(linked)
        current = linked
    return found
