"""Pure rules of the admin group: the audit trail's time bounds, the tenant's entity tag and the
If-Match it takes back, the flags an admin may not turn off, and the tenant as an admin reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_admin.models import TenantDocument
from gui_core.errors import PreconditionFailed, PreconditionRequired, ValidationFailed
from gui_core.rate_limit import DEFAULT_LIMITS, limit_for

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from gui_core.tenancy import Tenant

# The admin feature cannot be turned off through the API: it is the way back.
PROTECTED_FLAGS = frozenset({"admin"})


def audit_bounds(start: datetime | None, end: datetime | None) -> tuple[str, str]:
    """The sort-key range of the audit records between two times, both inclusive (either open)."""
    if start and end and start > end:
        raise ValidationFailed("`from` is after `to`.", errors=[{"pointer": "/from", "message": "after to"}])
    # Records are keyed `<ISO time>#<request id>`: "0" sorts before and "~" after any such key.
    return _iso(start, "0"), _iso(end, "~") + "~"


def _iso(value: datetime | None, default: str) -> str:
    return value.isoformat(timespec="microseconds") if value else default


def etag(version: int) -> str:
    """The tenant record's entity tag (`ETag`) at a version."""
    return f'"r{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """A change of the tenant needs the ETag it was read at (or `*`): 428 without one, 412 for another."""
    if not if_match:
        raise PreconditionRequired("Send If-Match with the ETag of GET /service/gui/admin/tenant.")
    if if_match.strip() != "*" and etag(version) not in [t.strip() for t in if_match.split(",")]:
        raise PreconditionFailed("The tenant changed since it was read; read it again.")


def check_protected(flags: Mapping[str, bool]) -> None:
    """422 when the flags turn off a feature that may not be turned off (PROTECTED_FLAGS)."""
    turned_off = sorted(name for name, on in flags.items() if not on and name in PROTECTED_FLAGS)
    if turned_off:
        raise ValidationFailed(
            "The admin feature cannot be turned off.",
            errors=[{"pointer": f"/flags/{n}", "message": "protected"} for n in turned_off],
        )


def tenant_document(tenant: Tenant) -> TenantDocument:
    """The tenant with its effective rate limit for every route class (its plan's, or its override)."""
    classes = sorted({*DEFAULT_LIMITS, *tenant.rate_limits})
    return TenantDocument(
        tenant=tenant.id,
        name=tenant.name,
        home_region=tenant.home_region,
        plan=tenant.plan,
        flags=dict(tenant.flags),
        rate_limits={c: limit_for(c, plan=tenant.plan, overrides=tenant.rate_limits) for c in classes},
        license_tag=tenant.license.license_tag,
        version=tenant.version,
    )
