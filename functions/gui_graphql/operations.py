"""The schema's fields: each checks its own scope and feature flag, then calls one use case of its
group (`gui_<group>.use_cases`) as the REST route does, and nothing else (docs/decision_log.md,
"one use case, many doors"). A field the caller may not read is an error of that field, with the
problem code and status REST would answer (`extensions`), and the rest of the answer stands.

Lists are connections over the REST routes' own cursors: a list's cursors are bound to the REST
route, the tenant and the filters (`gui_core.cursors.CursorPlace`), so a cursor from `GET /jobs`
continues `jobs` with the same filters, and the other way round. A page's cursor marks where the
next page starts (`pageInfo.endCursor`), as `next_cursor` in REST; `edges` carry no cursor of
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
)
from pydantic import BaseModel, ValidationError

from gui_core import rbac
from gui_core.cursors import CursorPlace, Cursors, Pages
from gui_core.errors import FeatureDisabled, InsufficientScope, ValidationFailed
from gui_graphql.types import JSON, ModelTypes
from gui_jobs import use_cases as jobs
from gui_jobs.models import VERBS, Job, JobDetail, JobQuery, StartJob
from gui_notifications import use_cases as notifications
from gui_notifications.models import CommandInput, InboxQuery, Notification, ReadAllResult, StatusCounts

if TYPE_CHECKING:
    from gui_core.context import RequestContext
    from gui_core.tenancy import Tenant
    from gui_jobs.use_cases import JobsPorts
    from gui_notifications.use_cases import NotificationsPorts

API = "/service/gui"
MAX_PAGE = 100
# The commands of one notification, as `POST /notifications/{id}/{command}` takes them.
NOTIFICATION_COMMANDS = ("read", "acknowledge", "snooze", "unsnooze", "assign", "archive")


@dataclass(frozen=True)
class GraphQLPorts:
    """What the fields reach: each group's ports, as its REST function builds them."""

    jobs: JobsPorts
    notifications: NotificationsPorts


@dataclass(frozen=True)
class Access:
    """What a field needs: its group's feature flag on for the tenant, its scope in the token."""

    feature: str
    scope: str


@dataclass
class Context:
    """One request's caller, tenant and ports; `mutations` counts what it changed (for the audit)."""

    caller: RequestContext
    tenant: Tenant
    ports: GraphQLPorts
    cursors: Cursors
    mutations: list[str] = field(default_factory=list)

    def admit(self, feature: str, scope: str) -> None:
        """The field's feature flag (404 `feature_disabled`) and scope (403 `insufficient_scope`)."""
        if not self.tenant.feature_enabled(feature):
            raise FeatureDisabled(f"The feature {feature!r} is turned off for this tenant.", feature=feature)
        if not self.caller.has_scope(scope):
            raise InsufficientScope(f"This field needs the scope {scope}.", required_scope=scope)

    def pages(self, route: str, filters: Mapping[str, Any]) -> Pages:
        """The paging of a list: the cursors of the REST route `route` with these query filters."""
        query = tuple(sorted((k, str(v)) for k, v in filters.items() if v is not None))
        return Pages(self.cursors, CursorPlace(f"GET {API}{route}", self.caller.tenant, query))


