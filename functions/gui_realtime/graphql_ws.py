"""GraphQL subscriptions over the WebSocket API: the `graphql-transport-ws` protocol
(github.com/enisdenjo/graphql-ws, PROTOCOL.md) on the live channels.

A client that offers the subprotocol `graphql-transport-ws` at the handshake gets it (`$connect`).
Its messages carry `type`, not `action`, so API Gateway routes them to `$default`, and the
service hands them here. The same checks run as for the live protocol's messages (the caller,
the tenant, the connection's and the tenant's message limits, the connection registered), then:

- `connection_init` -> `connection_ack`. Its payload may name the last cursor the client applied
  per channel (`{"cursors": {"jobs": "<cursor>"}}`): a client that reconnects (graphql-ws calls
  `connectionParams` again on each connect) resumes every subscription of those channels from
  there, though it re-sends its first `subscribe` unchanged. A second one closes the connection.
- `subscribe` -> the document is compiled (`gui_core.live_graphql`) and the subscription recorded
  before the replay is read, then the replay after the greater of its `after` and the
  connection's cursor for the channel, as `next` messages, then one `LIVE` message (or `GAP`);
  from then on the fan-out pushes each event of the channel as a `next` message. A document that
  is not a subscription this API serves, a channel the caller's scopes do not cover, a refused
  message (rate limit): an `error` message for that id, with the REST problem's `code` and
  `status` in each error's `extensions`. Before `connection_ack`, or an id already in use: the
  connection is closed, as the protocol says.
- `complete` -> the subscription ends (nothing is answered). `ping` -> `pong`; `pong` -> nothing.
- anything else of the protocol's shape: the connection is closed.

Closing: API Gateway's `DeleteConnection` closes a connection without a code of the server's
choosing, so the protocol's close codes (4400, 4401, 4409, 4429) are in the log and the metrics,
not on the wire; graphql-ws's client reconnects after such a close like after any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from gui_core.errors import BadRequest, ProblemError, Unauthorized
from gui_core.live_graphql import PROTOCOL, SubscriptionRefused, compile_subscription
from gui_core.metric_names import RealtimeMetric
from gui_core.rate_limit import enforce_message_limit
from gui_core.replay_log import CHANNELS, LIVE_FEATURE, encode, is_cursor
from gui_realtime import use_cases
from gui_realtime.logic import ACTIONS, UnknownAction
from gui_realtime.models import error_message

if TYPE_CHECKING:
    from gui_core.connections import Connection
    from gui_core.context import RequestContext
    from gui_realtime.logic import Message
    from gui_realtime.models import SocketRequest
    from gui_realtime.routes import RealtimeService

MESSAGE_TYPES = frozenset({"connection_init", "subscribe", "complete", "ping", "pong"})
QUERY_MAX = 16 * 1024  # characters of a subscription document (it is parsed up to 2,000 tokens)

SubscriptionId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SubscriptionFailed(BadRequest):
    status, code, title = 400, "graphql_validation_failed", "The subscription does not fit the schema"


class InitMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["connection_init"]
    payload: dict[str, Any] | None = None


class SubscribePayload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    query: Annotated[str, StringConstraints(min_length=1, max_length=QUERY_MAX)]
    variables: dict[str, Any] | None = None
    operation_name: str | None = Field(default=None, alias="operationName")
    extensions: dict[str, Any] | None = None


class SubscribeMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["subscribe"]
    id: SubscriptionId
    payload: SubscribePayload


class CompleteMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["complete"]
    id: SubscriptionId


class PingMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["ping", "pong"]
    payload: dict[str, Any] | None = None


class ProtocolViolation(Exception):
    """What the protocol answers by closing the connection (`code`: its close code)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def is_graphql_message(document: Mapping[str, Any]) -> bool:
    """A message of `graphql-transport-ws`: a `type` of the protocol and no `action`."""
    return "action" not in document and document.get("type") in MESSAGE_TYPES


def init_cursors(payload: Mapping[str, Any] | None) -> dict[str, str]:
    """The `cursors` of a `connection_init` payload: channel -> the last cursor the client applied."""
    given = (payload or {}).get("cursors")
    if given is None:
        return {}
    if not isinstance(given, Mapping) or not all(
        channel in CHANNELS and is_cursor(cursor) for channel, cursor in given.items()
    ):
        raise ProtocolViolation(4400, "`cursors` maps channels to cursors this API issued")
    return dict(given)


