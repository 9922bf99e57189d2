"""The checks every REST route passes before its own code runs, in this order:

caller (verified token, tenant named in path/query/body) -> tenant record -> residency (421) ->
feature flag (404) -> rate limit (429) -> replay of a mutation (409); then the route's own scope.

Routers made by `group_router` carry the check as a router dependency, so a route added to a group
gets all of it without asking; the security suite walks every app's route table to prove it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request

from gui_core.audit import payload_digest
from gui_core.context import RequestContext
from gui_core.dependencies import current_caller
from gui_core.errors import (
    MisdirectedRequest,
    ReplayedRequest,
    TenantMismatch,
)
from gui_core.metric_names import GuardMetric, add
from gui_core.rate_limit import RateLimiter, enforce_limit
from gui_core.replay_guard import ReplayStore, mutation_identity
from gui_core.routing import GatewayRoute
from gui_core.tenancy import Tenant, TenantDirectory, admit_tenant

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_QUERY_CREDENTIALS = frozenset({"ticket", "token"})
TENANT_KEY = "gui.tenant"
RATE_KEY = "gui.rate"
REPLAY_KEY = "gui.replay"
BODY_KEY = "gui.body"
# Set by a route that read a POST without changing anything (a GraphQL query): not audited.
READ_ONLY_KEY = "gui.read_only"
# Set by a route whose audit record names more than its template (a GraphQL mutation's fields).
AUDIT_ENDPOINT_KEY = "gui.audit_endpoint"


@dataclass(frozen=True)
class GroupPolicy:
    """What a group of routes is: the feature flag that gates it, its rate-limit classes."""

    feature: str
    read_class: str = "reads"
    write_class: str = "writes"
    # The group's routes honour `Idempotency-Key` themselves (the same key answers the first
    # result again), so the guard must not refuse the second request as a replay.
    own_idempotency: bool = False
    # The group's one route tells a mutation from a read by its body (GraphQL: a `mutation`
    # operation), so the route reserves the replay check itself (`Guard.reserve_replay`) and marks
    # a read so that it is not audited as a mutation (`READ_ONLY_KEY`).
    replay_by_route: bool = False

    def rate_class(self, method: str) -> str:
        return self.write_class if method in MUTATING_METHODS else self.read_class


@dataclass
class Guard:
    region: str
    region_urls: Mapping[str, str]
    tenants: TenantDirectory
    rate_limiter: RateLimiter | None  # None: limiting off (benchmarks measure its overhead)
    replay: ReplayStore | None
    metrics: Metrics | None = None

    def check(self, request: Request, caller: RequestContext, policy: GroupPolicy) -> Tenant:
        _check_body_tenant(request, caller)
        tenant = admit_tenant(
            self.tenants,
            caller.tenant,
            region=self.region,
            feature=policy.feature,
            count=self._count,
            misdirected=lambda home: self._misdirected(request, home),
        )
        method = request.method
        decision = enforce_limit(self.rate_limiter, tenant, policy.rate_class(method), count=self._count)
        if decision is not None:
            request.scope[RATE_KEY] = decision
        keyed_by_route = policy.own_idempotency and bool(request.headers.get("idempotency-key"))
        if method in MUTATING_METHODS and not keyed_by_route and not policy.replay_by_route:
            self.reserve_replay(request, caller, tenant)
        request.scope[TENANT_KEY] = tenant
        return tenant

    def charge(self, tenant: Tenant, route_class: str, amount: int = 1) -> None:
        """`amount` more requests of `route_class` against the tenant's limit (429 past it, and
        none counted): a route whose body tells what it costs charges it (a GraphQL document its
        fields, each as its REST call)."""
        enforce_limit(self.rate_limiter, tenant, route_class, count=self._count, amount=amount)

    def reserve_replay(self, request: Request, caller: RequestContext, tenant: Tenant) -> None:
        """Refuse a mutation received already (409 `replayed_request`); else reserve it (the
        middleware releases it when it fails)."""
        if self.replay is None:
            return
        identity = mutation_identity(
            caller,
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            if_match=request.headers.get("if-match"),
            body_sha256=payload_digest(request.scope.get(BODY_KEY, b"")),
            idempotency_key=request.headers.get("idempotency-key"),
        )
        if not self.replay.reserve(tenant.id, identity):
            self._count(GuardMetric.REPLAYS_REFUSED)
            raise ReplayedRequest("This mutation was already received; it was not applied again.")
        request.scope[REPLAY_KEY] = (tenant.id, identity)

    def _misdirected(self, request: Request, tenant: Tenant) -> MisdirectedRequest:
        base = self.region_urls.get(tenant.home_region)
        headers = {}
        if base:
            # The same request at the home region, less a credential given in the query (a stream
            # ticket, single-use, or an old client's token): it does not belong in a header that
            # clients and proxies log.
            kept = [
                (k, v)
                for k, v in parse_qsl(request.url.query, keep_blank_values=True)
                if k not in _QUERY_CREDENTIALS
            ]
            query = f"?{urlencode(kept)}" if kept else ""
            headers["Location"] = f"{base.rstrip('/')}{request.url.path}{query}"
        return MisdirectedRequest(
            f"The tenant is served by region {tenant.home_region}.",
            headers=headers,
            home_region=tenant.home_region,
        )

    def _count(self, name: GuardMetric) -> None:
        if self.metrics is not None:
            add(self.metrics, name)


def _check_body_tenant(request: Request, caller: RequestContext) -> None:
    body: bytes = request.scope.get(BODY_KEY, b"")
    if b'"tenant"' not in body:
        return
    try:
        document: Any = json.loads(body)
    except ValueError:
        return  # malformed JSON is answered by the route's body parsing
    if isinstance(document, dict) and "tenant" in document and document["tenant"] != caller.tenant:
        raise TenantMismatch("The request names another tenant.")


def group_router(*, prefix: str, policy: GroupPolicy, tags: list[str] | None = None) -> APIRouter:
    """An APIRouter whose every route passes the guard with this group's policy and takes its path
    parameters from what API Gateway matched (`gui_core.routing`)."""

    # Async although the guard reads DynamoDB: a Lambda container serves one request at a time
    # (Mangum runs each invocation on its own loop), so blocking that loop delays nothing, while a
    # sync dependency would cost a worker-thread hop on every request.
    async def guarded(request: Request, caller: RequestContext = Depends(current_caller)) -> Tenant:  # noqa: B008
        guard: Guard = request.app.state.guard
        return guard.check(request, caller, policy)

    guarded.__name__ = f"guard_{policy.feature.replace('.', '_')}"
    router = APIRouter(
        prefix=prefix,
        tags=list(tags or [policy.feature]),
        dependencies=[Depends(guarded)],
        route_class=GatewayRoute,  # routed by the resource API Gateway matched (gui_core.routing)
    )
    router.guard_policy = policy  # type: ignore[attr-defined]  # read by the route-table tests
    return router


async def current_tenant(request: Request) -> Tenant:
    """The caller's tenant record, as the guard found it (routes of a group_router only)."""
    tenant: Tenant = request.scope[TENANT_KEY]
    return tenant
