"""The request context: who calls, for which tenant, from which region, under which ids.

The authorizer encodes a verified principal into API Gateway's authorizer context (string, number
and boolean values only); the functions decode it. The functions never read identity from headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the functions decode contexts without importing PyJWT
    from gui_core.tokens import Principal


# Keys under which the shared middleware leaves its findings in the ASGI scope.
CONTEXT_KEY = "gui.context"
REQUEST_ID_KEY = "gui.request_id"
# The clock leeway every check of a token's expiry after the authorizer grants (the REST guard, the
# WebSocket connection and its messages, the SSE hold), so that none refuses what another admitted.
EXPIRY_LEEWAY_S = 30


@dataclass(frozen=True)
class RequestContext:
    tenant: str
    subject: str
    scopes: frozenset[str]
    roles: tuple[str, ...]
    region: str
    request_id: str
    trace_id: str | None
    token_id: str | None
    expires_at: int

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def served_until(self) -> int | None:
        """The last moment the caller's token is served: its expiry plus the leeway; None: no expiry."""
        return self.expires_at + EXPIRY_LEEWAY_S if self.expires_at else None


def authorizer_context(principal: Principal, region: str) -> dict[str, str | int]:
    return {
        "tenant": principal.tenant,
        "subject": principal.subject,
        "scopes": " ".join(sorted(principal.scopes)),
        "roles": " ".join(principal.roles),
        "region": region,
        "token_id": principal.token_id or "",
        "expires_at": principal.expires_at,
    }


def request_context(
    authorizer: Mapping[str, Any] | None,
    *,
    request_id: str,
    trace_id: str | None,
) -> RequestContext | None:
    """Decode the authorizer context of a REST proxy event; None when there is none."""
    if not authorizer or not authorizer.get("tenant") or not authorizer.get("subject"):
        return None
    return RequestContext(
        tenant=str(authorizer["tenant"]),
        subject=str(authorizer["subject"]),
        scopes=frozenset(str(authorizer.get("scopes", "")).split()),
        roles=tuple(str(authorizer.get("roles", "")).split()),
        region=str(authorizer.get("region", "")),
        request_id=request_id,
        trace_id=trace_id,
        token_id=str(authorizer.get("token_id") or "") or None,
        expires_at=int(authorizer.get("expires_at") or 0),
    )
