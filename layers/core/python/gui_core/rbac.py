"""Roles and scopes. A token carries roles, scopes, or both; the effective scopes are the union."""

from __future__ import annotations

from collections.abc import Iterable

DASHBOARD = "gui:dashboard"
ARTIFACTS = "gui:artifacts"
JOBS = "gui:jobs"
NOTIFICATIONS = "gui:notifications"
PREFERENCES = "gui:preferences"
SEARCH = "gui:search"
ADMIN = "gui:admin"
LICENSE_RESTRICTED = "gui:license:restricted"

ALL_SCOPES = frozenset(
    {DASHBOARD, ARTIFACTS, JOBS, NOTIFICATIONS, PREFERENCES, SEARCH, ADMIN, LICENSE_RESTRICTED}
)

_VIEWER = frozenset({DASHBOARD, ARTIFACTS, NOTIFICATIONS, PREFERENCES, SEARCH})
_OPERATOR = _VIEWER | {JOBS}
_ADMIN = _OPERATOR | {ADMIN}

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "operator": _OPERATOR,
    "admin": _ADMIN,
}


def effective_scopes(scopes: Iterable[str], roles: Iterable[str]) -> frozenset[str]:
    """Known scopes named directly, plus those of known roles; unknown names grant nothing."""
    granted = {s for s in scopes if s in ALL_SCOPES}
    for role in roles:
        granted |= ROLE_SCOPES.get(role, frozenset())
    return frozenset(granted)
