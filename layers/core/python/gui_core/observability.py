"""Powertools Logger and Metrics, and OpenTelemetry spans (gui_core.tracing), around the entry points
of the functions: a REST function's handler, an EventBridge-invoked one.

No X-Ray SDK tracer here: importing `aws_xray_sdk.core` costs more than importing boto3 (decision
log, 2026-11-27). Spans are OpenTelemetry's (decision log, 2026-11-28).

Every log line of an invocation carries the invocation's keys: `tenant` and `correlation_id` (API
Gateway's request id, `correlation_paths.API_GATEWAY_REST`) are Powertools thread-safe keys (a
context variable: the local runtime runs many functions on threads of one process), `trace_id` and
`span_id` come from the current span (`tracing.TraceLogFilter` on the function's log handler).
gui_core's own loggers (`gui_core.api`: "unhandled error", "audit write failed") write through the
function's handler too, so their lines are structured and carry the same keys.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
from opentelemetry.trace import SpanKind

from gui_core import tracing
from gui_core.metric_names import MetricName, add

if TYPE_CHECKING:
    from fastapi import FastAPI

# Bodies of these types go back to API Gateway as text, not base64.
TEXT_MIME_TYPES = ("application/json", "application/problem+json", "text/plain", "text/event-stream")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

_CORE_LOGGER = "gui_core"
_core_lock = threading.Lock()


def observability() -> tuple[Logger, Metrics]:
    """Service name and namespace come from the POWERTOOLS_* variables the manifest sets."""
    logger = Logger()
    structure(logger)
    return logger, Metrics()


def structure(logger: Logger) -> None:
    """Trace ids on the lines of `logger`'s handler, and gui_core's records through it (once per
    process: in Lambda a process runs one function; in the local runtime the first function's
    handler writes them, with each invocation's own thread-safe keys)."""
    handler = logger.registered_handler
    handler.addFilter(tracing.TRACE_LOG_FILTER)  # a filter is added once, however often asked
    core = logging.getLogger(_CORE_LOGGER)
    with _core_lock:
        if not any(isinstance(h.formatter, BasePowertoolsFormatter) for h in core.handlers):
            core.addHandler(handler)
            core.propagate = False  # else Lambda's root handler writes each line a second time


def rest_handler(app: FastAPI, *, logger: Logger, metrics: Metrics) -> LambdaHandler:
    """The REST entry point: one SERVER span per request (a child of the request's `traceparent`,
    else a new trace), the parent of FastAPI's spans and of everything the request does."""
    from mangum import Mangum  # only the REST functions load it (at their init, calling this)

    asgi = Mangum(app, lifespan="off", text_mime_types=[*TEXT_MIME_TYPES])
    structure(logger)
    tracer = tracing.tracer("gui_core.observability")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = event.get("requestContext") or {}
        authorizer = request.get("authorizer") or {}
        tenant = str(authorizer.get("tenant") or "") or None
        request_id = str(request.get("requestId") or "") or None
        logger.thread_safe_append_keys(tenant=tenant, correlation_id=request_id)
        headers = event.get("headers") or {}
        method = str(event.get("httpMethod") or request.get("httpMethod") or "")
        route = str(event.get("resource") or request.get("resourcePath") or "")
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "http.route": route,
            "url.path": event.get("path"),
            "faas.trigger": "http",
            "faas.invocation_id": getattr(context, "aws_request_id", None),
            tracing.XRAY_TRACE_ID: tracing.xray_root(
                next((str(v) for k, v in headers.items() if str(k).lower() == "x-amzn-trace-id"), None)
            ),
        }
        try:
            with tracing.span(
                tracer,
                f"{method} {route}".strip(),
                kind=SpanKind.SERVER,
                parent=tracing.extract(headers),
                attributes=attributes,
                invocation={
                    tracing.SERVICE: logger.service,
                    tracing.TENANT: tenant,
                    tracing.REQUEST_ID: request_id,
                },
            ) as span:
                response: dict[str, Any] = asgi(tracing.with_trace_headers(event), context)
                tracing.set_status_code(span, response.get("statusCode"))
            return response
        finally:
            tracing.flush()

    decorated: LambdaHandler = handler
    return decorated


def eventbridge_handler(
    handle: Callable[[dict[str, Any]], str],
    *,
    logger: Logger,
    metrics: Metrics,
    detail_keys: tuple[str, ...] = ("tenant",),
) -> LambdaHandler:
    """The entry point of a function EventBridge invokes with one event: `handle` answers the
    outcome (applied, duplicate, refused...), logged with the event id and the named detail keys.
    Its CONSUMER span continues the trace the event's detail carries (`trace`), if any."""
    structure(logger)
    tracer = tracing.tracer("gui_core.observability")

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = event.get("detail") or {}
        logger.append_keys(event_id=event.get("id"), **{key: detail.get(key) for key in detail_keys})
        kind = str(event.get("detail-type") or "event")
        tenant = str(detail.get("tenant") or "") or None
        try:
            with tracing.span(
                tracer,
                f"process {kind}",
                kind=SpanKind.CONSUMER,
                parent=tracing.context_of(detail),
                attributes={
                    "faas.trigger": "pubsub",
                    "faas.invocation_id": getattr(context, "aws_request_id", None),
                    "messaging.system": "aws.eventbridge",
                    "messaging.operation.type": "process",
                    "messaging.message.id": detail.get("event_id") or event.get("id"),
                    tracing.EVENT_KIND: kind,
                },
                invocation={tracing.SERVICE: logger.service, tracing.TENANT: tenant},
            ) as span:
                outcome = handle(event)
                span.set_attribute(tracing.OUTCOME, outcome)
            return {"outcome": outcome}
        finally:
            tracing.flush()

    decorated: LambdaHandler = handler
    return decorated


def metric_counter(metrics: Metrics) -> Callable[[MetricName], None]:
    """`count(name)` adds one to a Count metric: what consumers take to report their outcomes."""

    def count(name: MetricName) -> None:
        add(metrics, name)

    return count
