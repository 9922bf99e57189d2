"""A regional API Gateway REST API, played locally in front of the real handlers.

Per request, in API Gateway's order: payload size, route match (method and resource template of the
manifest; OPTIONS on a routed resource is the CORS preflight, answered by the gateway itself as the
stack's mock integration answers it, see `stacks.cors`), identity source present, authorizer (real
handler, answers cached per token for the manifest's TTL, policy evaluated against the method arn),
then the proxy integration: the REST proxy event goes to the real function handler and its proxy
answer becomes the HTTP answer. A route that `accepts_ticket` has the authorizer without identity
source instead: invoked on every request, never cached (a stream ticket is single-use).
Refusals are the manifest's gateway responses, rendered as the problem details the CDK stack
renders (`stacks.constructs.api.problem_template`), with the headers the stack maps on them: the
CORS ones of `stacks.cors.gateway_response_headers` and the response's own, evaluated against the
request as API Gateway evaluates mapping expressions.

Paths as API Gateway passes them: a trailing slash is routed to the resource without it, and the
event's `path` and `pathParameters` keep the request's percent-encoding (a REST API does not decode
them; an encoded slash stays inside its parameter). Lambda's limits as Lambda applies them: an
answer over 6 MB fails the invocation (502), a function's reserved concurrency throttles the
invocations past it (`local.pool.Throttled`: API Gateway's INTEGRATION_FAILURE response).

The same server plays the region's WebSocket API and its management API (`local.websocket`), and
serves the local-only routes the runtime adds (`extra_routes`: the dev console, `/dev/token`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import decimal
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

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
from local.pool import Invocation, Throttled
from local.websocket import Refused, WebSocketGateway
from stacks import cors
from stacks.manifest import WebSocketApi

if TYPE_CHECKING:
    from local.pool import Invoker
    from stacks.manifest import Function, Manifest, Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway REST payload quota
INTEGRATION_TIMEOUT_S = 29.0  # API Gateway REST integration timeout
# Lambda's synchronous response payload: the answer's JSON, 6 MB as Lambda counts it (its error says
# "Response payload size exceeded maximum allowed payload size (6291556 bytes)").
LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_556
AUTHORIZER_CACHE_MAX_ENTRIES = 10_000

AUTHORIZER_CACHE_MAX_TTL_S = 3600  # API Gateway refuses an authorizer result TTL outside 0..3600

# API Gateway's own status and $context.error.message of each response type it sends here.
_DEFAULTS: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
    # Sent here for a throttled function only: "If the Lambda API rejects the invocation request,
    # API Gateway returns a 500" (Lambda developer guide, services-apigateway-errors), the type a
    # Lambda 429 maps to being INTEGRATION_FAILURE (whose table status, 504, is not what is seen).
    "INTEGRATION_FAILURE": (500, "Internal server error"),
    "LAMBDA_ERROR": (502, "Internal server error"),  # no response type of its own: DEFAULT_5XX
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
}
# Request values a gateway response header may be mapped from (`method.request.header.Origin`).
_REQUEST_MAPPING = re.compile(r"^method\.request\.(header|querystring)\.(.+)$")
EXPLICIT_DENY_MESSAGE = "User is not authorized to access this resource with an explicit deny"

logger = logging.getLogger("local.gateway")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # A gateway response's header mappings (`'literal'`, `method.request.header.Origin`), evaluated
    # against the request when the gateway sends it.
    mapped_headers: tuple[tuple[str, str], ...] = ()

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
    """API Gateway's authorizer result cache: policy answers per identity source value, for a TTL
    (the policy is still evaluated against each request's method arn). A TTL of 0, or an authorizer
    without an identity source, caches nothing."""

    def __init__(self, ttl_s: float, clock: Callable[[], float], *, identity_source: str = "x") -> None:
        if not 0 <= ttl_s <= AUTHORIZER_CACHE_MAX_TTL_S:
            raise ValueError(f"an authorizer result TTL is 0 to {AUTHORIZER_CACHE_MAX_TTL_S} s, not {ttl_s}")
        self._ttl_s = ttl_s
        self._clock = clock
        self.enabled = ttl_s > 0 and bool(identity_source)
        self._answers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, identity: str) -> dict[str, Any] | None:
        if not self.enabled:
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
        if not self.enabled:
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


class IntegrationThrottled(IntegrationError):
    """Lambda refused the invocation (the function's reserved concurrency is in use)."""


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
        self.authorizer_cache = _AuthorizerCache(
            manifest.authorizer.cache_ttl_s, clock, identity_source=manifest.authorizer.identity_source
        )
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
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"])
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
            too_large = self.gateway_response("REQUEST_TOO_LARGE", request_id=_new_request_id())
            return _to_starlette(self._sent(too_large, headers, ""))
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_PAYLOAD_BYTES:
                too_large = self.gateway_response("REQUEST_TOO_LARGE", request_id=_new_request_id())
                return _to_starlette(self._sent(too_large, headers, ""))
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        answer = await self.invoke(
            HttpRequest(
                method=request.method,
                path=raw_path.decode("latin-1"),
                headers=headers,
                query=request.scope.get("query_string", b"").decode("latin-1"),
                body=bytes(body),
                source_ip=request.client.host if request.client else "127.0.0.1",
            )
        )
        return _to_starlette(answer)

    # -- the gateway -------------------------------------------------------------------------

    async def invoke(self, request: HttpRequest) -> HttpResponse:
        """Serve one request as API Gateway would; `request.path` as sent (percent-encoded)."""
        answer = await self._serve(request, _new_request_id())
        return self._sent(answer, request.headers, request.query)

    async def _serve(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE", request_id=request_id)
        matched = self._match(request.method, request.path)
        if matched is None:  # no route is an OPTIONS method: a preflight, or no such route
            return self._preflight(request, request_id) or self.gateway_response(
                "MISSING_AUTHENTICATION_TOKEN", request_id=request_id
            )
        request = replace(request, headers=self._integration_headers(request))
        answer = await self._authorize(request, matched, request_id)
        if isinstance(answer, HttpResponse):
            return answer
        return await self._integrate(request, matched, answer, request_id)

    async def _integrate(
        self, request: HttpRequest, matched: _Matched, authorized: dict[str, Any], request_id: str
    ) -> HttpResponse:
        """The Lambda proxy integration: the function's answer, or the gateway response of its failure."""
        event = proxy_event(
            request,
            resource=matched.route.full_path,
            path_parameters=matched.path_parameters,
            authorizer=authorizer_answer_context(authorized),
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
        except IntegrationThrottled as exc:
            logger.warning("%s", exc)
            return self.gateway_response("INTEGRATION_FAILURE", request_id=request_id)
        except IntegrationError:
            logger.exception("%s failed", matched.fn.name)
            return self.gateway_response("LAMBDA_ERROR", request_id=request_id)

    async def _authorize(
        self, request: HttpRequest, matched: _Matched, request_id: str
    ) -> dict[str, Any] | HttpResponse:
        """The authorizer's answer allowing this method, or the gateway response refusing it.

        A route that takes a stream ticket has the authorizer without identity source: API Gateway
        invokes it on every request, whatever the request presents, and caches nothing (there is no
        cache key). The other routes' authorizer needs the header (none: 401 without invoking it)
        and its answers are cached per header value."""
        identity: str | None = None
        if not matched.route.accepts_ticket and self.manifest.authorizer.identity_source:
            identity = _header(request.headers, self.manifest.authorizer.identity_source)
            if not identity:  # API Gateway answers 401 without calling the authorizer
                return self.gateway_response("UNAUTHORIZED", request_id=request_id)
        cached = self.authorizer_cache.get(identity) if identity is not None else None
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
            if identity is not None:
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
        cached: the credential may come from either of two places (a ticket, the subprotocols), so
        the API's authorizer has no identity source, and no cache key."""
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
        """A gateway response as the stack customises it: a problem document, with the CORS headers
        of every gateway response and the response's own (mapped when the gateway sends it). A type
        the manifest does not customise falls back to DEFAULT_4XX or DEFAULT_5XX, keeping API
        Gateway's status; with neither, it is API Gateway's own `{"message": ...}`."""
        default_status, default_message = _DEFAULTS[response_type]
        fallback = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        configured = self._responses.get(response_type) or self._responses.get(fallback)
        mapped = tuple(cors.gateway_response_headers(self.cors_origins).items())
        if configured is None:
            plain = {"message": message or default_message}
            headers = (("content-type", "application/json"), ("x-amzn-RequestId", request_id))
            return HttpResponse(default_status, headers, json.dumps(plain).encode(), mapped)
        status = configured.status or default_status
        body: dict[str, Any] = {"type": problem_type(configured.code), "title": configured.title}
        if configured.status is not None:  # the stack's template names no status for DEFAULT_*
            body["status"] = status
        body.update({"code": configured.code, "detail": message or default_message, "request_id": request_id})
        headers = (("content-type", PROBLEM_CONTENT_TYPE), ("x-amzn-RequestId", request_id))
        # The response's own headers are literals, quoted as the stack renders them.
        own = tuple((name, f"'{value}'") for name, value in configured.headers)
        return HttpResponse(status, headers, json.dumps(body).encode(), (*mapped, *own))

    def _sent(
        self, answer: HttpResponse, request_headers: Iterable[tuple[str, str]], query: str
    ) -> HttpResponse:
        """The answer as it leaves the gateway: a gateway response's header mappings evaluated
        against the request (a mapping from a value the request lacks gives no header)."""
        if not answer.mapped_headers:
            return answer
        request_headers = tuple(request_headers)
        added: list[tuple[str, str]] = []
        for name, expression in answer.mapped_headers:
            value = _mapped_value(expression, request_headers, query)
            if value is not None:
                added.append((name, value))
        return replace(answer, headers=(*answer.headers, *added), mapped_headers=())

    def _preflight(self, request: HttpRequest, request_id: str) -> HttpResponse | None:
        """The OPTIONS mock of a routed resource: 204 with the CORS headers when the Origin is
        allowlisted, 403 problem details otherwise; None when there is no such preflight method."""
        if request.method != "OPTIONS":
            return None
        routed = _routed_path(request.path)
        methods = next(
            (m for path, m in self._preflight_paths.items() if match_route(path, routed) is not None),
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
        """The route of `raw_path` (as sent: an encoded slash stays inside its segment), with its
        path parameters as they appear in it, still percent-encoded, as API Gateway passes them."""
        found: list[_Matched] = []
        routed = _routed_path(raw_path)
        for route, fn in self._routes:
            if route.method != method:
                continue
            params = match_route(route.full_path, routed)
            if params is not None:
                found.append(_Matched(route, fn, params))
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
        """Invoke a handler on its container's thread, on two clocks: API Gateway's integration
        timeout (29 s) runs from the request, the function's timeout from the moment a container
        takes the invocation, as Lambda counts it (time queued behind the pool's cap, which stands
        for Lambda's scaling, is not the function's). Past either the answer is abandoned, as Lambda
        would end the invocation (the thread itself cannot be stopped); an invocation still queued
        at API Gateway's deadline is dropped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INTEGRATION_TIMEOUT_S
        submitted = container.submit(event)
        answer = asyncio.wrap_future(submitted)
        if not await _taken(loop, submitted, answer, deadline):
            answer.cancel()  # still queued: dropped, as API Gateway gave up on it
            raise IntegrationTimeout(
                f"{container.fn.name}: no container within {INTEGRATION_TIMEOUT_S:.0f} s"
            )
        function_timeout = float(container.fn.timeout_s)
        remaining = deadline - loop.time()
        try:
            result = await asyncio.wait_for(answer, min(function_timeout, remaining))
        except TimeoutError as exc:
            if remaining <= function_timeout:
                raise IntegrationTimeout(
                    f"{container.fn.name}: no answer within {INTEGRATION_TIMEOUT_S:.0f} s"
                ) from exc
            raise IntegrationError(f"{container.fn.name} timed out after {function_timeout:.0f} s") from exc
        except Throttled as exc:
            raise IntegrationThrottled(str(exc)) from exc
        except Exception as exc:
            raise IntegrationError(f"{container.fn.name} raised {type(exc).__name__}: {exc}") from exc
        _check_response_payload(container.fn.name, result)
        return result


async def _taken(
    loop: asyncio.AbstractEventLoop, submitted: Any, answer: asyncio.Future[Any], deadline: float
) -> bool:
    """Whether a container took the invocation (or it ended without one: refused) by `deadline`.
    Only a pool's invocation can wait for a container; any other starts at once."""
    if not isinstance(submitted, Invocation):
        return True
    started = asyncio.Event()
    submitted.add_start_callback(lambda: _notify(loop, started))
    waiting = asyncio.ensure_future(started.wait())
    try:
        await asyncio.wait(
            {waiting, answer}, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        answer.cancel()  # the caller is gone: a queued invocation is dropped
        raise
    finally:
        waiting.cancel()
    return started.is_set() or answer.done()


def _notify(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set `event` on its loop from another thread (a loop closed since: nobody waits any more)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(event.set)


def _new_request_id() -> str:
    return str(uuid.uuid4())


def _routed_path(path: str) -> str:
    """The path API Gateway matches resources against: a trailing slash names the resource without it."""
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def _mapped_value(expression: str, headers: Sequence[tuple[str, str]], query: str) -> str | None:
    """A gateway response header's value from its mapping expression: `'literal'`, or a request
    header or query string parameter (`method.request.header.Origin`; None when the request has
    none). Any other expression is one this gateway does not play: refused, not guessed."""
    if len(expression) >= 2 and expression[0] == expression[-1] == "'":
        return expression[1:-1]
    found = _REQUEST_MAPPING.match(expression)
    if found is None:
        raise ValueError(
            f"a gateway response header mapping the local gateway cannot evaluate: {expression!r}"
        )
    kind, name = found.groups()
    if kind == "header":
        return _header(headers, name)
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == name]
    return values[-1] if values else None


def _check_response_payload(function: str, answer: Any) -> None:
    """Lambda's synchronous response limit, on the answer's JSON as the Python runtime serialises it
    (Decimal as a number, ensure_ascii off): past it, or not serialisable, the invocation fails."""
    try:
        payload = json.dumps(answer, ensure_ascii=False, default=_runtime_json)
    except (TypeError, ValueError) as exc:
        raise IntegrationError(
            f"{function}: Runtime.MarshalError, unable to marshal response: {exc}"
        ) from exc
    size = len(payload.encode())
    if size > LAMBDA_RESPONSE_LIMIT_BYTES:
        raise IntegrationError(
            f"{function}: Function.ResponseSizeTooLarge, response payload size ({size} bytes) exceeded "
            f"maximum allowed payload size ({LAMBDA_RESPONSE_LIMIT_BYTES} bytes)"
        )


def _runtime_json(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


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
