"""The routes of the WebSocket API: who may connect, and the answer to each client message.

Identity comes only from the authorizer's context (API Gateway ran the REQUEST authorizer on
`$connect` and passes its context to every later route of the connection). `$connect` answers the
handshake; every other route answers by posting to the caller's own connection and returns 200,
so a refused message is an `error` message on the socket, never a closed connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from gui_core import rbac
from gui_core.audit import AuditRecord, AuditSink, payload_digest
from gui_core.errors import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    InsufficientScope,
    InvalidCursor,
    MalformedJson,
    MisdirectedRequest,
    NotFound,
    ProblemError,
    TenantMismatch,
    Unauthorized,
    ValidationFailed,
)
from gui_core.live import (
    CHANNELS,
    ORIGIN,
    ReplayPage,
    channel_scope,
    encode,
    fit,
    is_cursor,
    replay_frames,
)
from gui_core.rate_limit import enforce_limit, enforce_message_limit
from gui_core.tenancy import admit_tenant
from gui_notifications.logic import apply_command, as_seen, visible_to
from gui_notifications.models import Notification
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

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from gui_core.context import RequestContext
    from gui_core.live import Connection, ConnectionRegistry, LiveEvent, ReplayLog
    from gui_core.rate_limit import MessageLimiter, RateLimiter
    from gui_core.tenancy import Tenant, TenantDirectory
    from gui_notifications.repository import InboxRepository

LIVE_FEATURE = "realtime"  # the tenant flag of live updates (the demo tenants and the admin API name it)
LIVE_CLASS = "live"  # the rate-limit class of connects (and of the SSE route)
ACK_FEATURE = "notifications"  # the REST acknowledge command's group
ACK_CLASS = "writes"
ACK_ENDPOINT = "/service/gui/notifications/{id}/{command}"  # audited as the REST command is
# What one `resume` may cost; past any of these its last frame says `more` and the client resumes
# again from its cursor (each resume a message, counted against the connection's limit).
PAGE_LIMIT = 100  # events per read of the replay log
RESUME_PAGES = 5  # reads of the replay log
RESUME_CAP = 500  # events
RESUME_BYTES = 256 * 1024  # of events posted (8 frames of 32 KB)
RESUME_BUDGET_S = 2.0  # no read of a further page after this
EXPIRY_LEEWAY_S = 30  # as gui_core.dependencies (not imported: it imports FastAPI)
ACTIONS = ("subscribe", "unsubscribe", "resume", "ack", "ping")

Message = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


class UnknownChannel(NotFound):
    code, title = "unknown_channel", "No such live channel"


class UnknownAction(BadRequest):
    code, title = "unknown_action", "No such action"


class NotConnected(Unauthorized):
    code, title = "not_connected", "The connection is not registered (expired or closed): reconnect"


class Sender(Protocol):
    def send(self, connection_id: str, message: bytes) -> str | None: ...


class Counter(Protocol):
    def __call__(self, name: str, *, reason: str | None = None) -> None: ...


def _no_count(name: str, *, reason: str | None = None) -> None:
    return None


def parse_channels(value: str | None) -> list[str]:
    """`channel=a,b` as a list without blanks or repeats, in the order given."""
    names = [name.strip() for name in (value or "").split(",")]
    return list(dict.fromkeys(name for name in names if name))


@dataclass
class RealtimeService:
    region: str
    tenants: TenantDirectory
    registry: ConnectionRegistry
    replay: ReplayLog
    inbox: InboxRepository
    audit: AuditSink
    sender: Sender
    rate_limiter: RateLimiter | None
    logger: Logger
    message_limiter: MessageLimiter | None = None
    count: Counter = _no_count
    clock: Callable[[], float] = field(default=time.time)
    timer: Callable[[], float] = field(default=time.monotonic)  # a resume's time budget

    def handle(self, request: SocketRequest) -> dict[str, Any]:
        if request.route_key == "$connect":
            return self.connect(request)
        if request.route_key == "$disconnect":
            return self.disconnect(request)
        return self.message(request)

    # --- $connect / $disconnect -------------------------------------------------------------

    def connect(self, request: SocketRequest) -> dict[str, Any]:
        try:
            channels = self._open(request)
        except ProblemError as error:
            self.count("Refusals", reason=error.code)
            self.logger.info("connect refused", extra={"code": error.code, "status": error.status})
            return {
                "statusCode": error.status,
                "headers": {"Content-Type": PROBLEM_CONTENT_TYPE, **error.headers},
                "body": json.dumps(error.to_problem(request_id=request.request_id)),
            }
        self.count("Connects")
        self.logger.info("connected", extra={"channels": channels})
        response: dict[str, Any] = {"statusCode": 200}
        if SUBPROTOCOL in request.offered_subprotocols():
            # A browser that offered subprotocols closes a handshake that selects none.
            response["headers"] = {"Sec-WebSocket-Protocol": SUBPROTOCOL}
        return response

    def _open(self, request: SocketRequest) -> list[str]:
        caller = self._caller(request, check_expiry=True)
        named = request.query.get("tenant")
        if not named:
            raise BadRequest("The query parameter `tenant` is required.")
        if named != caller.tenant:
            raise TenantMismatch("The request names another tenant.")
        channels = parse_channels(request.query.get("channel"))
        self._allow(caller, channels)
        tenant = self._tenant(caller, feature=LIVE_FEATURE)
        self._limit(tenant, LIVE_CLASS)
        connection = self.registry.register(
            tenant.id,
            request.connection_id,
            subject=caller.subject,
            scopes=caller.scopes,
            served_until=served_until(caller),
        )
        if channels:
            self.registry.subscribe(connection, channels)
        return channels

    def disconnect(self, request: SocketRequest) -> dict[str, Any]:
        if request.caller is not None:
            self.registry.remove(request.caller.tenant, request.connection_id)
        self.count("Disconnects")
        self.logger.info("disconnected")
        return {"statusCode": 200}

    # --- messages ---------------------------------------------------------------------------

    def message(self, request: SocketRequest) -> dict[str, Any]:
        request_id: str | None = None
        try:
            document = _document(request.body)
            given = document.get("request_id")
            request_id = given if isinstance(given, str) and len(given) <= REQUEST_ID_MAX else None
            caller = self._caller(request, check_expiry=False)
            # The limits before anything that reads the stores: a refused flood costs little.
            tenant = self._tenant(caller, feature=LIVE_FEATURE)
            enforce_message_limit(self.message_limiter, tenant, request.connection_id, count=self.count)
            answers = self._route(request, document, caller, self._connection(request, caller))
        except ProblemError as error:
            self.logger.info("message refused", extra={"route": request.route_key, "code": error.code})
            answers = [error_message(error, request_id=request_id)]
        except Exception:
            # The socket stays open: the client gets the REST API's internal_error, the log the cause.
            self.logger.exception("message failed", extra={"route": request.route_key})
            self.count("MessageFailures")
            answers = [error_message(ProblemError(), request_id=request_id)]
        self.count("Messages")
        for answer in answers:
            if request_id is not None:
                answer["request_id"] = request_id
            try:
                data = encode(answer)
            except Exception:  # a bug, not the client's: the socket stays, the log has the cause
                self.logger.exception("answer not encodable", extra={"route": request.route_key})
                self.count("MessageFailures")
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
        if route in {"subscribe", "unsubscribe"}:
            channels = list(dict.fromkeys(_validate(ChannelsMessage, document).channels))
            self._allow(caller, channels)
            if route == "subscribe":
                self.registry.subscribe(connection, channels)
                latest = {channel: self.replay.latest(caller.tenant, channel) for channel in channels}
                return [{"type": "subscribed", "channels": channels, "latest": latest}]
            self.registry.unsubscribe(connection, channels)
            return [{"type": "unsubscribed", "channels": channels}]
        if route == "resume":
            return self._resume(_validate(ResumeMessage, document), caller, connection)
        if route == "ack":
            return [self._ack(_validate(AckMessage, document), caller, request)]
        if route == "ping":
            _validate(ClientMessage, document)
            return [{"type": "pong", "at": self._now().isoformat(timespec="milliseconds")}]
        action = document.get("action")
        raise UnknownAction(f"No action {action!r}; one of {', '.join(ACTIONS)}.", action=_printable(action))

    def _resume(
        self, message: ResumeMessage, caller: RequestContext, connection: Connection
    ) -> list[Message]:
        channel = message.channel
        self._allow(caller, [channel])
        if not is_cursor(message.cursor):
            raise InvalidCursor("Not a cursor this API issued: resume from an event's `cursor`.")
        # Subscribe first: an event logged while the replay is read is then pushed live too, and the
        # client keeps whichever copy has the greater cursor than what it applied.
        self.registry.subscribe(connection, [channel])
        events: list[LiveEvent] = []
        size, cursor, latest, more = 0, message.cursor, ORIGIN, False
        deadline = self.timer() + RESUME_BUDGET_S
        for _ in range(RESUME_PAGES):
            page = self.replay.after(
                caller.tenant, channel, cursor, limit=min(PAGE_LIMIT, RESUME_CAP - len(events))
            )
            latest = page.latest
            if page.gap:
                if not events:
                    return [{"type": "gap", "channel": channel, "cursor": message.cursor, "latest": latest}]
                more = True  # the log expired under this read: the next resume answers the gap
                break
            more = page.more
            for event in page.events:
                length = len(encode(fit(event.message()))) + 1
                if events and size + length > RESUME_BYTES:
                    more = True  # the rest of this page comes with the next resume
                    break
                events.append(event)
                size += length
            if (
                not more
                or not page.events
                or events[-1] is not page.events[-1]
                or len(events) >= RESUME_CAP
                or self.timer() >= deadline
            ):
                break
            cursor = page.events[-1].cursor
        return replay_frames(channel, ReplayPage(events, gap=False, latest=latest, more=more))

    def _ack(self, message: AckMessage, caller: RequestContext, request: SocketRequest) -> Message:
        started = time.perf_counter()
        status, code = 200, None
        try:
            return self._acknowledge(message.id, caller)
        except ProblemError as error:
            status, code = error.status, error.code
            raise
        finally:
            # A tenant homed elsewhere is audited by its home region, as REST does.
            if code != MisdirectedRequest.code:
                self._audit(request, caller, message.id, status, code, started)

    def _acknowledge(self, notification_id: str, caller: RequestContext) -> Message:
        self._check_expiry(caller)
        if not caller.has_scope(rbac.NOTIFICATIONS):
            raise InsufficientScope(
                f"This action needs the scope {rbac.NOTIFICATIONS}.", required_scope=rbac.NOTIFICATIONS
            )
        tenant = self._tenant(caller, feature=ACK_FEATURE)
        self._limit(tenant, ACK_CLASS)
        item = self.inbox.get(caller.tenant, notification_id)
        if item is None or not visible_to(item, caller.subject):
            raise NotFound(f"No notification {notification_id!r}.")
        now = self._now()
        updated = apply_command(item, "acknowledge", actor=caller.subject, now=now)
        if updated is not None:
            self.inbox.save(updated)
            item = updated
        notification = Notification.model_validate(as_seen(item, now)).model_dump(mode="json")
        return {"type": "acked", "id": notification_id, "notification": notification}

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
            self.count("AuditWriteFailures")

    # --- the checks -------------------------------------------------------------------------

    def _caller(self, request: SocketRequest, *, check_expiry: bool) -> RequestContext:
        if request.caller is None:
            raise Unauthorized("No verified caller on this connection.")
        if check_expiry:
            self._check_expiry(request.caller)
        return request.caller

    def _connection(self, request: SocketRequest, caller: RequestContext) -> Connection:
        connection = self.registry.get(caller.tenant, request.connection_id)
        if connection is None:
            raise NotConnected("This connection is not registered; open a new one.")
        return connection

    def _check_expiry(self, caller: RequestContext) -> None:
        until = served_until(caller)
        if until is not None and until < self.clock():
            raise Unauthorized("The token has expired.")

    def _allow(self, caller: RequestContext, channels: Iterable[str]) -> None:
        for channel in channels:
            scope = channel_scope(channel)
            if scope is None:
                raise UnknownChannel(
                    f"No channel {channel!r}; one of {', '.join(CHANNELS)}.", channel=_printable(channel)
                )
            if not caller.has_scope(scope):
                raise InsufficientScope(
                    f"The channel {channel} needs the scope {scope}.", required_scope=scope
                )

    def _tenant(self, caller: RequestContext, *, feature: str) -> Tenant:
        """The guard's tenant checks (gui_core.tenancy.admit_tenant), for a request not over HTTP."""
        return admit_tenant(
            self.tenants, caller.tenant, region=self.region, feature=feature, count=self.count
        )

    def _limit(self, tenant: Tenant, route_class: str) -> None:
        enforce_limit(self.rate_limiter, tenant, route_class, count=self.count)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def served_until(caller: RequestContext) -> int | None:
    """The last moment the caller's token is served: its expiry plus the clock leeway that the
    authorizer and every guard grant. One rule for the handshake and for the connection after it,
    so a token admitted at connect is not refused by the next message; None: no expiry."""
    return caller.expires_at + EXPIRY_LEEWAY_S if caller.expires_at else None


