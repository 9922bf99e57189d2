"""The Grafana rendering of the dashboards' panels (`panels.dashboard_rows`): a CloudWatch data source,
the region and every name made at deployment as variables. Written to `GRAFANA_DASHBOARD` by
`python -m stacks.constructs.observability --grafana <path>`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stacks.constructs.observability.panels import MetricSpec, Panel, Ref, dashboard_rows
from stacks.manifest import DEFAULT_REGIONS
from stacks.manifest_model import Manifest
from stacks.naming import pascal_case, stack_name

GRAFANA_DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "gui" / "grafana_dashboard.json"
GRAFANA_UID = "ddgui-backend"
GRAFANA_SCHEMA_VERSION = 39

_DATASOURCE = {"type": "cloudwatch", "uid": "${datasource}"}
_GRAFANA_LABELS = {
    Ref.FUNCTION: "${PROP('Dim.FunctionName')}",
    Ref.QUEUE: "${PROP('Dim.QueueName')}",
    Ref.TENANT_WORK: "${PROP('MetricName')} ${PROP('Dim.QueueName')}",
    Ref.RULE: "${PROP('MetricName')} ${PROP('Dim.RuleName')}",
    Ref.SCHEDULE: "${PROP('MetricName')} ${PROP('Dim.RuleName')}",
}
# Grafana variables: (name, label, namespace, metric, dimension key, dimension filters, multi).
_GRAFANA_VARIABLES: tuple[tuple[Ref, str, str, str, str, dict[str, str], bool], ...] = (
    (Ref.REST_API, "REST API", "AWS/ApiGateway", "Count", "ApiName", {}, False),
    (Ref.REST_STAGE, "REST stage", "AWS/ApiGateway", "Count", "Stage", {"ApiName": "$rest_api"}, False),
    (Ref.WEBSOCKET_API, "WebSocket API", "AWS/ApiGateway", "ConnectCount", "ApiId", {}, False),
    (Ref.STREAM, "Events stream", "AWS/Kinesis", "IncomingRecords", "StreamName", {}, False),
    (Ref.FUNCTION, "Functions", "AWS/Lambda", "Invocations", "FunctionName", {}, True),
    (Ref.QUEUE, "Dead-letter queues", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", {}, True),
    (
        Ref.WORK_QUEUE,
        "Migration work queue",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {},
        False,
    ),
    (
        Ref.TENANT_WORK,
        "Tenant work queues",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {},
        True,
    ),
    (Ref.BUS, "Event bus", "AWS/Events", "InvocationAttempts", "EventBusName", {}, False),
    (Ref.RULE, "Bus rules", "AWS/Events", "InvocationAttempts", "RuleName", {"EventBusName": "$bus"}, True),
    (Ref.SCHEDULE, "Schedules", "AWS/Events", "Invocations", "RuleName", {}, True),
)


def grafana_dashboard(manifest: Manifest) -> dict[str, Any]:
    """The Grafana dashboard of `dashboard_rows`: a CloudWatch data source and a region chosen as
    variables; names made at deployment (functions, queues, the stream, API ids) are variables
    listing the values of the region, those of a `DdGui-` stack only where the name carries it."""
    prefix = stack_name("").rstrip("-")
    panels: list[dict[str, Any]] = []
    y = 0
    for row in dashboard_rows(manifest):
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for index, panel in enumerate(row.panels):
            x = (index % 3) * 8
            if index and x == 0:
                y += 8
            panels.append(_grafana_panel(panel, len(panels) + 1, x=x, y=y))
        y += 8
    regions = list(DEFAULT_REGIONS)
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "CloudWatch",
            "type": "datasource",
            "query": "cloudwatch",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        {
            "name": "region",
            "label": "Region",
            "type": "custom",
            "query": ",".join(regions),
            "current": {"selected": True, "text": regions[0], "value": regions[0]},
            "options": [
                {"selected": i == 0, "text": region, "value": region} for i, region in enumerate(regions)
            ],
            "hide": 0,
            "multi": False,
            "includeAll": False,
        },
    ]
    regexes = _grafana_regexes(manifest, prefix)
    for ref, label, namespace, metric, key, filters, multi in _GRAFANA_VARIABLES:
        variables.append(
            {
                "name": ref.value,
                "label": label,
                "type": "query",
                "datasource": _DATASOURCE,
                "query": {
                    "queryType": "dimensionValues",
                    "region": "$region",
                    "namespace": namespace,
                    "metricName": metric,
                    "dimensionKey": key,
                    "dimensionFilters": filters,
                    "refId": "CloudWatchVariableQueryEditor-VariableQuery",
                },
                "regex": regexes.get(ref, ""),
                "current": {},
                "hide": 0,
                "refresh": 2,
                "sort": 1,
                "multi": multi,
                "includeAll": multi,
                "options": [],
            }
        )
    return {
        "title": "DomainDetermine GUI backend",
        "uid": GRAFANA_UID,
        "description": "Generated by `python -m stacks.constructs.observability --grafana "
        "docs/gui/grafana_dashboard.json` from the panels of the stacks' CloudWatch dashboard.",
        "tags": ["ddgui", "cloudwatch"],
        "schemaVersion": GRAFANA_SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "utc",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": variables},
        "panels": panels,
    }


def work_queue_logical_prefix(manifest: Manifest) -> str | None:
    """How the logical id (and so the name CloudFormation gives it, `<stack>-<logical id>-<suffix>`)
    of the migrations' work queue begins: State's `<Name>Queue`."""
    if manifest.migration_queue is None:
        return None
    return f"State{pascal_case(manifest.migration_queue.name)}Queue"


def tenant_work_logical_prefixes(manifest: Manifest) -> tuple[str, ...]:
    """How the logical ids of the schedules' per-tenant work queues begin: State's `<Name>Queue`."""
    return tuple(f"State{pascal_case(queue.name)}Queue" for queue in manifest.work_queues)


def _grafana_regexes(manifest: Manifest, prefix: str) -> dict[Ref, str]:
    """Which dimension values of the region each variable lists. Rules are named `<stack>-<name>`;
    CloudFormation names the stream, functions and queues after the stack (the migrations' work queue
    after its logical id too, which tells it from the dead-letter queues); the bus is named by the
    CDK, `DdGui<region without dashes>...`."""
    regexes = dict.fromkeys((Ref.STREAM, Ref.FUNCTION, Ref.QUEUE, Ref.RULE, Ref.SCHEDULE), f"/^{prefix}-/")
    regexes[Ref.BUS] = f"/^{prefix}/"
    work_queue = work_queue_logical_prefix(manifest)
    tenant_work = tenant_work_logical_prefixes(manifest)
    busy = (*((work_queue,) if work_queue is not None else ()), *tenant_work)
    if busy:
        regexes[Ref.QUEUE] = f"/^{prefix}-(?!.*-({'|'.join(busy)}))/"
    if work_queue is not None:
        regexes[Ref.WORK_QUEUE] = f"/^{prefix}-.*-{work_queue}/"
    if tenant_work:
        regexes[Ref.TENANT_WORK] = f"/^{prefix}-.*-({'|'.join(tenant_work)})/"
    return regexes


def _grafana_panel(panel: Panel, panel_id: int, *, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": panel.title,
        "datasource": _DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [_grafana_target(spec, _ref_id(i)) for i, spec in enumerate(panel.metrics)],
    }


def _grafana_target(spec: MetricSpec, ref_id: str) -> dict[str, Any]:
    dimensions = {
        key: f"${value.value}" if isinstance(value, Ref) else value for key, value in spec.dimensions
    }
    expands = spec.expands
    return {
        "datasource": _DATASOURCE,
        "refId": ref_id,
        "queryMode": "Metrics",
        "metricQueryType": 0,
        "metricEditorMode": 0,
        "region": "$region",
        "namespace": spec.namespace,
        "metricName": spec.name,
        "dimensions": dimensions,
        "statistic": spec.statistic,
        "period": str(spec.period_s),
        "matchExact": True,
        "label": _GRAFANA_LABELS[expands] if expands is not None else spec.label,
        "id": "",
        "expression": "",
    }


def _ref_id(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < len(letters) else f"{letters[index // 26 - 1]}{letters[index % 26]}"


def grafana_json(manifest: Manifest) -> str:
    return json.dumps(grafana_dashboard(manifest), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from stacks.manifest import MANIFEST

    parser = argparse.ArgumentParser(description="Write the Grafana dashboard of the stacks' metrics.")
    parser.add_argument("--grafana", type=Path, default=GRAFANA_DASHBOARD, help="where to write it")
    args = parser.parse_args(argv)
    path: Path = args.grafana
    path.write_text(grafana_json(MANIFEST))
    return 0
