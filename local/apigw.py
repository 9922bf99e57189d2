"""API Gateway event shapes built from the samples in `events/aws/`.

The local gateway and the tests turn an HTTP request into the events API Gateway would deliver:
the REQUEST authorizer event and the REST proxy event. Each starts from the stored sample and sets
only what the request decides, so the shape stays the one AWS sends.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events" / "aws"
LOCAL_API_ID = "local"
LOCAL_ACCOUNT = "123456789012"


@cache
def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return data


def sample_event(name: str) -> dict[str, Any]:
    """A deep copy of a stored sample event, safe to change."""
    return copy.deepcopy(_sample(name))


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Sequence[tuple[str, str]] = ()
    query: str = ""
    body: bytes = b""
    source_ip: str = "127.0.0.1"


def match_route(template: str, path: str) -> dict[str, str] | None:
    """Match an API Gateway resource path template (`/a/{b}`) against a concrete path."""
    pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
    found = re.match(pattern, path)
    return found.groupdict() if found else None


def _header_maps(headers: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # API Gateway keeps the last value in `headers`
        multi.setdefault(name, []).append(value)
    return single, multi


def _query_maps(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def method_arn(*, region: str, stage: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{region}:{LOCAL_ACCOUNT}:{LOCAL_API_ID}/{stage}/{method}{path}"


def _request_context(
    base: dict[str, Any], request: HttpRequest, *, resource: str, stage: str, host: str, request_id: str
) -> dict[str, Any]:
    now = time.time()
    base.update(
        {
            "httpMethod": request.method,
            "path": f"/{stage}{request.path}",
            "resourcePath": resource,
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": int(now * 1000),
            "requestTime": formatdate(now, usegmt=True),
            "apiId": LOCAL_API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
        }
    )
    base["identity"]["sourceIp"] = request.source_ip
    base["identity"]["userAgent"] = {k.lower(): v for k, v in request.headers}.get("user-agent")
    return base


def authorizer_event(
    request: HttpRequest,
    *,
    resource: str,
    path_parameters: Mapping[str, str],
    region: str,
    stage: str,
    host: str,
    request_id: str,
) -> dict[str, Any]:
    event = sample_event("rest_authorizer_request")
    headers, multi_headers = _header_maps(request.headers)
    query, multi_query = _query_maps(request.query)
    event.update(
        {
            "methodArn": method_arn(region=region, stage=stage, method=request.method, path=request.path),
            "resource": resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or {},
            "multiValueQueryStringParameters": multi_query or {},
            "pathParameters": dict(path_parameters),
            "stageVariables": {},
        }
    )
    _request_context(
        event["requestContext"], request, resource=resource, stage=stage, host=host, request_id=request_id
    )
    return event


def proxy_event(
    request: HttpRequest,
    *,
    resource: str,
    path_parameters: Mapping[str, str],
    authorizer: Mapping[str, Any] | None,
    stage: str,
    host: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    event = sample_event("rest_proxy_request")
    headers, multi_headers = _header_maps(request.headers)
    query, multi_query = _query_maps(request.query)
    body: str | None
    binary = False
    if not request.body:
        body = None
    else:
        try:
            body = request.body.decode()
        except UnicodeDecodeError:
            body, binary = base64.b64encode(request.body).decode(), True
    event.update(
        {
            "resource": resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": dict(path_parameters) or None,
            "body": body,
            "isBase64Encoded": binary,
        }
    )
    context = _request_context(
        event["requestContext"],
        request,
        resource=resource,
        stage=stage,
        host=host,
        request_id=request_id or str(uuid.uuid4()),
    )
    if authorizer is None:
        context.pop("authorizer", None)
    else:
        context["authorizer"] = dict(authorizer)
    return event


def authorizer_answer_context(answer: Mapping[str, Any]) -> dict[str, Any]:
    """What API Gateway passes on to the integration: the authorizer context plus principalId."""
    return {
        **(answer.get("context") or {}),
        "principalId": answer.get("principalId"),
        "integrationLatency": 0,
    }


def policy_allows(answer: Mapping[str, Any], arn: str) -> bool:
    """Evaluate the authorizer's policy for one method arn, as API Gateway does (Deny wins)."""
    allowed = False
    for statement in answer.get("policyDocument", {}).get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(_arn_matches(pattern, arn) for pattern in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _arn_matches(pattern: str, arn: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, arn, re.DOTALL) is not None  # IAM's `*` matches any character


def response_headers(response: Mapping[str, Any]) -> dict[str, list[str]]:
    """All headers of a proxy integration answer, lower-cased, from `headers` and `multiValueHeaders`."""
    merged: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        merged.setdefault(name.lower(), []).append(str(value))
    for name, values in (response.get("multiValueHeaders") or {}).items():
        merged.setdefault(name.lower(), []).extend(str(v) for v in values)
    return merged


# -- WebSocket API ----------------------------------------------------------------------------

LOCAL_WEBSOCKET_API_ID = "localws"
WEBSOCKET_EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}  # any other: MESSAGE


