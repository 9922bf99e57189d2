"""The routes of the WebSocket API: who may connect, and the answer to each client message.

Each route parses the message, calls one use case (gui_realtime.use_cases; `ack` the
notifications' command) and posts its answer. Identity comes only from the authorizer's context
(API Gateway ran the REQUEST authorizer on `$connect` and passes its context to every later route of
the connection). `$connect` answers the handshake; every other route answers by posting to the
caller's own connection and returns 200, so a refused message is an `error` message on the socket,
never a closed connection. As the REST guard does for a route, the service admits the tenant and
counts the message against its limits before any use case runs, and audits an `ack`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from gui_core import rbac
from gui_core.audit import AuditRecord, AuditSink, payload_digest
from gui_core.errors import (
    PROBLEM_CONTENT_TYPE,
    InsufficientScope,
    MisdirectedRequest,
    ProblemError,
    Unauthorized,
)
from gui_core.live_graphql import PROTOCOL as GRAPHQL_PROTOCOL
from gui_core.metric_names import RealtimeMetric
from gui_core.rate_limit import enforce_message_limit
from gui_core.replay_log import LIVE_FEATURE, encode
from gui_realtime import use_cases
from gui_realtime.graphql_ws import GraphQLTransport, is_graphql_message
from gui_realtime.logic import (
    ACTIONS,
    Message,
    NotConnected,
    UnknownAction,
    check_expiry,
    parse_document,
    printable,
    validate,
)
from gui_realtime.models import (
    REQUEST_ID_MAX,
    SUBPROTOCOL,
    AckMessage,
    ChannelsMessage,
    ClientMessage,
    ResumeMessage,
    SocketRequest,
    error_message,
)
from gui_realtime.use_cases import RealtimePorts

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from gui_core.connections import Connection
    from gui_core.context import RequestContext
    from gui_core.rate_limit import MessageLimiter

ACK_FEATURE = "notifications"  # the REST acknowledge command's group
ACK_CLASS = "writes"
ACK_ENDPOINT = "/service/gui/notifications/{id}/{command}"  # audited as the REST command is


class Sender(Protocol):
    def send(self, connection_id: str, message: bytes) -> str | None: ...

    def close(self, connection_id: str) -> None: ...


@dataclass
class RealtimeService:
    ports: RealtimePorts
    audit: AuditSink
    sender: Sender
    logger: Logger
    message_limiter: MessageLimiter | None = None

    def __post_init__(self) -> None:
        self._graphql = GraphQLTransport(self)

    def handle(self, request: SocketRequest) -> dict[str, Any]:
        if request.route_key == "$connect":
            return self.connect(request)
        if request.route_key == "$disconnect":
            return self.disconnect(request)
        return self.message(request)

    # --- $connect / $disconnect -------------------------------------------------------------

    def connect(self, request: SocketRequest) -> dict[str, Any]:
        try:
            caller = self._caller(request)
            check_expiry(caller, self.ports.clock())
            offered = request.offered_subprotocols()
            protocol = GRAPHQL_PROTOCOL if GRAPHQL_PROTOCOL in offered else SUBPROTOCOL
            channels = use_cases.open_connection(
                self.ports,
                caller,
                request.connection_id,
                tenant=request.query.get("tenant"),
                channel=request.query.get("channel"),
                protocol=protocol,
            )
        except ProblemError as error:
            self.ports.count(RealtimeMetric.REFUSALS, reason=error.code)
            self.logger.info("connect refused", extra={"code": error.code, "status": error.status})
            return {
                "statusCode": error.status,
                "headers": {"Content-Type": PROBLEM_CONTENT_TYPE, **error.headers},
                "body": json.dumps(error.to_problem(request_id=request.request_id)),
            }
        self.ports.count(RealtimeMetric.CONNECTS)
        self.logger.info("connected", extra={"channels": channels})
        response: dict[str, Any] = {"statusCode": 200}
        if protocol in offered:
            # A browser that offered subprotocols closes a handshake that selects none.
            response["headers"] = {"Sec-WebSocket-Protocol": protocol}
        return response

    def disconnect(self, request: SocketRequest) -> dict[str, Any]:
        use_cases.close_connection(self.ports, request.caller, request.connection_id)
        self.ports.count(RealtimeMetric.DISCONNECTS)
        self.logger.info("disconnected")
        return {"statusCode": 200}

    # --- messages ---------------------------------------------------------------------------

    def message(self, request: SocketRequest) -> dict[str, Any]:
        count = self.ports.count
        request_id: str | None = None
        try:
            document = parse_document(request.body)
            if is_graphql_message(document):
                return self._graphql.message(request, document)
            given = document.get("request_id")
            request_id = given if isinstance(given, str) and len(given) <= REQUEST_ID_MAX else None
            caller = self._caller(request)
            # The limits before anything that reads the stores: a refused flood costs little.
            tenant = use_cases.admit(self.ports, caller, feature=LIVE_FEATURE)
            enforce_message_limit(self.message_limiter, tenant, request.connection_id, count=count)
            answers = self._route(request, document, caller, self._connection(request, caller))
        except ProblemError as error:
            self.logger.info("message refused", extra={"route": request.route_key, "code": error.code})
            answers = [error_message(error, request_id=request_id)]
        except Exception:
            # The socket stays open: the client gets the REST API's internal_error, the log the cause.
            self.logger.exception("message failed", extra={"route": request.route_key})
            count(RealtimeMetric.MESSAGE_FAILURES)
            answers = [error_message(ProblemError(), request_id=request_id)]
        count(RealtimeMetric.MESSAGES)
        for answer in answers:
            if request_id is not None:
                answer["request_id"] = request_id
            try:
                data = encode(answer)
            except Exception:  # a bug, not the client's: the socket stays, the log has the cause
                self.logger.exception("answer not encodable", extra={"route": request.route_key})
                count(RealtimeMetric.MESSAGE_FAILURES)
                data = encode(error_message(ProblemError(), request_id=None))
            failure = self.sender.send(request.connection_id, data)
            if failure is not None:
                self.logger.warning("could not answer the connection", extra={"error_code": failure})
                break
        return {"statusCode": 200}

    def _route(
        self,
        request: SocketRequest,
        document: Mapping[str, Any],
        caller: RequestContext,
        connection: Connection,
    ) -> list[Message]:
        route = request.route_key
        if route == "subscribe":
            channels = validate(ChannelsMessage, document).channels
            return [use_cases.subscribe(self.ports, caller, connection, channels)]
        if route == "unsubscribe":
            channels = validate(ChannelsMessage, document).channels
            return [use_cases.unsubscribe(self.ports, caller, connection, channels)]
        if route == "resume":
            return use_cases.resume(self.ports, caller, connection, validate(ResumeMessage, document))
        if route == "ack":
            return [self._ack(validate(AckMessage, document), caller, request)]
        if route == "ping":
            validate(ClientMessage, document)
            return [use_cases.ping(self.ports)]
        action = document.get("action")
        raise UnknownAction(f"No action {action!r}; one of {', '.join(ACTIONS)}.", action=printable(action))

    def _ack(self, message: AckMessage, caller: RequestContext, request: SocketRequest) -> Message:
        """The REST acknowledge command over the socket: the guard's checks, the notifications'
        use case (the same rules, counters and conflicts), audited as the REST command is."""
        started = time.perf_counter()
        status, code = 200, None
        try:
            check_expiry(caller, self.ports.clock())
            if not caller.has_scope(rbac.NOTIFICATIONS):
                raise InsufficientScope(
                    f"This action needs the scope {rbac.NOTIFICATIONS}.", required_scope=rbac.NOTIFICATIONS
                )
            use_cases.limit(self.ports, use_cases.admit(self.ports, caller, feature=ACK_FEATURE), ACK_CLASS)
            from gui_notifications.use_cases import command_notification  # the first ack's import

            notification = command_notification(self.ports.notifications, caller, message.id, "acknowledge")
            return {"type": "acked", "id": message.id, "notification": notification.model_dump(mode="json")}
        except ProblemError as error:
            status, code = error.status, error.code
            raise
        finally:
            # A tenant homed elsewhere is audited by its home region, as REST does.
            if code != MisdirectedRequest.code:
                self._audit(request, caller, message.id, status, code, started)

    def _audit(
        self,
        request: SocketRequest,
        caller: RequestContext,
        notification_id: str,
        status: int,
        code: str | None,
        started: float,
    ) -> None:
        record = AuditRecord(
            tenant=caller.tenant,
            actor=caller.subject,
            endpoint=ACK_ENDPOINT,
            method="POST",
            path=f"/service/gui/notifications/{notification_id}/acknowledge",
            payload_sha256=payload_digest(request.body.encode()),
            status=status,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            request_id=request.request_id,
            trace_id=caller.trace_id,
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            code=code,
        )
        try:
            self.audit.append(record)
        except Exception:
            # The acknowledgement happened; this log line is the fallback trail (as in gui_core.api).
            self.logger.exception("audit write failed", extra={"audit": record.__dict__})
            self.ports.count(RealtimeMetric.AUDIT_WRITE_FAILURES)

    # --- the checks -------------------------------------------------------------------------

    @staticmethod
    def _caller(request: SocketRequest) -> RequestContext:
        if request.caller is None:
            raise Unauthorized("No verified caller on this connection.")
        return request.caller

    def _connection(self, request: SocketRequest, caller: RequestContext) -> Connection:
        connection = self.ports.registry.get(caller.tenant, request.connection_id)
        if connection is None:
            raise NotConnected("This connection is not registered; open a new one.")
        return connection
