"""Powertools Logger and Metrics around a Mangum-wrapped app: a REST function's handler.

No X-Ray SDK tracer here: importing `aws_xray_sdk.core` costs 0.33 s on this machine, more than
boto3 (decision log, 2026-11-27). Lambda's active tracing still records every invocation;
request spans come with the OpenTelemetry work of the observability issue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

if TYPE_CHECKING:
    from fastapi import FastAPI

# Bodies of these types go back to API Gateway as text, not base64.
TEXT_MIME_TYPES = ("application/json", "application/problem+json", "text/plain", "text/event-stream")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def observability() -> tuple[Logger, Metrics]:
    """Service name and namespace come from the POWERTOOLS_* variables the manifest sets."""
    return Logger(), Metrics()


def rest_handler(app: FastAPI, *, logger: Logger, metrics: Metrics) -> LambdaHandler:
    asgi = Mangum(app, lifespan="off", text_mime_types=[*TEXT_MIME_TYPES])

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        if authorizer.get("tenant"):
            logger.append_keys(tenant=authorizer["tenant"])
        response: dict[str, Any] = asgi(event, context)
        return response

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
    outcome (applied, duplicate, refused...), logged with the event id and the named detail keys."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = event.get("detail") or {}
        logger.append_keys(event_id=event.get("id"), **{key: detail.get(key) for key in detail_keys})
        return {"outcome": handle(event)}

    decorated: LambdaHandler = handler
    return decorated


def metric_counter(metrics: Metrics) -> Callable[[str], None]:
    """`count(name)` adds one to a Count metric: what consumers take to report their outcomes."""

    def count(name: str) -> None:
        metrics.add_metric(name=name, unit="Count", value=1)

    return count
