"""A regional API Gateway REST API, played locally in front of the real handlers.

Per request, in API Gateway's order: payload size, route match (method and resource template of the
manifest; OPTIONS on a routed resource is the CORS preflight, answered by the gateway itself as the
stack's mock integration answers it, see `stacks.cors`), identity source present, authorizer (real
handler, answers cached per token for the manifest's TTL, policy evaluated against the method arn),
then the proxy integration: the REST proxy event goes to the real function handler and its proxy
answer becomes the HTTP answer. A route with `token_in_query` has the query parameter
`authorizer.query_identity_source` (`?token=`) as its identity source instead of the header.
Refusals are the manifest's gateway responses, rendered as the problem details the CDK stack
renders (`stacks.constructs.api.problem_template`).

The same server plays the region's WebSocket API and its management API (`local.websocket`), and
serves the local-only routes the runtime adds (`extra_routes`: the dev console, `/dev/token`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as HttpRoute

from gui_core.errors import PROBLEM_CONTENT_TYPE, problem_type
from local.apigw import (
    HttpRequest,
    WebSocketRequest,
    authorizer_answer_context,
    authorizer_event,
    match_route,
    method_arn,
    policy_allows,
    proxy_event,
    websocket_arn,
    websocket_authorizer_event,
)
from local.openapi import OPENAPI_PATH, combined_openapi
from local.websocket import Refused, WebSocketGateway
from stacks import cors
from stacks.manifest import WebSocketApi

if TYPE_CHECKING:
    from local.pool import Invoker
    from stacks.manifest import Function, GatewayResponse, Manifest, Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway REST payload quota
INTEGRATION_TIMEOUT_S = 29.0  # API Gateway REST integration timeout
AUTHORIZER_CACHE_MAX_ENTRIES = 10_000

# API Gateway's own status and $context.error.message of each response type it sends here.
_DEFAULTS: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
    "LAMBDA_ERROR": (502, "Internal server error"),  # no response type of its own: DEFAULT_5XX
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
}
EXPLICIT_DENY_MESSAGE = "User is not authorized to access this resource with an explicit deny"

logger = logging.getLogger("local.gateway")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class _Matched:
    route: Route
    fn: Function
    path_parameters: dict[str, str]


class _AuthorizerCache:
    """API Gateway's authorizer result cache: policy answers per identity source value, for a TTL."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._answers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, identity: str) -> dict[str, Any] | None:
        if self._ttl_s <= 0:
            return None
        with self._lock:
            found = self._answers.get(identity)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._answers[identity]
                return None
            return found[1]

    def put(self, identity: str, answer: dict[str, Any]) -> None:
        if self._ttl_s <= 0:
            return
        with self._lock:
            if len(self._answers) >= AUTHORIZER_CACHE_MAX_ENTRIES:
                now = self._clock()
                self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
                while len(self._answers) >= AUTHORIZER_CACHE_MAX_ENTRIES:
                    del self._answers[next(iter(self._answers))]
            self._answers[identity] = (self._clock() + self._ttl_s, answer)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


class IntegrationError(Exception):
    """The function failed, timed out or answered something that is not a proxy response."""


class IntegrationTimeout(IntegrationError):
    """The integration ran past API Gateway's 29 s: 504, whatever the function does next."""


