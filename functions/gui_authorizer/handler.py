"""REQUEST authorizer of the REST API and of the WebSocket API's `$connect`: verifies the bearer
token, answers an Allow policy with context.

The token comes from the `Authorization` header (REST), else the `token` query parameter (the
REST routes whose identity source it is, e.g. SSE for EventSource; WebSocket `$connect`), else the
second value of `Sec-WebSocket-Protocol` (`ddgui.v1, <jwt>`: browsers cannot set headers on a
WebSocket). Imports
neither boto3 nor FastAPI: it runs in front of every request. A refused token raises
`Exception("Unauthorized")`, which API Gateway turns into its UNAUTHORIZED response (401). When no
verdict can be given (the identity provider's key set cannot be fetched and none recent is kept)
it raises `AuthorizerUnavailable`: API Gateway answers its AUTHORIZER_FAILURE response, so the
client retries instead of signing the user out.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_authorizer.identity import presented_token
    from gui_authorizer.metrics import counted
    from gui_authorizer.policy import allow
    from gui_authorizer.settings import AuthorizerSettings
    from gui_core.context import authorizer_context
    from gui_core.lean_log import LeanLogger
    from gui_core.tokens import KeysUnavailable, TokenError, TokenVerifier, key_source

    if TYPE_CHECKING:
        from gui_core.tokens import FetchFailure

    logger = LeanLogger()  # Powertools' line shape without its import (gui_core.lean_log)

    def _fetch_failed(failure: FetchFailure) -> None:
        details = {
            "error": failure.error,
            "failures": failure.failures,
            "retry_in_s": failure.retry_in_s,
            "keys_age_s": failure.keys_age_s,
        }
        logger.warning("jwks fetch failed", extra={**details, **counted("JwksFetchFailures")})

    settings = AuthorizerSettings.from_environ(os.environ)
    verifier = TokenVerifier(
        key_source(jwks_json=settings.jwks_json, jwks_url=settings.jwks_url, on_fetch_failure=_fetch_failed),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_s=settings.leeway_s,
    )


class AuthorizerUnavailable(Exception):
    """No verdict can be given now; anything but "Unauthorized" is API Gateway's AUTHORIZER_FAILURE."""


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        principal = verifier.verify(presented_token(event))
    except TokenError as exc:
        logger.info("token refused", extra={"reason": exc.reason})
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the contract API Gateway reads
    except KeysUnavailable as exc:
        # An outage, not a bug of this function: no traceback, the reason says what failed.
        logger.error(  # noqa: TRY400
            "cannot verify tokens now", extra={"reason": exc.reason, **counted("AuthorizerUnavailable")}
        )
        raise AuthorizerUnavailable("cannot verify tokens now") from None
    logger.append_keys(tenant=principal.tenant)
    logger.info("token accepted", extra={"subject": principal.subject})
    return allow(principal.subject, event["methodArn"], authorizer_context(principal, settings.region))
