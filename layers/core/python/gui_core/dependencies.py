"""FastAPI dependencies: the caller, the scope a route demands, the tenant named in a request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from gui_core.context import CONTEXT_KEY, RequestContext
from gui_core.errors import InsufficientScope, TenantMismatch, Unauthorized

EXPIRY_LEEWAY_S = 30


async def current_caller(request: Request) -> RequestContext:
    """The verified caller. API Gateway may serve a cached authorizer answer for a few minutes,
    so the token's expiry is checked again here. Async, like every dependency here: FastAPI runs a
    sync dependency in a worker thread, a hop that costs more than the check."""
    caller: RequestContext | None = request.scope.get(CONTEXT_KEY)
    if caller is None:
        raise Unauthorized("No verified caller in the request.")
    if caller.expires_at and caller.expires_at + EXPIRY_LEEWAY_S < time.time():
        raise Unauthorized("The token has expired.")
    named = request.path_params.get("tenant") or request.query_params.get("tenant")
    if named is not None and named != caller.tenant:
        raise TenantMismatch("The request names another tenant.")
    return caller


Caller = Annotated[RequestContext, Depends(current_caller)]


def require_scope(scope: str) -> Callable[[RequestContext], Awaitable[RequestContext]]:
    async def dependency(caller: Caller) -> RequestContext:
        if not caller.has_scope(scope):
            raise InsufficientScope(f"This route needs the scope {scope}.", required_scope=scope)
        return caller

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def scoped(scope: str) -> type[RequestContext]:
    """`Annotated` alias of a caller holding `scope`, for route signatures."""
    return Annotated[RequestContext, Depends(require_scope(scope))]  # type: ignore[return-value]