class RegionalGateway:
    """The REST API of one region: `app` serves HTTP, `invoke` serves a request given directly;
    `websocket` is the region's WebSocket API on the same server."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        region: str,
        authorizer: Invoker,
        functions: Mapping[str, Invoker],
        stage: str = "local",
        cors_origins: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
        extra_routes: Sequence[BaseRoute] = (),
        websocket_idle_limit_s: float | None = None,
        websocket_connection_limit_s: float | None = None,
    ) -> None:
        """`cors_origins`: the browser origins whose preflight is allowed; none, and there is no
        preflight method at all (OPTIONS is then an unknown route), as in a stage without origins.
        `functions` are the containers (or pools) by function name: every routed function's, and
        the WebSocket API's function (without it, the WebSocket API refuses connections while its
        management API still answers). `extra_routes` are served before API Gateway's routes (local
        only: never part of the manifest). The WebSocket limits default to the manifest's."""
        self.manifest = manifest
        self.region = region
        self.stage = stage
        self._authorizer = authorizer
        self._functions = dict(functions)
        self._routes = manifest.routes()
        missing = {fn.name for _, fn in self._routes} - self._functions.keys()
        if missing:
            raise ValueError(f"no container for the routed function(s) {sorted(missing)}")
        self._responses = {r.type: r for r in manifest.gateway_responses}
        self.cors_origins = tuple(cors_origins)
        self._preflight_paths = cors.preflight_paths(manifest) if self.cors_origins else {}
        self._openapi_document: dict[str, Any] | None = None
        self.authorizer_cache = _AuthorizerCache(manifest.authorizer.cache_ttl_s, clock)
        api = manifest.websocket or WebSocketApi(function="")
        route_functions = {route.route_key: fn.name for route, fn in manifest.websocket_routes()}
        if manifest.websocket is None or not set(route_functions.values()) <= self._functions.keys():
            route_functions = {}
        self.websocket = WebSocketGateway(
            api=api,
            route_functions=route_functions,
            functions=self._functions,
            authorize=self._authorize_websocket,
            call=self._call,
            idle_limit_s=websocket_idle_limit_s,
            connection_limit_s=websocket_connection_limit_s,
        )
        self.app = Starlette(
            routes=[
                HttpRoute("/healthz", self._healthz, methods=["GET"]),
                HttpRoute(OPENAPI_PATH, self._openapi, methods=["GET"]),
                *self.websocket.routes(),
                *self.websocket.management_routes(),
                *extra_routes,
            ]
        )
        # Everything else is API Gateway's: a fallback rather than a `/{path:path}` route, whose
        # pattern would not match a path holding an encoded newline (`%0A`).
        self.app.router.default = self._fallback

    @property
    def connections_path(self) -> str:
        """The management API's path on this gateway (`GUI_CONNECTIONS_URL` is the base URL + it)."""
        return f"/{self.websocket.stage}"

    def close(self) -> None:
        """Shut the containers' runtime threads down (queued invocations are dropped)."""
        for container in (self._authorizer, *self._functions.values()):
            container.close()

    # -- HTTP --------------------------------------------------------------------------------

    async def _fallback(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":  # no WebSocket route here: the handshake is refused (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        response = await self._http(Request(scope, receive))
        await response(scope, receive, send)

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "region": self.region, "stage": self.stage})

    async def _openapi(self, request: Request) -> Response:
        """The API's description, public like a published spec (the local runtime only)."""
        if self._openapi_document is None:
            self._openapi_document = await run_in_threadpool(combined_openapi, self.manifest)
        return JSONResponse(self._openapi_document)

    async def _http(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
            return _to_starlette(self.gateway_response("REQUEST_TOO_LARGE", request_id=_new_request_id()))
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_PAYLOAD_BYTES:
                return _to_starlette(self.gateway_response("REQUEST_TOO_LARGE", request_id=_new_request_id()))
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        answer = await self.invoke(
            HttpRequest(
                method=request.method,
                path=raw_path.decode("latin-1"),
                headers=tuple(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]
                ),
                query=request.scope.get("query_string", b"").decode("latin-1"),
                body=bytes(body),
                source_ip=request.client.host if request.client else "127.0.0.1",
            )
        )
        return _to_starlette(answer)

    # -- the gateway -------------------------------------------------------------------------

    async def invoke(self, request: HttpRequest) -> HttpResponse:
        """Serve one request as API Gateway would; `request.path` may be percent-encoded."""
        request_id = _new_request_id()
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE", request_id=request_id)
        matched = self._match(request.method, request.path)
        if matched is None:  # no route is an OPTIONS method: a preflight, or no such route
            return self._preflight(request, request_id) or self.gateway_response(
                "MISSING_AUTHENTICATION_TOKEN", request_id=request_id
            )
        request = replace(request, path=unquote(request.path), headers=self._integration_headers(request))
        answer = await self._authorize(request, matched, request_id)
        if isinstance(answer, HttpResponse):
            return answer
        event = proxy_event(
            request,
            resource=matched.route.full_path,
            path_parameters=matched.path_parameters,
            authorizer=authorizer_answer_context(answer),
            stage=self.stage,
            host=self._host(request),
            request_id=request_id,
        )
        try:
            result = await self._call(self._functions[matched.fn.name], event)
            return _proxy_answer(result, request_id)
        except IntegrationTimeout as exc:
            logger.warning("%s", exc)
            return self.gateway_response("INTEGRATION_TIMEOUT", request_id=request_id)
        except IntegrationError:
            logger.exception("%s failed", matched.fn.name)
            return self.gateway_response("LAMBDA_ERROR", request_id=request_id)

    async def _authorize(
        self, request: HttpRequest, matched: _Matched, request_id: str
    ) -> dict[str, Any] | HttpResponse:
        """The authorizer's answer allowing this method, or the gateway response refusing it."""
        if matched.route.token_in_query:
            query = dict(parse_qsl(request.query, keep_blank_values=True))
            identity = query.get(self.manifest.authorizer.query_identity_source)
        else:
            identity = _header(request.headers, self.manifest.authorizer.identity_source)
        if not identity:  # API Gateway answers 401 without calling the authorizer
            return self.gateway_response("UNAUTHORIZED", request_id=request_id)
        cached = self.authorizer_cache.get(identity)
        if cached is not None:
            answer = cached
        else:
            event = authorizer_event(
                request,
                resource=matched.route.full_path,
                path_parameters=matched.path_parameters,
                region=self.region,
                stage=self.stage,
                host=self._host(request),
                request_id=request_id,
            )
            fresh = await self.run_authorizer(event, request_id)
            if isinstance(fresh, HttpResponse):
                return fresh
            answer = fresh
            self.authorizer_cache.put(identity, answer)
        arn = method_arn(region=self.region, stage=self.stage, method=request.method, path=request.path)
        allowed = self._allowed(answer, arn, request_id)
        return allowed if isinstance(allowed, HttpResponse) else self._as_rest_delivers(allowed)

    @staticmethod
    def _as_rest_delivers(answer: dict[str, Any]) -> dict[str, Any]:
        """The answer as a REST API passes it to the integration: every context value a string
        (`"numberKey": "1"`, `"booleanKey": "true"`), whatever type the authorizer returned."""
        context = {
            key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in (answer.get("context") or {}).items()
        }
        return {**answer, "context": context}

    async def run_authorizer(self, event: dict[str, Any], request_id: str) -> dict[str, Any] | HttpResponse:
        """Invoke the REQUEST authorizer: its answer, or the gateway response of its refusal or
        failure (401 for `Unauthorized`, 500 otherwise)."""
        try:
            answer = await self._call(self._authorizer, event)
        except IntegrationError as exc:
            if str(exc.__cause__) == "Unauthorized":
                return self.gateway_response("UNAUTHORIZED", request_id=request_id)
            logger.exception("the authorizer failed")
            return self.gateway_response("AUTHORIZER_FAILURE", request_id=request_id)
        if not _valid_authorizer_answer(answer):
            logger.error("the authorizer answered an invalid policy: %r", answer)
            return self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR", request_id=request_id)
        result: dict[str, Any] = answer
        return result

    def _allowed(self, answer: dict[str, Any], arn: str, request_id: str) -> dict[str, Any] | HttpResponse:
        if not policy_allows(answer, arn):
            message = EXPLICIT_DENY_MESSAGE if _denies(answer) else None
            return self.gateway_response("ACCESS_DENIED", request_id=request_id, message=message)
        return answer

    async def _authorize_websocket(
        self, request: WebSocketRequest, token: str, request_id: str
    ) -> dict[str, Any]:
        """The authorizer's answer allowing `$connect`, or raises the handshake's refusal. Not
        cached: the token may come from either of two places, so there is no one identity source."""
        del token  # present (the WebSocket gateway checked); the authorizer reads it from the event
        event = websocket_authorizer_event(request, region=self.region, request_id=request_id)
        answer = await self.run_authorizer(event, request_id)
        if not isinstance(answer, HttpResponse):
            answer = self._allowed(
                answer,
                websocket_arn(region=self.region, stage=request.stage, route_key="$connect"),
                request_id,
            )
        if isinstance(answer, HttpResponse):
            raise Refused(answer.status, answer.body, answer.header("content-type") or "application/json")
        return answer

    def gateway_response(
        self, response_type: str, *, request_id: str, message: str | None = None
    ) -> HttpResponse:
        """A gateway response as the stack customises it: a problem document. A type the manifest
        does not customise falls back to DEFAULT_4XX or DEFAULT_5XX, keeping API Gateway's status."""
        default_status, default_message = _DEFAULTS[response_type]
        fallback = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        configured: GatewayResponse = self._responses.get(response_type) or self._responses[fallback]
        status = configured.status or default_status
        body: dict[str, Any] = {"type": problem_type(configured.code), "title": configured.title}
        if configured.status is not None:  # the stack's template names no status for DEFAULT_*
            body["status"] = status
        body.update({"code": configured.code, "detail": message or default_message, "request_id": request_id})
        headers = (("content-type", PROBLEM_CONTENT_TYPE), ("x-amzn-RequestId", request_id))
        return HttpResponse(status, headers, json.dumps(body).encode())

    def _preflight(self, request: HttpRequest, request_id: str) -> HttpResponse | None:
        """The OPTIONS mock of a routed resource: 204 with the CORS headers when the Origin is
        allowlisted, 403 problem details otherwise; None when there is no such preflight method."""
        if request.method != "OPTIONS":
            return None
        methods = next(
            (m for path, m in self._preflight_paths.items() if match_route(path, request.path) is not None),
            None,
        )
        if methods is None:
            return None
        origin = _header(request.headers, "origin")
        if origin is not None and origin in self.cors_origins:
            headers = {"Access-Control-Allow-Origin": origin, **cors.allowed_headers(methods)}
            return HttpResponse(
                cors.PREFLIGHT_ALLOWED, (*headers.items(), ("x-amzn-RequestId", request_id)), b""
            )
        return HttpResponse(
            cors.PREFLIGHT_REFUSED,
            (("content-type", PROBLEM_CONTENT_TYPE), ("Vary", "Origin"), ("x-amzn-RequestId", request_id)),
            json.dumps(cors.refused_problem(request_id)).encode(),
        )

    def _match(self, method: str, raw_path: str) -> _Matched | None:
        found: list[_Matched] = []
        for route, fn in self._routes:
            if route.method != method:
                continue
            params = match_route(route.full_path, raw_path)
            if params is not None:
                found.append(_Matched(route, fn, {k: unquote(v) for k, v in params.items()}))
        # A literal segment wins over a path parameter, as in API Gateway's resource tree.
        return min(found, key=lambda m: len(m.path_parameters), default=None)

    def _integration_headers(self, request: HttpRequest) -> tuple[tuple[str, str], ...]:
        """The client's headers plus those API Gateway adds on the way to the integration."""
        headers = list(request.headers)
        names = {k.lower() for k, _ in headers}
        if "x-amzn-trace-id" not in names:
            headers.append(("X-Amzn-Trace-Id", _trace_id()))
        if "x-forwarded-for" not in names:
            headers.append(("X-Forwarded-For", request.source_ip))
        if "x-forwarded-proto" not in names:
            headers.append(("X-Forwarded-Proto", "http"))
        return tuple(headers)

    def _host(self, request: HttpRequest) -> str:
        return _header(request.headers, "host") or "127.0.0.1"

    async def _call(self, container: Invoker, event: dict[str, Any]) -> Any:
        """Invoke a handler on its container's thread. Past the timeout the answer is abandoned, as
        Lambda would end the invocation (the thread itself cannot be stopped)."""
        timeout = min(float(container.fn.timeout_s), INTEGRATION_TIMEOUT_S)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(container.submit(event)), timeout)
        except TimeoutError as exc:
            if timeout >= INTEGRATION_TIMEOUT_S:
                raise IntegrationTimeout(f"{container.fn.name}: no answer within {timeout:.0f} s") from exc
            raise IntegrationError(f"{container.fn.name} timed out after {timeout:.0f} s") from exc
        except Exception as exc:
            raise IntegrationError(f"{container.fn.name} raised {type(exc).__name__}: {exc}") from exc