def _document(body: str) -> dict[str, Any]:
    """The message as a JSON object of Unicode strings; MalformedJson (400) for anything else."""
    try:
        document = json.loads(body) if body else None
    except RecursionError:
        raise MalformedJson("The message is nested too deeply to be read.") from None
    except ValueError as exc:
        raise MalformedJson("The message is not valid JSON.") from exc
    if not isinstance(document, dict):
        raise MalformedJson("A message is a JSON object with an `action`.")
    if not _unicode(document):
        raise MalformedJson(
            "The message holds a string that is not Unicode text (a lone surrogate escape such as \\ud800)."
        )
    return document


def _unicode(document: dict[str, Any]) -> bool:
    """Whether every string of the document, keys too, is Unicode text: JSON's escapes can spell a
    lone surrogate, which Python keeps in a str and no UTF-8 answer, log line or store can carry.
    Walked without recursion (the parser already bounded the depth)."""
    pending: list[Any] = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


def _validate(model: type[M], document: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        fields = [
            {
                "location": ["body", *(str(part) for part in e.get("loc", ()))],
                "pointer": "/" + "/".join(str(part) for part in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        raise ValidationFailed(f"{len(fields)} field(s) are not valid.", errors=fields) from exc


def _printable(value: object) -> str:
    return str(value)[:64]
