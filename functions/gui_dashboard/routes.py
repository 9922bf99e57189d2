"""Routes of the dashboard group. Each parses the range, calls one use case (`gui_dashboard.use_cases`,
where the cache, its leases and the rollups are decided) and answers its model, with the `Age` header
(seconds) saying how old its figures are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime
from gui_core.dependencies import require_scope
from gui_core.guard import GroupPolicy, group_router
from gui_dashboard import use_cases
from gui_dashboard.logic import BUCKETS, MODULES, PRESETS
from gui_dashboard.models import Dashboard, ModuleMetrics
from gui_dashboard.use_cases import Answer, DashboardPorts, Served

PREFIX = "/service/gui"
router = group_router(
    prefix=PREFIX, policy=GroupPolicy("dashboard", read_class="dashboard", write_class="writes")
)

Viewer = Annotated[RequestContext, Depends(require_scope(rbac.DASHBOARD))]
# Counted from hourly rollups, a range is widened to the whole hours it touches; the answer's `range`
# says what was counted.
From = Annotated[
    QueryTime | None,
    Query(
        alias="from",
        description="Start, ISO 8601 (UTC if no offset). Figures count whole hours (from the tenant's "
        "rollups), so it is taken down to its hour; the answer's `range` says what was counted.",
    ),
]
To = Annotated[
    QueryTime | None,
    Query(alias="to", description="End, ISO 8601; default now; taken up to the end of its hour."),
]
# The enums are documented, not checked by FastAPI: an unknown one is the route's 422 `invalid_range`
# (404 `unknown_module`), with the names it knows.
Preset = Annotated[
    str | None,
    Query(
        alias="range",
        description="`24h`, `7d` or `30d` ending now (default `7d`).",
        json_schema_extra={"enum": list(PRESETS)},
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid range (`invalid_range`) or too many points (`too_many_points`)"},
}
# A preset's answer may be served stale while one caller recomputes it (docs/decision_log.md).
_AGED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Age": {
                "description": "Seconds since the figures were computed: 0 for a fresh answer, more "
                "for a preset's cached answer (served stale while another call recomputes it).",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    }
}


def _ports(request: Request) -> DashboardPorts:
    ports: DashboardPorts = request.app.state.ports
    return ports


Ports = Annotated[DashboardPorts, Depends(_ports)]


def _aged(response: Response, served: Served[Answer]) -> Answer:
    """The answer; how old its figures are in the `Age` header."""
    response.headers["Age"] = str(served.age_s)
    return served.answer


@router.get(
    "/dashboard",
    response_model=Dashboard,
    summary="Figures of every module for a range, with trends against the previous period",
    responses={**_AGED, **_ERRORS},
)
def get_dashboard(
    response: Response,
    caller: Viewer,
    ports: Ports,
    start: From = None,
    end: To = None,
    preset: Preset = None,
) -> Dashboard:
    return _aged(response, use_cases.read_dashboard(ports, caller, start=start, end=end, preset=preset))


@router.get(
    "/metrics/{module}",
    response_model=ModuleMetrics,
    summary="One module's time series and breakdown",
    responses={**_AGED, 404: {"description": "Unknown module (`unknown_module`)"}, **_ERRORS},
)
def get_module_metrics(
    response: Response,
    caller: Viewer,
    ports: Ports,
    module: Annotated[
        str,
        Path(
            description="ingestion, coverage, mapping, overlay, readiness, ...",
            json_schema_extra={"enum": list(MODULES)},
        ),
    ],
    start: From = None,
    end: To = None,
    preset: Preset = None,
    bucket: Annotated[
        str | None,
        Query(
            description="`1h`, `6h`, `1d` or `7d`; default the finest within 200 points.",
            json_schema_extra={"enum": list(BUCKETS)},
        ),
    ] = None,
) -> ModuleMetrics:
    served = use_cases.read_module_metrics(
        ports, caller, module, start=start, end=end, preset=preset, bucket=bucket
    )
    return _aged(response, served)
