"""Pure rules of the search group: which fields a caller may not see, and how a hit reads once
the tenant's license policy is applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gui_core import rbac
from gui_core.masking import apply_license
from gui_search.query import MAX_OFFSET

if TYPE_CHECKING:
    from gui_core.tenancy import Tenant
    from gui_search.index import Hit

MAX_RESULTS = MAX_OFFSET  # pages reach as far as the index takes an offset; a GUI refines the query before


def hidden_fields(tenant: Tenant, scopes: frozenset[str]) -> frozenset[str]:
    """The top-level fields the tenant's policy restricts, when the caller may not see them."""
    if rbac.LICENSE_RESTRICTED in scopes:
        return frozenset()
    return frozenset(path.split(".", 1)[0] for path in tenant.license.restricted)


def masked_hit(hit: Hit, tenant: Tenant, scopes: frozenset[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The hit as the caller may read it, and the fields the license masked in it."""
    masked = apply_license(hit.document, tenant.license, scopes, share_untouched=True)
    document: dict[str, Any] = masked.document
    return (
        {
            **document,
            "id": hit.id,
            "kind": hit.kind,
            "score": hit.score,
            "highlights": [
                {"field": h.field, "text": h.text, "ranges": [list(r) for r in h.ranges]}
                for h in hit.highlights
            ],
        },
        masked.masked_fields,
    )
