"""Counts in CloudWatch Embedded Metric Format, carried by the log line they go with.

The authorizer imports no Powertools (its cold start): a line that logs an outage also counts it,
as an EMF document whose only dimension is the line's own `service` key (Powertools Metrics'
default dimension, so one alarm query reads every function)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a failure is counted, not at the cold start
    from gui_core.metric_names import AuthorizerMetric

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DomainDetermine/GUI")


def counted(metric: AuthorizerMetric, value: int = 1) -> dict[str, Any]:
    """The keys that make a LeanLogger line count `value` of the metric `metric`."""
    name = str(metric)
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        name: value,
    }
