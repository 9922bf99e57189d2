"""Use cases of the preferences group: one function per operation, called by every door (REST today).

Each takes the group's ports and the caller, reads and writes through the repository, applies the
pure rules (`gui_preferences.logic`) and answers a model with the entity tag the door sends.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.cursors import Pages, position_id
from gui_core.dynamo import Page
from gui_core.errors import NotFound
from gui_core.key_pages import collect, first_and_cursor, first_matching, key_items, merged
from gui_core.migrations.gate import Gate
from gui_preferences.logic import (
    NotOwner,
    PreferenceLocked,
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
from gui_preferences.repository import (
    VIEW_KEYS_MIGRATION,
    VIEW_PREFIX,
    PreferencesRepository,
    now_iso,
    owned_prefix,
    shared_prefix,
    view_sk,
)

Body = TypeVar("Body")


@dataclass(frozen=True)
class PreferencesPorts:
    """What the preferences' use cases reach: the store, and the migration ledger (whether the views'
    list keys are written for a tenant, migration 0011)."""

    repository: PreferencesRepository
    gate: Gate


@dataclass(frozen=True)
class Tagged(Generic[Body]):
    """An answer and its entity tag (the `ETag` a door sends, the `If-Match` it takes back)."""

    body: Body
    etag: str


# -- the caller's preferences ---------------------------------------------------------------------


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


def read_preferences(ports: PreferencesPorts, caller: RequestContext) -> Tagged[PreferencesDocument]:
    user = ports.repository.user_preferences(caller.tenant, caller.subject)
    policy = ports.repository.tenant_policy(caller.tenant)
    return Tagged(_document(caller, user, policy), preferences_etag(*_versions(user, policy)))


def replace_preferences(
    ports: PreferencesPorts, caller: RequestContext, values: PreferenceValues, *, if_match: str | None
) -> Tagged[PreferencesDocument]:
    """The caller's overrides replaced, if the tag matches and no locked key changes."""
    repository = ports.repository
    user = repository.user_preferences(caller.tenant, caller.subject)
    policy = repository.tenant_policy(caller.tenant)
    user_version, tenant_version = _versions(user, policy)
    require_match(if_match, preferences_etag(user_version, tenant_version))
    proposed = values.model_dump(exclude_none=True)
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
    return Tagged(_document(caller, saved, policy), preferences_etag(int(saved["version"]), tenant_version))


# -- tenant defaults and policy (admin) --------------------------------------------------------


def _policy_document(tenant: str, policy: dict[str, Any] | None) -> Tagged[TenantPolicyDocument]:
    policy = policy or {}
    document = TenantPolicyDocument(
        tenant=tenant,
        defaults=PreferenceValues.model_validate(policy.get("defaults") or {}),
        locked_keys=list(policy.get("locked_keys") or []),
        version=int(policy.get("version", 0)),
        updated_at=policy.get("updated_at"),
        updated_by=policy.get("updated_by"),
    )
    return Tagged(document, single_etag("t", document.version))


def read_tenant_policy(ports: PreferencesPorts, caller: RequestContext) -> Tagged[TenantPolicyDocument]:
    return _policy_document(caller.tenant, ports.repository.tenant_policy(caller.tenant))


def replace_tenant_policy(
    ports: PreferencesPorts, caller: RequestContext, policy: TenantPolicyInput, *, if_match: str | None
) -> Tagged[TenantPolicyDocument]:
    """The tenant's defaults and locks replaced, if the tag matches (`*`: whatever is stored)."""
    current = ports.repository.tenant_policy(caller.tenant)
    version = int((current or {}).get("version", 0))
    require_match(if_match, single_etag("t", version))
    expected = None if if_match and if_match.strip() == "*" else version
    saved = ports.repository.save_tenant_policy(
        caller.tenant,
        policy.defaults.model_dump(exclude_none=True),
        policy.locked_keys,
        expected_version=expected,
        actor=caller.subject,
    )
    return _policy_document(caller.tenant, saved)


def reset_user(ports: PreferencesPorts, caller: RequestContext, subject: str) -> None:
    ports.repository.reset_user_preferences(caller.tenant, subject, actor=caller.subject)


# -- saved views ------------------------------------------------------------------------------


def _visible(view: Mapping[str, Any], caller: RequestContext) -> bool:
    return view.get("visibility") == "tenant" or view.get("owner") == caller.subject


def _load_view(repository: PreferencesRepository, caller: RequestContext, view_id: str) -> dict[str, Any]:
    view = repository.view(caller.tenant, view_id)
    if view is None or not _visible(view, caller):
        raise NotFound(f"No view {view_id!r}.")  # another user's private view is not revealed
    return view


def _new_view_id() -> str:
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(5)}"