def _validated(model: type[BaseModel], values: Mapping[str, Any]) -> Any:
    """`model` of these values; a 422 `validation_failed` (with the fields, as REST's) when invalid."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        fields = [
            {
                "pointer": "/" + "/".join(str(part) for part in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in error.errors(include_url=False)
        ]
        raise ValidationFailed(f"{len(fields)} argument(s) are not valid.", errors=fields) from None


Resolver = Callable[[Context, Mapping[str, Any]], Any]


def _field(
    output: GraphQLOutputType,
    resolve: Resolver,
    *,
    access: Access,
    args: Mapping[str, GraphQLArgument] | None = None,
    description: str,
    mutation: bool = False,
) -> GraphQLField:
    def resolver(_root: Any, info: Any, **arguments: Any) -> Any:
        context: Context = info.context
        context.admit(access.feature, access.scope)
        answer = resolve(context, arguments)
        if mutation:
            context.mutations.append(info.field_name)
        return answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer

    # Nullable, so that a field that fails leaves the others' data standing (partial data).
    nullable = output.of_type if isinstance(output, GraphQLNonNull) else output
    return GraphQLField(nullable, args=dict(args or {}), resolve=resolver, description=description)


def _connection(types: ModelTypes, name: str, node: GraphQLObjectType, **extra: GraphQLField) -> Any:
    edge = GraphQLObjectType(f"{name}Edge", {"node": GraphQLField(GraphQLNonNull(node))})
    page_info = types.page_info
    return GraphQLNonNull(
        GraphQLObjectType(
            f"{name}Connection",
            {
                "nodes": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(node)))),
                "edges": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(edge)))),
                "pageInfo": GraphQLField(GraphQLNonNull(page_info)),
                **extra,
            },
        )
    )


def _connected(items: list[Any], next_cursor: str | None, **extra: Any) -> dict[str, Any]:
    nodes = [i.model_dump(mode="json") for i in items]
    return {
        "nodes": nodes,
        "edges": [{"node": n} for n in nodes],
        "pageInfo": {"hasNextPage": next_cursor is not None, "endCursor": next_cursor},
        **extra,
    }


def _first(arguments: Mapping[str, Any], default: int) -> int:
    first = arguments.get("first")
    if first is None:
        return default
    if not 1 <= int(first) <= MAX_PAGE:
        raise ValidationFailed(
            f"`first` is 1 to {MAX_PAGE}.",
            errors=[{"pointer": "/first", "message": f"1 to {MAX_PAGE}", "type": "out_of_range"}],
        )
    return int(first)


# -- jobs ----------------------------------------------------------------------------------------


def _jobs(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    filters = {k: arguments.get(k) for k in ("verb", "status", "actor", "from", "to")}
    query: JobQuery = _validated(
        JobQuery,
        {
            "verb": filters["verb"],
            "status": filters["status"],
            "actor": filters["actor"],
            "requested_from": filters["from"],
            "requested_to": filters["to"],
            "limit": _first(arguments, 50),
            "cursor": arguments.get("after"),
        },
    )
    page = jobs.list_jobs(context.ports.jobs, context.caller, query, context.pages("/jobs", filters))
    return _connected(page.items, page.next_cursor)


def _job(context: Context, arguments: Mapping[str, Any]) -> JobDetail:
    return jobs.get_job(context.ports.jobs, context.caller, str(arguments["id"]))


def _start_job(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    command = _validated(
        StartJob,
        {
            "verb": arguments["verb"],
            "body": arguments.get("parameters"),
            "idempotency_key": arguments.get("idempotency_key"),
        },
    )
    started = jobs.start_job(context.ports.jobs, context.caller, command)
    return {"job": started.job.model_dump(mode="json"), "earlier": started.earlier}


def _retry_job(context: Context, arguments: Mapping[str, Any]) -> Job:
    return jobs.retry_job(context.ports.jobs, context.caller, str(arguments["id"]))


def _cancel_job(context: Context, arguments: Mapping[str, Any]) -> Job:
    return jobs.cancel_job(context.ports.jobs, context.caller, str(arguments["id"]))


# -- notifications -------------------------------------------------------------------------------


def _notifications(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    filters = {k: arguments.get(k) for k in ("status", "severity", "category", "assignee")}
    query: InboxQuery = _validated(
        InboxQuery, {**filters, "limit": _first(arguments, 25), "cursor": arguments.get("after")}
    )
    pages = context.pages("/notifications", filters)
    page = notifications.list_notifications(context.ports.notifications, context.caller, query, pages)
    return _connected(
        page.items,
        page.next_cursor,
        counts=page.counts.model_dump(mode="json"),
        counts_complete=page.counts_complete,
    )


def _notification(context: Context, arguments: Mapping[str, Any]) -> Notification:
    return notifications.get_notification(context.ports.notifications, context.caller, str(arguments["id"]))


def _command(command: str) -> Resolver:
    def resolve(context: Context, arguments: Mapping[str, Any]) -> Notification:
        body = _validated(
            CommandInput, {k: v for k, v in arguments.items() if k in ("until", "assignee") and v is not None}
        )
        return notifications.command_notification(
            context.ports.notifications,
            context.caller,
            str(arguments["id"]),
            command,
            body,
            if_match=arguments.get("if_match"),
        )

    return resolve


def _read_all(context: Context, _arguments: Mapping[str, Any]) -> ReadAllResult:
    return notifications.read_all(context.ports.notifications, context.caller)


# -- the schema ----------------------------------------------------------------------------------


def _page_arguments(default: int) -> dict[str, GraphQLArgument]:
    return {
        "first": GraphQLArgument(GraphQLInt, description=f"Page size, 1 to {MAX_PAGE} (default {default})."),
        "after": GraphQLArgument(GraphQLString, description="`pageInfo.endCursor` of the page before."),
    }


# The lists of pages and their default page sizes (what `gui_graphql.execution` costs them at).
PAGE_DEFAULTS = {"jobs": 50, "notifications": 25}


def build_schema() -> GraphQLSchema:
    types = ModelTypes()
    job = types.object(Job)
    job_detail = types.object(JobDetail)
    notification = types.object(Notification)
    job_status = types.literal_enum(JobQuery.model_fields["status"].annotation, "JobStatus")
    inbox = InboxQuery.model_fields
    status = types.literal_enum(inbox["status"].annotation, "NotificationStatus")
    severity = types.literal_enum(inbox["severity"].annotation, "Severity")
    category = types.literal_enum(inbox["category"].annotation, "Category")
    verb = types.enum(VERBS, "JobVerb")
    jobs_scope = Access("jobs", rbac.JOBS)
    inbox_scope = Access("notifications", rbac.NOTIFICATIONS)
    an_id = {"id": GraphQLArgument(GraphQLNonNull(GraphQLString))}
    query = GraphQLObjectType(
        "Query",
        {
            "jobs": _field(
                _connection(types, "Job", job),
                _jobs,
                args={
                    **_page_arguments(PAGE_DEFAULTS["jobs"]),
                    "verb": GraphQLArgument(GraphQLString, description="Only jobs of this verb."),
                    "status": GraphQLArgument(job_status),
                    "actor": GraphQLArgument(
                        GraphQLString, description="Who requested it; `me`: the caller."
                    ),
                    "from": GraphQLArgument(GraphQLString, description="Requested at or after (ISO 8601)."),
                    "to": GraphQLArgument(GraphQLString, description="Requested at or before (ISO 8601)."),
                },
                description="Jobs of the tenant, newest first (`GET /jobs`).",
                access=jobs_scope,
            ),
            "job": _field(
                GraphQLNonNull(job_detail),
                _job,
                args=an_id,
                description="A job with its attempts and state changes (`GET /jobs/{id}`).",
                access=jobs_scope,
            ),
            "notifications": _field(
                _connection(
                    types,
                    "Notification",
                    notification,
                    counts=GraphQLField(GraphQLNonNull(types.object(StatusCounts))),
                    counts_complete=GraphQLField(GraphQLNonNull(GraphQLBoolean)),
                ),
                _notifications,
                args={
                    **_page_arguments(PAGE_DEFAULTS["notifications"]),
                    "status": GraphQLArgument(status, description="A due snooze counts as unread."),
                    "severity": GraphQLArgument(severity),
                    "category": GraphQLArgument(category),
                    "assignee": GraphQLArgument(GraphQLString, description="A subject, or `me`."),
                },
                description="The caller's inbox with badge counts (`GET /notifications`).",
                access=inbox_scope,
            ),
            "notification": _field(
                GraphQLNonNull(notification),
                _notification,
                args=an_id,
                description="One notification of the caller's inbox (`GET /notifications/{id}`).",
                access=inbox_scope,
            ),
        },
    )
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
    command_arguments = {
        **an_id,
        "if_match": GraphQLArgument(
            GraphQLString, description="The item's `etag`: refused (412) if changed."
        ),
    }
    commands = {
        f"{command}_notification": _field(
            GraphQLNonNull(notification),
            _command(command),
            args={
                **command_arguments,
                **(
                    {"until": GraphQLArgument(GraphQLNonNull(GraphQLString))}
                    if command == "snooze"
                    else {"assignee": GraphQLArgument(GraphQLString, description="A subject, or `me`.")}
                    if command == "assign"
                    else {}
                ),
            },
            description=f"`POST /notifications/{{id}}/{command}`.",
            mutation=True,
            access=inbox_scope,
        )
        for command in NOTIFICATION_COMMANDS
    }
    mutation = GraphQLObjectType(
        "Mutation",
        {
            "start_job": _field(
                GraphQLNonNull(started),
                _start_job,
                args={
                    "verb": GraphQLArgument(GraphQLNonNull(verb)),
                    "parameters": GraphQLArgument(JSON, description="The verb's parameters, as REST's body."),
                    "idempotency_key": GraphQLArgument(
                        GraphQLString, description="The same key with the same parameters: the same job."
                    ),
                },
                description="Start a job (`POST /jobs/{verb}`).",
                mutation=True,
                access=jobs_scope,
            ),
            "retry_job": _field(
                GraphQLNonNull(job),
                _retry_job,
                args=an_id,
                description="Retry a failed or cancelled job as a new attempt (`PATCH /jobs/{id}/retry`).",
                mutation=True,
                access=jobs_scope,
            ),
            "cancel_job": _field(
                GraphQLNonNull(job),
                _cancel_job,
                args=an_id,
                description="Cancel a queued or running job (`PATCH /jobs/{id}/cancel`).",
                mutation=True,
                access=jobs_scope,
            ),
            **commands,
            "read_all_notifications": _field(
                GraphQLNonNull(types.object(ReadAllResult)),
                _read_all,
                description="Mark every unread item read (`POST /notifications/read-all`).",
                mutation=True,
                access=inbox_scope,
            ),
        },
    )
    return GraphQLSchema(query=query, mutation=mutation)
