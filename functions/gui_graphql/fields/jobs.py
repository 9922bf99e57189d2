"""The jobs' fields: `jobs`, `job`; `start_job`, `retry_job`, `cancel_job` (`gui_jobs.use_cases`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
)

from gui_core import rbac
from gui_graphql.fields.base import (
    AN_ID,
    Access,
    Context,
    connected,
    connection,
    first_of,
    make_field,
    page_arguments,
    validated,
)
from gui_graphql.types import JSON
from gui_jobs import use_cases
from gui_jobs.models import VERBS, Job, JobDetail, JobQuery, StartJob

if TYPE_CHECKING:
    from gui_graphql.types import ModelTypes
    from gui_jobs.settings import JobsSettings
    from gui_jobs.use_cases import JobsPorts

GROUP = "jobs"
ORDER = 30  # where its root fields come in the schema
PAGES = {"jobs": 50}
ACCESS = Access("jobs", rbac.JOBS, write_class="job_commands")


def settings() -> JobsSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_jobs.settings import JobsSettings

    return JobsSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: JobsSettings) -> JobsPorts:
    from gui_jobs.ports import build_ports

    return build_ports(settings)


def _ports(context: Context) -> JobsPorts:
    found: JobsPorts = context.ports.of(GROUP)
    return found


def _jobs(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    filters = {k: arguments.get(k) for k in ("verb", "status", "actor", "from", "to")}
    query: JobQuery = validated(
        JobQuery,
        {
            "verb": filters["verb"],
            "status": filters["status"],
            "actor": filters["actor"],
            "requested_from": filters["from"],
            "requested_to": filters["to"],
            "limit": first_of(arguments, PAGES["jobs"]),
            "cursor": arguments.get("after"),
        },
    )
    page = use_cases.list_jobs(_ports(context), context.caller, query, context.pages("/jobs", filters))
    return connected(page.items, page.next_cursor)


def _job(context: Context, arguments: Mapping[str, Any]) -> JobDetail:
    return use_cases.get_job(_ports(context), context.caller, str(arguments["id"]))


def _start_job(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    command = validated(
        StartJob,
        {
            "verb": arguments["verb"],
            "body": arguments.get("parameters"),
            "idempotency_key": arguments.get("idempotency_key"),
        },
    )
    started = use_cases.start_job(_ports(context), context.caller, command)
    return {"job": started.job.model_dump(mode="json"), "earlier": started.earlier}


def _retry_job(context: Context, arguments: Mapping[str, Any]) -> Job:
    return use_cases.retry_job(_ports(context), context.caller, str(arguments["id"]))


def _cancel_job(context: Context, arguments: Mapping[str, Any]) -> Job:
    return use_cases.cancel_job(_ports(context), context.caller, str(arguments["id"]))


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    return {
        "jobs": make_field(
            connection(types, "Job", types.object(Job)),
            _jobs,
            args={
                **page_arguments(PAGES["jobs"]),
                "verb": GraphQLArgument(GraphQLString, description="Only jobs of this verb."),
                "status": GraphQLArgument(
                    types.literal_enum(JobQuery.model_fields["status"].annotation, "JobStatus")
                ),
                "actor": GraphQLArgument(GraphQLString, description="Who requested it; `me`: the caller."),
                "from": GraphQLArgument(GraphQLString, description="Requested at or after (ISO 8601)."),
                "to": GraphQLArgument(GraphQLString, description="Requested at or before (ISO 8601)."),
            },
            description="Jobs of the tenant, newest first (`GET /jobs`).",
            access=ACCESS,
        ),
        "job": make_field(
            GraphQLNonNull(types.object(JobDetail)),
            _job,
            args=AN_ID,
            description="A job with its attempts and state changes (`GET /jobs/{id}`).",
            access=ACCESS,
        ),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    job = types.object(Job)
    started = GraphQLObjectType(
        "StartedJob",
        {
            "job": GraphQLField(GraphQLNonNull(job)),
            "earlier": GraphQLField(
                GraphQLNonNull(GraphQLBoolean),
                description="True: the job an earlier request with the same idempotency key started.",
            ),
        },
    )
    return {
        "start_job": make_field(
            GraphQLNonNull(started),
            _start_job,
            args={
                "verb": GraphQLArgument(GraphQLNonNull(types.enum(VERBS, "JobVerb"))),
                "parameters": GraphQLArgument(JSON, description="The verb's parameters, as REST's body."),
                "idempotency_key": GraphQLArgument(
                    GraphQLString, description="The same key with the same parameters: the same job."
                ),
            },
            description="Start a job (`POST /jobs/{verb}`).",
            mutation=True,
            access=ACCESS,
        ),
        "retry_job": make_field(
            GraphQLNonNull(job),
            _retry_job,
            args=AN_ID,
            description="Retry a failed or cancelled job as a new attempt (`PATCH /jobs/{id}/retry`).",
            mutation=True,
            access=ACCESS,
        ),
        "cancel_job": make_field(
            GraphQLNonNull(job),
            _cancel_job,
            args=AN_ID,
            description="Cancel a queued or running job (`PATCH /jobs/{id}/cancel`).",
            mutation=True,
            access=ACCESS,
        ),
    }
