"""CORS preflight of the REST API, as the stack renders it and the local gateway plays it.

API Gateway answers the preflight itself (a mock integration, no authorizer: by the CORS spec a
preflight carries no credentials, so it cannot carry a token). An allowlisted `Origin` gets 204
with the `Access-Control-Allow-*` headers; any other gets 403 as a problem document, with no
`Access-Control-Allow-Origin`. The answers to the real requests get their CORS headers from the
functions, which know the allowlist through GUI_CORS_ORIGINS.

API Gateway's own answers (401 from the authorizer, 403, 404, 413, 429, 5xx, 504) never reach a
function, so their CORS headers are the gateway responses' (`gateway_response_headers`): without
them a browser sees an opaque network error instead of a 401 it could refresh its token on, or a
429 it could back off from. A gateway response can only map a header from a literal or from a
request header, not choose by allowlist: with one allowed origin it names that origin; with several
it echoes the request's `Origin`. Those answers carry nothing of a tenant's (a problem document of
API Gateway's with a request id), and a browser only sends a non-simple request after a preflight,
which the mock still refuses for an origin off the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gui_core.errors import EXPOSED_HEADERS, problem_body
from stacks.manifest_model import Manifest

# What the GUI sends besides the CORS-safelisted headers: the bearer token, JSON bodies, the
# optimistic-concurrency precondition and the replay-protection key of mutations.
ALLOW_HEADERS = ("Authorization", "Content-Type", "If-Match", "Idempotency-Key")
MAX_AGE_S = 600  # browsers cap it anyway (Chromium at 7200 s); short so an allowlist change lands soon
PREFLIGHT_ALLOWED = 204
PREFLIGHT_REFUSED = 403
REFUSED_CODE = "cors_origin_not_allowed"
REFUSED_TITLE = "Origin not allowed"
REFUSED_DETAIL = "This origin may not call the API from a browser."
ORIGIN_FROM_REQUEST = "method.request.header.Origin"  # API Gateway's mapping expression


def preflight_paths(manifest: Manifest) -> dict[str, tuple[str, ...]]:
    """Every resource path that has routes -> its methods (with OPTIONS), in a stable order."""
    methods: dict[str, set[str]] = {}
    for route, _ in manifest.routes():
        methods.setdefault(route.full_path, set()).add(route.method)
    return {path: (*sorted(found), "OPTIONS") for path, found in sorted(methods.items())}


def allowed_headers(methods: Sequence[str]) -> dict[str, str]:
    """The headers of an allowed preflight answer, less the origin (echoed from the request)."""
    return {
        "Access-Control-Allow-Methods": ",".join(methods),
        "Access-Control-Allow-Headers": ",".join(ALLOW_HEADERS),
        "Access-Control-Max-Age": str(MAX_AGE_S),
        "Vary": "Origin",
    }


def refused_problem(request_id: str) -> dict[str, Any]:
    return problem_body(
        status=PREFLIGHT_REFUSED,
        code=REFUSED_CODE,
        title=REFUSED_TITLE,
        detail=REFUSED_DETAIL,
        request_id=request_id,
    )


def gateway_response_headers(origins: Sequence[str]) -> dict[str, str]:
    """The CORS headers of every gateway response of a stage allowing `origins`, as API Gateway
    mapping expressions: `'literal'` or `method.request.header.Origin` (`ORIGIN_FROM_REQUEST`).
    No origin allowed: no CORS header at all."""
    if not origins:
        return {}
    allow_origin = f"'{origins[0]}'" if len(origins) == 1 else ORIGIN_FROM_REQUEST
    return {
        "Access-Control-Allow-Origin": allow_origin,
        "Access-Control-Expose-Headers": f"'{', '.join(EXPOSED_HEADERS)}'",
        "Vary": "'Origin'",
    }
