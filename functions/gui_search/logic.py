"""Pure rules of the search group: which fields a caller may not see, and how a hit reads once
the tenant's license policy is applied."""

from __future__ import annotations

from collections.abc import Sequence
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


def masked_hits(
    hits: Sequence[Hit], tenant: Tenant, scopes: frozenset[str]
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The hits as the caller may read them, and the fields the license masked in any of them (the
    page is masked at once: the policy's paths are read once, not once a hit)."""
    masked = apply_license([hit.document for hit in hits], tenant.license, scopes, share_untouched=True)
    documents: list[dict[str, Any]] = masked.document
    return (
        [
            {
                **document,
                "id": hit.id,
                "kind": hit.kind,
                "score": hit.score,
                "highlights": [
                    {"field": h.field, "text": h.text, "ranges": [list(r) for r in h.ranges]}
                    for h in hit.highlights
                ],
            }
            for hit, document in zip(hits, documents, strict=True)
        ],
        masked.masked_fields,
    )