def list_views(
    ports: PreferencesPorts,
    caller: RequestContext,
    pages: Pages,
    *,
    module: str | None,
    owner: Literal["me"] | None,
    limit: int,
    cursor: str | None,
) -> ViewPage:
    """The caller's own views and the tenant's shared ones, oldest first: from the list keys once
    migration 0011 is done for the tenant, from the tenant's views in order before."""
    repository = ports.repository
    after = position_id(pages.read(cursor), VIEW_PREFIX)
    mine = owner == "me"

    def wanted(view: Mapping[str, Any]) -> bool:
        # The view decides: a key item a release that did not know it left stale is skipped.
        return (
            _visible(view, caller)
            and (module is None or view.get("module") == module)
            and (not mine or view.get("owner") == caller.subject)
        )

    if not ports.gate.done(VIEW_KEYS_MIGRATION, caller.tenant):
        return _scanned(repository, caller.tenant, pages, wanted, after=after, limit=limit)
    prefixes = [owned_prefix(caller.subject, module)]
    if not mine:
        prefixes.append(shared_prefix(module))

    def reader(prefix: str) -> Iterator[dict[str, Any]]:
        def read(start: Mapping[str, Any] | None, count: int) -> Page:
            return repository.view_keys_page(caller.tenant, prefix, after=after, start_key=start, limit=count)

        return key_items(read, start=None, chunk=limit + 1)

    collected = collect(
        merged([reader(p) for p in prefixes], order=lambda key: quote(str(key["view_id"]), safe="")),
        fetch=lambda batch: repository.views(caller.tenant, [str(k["view_id"]) for k in batch]),
        name=lambda key: str(key["view_id"]),
        accept=lambda _key, view: wanted(view),
        want=limit + 1,
    )
    return _views_page([view for _, view in collected.found], limit, pages)


def _views_page(views: list[dict[str, Any]], limit: int, pages: Pages) -> ViewPage:
    """The first `limit` views; a cursor only when one more was found."""
    shown, next_cursor = first_and_cursor(views, limit, pages)
    return ViewPage(items=[View.model_validate(v) for v in shown], next_cursor=next_cursor)


def _scanned(
    repository: PreferencesRepository,
    tenant: str,
    pages: Pages,
    wanted: Callable[[Mapping[str, Any]], bool],
    *,
    after: str | None,
    limit: int,
) -> ViewPage:
    """The path before the key items (until migration 0011 is done for the tenant): the tenant's
    views in order, filtered here. It reads as many views as lie between two it shows."""
    first = {"pk": tenant, "sk": view_sk(after)} if after is not None else None

    def read(start: Mapping[str, Any] | None, count: int) -> Page:
        items, last_key = repository.views_page(tenant, start_key=start or first, limit=count)
        return Page(items, last_key)

    return _views_page(first_matching(read, wanted, want=limit + 1), limit, pages)


def create_view(ports: PreferencesPorts, caller: RequestContext, view: ViewInput) -> Tagged[View]:
    """A new view of the caller's (the repository refuses a second one of a module with that name)."""
    at = now_iso()
    record = {
        **view.model_dump(),
        "id": _new_view_id(),
        "owner": caller.subject,
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }
    ports.repository.create_view(caller.tenant, record)
    return Tagged(View.model_validate(record), single_etag("v", 1))


def read_view(ports: PreferencesPorts, caller: RequestContext, view_id: str) -> Tagged[View]:
    view = _load_view(ports.repository, caller, view_id)
    return Tagged(View.model_validate(view), single_etag("v", int(view["version"])))


def replace_view(
    ports: PreferencesPorts, caller: RequestContext, view_id: str, view: ViewInput, *, if_match: str | None
) -> Tagged[View]:
    """The view replaced by its owner (the tag, when sent, must match)."""
    old = _load_view(ports.repository, caller, view_id)
    if old["owner"] != caller.subject:
        raise NotOwner("Only the owner may change a view.")
    require_match(if_match, single_etag("v", int(old["version"])), required=False)
    new = {**old, **view.model_dump(), "version": int(old["version"]) + 1, "updated_at": now_iso()}
    for key in ("pk", "sk", "kind"):
        new.pop(key, None)
    ports.repository.replace_view(caller.tenant, old, new)
    return Tagged(View.model_validate(new), single_etag("v", new["version"]))


def delete_view(
    ports: PreferencesPorts, caller: RequestContext, view_id: str, *, if_match: str | None
) -> None:
    """The view deleted by its owner, or by a tenant admin (the tag, when sent, must match)."""
    view = _load_view(ports.repository, caller, view_id)
    if view["owner"] != caller.subject and not caller.has_scope(rbac.ADMIN):
        raise NotOwner("Only the owner or a tenant admin may delete a view.")
    require_match(if_match, single_etag("v", int(view["version"])), required=False)
    ports.repository.delete_view(caller.tenant, view)
