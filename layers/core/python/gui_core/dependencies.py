"""FastAPI dependencies: the caller, the scope a route demands, the tenant named in a request, the
paging of a paged route."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from gui_core.context import CONTEXT_KEY, RequestContext
from gui_core.cursors import CURSOR_PATTERN, MAX_CURSOR_CHARS, CursorPlace, Cursors, Pages
from gui_core.errors import InsufficientScope, TenantMismatch, Unauthorized


async def current_caller(request: Request) -> RequestContext:
    """The verified caller. API Gateway may serve a cached authorizer answer for a few minutes,
    so the token's expiry is checked again here. Async, like every dependency here: FastAPI runs a
    sync dependency in a worker thread, a hop that costs more than the check."""
    caller: RequestContext | None = request.scope.get(CONTEXT_KEY)
    if caller is None:
        raise Unauthorized("No verified caller in the request.")
    until = caller.served_until()
    if until is not None and until < time.time():
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


async def current_pages(request: Request, caller: Caller) -> Pages:
    """The paging of a paged route: its cursors belong to the route, the caller's tenant and the
    request's filters (gui_core.cursors)."""
    cursors: Cursors = request.app.state.cursors
    return Pages(cursors, CursorPlace.of(request, tenant=caller.tenant))


PageCursors = Annotated[Pages, Depends(current_pages)]
CURSOR_DESCRIPTION = (
    "The `next_cursor` of the previous page, as it came: the same request with it (any page size) "
    "gives the next page. A cursor of another list, tenant or query is 400 `invalid_cursor`."
)


def cursor_query(description: str = CURSOR_DESCRIPTION) -> Any:
    """The `cursor` query parameter of a paged route. Its pattern is documented, not checked here:
    whatever is not a cursor this route issued, well formed or not, is 400 `invalid_cursor`."""
    return Query(
        max_length=MAX_CURSOR_CHARS, description=description, json_schema_extra={"pattern": CURSOR_PATTERN}
    )


CursorQuery = Annotated[str | None, cursor_query()]