def _new_request_id() -> str:
    return str(uuid.uuid4())


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    values = [v for k, v in headers if k.lower() == wanted]
    return values[-1] if values else None


def _denies(answer: Mapping[str, Any]) -> bool:
    statements = answer.get("policyDocument", {}).get("Statement", [])
    return any(s.get("Effect") == "Deny" for s in statements)


def _valid_authorizer_answer(answer: Any) -> bool:
    """What API Gateway demands of an authorizer answer; anything else is a 500."""
    if not isinstance(answer, dict) or not isinstance(answer.get("principalId"), str):
        return False
    document = answer.get("policyDocument")
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        return False
    context = answer.get("context") or {}
    return isinstance(context, dict) and all(
        isinstance(v, str | int | float | bool) for v in context.values()
    )


def _proxy_answer(result: Any, request_id: str) -> HttpResponse:
    """A Lambda proxy response as API Gateway turns it into HTTP; a malformed one is an error."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise IntegrationError("malformed Lambda proxy response")
    merged: dict[str, list[str]] = {}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        merged.setdefault(name, []).extend(str(v) for v in values)
    for name, value in (result.get("headers") or {}).items():
        if str(value) not in merged.get(name, []):
            merged.setdefault(name, []).append(str(value))
    headers = [(name, value) for name, values in merged.items() for value in values]
    headers.append(("x-amzn-RequestId", request_id))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        payload = base64.b64decode(body)
    else:
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return HttpResponse(result["statusCode"], tuple(headers), payload)


def _to_starlette(answer: HttpResponse) -> Response:
    response = Response(content=answer.body, status_code=answer.status)
    response.raw_headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in answer.headers
        if k.lower() != "content-length"
    ] + [(b"content-length", str(len(answer.body)).encode())]
    return response
