"""CORS preflight of the REST API, as the stack renders it and the local gateway plays it.

API Gateway answers the preflight itself (a mock integration, no authorizer: by the CORS spec a
preflight carries no credentials, so it cannot carry a token). An allowlisted `Origin` gets 204
with the `Access-Control-Allow-*` headers; any other gets 403 as a problem document, with no
`Access-Control-Allow-Origin`. The answers to the real requests get their CORS headers from the
functions, which know the allowlist through GUI_CORS_ORIGINS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gui_core.errors import problem_body
from stacks.manifest import Manifest

# What the GUI sends besides the CORS-safelisted headers: the bearer token, JSON bodies, the
# optimistic-concurrency precondition and the replay-protection key of mutations.
ALLOW_HEADERS = ("Authorization", "Content-Type", "If-Match", "Idempotency-Key")
MAX_AGE_S = 600  # browsers cap it anyway (Chromium at 7200 s); short so an allowlist change lands soon
PREFLIGHT_ALLOWED = 204
PREFLIGHT_REFUSED = 403
REFUSED_CODE = "cors_origin_not_allowed"
REFUSED_TITLE = "Origin not allowed"
REFUSED_DETAIL = "This origin may not call the API from a browser."


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