def _websocket_sample(kind: str) -> dict[str, Any] | None:
    """The stored sample of a WebSocket event (`authorizer`, `connect`, `message`, `disconnect`),
    when `events/aws/` holds one (`websocket_*<kind>*.json`); None builds the documented shape."""
    for path in sorted(EVENTS_DIR.glob(f"websocket*{kind}*.json")):
        if kind == "connect" and "disconnect" in path.name:
            continue
        return sample_event(path.stem)
    return None


def websocket_arn(*, region: str, stage: str, route_key: str) -> str:
    return f"arn:aws:execute-api:{region}:{LOCAL_ACCOUNT}:{LOCAL_WEBSOCKET_API_ID}/{stage}/{route_key}"


def _api_gateway_time(epoch_s: float) -> str:
    """`09/Feb/2019:23:26:05 +0000`, as `requestContext.requestTime` of a WebSocket API."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_s))


@dataclass(frozen=True)
class WebSocketRequest:
    """What a WebSocket event is built from: the connection and, per event, the route."""

    connection_id: str
    connected_at_ms: int
    stage: str
    host: str
    source_ip: str
    user_agent: str | None
    headers: Sequence[tuple[str, str]] = ()
    query: Mapping[str, Sequence[str]] | None = None


def _websocket_context(
    base: dict[str, Any], request: WebSocketRequest, *, route_key: str, request_id: str
) -> dict[str, Any]:
    now = time.time()
    for stale in ("authorizer", "messageId", "disconnectStatusCode", "disconnectReason", "error", "status"):
        base.pop(stale, None)
    base.update(
        {
            "routeKey": route_key,
            "eventType": WEBSOCKET_EVENT_TYPES.get(route_key, "MESSAGE"),
            "extendedRequestId": request_id,
            "requestTime": _api_gateway_time(now),
            "messageDirection": "IN",
            "stage": request.stage,
            "connectedAt": request.connected_at_ms,
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "domainName": request.host,
            "connectionId": request.connection_id,
            "apiId": LOCAL_WEBSOCKET_API_ID,
        }
    )
    identity = base.setdefault("identity", {})
    identity["sourceIp"] = request.source_ip
    if request.user_agent is not None:
        identity["userAgent"] = request.user_agent
    else:
        identity.pop("userAgent", None)
    return base


def _query_of(request: WebSocketRequest) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not request.query:
        return None, None
    return (
        {name: values[-1] for name, values in request.query.items()},
        {name: list(values) for name, values in request.query.items()},
    )


def websocket_authorizer_event(request: WebSocketRequest, *, region: str, request_id: str) -> dict[str, Any]:
    """The REQUEST authorizer event of a WebSocket API's `$connect`."""
    event = _websocket_sample("authorizer") or {"type": "REQUEST", "requestContext": {}}
    headers, multi_headers = _header_maps(request.headers)
    query, multi_query = _query_of(request)
    event.update(
        {
            "type": "REQUEST",
            "methodArn": websocket_arn(region=region, stage=request.stage, route_key="$connect"),
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or {},
            "multiValueQueryStringParameters": multi_query or {},
            "stageVariables": {},
        }
    )
    _websocket_context(event["requestContext"], request, route_key="$connect", request_id=request_id)
    return event


def websocket_event(
    request: WebSocketRequest,
    *,
    route_key: str,
    request_id: str,
    authorizer: Mapping[str, Any] | None,
    body: str | None = None,
    binary: bool = False,
    disconnect: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The event of one route of a WebSocket API: `$connect` (headers and query of the handshake),
    a message (its body; `route_key` from the route selection) or `$disconnect` (the close code
    and reason)."""
    kind = {"$connect": "connect", "$disconnect": "disconnect"}.get(route_key, "message")
    event = _websocket_sample(kind) or {"requestContext": {}}
    for stale in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
        event.pop(stale, None)
    event["isBase64Encoded"] = binary
    context = _websocket_context(event["requestContext"], request, route_key=route_key, request_id=request_id)
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    if route_key == "$connect":
        headers, multi_headers = _header_maps(request.headers)
        query, multi_query = _query_of(request)
        event.update({"headers": headers, "multiValueHeaders": multi_headers})
        if query:
            event.update({"queryStringParameters": query, "multiValueQueryStringParameters": multi_query})
        event.pop("body", None)
    elif route_key == "$disconnect":
        # What API Gateway sends on $disconnect: the host and empty placeholders, not the client's.
        headers = {"Host": request.host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        event.update({"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()}})
        code, reason = disconnect or (1005, "")
        context.update({"disconnectStatusCode": code, "disconnectReason": reason})
        event.pop("body", None)
    else:
        context["messageId"] = base64.urlsafe_b64encode(uuid.uuid4().bytes[:11]).decode()
        event["body"] = body
    return event
