"""Routes of the preferences group. Each parses, calls the repository and the pure rules, answers."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response, status

from gui_core import rbac
from gui_core.api_document import required_header
from gui_core.context import RequestContext
from gui_core.cursors import position_text
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.errors import NotFound, NotOwner, PreferenceLocked
from gui_core.guard import GroupPolicy, group_router
from gui_preferences.logic import (
    changed_locked_keys,
    effective_preferences,
    preferences_etag,
    require_match,
    single_etag,
)
from gui_preferences.models import (
    PreferencesDocument,
    PreferenceValues,
    TenantPolicyDocument,
    TenantPolicyInput,
    View,
    ViewInput,
    ViewPage,
)
from gui_preferences.repository import PreferencesRepository, now_iso

PREFIX = "/service/gui/preferences"
router = group_router(prefix=PREFIX, policy=GroupPolicy("preferences"))
views_router = group_router(prefix=f"{PREFIX}/views", policy=GroupPolicy("preferences.views"))

User = Annotated[RequestContext, Depends(require_scope(rbac.PREFERENCES))]
Admin = Annotated[RequestContext, Depends(require_scope(rbac.ADMIN))]
IfMatch = Annotated[str | None, required_header("If-Match", "The ETag you read, or `*`; without it, 428.")]
OptionalIfMatch = Annotated[str | None, Header(alias="If-Match", description="The ETag you read; optional.")]


def _repository(request: Request) -> PreferencesRepository:
    repository: PreferencesRepository = request.app.state.repository
    return repository


Repository = Annotated[PreferencesRepository, Depends(_repository)]


def _dump(model: PreferenceValues) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


def _document(
    caller: RequestContext, user: dict[str, Any] | None, policy: dict[str, Any] | None
) -> PreferencesDocument:
    defaults = (policy or {}).get("defaults") or {}
    locked = (policy or {}).get("locked_keys") or []
    overrides = (user or {}).get("overrides") or {}
    return PreferencesDocument(
        tenant=caller.tenant,
        subject=caller.subject,
        effective=effective_preferences(defaults, overrides, locked),  # type: ignore[arg-type]
        overrides=PreferenceValues.model_validate(overrides),
        defaults=PreferenceValues.model_validate(defaults),
        locked_keys=list(locked),
        version=int((user or {}).get("version", 0)),
        updated_at=(user or {}).get("updated_at"),
    )


def _versions(user: dict[str, Any] | None, policy: dict[str, Any] | None) -> tuple[int, int]:
    return int((user or {}).get("version", 0)), int((policy or {}).get("version", 0))


@router.get("", response_model=PreferencesDocument, summary="The caller's effective preferences")
def get_preferences(caller: User, repository: Repository, response: Response) -> PreferencesDocument:
    user = repository.user_preferences(caller.tenant, caller.subject)
    policy = repository.tenant_policy(caller.tenant)
    response.headers["ETag"] = preferences_etag(*_versions(user, policy))
    return _document(caller, user, policy)


@router.put(
    "",
    response_model=PreferencesDocument,
    summary="Replace the caller's preferences",
    responses={403: {"description": "A locked key was changed"}, 412: {}, 428: {}},
)
def put_preferences(
    body: PreferenceValues, caller: User, repository: Repository, response: Response, if_match: IfMatch = None
) -> PreferencesDocument:
    user = repository.user_preferences(caller.tenant, caller.subject)
    policy = repository.tenant_policy(caller.tenant)
    user_version, tenant_version = _versions(user, policy)
    require_match(if_match, preferences_etag(user_version, tenant_version))
    proposed = _dump(body)
    locked = (policy or {}).get("locked_keys") or []
    changed = changed_locked_keys((user or {}).get("overrides") or {}, proposed, locked)
    if changed:
        raise PreferenceLocked(
            f"The tenant policy locks {', '.join(changed)}.", key=changed[0], locked_keys=changed
        )
    saved = repository.save_user_preferences(
        caller.tenant,
        caller.subject,
        proposed,
        expected_version=user_version,
        tenant_version=tenant_version,
        actor=caller.subject,
        reason="user_update",
    )
    response.headers["ETag"] = preferences_etag(int(saved["version"]), tenant_version)
    return _document(caller, saved, policy)


# -- tenant defaults and policy (admin) --------------------------------------------------------


def _policy_document(tenant: str, policy: dict[str, Any] | None) -> TenantPolicyDocument:
    policy = policy or {}
    return TenantPolicyDocument(
        tenant=tenant,
        defaults=PreferenceValues.model_validate(policy.get("defaults") or {}),
        locked_keys=list(policy.get("locked_keys") or []),
        version=int(policy.get("version", 0)),
        updated_at=policy.get("updated_at"),
        updated_by=policy.get("updated_by"),
    )


@router.get("/tenant", response_model=TenantPolicyDocument, summary="Tenant defaults and policy")
def get_tenant_policy(caller: Admin, repository: Repository, response: Response) -> TenantPolicyDocument:
    document = _policy_document(caller.tenant, repository.tenant_policy(caller.tenant))
    response.headers["ETag"] = single_etag("t", document.version)
    return document


@router.put("/tenant", response_model=TenantPolicyDocument, summary="Replace tenant defaults and policy")
def put_tenant_policy(
    body: TenantPolicyInput,
    caller: Admin,
    repository: Repository,
    response: Response,
    if_match: IfMatch = None,
) -> TenantPolicyDocument:
    current = repository.tenant_policy(caller.tenant)
    version = int((current or {}).get("version", 0))
    require_match(if_match, single_etag("t", version))
    expected = None if if_match and if_match.strip() == "*" else version
    saved = repository.save_tenant_policy(
        caller.tenant, _dump(body.defaults), body.locked_keys, expected_version=expected, actor=caller.subject
    )
    document = _policy_document(caller.tenant, saved)
    response.headers["ETag"] = single_etag("t", document.version)
    return document


@router.delete(
    "/users/{subject}", status_code=status.HTTP_204_NO_CONTENT, summary="Reset one user's preferences (admin)"
)
def reset_user(subject: str, caller: Admin, repository: Repository) -> Response:
    repository.reset_user_preferences(caller.tenant, subject, actor=caller.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- saved views ------------------------------------------------------------------------------


def _visible(view: dict[str, Any], caller: RequestContext) -> bool:
    return view.get("visibility") == "tenant" or view.get("owner") == caller.subject


def _load_view(repository: PreferencesRepository, caller: RequestContext, view_id: str) -> dict[str, Any]:
    view = repository.view(caller.tenant, view_id)
    if view is None or not _visible(view, caller):
        raise NotFound(f"No view {view_id!r}.")  # another user's private view is not revealed
    return view


def _new_view_id() -> str:
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(5)}"


@views_router.get(
    "", response_model=ViewPage, summary="Saved views: the caller's own and the tenant's shared"
)
def list_views(
    caller: User,
    repository: Repository,
    pages: PageCursors,
    module: Annotated[str | None, Query(description="Only views of this module.")] = None,
    owner: Annotated[str | None, Query(description="`me` for the caller's own views only.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorQuery = None,
) -> ViewPage:
    position = pages.read(cursor)
    start_key = {"pk": caller.tenant, "sk": position_text(position, "sk")} if position else None
    found: list[View] = []
    while True:
        items, last_key = repository.views_page(caller.tenant, start_key=start_key, limit=limit)
        for item in items:
            if not _visible(item, caller) or (module and item.get("module") != module):
                continue
            if owner == "me" and item.get("owner") != caller.subject:
                continue
            found.append(View.model_validate(item))
            if len(found) == limit:
                more = item is not items[-1] or last_key is not None
                return ViewPage(
                    items=found,
                    next_cursor=pages.issue({"sk": item["sk"]}) if more else None,
                )
        if last_key is None:
            return ViewPage(items=found, next_cursor=None)
        start_key = last_key


@views_router.post(
    "",
    response_model=View,
    status_code=status.HTTP_201_CREATED,
    summary="Create a saved view",
    responses={409: {"description": "The caller has a view of that module with that name"}},
)
def create_view(body: ViewInput, caller: User, repository: Repository, response: Response) -> View:
    at = now_iso()
    view = {
        **body.model_dump(),
        "id": _new_view_id(),
        "owner": caller.subject,
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }
    repository.create_view(caller.tenant, view)
    response.headers["ETag"] = single_etag("v", 1)
    response.headers["Location"] = f"{PREFIX}/views/{view['id']}"
    return View.model_validate(view)


@views_router.get("/{view_id}", response_model=View, summary="Read a saved view")
def get_view(view_id: str, caller: User, repository: Repository, response: Response) -> View:
    view = _load_view(repository, caller, view_id)
    response.headers["ETag"] = single_etag("v", int(view["version"]))
    return View.model_validate(view)


@views_router.put("/{view_id}", response_model=View, summary="Replace a saved view (owner only)")
def put_view(
    view_id: str,
    body: ViewInput,
    caller: User,
    repository: Repository,
    response: Response,
    if_match: OptionalIfMatch = None,
) -> View:
    old = _load_view(repository, caller, view_id)
    if old["owner"] != caller.subject:
        raise NotOwner("Only the owner may change a view.")
    require_match(if_match, single_etag("v", int(old["version"])), required=False)
    new = {**old, **body.model_dump(), "version": int(old["version"]) + 1, "updated_at": now_iso()}
    for key in ("pk", "sk", "kind"):
        new.pop(key, None)
    repository.replace_view(caller.tenant, old, new)
    response.headers["ETag"] = single_etag("v", new["version"])
    return View.model_validate(new)


@views_router.delete(
    "/{view_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a saved view (owner, or an admin for shared views)",
)
def delete_view(
    view_id: str, caller: User, repository: Repository, if_match: OptionalIfMatch = None
) -> Response:
    view = _load_view(repository, caller, view_id)
    if view["owner"] != caller.subject and not caller.has_scope(rbac.ADMIN):
        raise NotOwner("Only the owner or a tenant admin may delete a view.")
    require_match(if_match, single_etag("v", int(view["version"])), required=False)
    repository.delete_view(caller.tenant, view)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
