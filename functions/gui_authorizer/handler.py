"""REQUEST authorizer of the REST API and of the WebSocket API's `$connect`: verifies the bearer
token, answers an Allow policy with context.

The token comes from the `Authorization` header (REST), else the `token` query parameter (the
REST routes whose identity source it is, e.g. SSE for EventSource; WebSocket `$connect`), else the
second value of `Sec-WebSocket-Protocol` (`ddgui.v1, <jwt>`: browsers cannot set headers on a
WebSocket). Imports neither boto3 nor FastAPI: it runs in front of every request. A refused token
raises `Exception("Unauthorized")`, which API Gateway turns into its UNAUTHORIZED response (401).
"""

from __future__ import annotations

import os
from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_authorizer.identity import presented_token
    from gui_authorizer.policy import allow
    from gui_authorizer.settings import AuthorizerSettings
    from gui_core.context import authorizer_context
    from gui_core.lean_log import LeanLogger
    from gui_core.tokens import TokenError, TokenVerifier, key_source

    settings = AuthorizerSettings.from_environ(os.environ)
    verifier = TokenVerifier(
        key_source(jwks_json=settings.jwks_json, jwks_url=settings.jwks_url),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_s=settings.leeway_s,
    )
    logger = LeanLogger()  # Powertools' line shape without its import (gui_core.lean_log)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        principal = verifier.verify(presented_token(event))
    except TokenError as exc:
        logger.info("token refused", extra={"reason": exc.reason})
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the contract API Gateway reads
    logger.append_keys(tenant=principal.tenant)
    logger.info("token accepted", extra={"subject": principal.subject})
    return allow(principal.subject, event["methodArn"], authorizer_context(principal, settings.region))
