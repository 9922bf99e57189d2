"""FastAPI application factory shared by every REST function.

One place maps errors to problem details, decodes the caller's context from the API Gateway event,
bounds request bodies (their size, their media type: JSON only, and their nesting), adds security
headers, counts requests and audits every mutation. A new route gets all of it by being on an app
built here.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gui_core.api_document import document_of
from gui_core.audit import AuditRecord, AuditSink, DynamoAuditSink, payload_digest
from gui_core.context import CONTEXT_KEY, REQUEST_ID_KEY, RequestContext, request_context
from gui_core.cursors import CursorKeys, Cursors, NoCursorKeys, SecretsManagerCursorKeys
from gui_core.dynamo import DynamoCounters, Table, dynamodb_client
from gui_core.errors import (
    EXPOSED_HEADERS,
    PROBLEM_CONTENT_TYPE,
    MalformedJson,
    MethodNotAllowed,
    MisdirectedRequest,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    UnsupportedMediaType,
    ValidationFailed,
    problem_body,
)
from gui_core.guard import (
    AUDIT_ENDPOINT_KEY,
    BODY_KEY,
    MUTATING_METHODS,
    RATE_KEY,
    READ_ONLY_KEY,
    REPLAY_KEY,
    Guard,
)
from gui_core.json_depth import MAX_JSON_DEPTH, json_depth_exceeds
from gui_core.metric_names import ApiMetric, add
from gui_core.rate_limit import Decision, RateLimiter
from gui_core.replay_guard import DynamoReplayStore
from gui_core.routing import route_by_resource
from gui_core.settings import ApiSettings
from gui_core.tenancy import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

logger = logging.getLogger("gui_core.api")
# A request body is JSON: `application/json`, in UTF-8 (RFC 8259) whatever its `charset` says otherwise.
JSON_MEDIA_TYPE = "application/json"


def problem_response(request_scope: Scope, error: ProblemError) -> JSONResponse:
    body = error.to_problem(instance=request_scope.get("path"), request_id=request_scope.get(REQUEST_ID_KEY))
    return JSONResponse(
        body, status_code=error.status, headers=error.headers, media_type=PROBLEM_CONTENT_TYPE
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    request.scope["gui.problem_code"] = exc.code
    return problem_response(request.scope, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return await _on_problem(request, MalformedJson())
    fields = [
        {
            "location": [str(part) for part in e.get("loc", ())],
            "pointer": "/" + "/".join(str(part) for part in e.get("loc", ())[1:]),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]
    return await _on_problem(
        request, ValidationFailed(f"{len(fields)} field(s) are not valid.", errors=fields)
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return await _on_problem(request, NotFound("No such route."))
    if exc.status_code == 405:
        return await _on_problem(request, MethodNotAllowed())
    if exc.status_code == 400:  # FastAPI's "error parsing the body": a body that is not UTF-8 JSON
        return await _on_problem(request, MalformedJson())
    error = ProblemError(str(exc.detail))
    error.status, error.code, error.title = exc.status_code, "http_error", str(exc.detail)
    return await _on_problem(request, error)


class GuiMiddleware:
    """Pure ASGI middleware (runs inside Mangum, so the API Gateway event is in the scope)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        audit: AuditSink,
        max_body_bytes: int,
        metrics: Metrics | None = None,
        guard: Guard | None = None,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.audit = audit
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.guard = guard
        self.cors_origins = frozenset(cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route_by_resource(scope)
        event = scope.get("aws.event") or {}
        request_ctx = event.get("requestContext") or {}
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        request_id = str(request_ctx.get("requestId") or uuid.uuid4())
        caller = request_context(
            request_ctx.get("authorizer"), request_id=request_id, trace_id=headers.get("x-amzn-trace-id")
        )
        scope[CONTEXT_KEY] = caller
        scope[REQUEST_ID_KEY] = request_id
        body = _event_body(event)
        scope[BODY_KEY] = body
        origin = headers.get("origin")
        status_holder: dict[str, int] = {}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = {**SECURITY_HEADERS, "x-request-id": request_id}
                decision: Decision | None = scope.get(RATE_KEY)
                if decision is not None and b"x-ratelimit-limit" not in present:
                    extra.update({k.lower(): v for k, v in decision.headers().items()})
                if origin and origin in self.cors_origins:
                    extra.update(
                        {
                            "access-control-allow-origin": origin,
                            "access-control-expose-headers": ", ".join(EXPOSED_HEADERS),
                            "vary": "Origin",
                        }
                    )
                # A header the route set itself wins (the SSE route's `cache-control: no-cache`).
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present
                ]
            await send(message)

        try:
            refusal = self._refusal(body, headers.get("content-type"))
            if refusal is not None:
                scope["gui.problem_code"] = refusal.code
                await problem_response(scope, refusal)(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error")
            if "status" in status_holder:
                raise
            scope["gui.problem_code"] = ProblemError.code
            await problem_response(scope, ProblemError())(scope, receive, send_with_headers)
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            status = status_holder.get("status", 500)
            self._release_failed_mutation(scope, status)
            self._count(status, latency_ms)
            # A tenant homed in another region is sent there before anything is written here,
            # its audit record included (its home region audits the request it then receives).
            misdirected = scope.get("gui.problem_code") == MisdirectedRequest.code
            read_only = scope.get(READ_ONLY_KEY, False)
            if (
                scope["method"] in MUTATING_METHODS
                and caller is not None
                and not misdirected
                and not read_only
            ):
                self._audit(scope, caller, body, status, latency_ms)

    def _refusal(self, body: bytes, content_type: str | None) -> ProblemError | None:
        """What no route may read: a body too large, one that is not JSON (415), or JSON nested
        deeper than MAX_JSON_DEPTH (400 `malformed_json`). A request without a body needs no
        Content-Type."""
        if len(body) > self.max_body_bytes:
            return PayloadTooLarge(f"The body exceeds {self.max_body_bytes} bytes.")
        if not body:
            return None
        if not is_json_media_type(content_type):
            return UnsupportedMediaType(
                f"The body must be sent as {JSON_MEDIA_TYPE} (UTF-8), not {content_type or 'without a type'}."
            )
        if json_depth_exceeds(body, MAX_JSON_DEPTH):
            return MalformedJson(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
        return None

    def _release_failed_mutation(self, scope: Scope, status: int) -> None:
        """A refused or failed mutation did not happen: its identity may be sent again."""
        reserved = scope.get(REPLAY_KEY)
        if reserved is None or status < 400 or self.guard is None or self.guard.replay is None:
            return
        try:
            self.guard.replay.release(*reserved)
        except Exception:
            logger.exception("could not release a replay reservation")

    def _count(self, status: int, latency_ms: float) -> None:
        if self.metrics is None:
            return
        add(self.metrics, ApiMetric.REQUESTS)
        add(self.metrics, ApiMetric.LATENCY, latency_ms, unit="Milliseconds")
        if status >= 500:
            add(self.metrics, ApiMetric.ERRORS_5XX)
        elif status >= 400:
            add(self.metrics, ApiMetric.ERRORS_4XX)

    def _audit(
        self, scope: Scope, caller: RequestContext, body: bytes, status: int, latency_ms: float
    ) -> None:
        route = scope.get("route")
        record = AuditRecord(
            tenant=caller.tenant,
            actor=caller.subject,
            endpoint=scope.get(AUDIT_ENDPOINT_KEY) or getattr(route, "path", None) or scope.get("path", ""),
            method=scope["method"],
            path=scope.get("path", ""),
            payload_sha256=payload_digest(body),
            status=status,
            latency_ms=round(latency_ms, 3),
            request_id=caller.request_id,
            trace_id=caller.trace_id,
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            code=scope.get("gui.problem_code"),
        )
        try:
            self.audit.append(record)
        except Exception:
            # The mutation has happened; the structured log line below is the fallback trail and
            # the AuditWriteFailures metric raises the alarm.
            logger.exception("audit write failed", extra={"audit": record.__dict__})
            if self.metrics is not None:
                add(self.metrics, ApiMetric.AUDIT_WRITE_FAILURES)


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json`, in any case, with no charset but UTF-8 (other parameters are ignored)."""
    if not content_type:
        return False
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON_MEDIA_TYPE:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _event_body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _operation_id(route: APIRoute) -> str:
    return route.name


def platform_guard(settings: ApiSettings, *, metrics: Metrics | None = None) -> Guard:
    """The guard of a REST function, on the region's tenants and limits stores."""
    client = dynamodb_client(settings.region)
    limits = Table(settings.limits_table, client)
    return Guard(
        region=settings.region,
        region_urls=settings.region_urls,
        tenants=TenantDirectory(Table(settings.tenants_table, client), ttl_s=settings.tenant_cache_s),
        rate_limiter=RateLimiter(DynamoCounters(limits)) if settings.rate_limiting else None,
        replay=DynamoReplayStore(limits, window_s=settings.replay_window_s)
        if settings.replay_window_s
        else None,
        metrics=metrics,
    )


class PlatformParts(TypedDict, total=False):
    """The platform's parts of a REST app that a test or the local runtime replaces, passed by each
    group's `create_app` to `create_api` as they come (None: the ones `settings` name)."""

    metrics: Metrics | None
    audit: AuditSink | None
    guard: Guard | None


def create_api(
    *,
    title: str,
    routers: list[APIRouter],
    settings: ApiSettings,
    metrics: Metrics | None = None,
    audit: AuditSink | None = None,
    guard: Guard | None = None,
    cursor_keys: CursorKeys | None = None,
    version: str = "1",
    operation_spans: bool = True,
) -> FastAPI:
    """A REST function's app: its routers behind the shared middleware, guard and error mapping.

    `audit` and `guard` default to the DynamoDB-backed ones named by `settings`, `cursor_keys` to the
    region's cursor key when the settings name it (read at the first cursor); tests pass fakes.
    `operation_spans=False` keeps FastAPI's server span of a request but not its dependencies,
    endpoint and serialization spans (about 0.35 ms a request: a hot route's choice).
    """
    app = FastAPI(
        title=title,
        version=version,
        telemetry={"operation_spans": operation_spans},
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Behind API Gateway a redirect would name a URL without the stage; a trailing slash is
        # routed to its resource (gui_core.routing), never redirected.
        redirect_slashes=False,
        # Operation ids are the route functions' names: the CLI offers each under that name.
        generate_unique_id_function=_operation_id,
    )
    for router in routers:
        app.include_router(router)
    app.openapi = document_of(app)  # type: ignore[method-assign]  # exact: gui_core.api_document
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.state.guard = guard or platform_guard(settings, metrics=metrics)
    if cursor_keys is None:
        arn = settings.cursor_key_secret_arn
        cursor_keys = SecretsManagerCursorKeys(arn, settings.region) if arn else NoCursorKeys()
    app.state.cursors = Cursors(cursor_keys)  # the paged routes' (gui_core.dependencies.PageCursors)
    app.add_middleware(
        GuiMiddleware,
        audit=audit or DynamoAuditSink(Table(settings.audit_table, dynamodb_client(settings.region))),
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
        guard=app.state.guard,
        cors_origins=settings.cors_origins,
    )
    return app


def problem_example(status: int, code: str, title: str) -> dict[str, Any]:
    """A problem document as the OpenAPI examples show it."""
    return problem_body(status=status, code=code, title=title)
