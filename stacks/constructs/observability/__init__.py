"""Observability of a region: alarms on what breaks, a CloudWatch dashboard, and the Grafana dashboard
over the same metrics, in four modules:

- `thresholds`: the alarms' defaults, to tune per deployment;
- `panels`: the metrics and panels, one description (`dashboard_rows`), and its CloudWatch rendering;
- `alarms`: the `Observability` construct, the region's alarm topic and its alarms, with the dashboard;
- `grafana`: the Grafana rendering of the same panels, `docs/gui/grafana_dashboard.json`, whose
  dimension values that only exist once deployed (function, queue and stream names, API ids) are
  Grafana variables. Regenerate it after changing the panels (a test fails when it is stale):

    .venv/bin/python -m stacks.constructs.observability --grafana docs/gui/grafana_dashboard.json

Application metrics are the functions' Powertools EMF metrics: namespace `METRICS_NAMESPACE`,
dimension `service` = the function's name.
"""

from stacks.constructs.observability.alarms import Observability

__all__ = ["Observability"]
