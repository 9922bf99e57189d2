"""Routes of the preferences group. Each parses, calls one use case (`gui_preferences.use_cases`) and
answers its model, with its entity tag."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from fastapi import Depends, Header, Query, Request, Response, status

from gui_core import rbac
from gui_core.api_document import required_header
from gui_core.context import RequestContext
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.guard import GroupPolicy, group_router
from gui_preferences import use_cases
from gui_preferences.models import (
    PreferencesDocument,
    PreferenceValues,
    TenantPolicyDocument,
    TenantPolicyInput,
    View,
    ViewInput,
    ViewPage,
)
from gui_preferences.use_cases import PreferencesPorts, Tagged

PREFIX = "/service/gui/preferences"
router = group_router(prefix=PREFIX, policy=GroupPolicy("preferences"))
views_router = group_router(prefix=f"{PREFIX}/views", policy=GroupPolicy("preferences.views"))

User = Annotated[RequestContext, Depends(require_scope(rbac.PREFERENCES))]
Admin = Annotated[RequestContext, Depends(require_scope(rbac.ADMIN))]
IfMatch = Annotated[str | None, required_header("If-Match", "The ETag you read, or `*`; without it, 428.")]
OptionalIfMatch = Annotated[str | None, Header(alias="If-Match", description="The ETag you read; optional.")]


def _ports(request: Request) -> PreferencesPorts:
    ports: PreferencesPorts = request.app.state.ports
    return ports


Ports = Annotated[PreferencesPorts, Depends(_ports)]
Body = TypeVar("Body")


def _tagged(response: Response, answer: Tagged[Body]) -> Body:
    """The answer's body; its tag in the `ETag` header."""
    response.headers["ETag"] = answer.etag
    return answer.body


@router.get("", response_model=PreferencesDocument, summary="The caller's effective preferences")
def get_preferences(caller: User, ports: Ports, response: Response) -> PreferencesDocument:
    return _tagged(response, use_cases.read_preferences(ports, caller))


@router.put(
    "",
    response_model=PreferencesDocument,
    summary="Replace the caller's preferences",
    responses={403: {"description": "A locked key was changed"}, 412: {}, 428: {}},
)
def put_preferences(
    body: PreferenceValues, caller: User, ports: Ports, response: Response, if_match: IfMatch = None
) -> PreferencesDocument:
    return _tagged(response, use_cases.replace_preferences(ports, caller, body, if_match=if_match))


# -- tenant defaults and policy (admin) --------------------------------------------------------


@router.get("/tenant", response_model=TenantPolicyDocument, summary="Tenant defaults and policy")
def get_tenant_policy(caller: Admin, ports: Ports, response: Response) -> TenantPolicyDocument:
    return _tagged(response, use_cases.read_tenant_policy(ports, caller))


@router.put("/tenant", response_model=TenantPolicyDocument, summary="Replace tenant defaults and policy")
def put_tenant_policy(
    body: TenantPolicyInput, caller: Admin, ports: Ports, response: Response, if_match: IfMatch = None
) -> TenantPolicyDocument:
    return _tagged(response, use_cases.replace_tenant_policy(ports, caller, body, if_match=if_match))


@router.delete(
    "/users/{subject}", status_code=status.HTTP_204_NO_CONTENT, summary="Reset one user's preferences (admin)"
)
def reset_user(subject: str, caller: Admin, ports: Ports) -> Response:
    use_cases.reset_user(ports, caller, subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- saved views ------------------------------------------------------------------------------

_LIST_DESCRIPTION = """The caller's own views and the views shared with the tenant, oldest first.
`module` keeps one module's; `owner=me` keeps the caller's own (another value of `owner` is refused
with 422: another user's views are listed by nobody but their owner). The list is served from keys
kept with each view, so a page reads its views and one more, whatever the tenant holds;
`next_cursor` is set only when another view follows (a page with a cursor is never followed by an
empty one). Until the deploy's migration `0011_view_list_keys` and its second pass
`0013_view_list_keys_again` (run by the next deploy) are done, the list reads the tenant's views in
order and filters them instead (docs/decision_log.md)."""


@views_router.get(
    "",
    response_model=ViewPage,
    summary="Saved views: the caller's own and the tenant's shared",
    description=_LIST_DESCRIPTION,
)
def list_views(
    caller: User,
    ports: Ports,
    pages: PageCursors,
    module: Annotated[str | None, Query(description="Only views of this module.")] = None,
    owner: Annotated[
        Literal["me"] | None, Query(description="`me` for the caller's own views only (no other value).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> ViewPage:
    return use_cases.list_views(ports, caller, pages, module=module, owner=owner, limit=limit, cursor=cursor)


@views_router.post(
    "",
    response_model=View,
    status_code=status.HTTP_201_CREATED,
    summary="Create a saved view",
    responses={409: {"description": "The caller has a view of that module with that name"}},
)
def create_view(body: ViewInput, caller: User, ports: Ports, response: Response) -> View:
    view = _tagged(response, use_cases.create_view(ports, caller, body))
    response.headers["Location"] = f"{PREFIX}/views/{view.id}"
    return view


@views_router.get("/{view_id}", response_model=View, summary="Read a saved view")
def get_view(view_id: str, caller: User, ports: Ports, response: Response) -> View:
    return _tagged(response, use_cases.read_view(ports, caller, view_id))


@views_router.put("/{view_id}", response_model=View, summary="Replace a saved view (owner only)")
def put_view(
    view_id: str,
    body: ViewInput,
    caller: User,
    ports: Ports,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> View:
    return _tagged(response, use_cases.replace_view(ports, caller, view_id, body, if_match=if_match))


@views_router.delete(
    "/{view_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a saved view (owner, or an admin for shared views)",
)
def delete_view(view_id: str, caller: User, ports: Ports, if_match: OptionalIfMatch = None) -> Response:
    use_cases.delete_view(ports, caller, view_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
