"""Pure rules of the preferences group: merging, policy locks and entity tags, and the group's errors."""

from __future__ import annotations

from typing import Any

from gui_core.errors import Forbidden, PreconditionFailed, PreconditionRequired

SYSTEM_DEFAULTS: dict[str, Any] = {
    "theme": "system",
    "locale": "en-US",
    "density": "comfortable",
    "default_filters": {},
    "pinned_dashboards": [],
}
_WHOLE_VALUE_KEYS = ("theme", "locale", "density", "pinned_dashboards")


class PreferenceLocked(Forbidden):
    code, title = "preference_locked", "A preference is locked by tenant policy"


class NotOwner(Forbidden):
    code, title = "not_owner", "Only the owner may change this resource"


def effective_preferences(
    defaults: dict[str, Any], overrides: dict[str, Any], locked_keys: list[str]
) -> dict[str, Any]:
    """User overrides over tenant defaults over system defaults; a locked key takes the tenant's."""
    locked = set(locked_keys)
    result: dict[str, Any] = {}
    for key in _WHOLE_VALUE_KEYS:
        value = SYSTEM_DEFAULTS[key]
        if defaults.get(key) is not None:
            value = defaults[key]
        if key not in locked and overrides.get(key) is not None:
            value = overrides[key]
        result[key] = value
    filters: dict[str, dict[str, Any]] = {
        m: dict(f) for m, f in (defaults.get("default_filters") or {}).items()
    }
    if "default_filters" not in locked:
        for module, module_filters in (overrides.get("default_filters") or {}).items():
            if f"default_filters.{module}" in locked:
                continue
            filters[module] = {**filters.get(module, {}), **module_filters}
    result["default_filters"] = filters
    return result


def _lock_value(document: dict[str, Any], key: str) -> Any:
    head, _, module = key.partition(".")
    value = document.get(head)
    if module:
        return (value or {}).get(module)
    return value


def changed_locked_keys(
    current: dict[str, Any], proposed: dict[str, Any], locked_keys: list[str]
) -> list[str]:
    """Locked keys whose override the proposal changes (setting, altering or removing it)."""
    return [key for key in sorted(locked_keys) if _lock_value(current, key) != _lock_value(proposed, key)]


def preferences_etag(user_version: int, tenant_version: int) -> str:
    """Strong tag of the effective document: it changes with the user's or the tenant's version."""
    return f'"p{user_version}.t{tenant_version}"'


def single_etag(prefix: str, version: int) -> str:
    return f'"{prefix}{version}"'


def require_match(if_match: str | None, current_etag: str, *, required: bool = True) -> None:
    """RFC 9110 If-Match with strong comparison; `*` matches any current representation."""
    if if_match is None or not if_match.strip():
        if required:
            raise PreconditionRequired("Send If-Match with the ETag you read.")
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or current_etag in tags:
        return
    raise PreconditionFailed("The ETag does not match the current version; read it again.")