class GraphQLTransport:
    """The protocol's messages on the service's ports, sender and limits."""

    def __init__(self, service: RealtimeService) -> None:
        self._service = service

    def message(self, request: SocketRequest, document: Mapping[str, Any]) -> dict[str, Any]:
        service = self._service
        count = service.ports.count
        kind = str(document["type"])
        subscription_id = document.get("id") if kind == "subscribe" else None
        try:
            caller = service._caller(request)
            tenant = use_cases.admit(service.ports, caller, feature=LIVE_FEATURE)
            enforce_message_limit(service.message_limiter, tenant, request.connection_id, count=count)
            connection = service._connection(request, caller)
            if connection.protocol != PROTOCOL:  # the live protocol's answer to a message it lacks
                action = f"No action; one of {', '.join(ACTIONS)}."
                answer = error_message(UnknownAction(action, action=None), request_id=None)
                service.sender.send(request.connection_id, encode(answer))
                return {"statusCode": 200}
            answers = self._route(kind, document, caller, connection)
        except ProtocolViolation as violation:
            service.logger.info(
                "graphql-transport-ws: closing",
                extra={"close_code": violation.code, "reason": violation.reason},
            )
            count(RealtimeMetric.REFUSALS, reason=f"graphql_ws_{violation.code}")
            service.sender.close(request.connection_id)
            return {"statusCode": 200}
        except Unauthorized as error:  # not registered, token expired: the client reconnects
            service.logger.info("graphql-transport-ws: closing", extra={"code": error.code})
            service.sender.close(request.connection_id)
            return {"statusCode": 200}
        except ProblemError as error:
            service.logger.info("graphql-transport-ws: refused", extra={"type": kind, "code": error.code})
            if not isinstance(subscription_id, str):
                return {"statusCode": 200}  # nothing of the protocol carries an error without an id
            answers = [_error(subscription_id, [_problem_error(error)])]
        except SubscriptionRefused as refused:
            count(RealtimeMetric.REFUSALS, reason=SubscriptionFailed.code)
            extensions = {"code": SubscriptionFailed.code, "status": SubscriptionFailed.status}
            errors = [
                {**e, "extensions": {**(e.get("extensions") or {}), **extensions}} for e in refused.errors
            ]
            answers = [_error(str(subscription_id), errors)]
        except Exception:
            service.logger.exception("graphql-transport-ws message failed", extra={"type": kind})
            count(RealtimeMetric.MESSAGE_FAILURES)
            if not isinstance(subscription_id, str):
                return {"statusCode": 200}
            answers = [_error(subscription_id, [_problem_error(ProblemError())])]
        count(RealtimeMetric.MESSAGES)
        for answer in answers:
            failure = service.sender.send(request.connection_id, encode(answer))
            if failure is not None:
                service.logger.warning("could not answer the connection", extra={"error_code": failure})
                break
        return {"statusCode": 200}

    def _route(
        self, kind: str, document: Mapping[str, Any], caller: RequestContext, connection: Connection
    ) -> list[Message]:
        ports = self._service.ports
        if kind == "ping":
            _valid(PingMessage, document)
            return [{"type": "pong"}]
        if kind == "pong":
            _valid(PingMessage, document)
            return []
        if kind == "connection_init":
            message = _valid(InitMessage, document)
            if not use_cases.graphql_init(ports, connection, init_cursors(message.payload)):
                raise ProtocolViolation(4429, "Too many initialisation requests")
            return [{"type": "connection_ack"}]
        if not connection.ready:
            raise ProtocolViolation(4401, "Unauthorized: connection_init first")
        if kind == "complete":
            use_cases.graphql_complete(ports, connection, _valid(CompleteMessage, document).id)
            return []
        message = _valid(SubscribeMessage, document)
        payload = message.payload
        compiled = compile_subscription(payload.query, payload.variables, payload.operation_name)
        answers = use_cases.graphql_subscribe(ports, caller, connection, message.id, compiled)
        if answers is None:
            raise ProtocolViolation(4409, f"Subscriber for {message.id} already exists")
        return answers


def _valid(model: type[Any], document: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ProtocolViolation(4400, f"Invalid message: {exc.errors()[0]['msg']}") from None


def _problem_error(error: ProblemError) -> dict[str, Any]:
    problem = error.to_problem()
    extensions = {k: v for k, v in problem.items() if k not in {"type", "title", "detail"}}
    return {
        "message": error.detail or error.title,
        "extensions": {**extensions, "code": error.code, "status": error.status},
    }


def _error(subscription_id: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": subscription_id, "type": "error", "payload": errors}
