"""Lambda entry point of the WebSocket API: every route of the connection, by its route key."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from gui_core.observability import observability
from gui_realtime.app import create_service
from gui_realtime.models import SocketRequest
from gui_realtime.settings import RealtimeSettings

settings = RealtimeSettings()  # type: ignore[call-arg]  # fields come from the environment
logger, metrics = observability()
# Read once at cold start: a figure recorded later must not depend on the environment of the moment.
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DomainDetermine/GUI")


def count(name: str, *, reason: str | None = None) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if reason is None:
        return
    # And one figure per reason: a dimension of its own, so the other metrics keep theirs.
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=settings.service_name)
        metric.add_dimension(name="reason", value=reason)


service = create_service(settings, logger=logger, count=count)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = SocketRequest.from_event(event)
    logger.append_keys(
        tenant=request.caller.tenant if request.caller else None,
        connection_id=request.connection_id,
        route=request.route_key,
    )
    return service.handle(request)
