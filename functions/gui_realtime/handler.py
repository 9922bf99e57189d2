"""Lambda entry point of the WebSocket API: every route of the connection, by its route key.

Each invocation is a SERVER span, `WS <route key>` ($connect, subscribe, resume, ack...), with the
tenant, the connection id and API Gateway's request id; a `traceparent` header of the handshake
(on $connect) is its parent, else it starts a trace of its own."""

from __future__ import annotations

import os
from typing import Any

from gui_core import coldstart

with coldstart.init():  # the garbage collector held off until the init is done
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from opentelemetry.trace import SpanKind

    from gui_core import tracing
    from gui_core.metric_names import GuardMetric, RealtimeMetric, add
    from gui_core.observability import observability
    from gui_realtime.app import create_service
    from gui_realtime.models import SocketRequest
    from gui_realtime.settings import RealtimeSettings

    settings = RealtimeSettings()  # type: ignore[call-arg]  # fields come from the environment
    logger, metrics = observability()
    # Read once at cold start: a figure recorded later must not depend on the environment of the moment.
    NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DomainDetermine/GUI")

    def count(name: RealtimeMetric | GuardMetric, *, reason: str | None = None) -> None:
        add(metrics, name)
        if reason is None:
            return
        # And one figure per reason: a dimension of its own, so the other metrics keep theirs.
        with single_metric(name=str(name), unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=settings.service_name)
            metric.add_dimension(name="reason", value=reason)

    service = create_service(settings, logger=logger, count=count)
    tracer = tracing.tracer("gui_realtime")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = SocketRequest.from_event(event)
    tenant = request.caller.tenant if request.caller else None
    logger.append_keys(tenant=tenant, connection_id=request.connection_id, route=request.route_key)
    try:
        with tracing.span(
            tracer,
            f"WS {request.route_key}",
            kind=SpanKind.SERVER,
            parent=tracing.extract(request.headers),
            attributes={
                "faas.trigger": "http",
                "faas.invocation_id": getattr(context, "aws_request_id", None),
                "network.protocol.name": "websocket",
                "gui.ws.route": request.route_key,
                tracing.CONNECTION_ID: request.connection_id or None,
                tracing.XRAY_TRACE_ID: tracing.xray_root(request.headers.get("x-amzn-trace-id")),
            },
            invocation={
                tracing.SERVICE: logger.service,
                tracing.TENANT: tenant,
                tracing.REQUEST_ID: request.request_id or None,
            },
        ) as span:
            answer = service.handle(request)
            tracing.set_status_code(span, answer.get("statusCode"), "gui.ws.status_code")
            return answer
    finally:
        tracing.flush()
