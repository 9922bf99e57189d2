"""`POST /service/gui/graphql` (and `GET` for queries): one GraphQL request per call, through the
guard of every route (caller, tenant, residency, the `graphql` feature flag, the rate limit), then
`gui_graphql.execution`. A mutation is reserved against replays and audited (the audit record names
the mutation's fields); a query is neither, however it is sent."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLSchema, OperationDefinitionNode, OperationType

from gui_core.cursors import Cursors
from gui_core.dependencies import Caller
from gui_core.guard import (
    AUDIT_ENDPOINT_KEY,
    READ_ONLY_KEY,
    REPLAY_KEY,
    GroupPolicy,
    Guard,
    current_tenant,
    group_router,
)
from gui_core.tenancy import Tenant
from gui_graphql.execution import GraphQLRequest, Limits, MutationOverGet, prepare, root_fields, run
from gui_graphql.fields.base import RATE_CLASS
from gui_graphql.models import GraphQLBody
from gui_graphql.operations import PAGE_DEFAULTS, Context, Ports, build_schema
from gui_graphql.persisted import PersistedQueries, load_allowlist

PREFIX = "/service/gui/graphql"
# Reads are charged as reads; a mutation is charged once more as a write (`_admit_mutation`).
# What the guard charges every request, whatever it asks (its fields are charged by `_charge`).
REQUEST_CLASS = "reads"
router = group_router(
    prefix=PREFIX, policy=GroupPolicy("graphql", write_class=REQUEST_CLASS, replay_by_route=True)
)
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
_QUERY = "query Inbox($first: Int) { notifications(first: $first) { nodes { id title } counts { unread } } }"
_DATA = {
    "notifications": {
        "nodes": [{"id": "n0193a1b2c3d4e5f6a7", "title": "Coverage finished", "status": "unread"}],
        "counts": {"unread": 1},
    }
}
_FIELD_ERROR = {
    "message": "This field needs the scope gui:jobs.",
    "path": ["jobs"],
    "locations": [{"line": 1, "column": 3}],
    "extensions": {"code": "insufficient_scope", "status": 403, "required_scope": "gui:jobs"},
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`data`, and `errors` of the fields that failed (`extensions`: `code`, `status`)",
        "content": {
            "application/json": {
                "examples": {
                    "data": {"value": {"data": _DATA}},
                    "partial": {"value": {"data": {**_DATA, "jobs": None}, "errors": [_FIELD_ERROR]}},
                }
            }
        },
    },
    400: {
        "description": "No document, a syntax error, a limit (depth, aliases, cost) or an invalid document"
    },
    405: {"description": "A mutation sent with GET"},
}


@dataclass(frozen=True)
class GraphQLState:
    ports: Ports
    introspection: bool = False
    schema: GraphQLSchema = field(default_factory=build_schema)  # built at the cold start
    persisted: PersistedQueries = field(default_factory=lambda: PersistedQueries(load_allowlist()))
    deadline_s: float = 10.0

    def limits(self) -> Limits:
        return Limits(introspection=self.introspection, pages=PAGE_DEFAULTS)


@router.post("", summary="A GraphQL request", responses=ANSWERS, response_model=None)
def graphql_post(
    request: Request,
    caller: Caller,
    tenant: CurrentTenant,
    body: GraphQLBody,
) -> JSONResponse:
    return _answer(request, caller, tenant, body.model_dump(by_alias=True), allow_mutation=True)


# A GET's URL stays within API Gateway's request line: short documents, or persisted ones by hash.
@router.get("", summary="A GraphQL query (no mutation)", responses=ANSWERS, response_model=None)
def graphql_get(
    request: Request,
    caller: Caller,
    tenant: CurrentTenant,
    query: Annotated[
        str | None,
        Query(max_length=512, description="A short GraphQL document (longer ones: POST, or by hash)."),
    ] = None,
    variables: Annotated[str | None, Query(max_length=256, description="The variables, as JSON.")] = None,
    operation_name: Annotated[str | None, Query(alias="operationName", max_length=128)] = None,
    extensions: Annotated[
        str | None,
        Query(
            max_length=192, description='As JSON: `{"persistedQuery": {"version": 1, "sha256Hash": ...}}`.'
        ),
    ] = None,
) -> JSONResponse:
    document = {
        "query": query,
        "variables": variables,
        "operationName": operation_name,
        "extensions": extensions,
    }
    return _answer(request, caller, tenant, document, allow_mutation=False)


def _answer(
    request: Request, caller: Any, tenant: Tenant, document: Any, *, allow_mutation: bool
) -> JSONResponse:
    state: GraphQLState = request.app.state.graphql
    request.scope[READ_ONLY_KEY] = True  # until the document is known to be a mutation
    graphql_request = GraphQLRequest.of(document, state.persisted.document)
    parsed, operation = prepare(state.schema, graphql_request, state.limits())
    mutation = operation.operation is OperationType.MUTATION
    if mutation and not allow_mutation:
        raise MutationOverGet()
    _charge(request, tenant, state, parsed, operation)
    if mutation:
        request.scope[READ_ONLY_KEY] = False
        guard: Guard = request.app.state.guard
        guard.reserve_replay(request, caller, tenant)
    cursors: Cursors = request.app.state.cursors
    context = Context(
        caller=caller, tenant=tenant, ports=state.ports, cursors=cursors, deadline=_deadline(request, state)
    )
    answer = run(state.schema, parsed, graphql_request, context, operation)
    if mutation:
        request.scope[AUDIT_ENDPOINT_KEY] = f"{PREFIX}#{','.join(answer.mutations) or 'mutation'}"
        if answer.body.get("errors"):
            _release(request)  # what failed did not happen: the same mutation may be sent again
    return JSONResponse(answer.body, status_code=answer.status)


def _charge(
    request: Request, tenant: Tenant, state: GraphQLState, document: Any, operation: OperationDefinitionNode
) -> None:
    """Each root field is charged to its REST twin's rate class once per occurrence, as its REST
    call would be (a mutation to `writes` or its group's class, a dashboard to `dashboard`, a list
    to `reads`), one write per class for all its fields, before anything runs; the guard charged
    the request itself one `reads` already, which its first read-class field uses. A class the
    document would take past its limit refuses the whole request (429), and counts nothing."""
    guard: Guard = request.app.state.guard
    root = (
        state.schema.mutation_type
        if operation.operation is OperationType.MUTATION
        else state.schema.query_type
    )
    assert root is not None
    charges: Counter[str] = Counter()
    for name, times in root_fields(document, operation).items():
        found = root.fields.get(name)
        rate_class = (found.extensions or {}).get(RATE_CLASS) if found is not None else None
        if rate_class is not None:
            charges[rate_class] += times
    charges[REQUEST_CLASS] -= 1  # the guard's own charge of the request
    for rate_class, amount in sorted(charges.items()):
        if amount > 0:
            guard.charge(tenant, rate_class, amount)


def _deadline(request: Request, state: GraphQLState) -> float:
    """When fields stop starting: `deadline_s` from now, and a second before the invocation's own
    end (the Lambda context Mangum hands the app, where there is one)."""
    now = time.monotonic()
    deadline = now + state.deadline_s
    lambda_context = request.scope.get("aws.context")
    remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        deadline = min(deadline, now + remaining() / 1000 - 1.0)
    return deadline


def _release(request: Request) -> None:
    guard: Guard = request.app.state.guard
    reserved = request.scope.pop(REPLAY_KEY, None)
    if reserved is not None and guard.replay is not None:
        guard.replay.release(*reserved)
