"""Routes of the dashboard group: resolve the range, read the cache, compute on a miss, answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from gui_core import rbac
from gui_core.api import count
from gui_core.context import RequestContext
from gui_core.date_times import QueryTime
from gui_core.dependencies import require_scope
from gui_core.guard import GroupPolicy, group_router
from gui_dashboard.cache import (
    CacheKey,
    CacheStore,
    cache_item,
    cached_document,
    dashboard_key,
    series_key,
    telemetry_key,
    ttl_s,
)
from gui_dashboard.logic import (
    BUCKETS,
    MODULES,
    PRESETS,
    TimeRange,
    choose_bucket,
    dashboard_document,
    metrics_document,
    module_spec,
    resolve_range,
)
from gui_dashboard.models import Dashboard, ModuleMetrics
from gui_dashboard.repository import StoreSources
from gui_dashboard.settings import DashboardSettings
from gui_dashboard.telemetry import telemetry_block, telemetry_preset

PREFIX = "/service/gui"
router = group_router(
    prefix=PREFIX, policy=GroupPolicy("dashboard", read_class="dashboard", write_class="writes")
)

Viewer = Annotated[RequestContext, Depends(require_scope(rbac.DASHBOARD))]
From = Annotated[QueryTime | None, Query(alias="from", description="Start, ISO 8601 (UTC if no offset).")]
To = Annotated[QueryTime | None, Query(alias="to", description="End, ISO 8601; default now.")]
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


def _now() -> datetime:
    return datetime.now(UTC)


def _read_through(request: Request, key: CacheKey, compute: Any, *, now: datetime) -> dict[str, Any]:
    cache: CacheStore = request.app.state.cache
    document = cached_document(cache.get(key), now=now)
    count(request, "CacheHits" if document is not None else "CacheMisses")  # the hit rate's terms
    if document is not None:
        return {**document, "source": "cache"}
    document = compute()
    settings: DashboardSettings = request.app.state.settings
    ttl = ttl_s(key.time_range, now, open_s=settings.cache_s, closed_s=settings.closed_cache_s)
    if ttl > 0:
        cache.put(cache_item(key, document, now=now, ttl=ttl, producer="dashboard"))
    return {**document, "source": "computed"}


def _telemetry(
    request: Request, tenant: str, preset: str | None, *, now: datetime, module: str | None = None
) -> dict[str, Any]:
    """The telemetry block: the aggregate the scheduled aggregation cached for the preset, if any."""
    document = None
    if preset is not None:
        cache: CacheStore = request.app.state.cache
        document = cached_document(cache.get(telemetry_key(tenant, preset)), now=now)
    return telemetry_block(document, preset=preset, module=module)


def _sources(request: Request) -> StoreSources:
    sources: StoreSources = request.app.state.sources
    return sources


@router.get(
    "/dashboard",
    response_model=Dashboard,
    summary="Figures of every module for a range, with trends against the previous period",
    responses=_ERRORS,
)
def get_dashboard(
    request: Request, caller: Viewer, start: From = None, end: To = None, preset: Preset = None
) -> dict[str, Any]:
    now = _now()
    period = resolve_range(start=start, end=end, preset=preset, now=now)

    def compute() -> dict[str, Any]:
        records = _sources(request).records(caller.tenant, TimeRange(period.previous().start, period.end))
        return dashboard_document(period, records, as_of=now)

    answer = _read_through(request, dashboard_key(caller.tenant, period), compute, now=now)
    telemetry = _telemetry(
        request, caller.tenant, telemetry_preset(start=start, end=end, preset=preset), now=now
    )
    return {**answer, "telemetry": telemetry}


@router.get(
    "/metrics/{module}",
    response_model=ModuleMetrics,
    summary="One module's time series and breakdown",
    responses={404: {"description": "Unknown module (`unknown_module`)"}, **_ERRORS},
)
def get_module_metrics(
    request: Request,
    caller: Viewer,
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
) -> dict[str, Any]:
    module_spec(module)
    now = _now()
    period = resolve_range(start=start, end=end, preset=preset, now=now)
    size = choose_bucket(period, bucket)

    def compute() -> dict[str, Any]:
        records = _sources(request).records(caller.tenant, period)
        return metrics_document(module, period, size, records, as_of=now)

    answer = _read_through(request, series_key(caller.tenant, module, period, size), compute, now=now)
    preset_of_range = telemetry_preset(start=start, end=end, preset=preset)
    return {
        **answer,
        "telemetry": _telemetry(request, caller.tenant, preset_of_range, now=now, module=module),
    }
