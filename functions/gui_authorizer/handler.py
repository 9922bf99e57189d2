"""REQUEST authorizer of the REST API and of the WebSocket API's `$connect`: verifies the bearer
token or redeems a stream ticket, answers an Allow policy with context.

The credential is the `Authorization` header's bearer token, or a single-use stream ticket as
`?ticket=` (EventSource, WebSocket `$connect`: gui_core.stream_tickets), or a token as the second
value of `Sec-WebSocket-Protocol` (`ddgui.v1, <jwt>`: browsers cannot set headers on a WebSocket);
exactly one of them, never a token in the URL, and where the answer is cached only the header
(gui_authorizer.identity). Imports neither boto3 nor FastAPI at cold start: it runs in front of
every request, and only a ticket needs the store. A refused credential raises
`Exception("Unauthorized")`, which API Gateway turns into its UNAUTHORIZED response (401). When no
verdict can be given (the identity provider's key set cannot be fetched and none recent is kept,
or the ticket store cannot be asked) it raises `AuthorizerUnavailable`: API Gateway answers its
AUTHORIZER_FAILURE response, so the client retries instead of signing the user out.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from gui_authorizer.identity import Bearer, Ticket, presented
    from gui_authorizer.metrics import counted
    from gui_authorizer.policy import allow
    from gui_authorizer.settings import AuthorizerSettings
    from gui_authorizer.tickets import TicketRedeemer
    from gui_core.context import authorizer_context
    from gui_core.lean_log import LeanLogger
    from gui_core.tokens import Principal, TokenError, TokenVerifier, Unverifiable, key_source

    if TYPE_CHECKING:
        from gui_core.tokens import FetchFailure

    logger = LeanLogger()  # Powertools' line shape without its import (gui_core.lean_log)

    def _fetch_failed(failure: FetchFailure) -> None:
        from gui_core.metric_names import AuthorizerMetric  # an outage's path, not the cold start's

        details = {
            "error": failure.error,
            "failures": failure.failures,
            "retry_in_s": failure.retry_in_s,
            "keys_age_s": failure.keys_age_s,
        }
        logger.warning(
            "jwks fetch failed", extra={**details, **counted(AuthorizerMetric.JWKS_FETCH_FAILURES)}
        )

    settings = AuthorizerSettings.from_environ(os.environ)
    verifier = TokenVerifier(
        key_source(jwks_json=settings.jwks_json, jwks_url=settings.jwks_url, on_fetch_failure=_fetch_failed),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_s=settings.leeway_s,
    )
    tickets = TicketRedeemer(table_name=settings.tickets_table, region=settings.region)


class AuthorizerUnavailable(Exception):
    """No verdict can be given now; anything but "Unauthorized" is API Gateway's AUTHORIZER_FAILURE."""


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        credential = presented(event)
        principal = _redeem(credential) if isinstance(credential, Ticket) else _verify(credential)
    except TokenError as exc:
        logger.info("credential refused", extra={"reason": exc.reason})
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the contract API Gateway reads
    except Unverifiable as exc:
        from gui_core.metric_names import AuthorizerMetric  # an outage's path, not the cold start's

        # An outage, not a bug of this function: no traceback, the reason says what failed.
        logger.error(  # noqa: TRY400
            "cannot verify tokens now", extra={"reason": exc.reason, **counted(AuthorizerMetric.UNAVAILABLE)}
        )
        raise AuthorizerUnavailable("cannot verify tokens now") from None
    logger.append_keys(tenant=principal.tenant)
    by_ticket = isinstance(credential, Ticket)
    logger.info("ticket redeemed" if by_ticket else "token accepted", extra={"subject": principal.subject})
    return allow(
        principal.subject,
        event["methodArn"],
        authorizer_context(principal, settings.region),
        whole_stage=not by_ticket,  # a ticket's answer serves this one request: never cached
    )


def _verify(credential: Bearer) -> Principal:
    return verifier.verify(credential.token)


def _redeem(credential: Ticket) -> Principal:
    grant = tickets.redeem(credential.tenant, credential.ticket)
    if grant is None:
        raise TokenError("unknown, spent or expired ticket")
    if not set(credential.channels) <= set(grant.channels):
        raise TokenError(f"ticket for {list(grant.channels)}, not {list(credential.channels)}")
    if grant.token_expires_at + settings.leeway_s < time.time():
        raise TokenError("the token the ticket was issued for has expired")
    return Principal(
        tenant=grant.tenant,
        subject=grant.subject,
        scopes=grant.scopes,
        roles=grant.roles,
        token_id=grant.token_id,
        issued_at=0,
        expires_at=grant.token_expires_at,
    )
