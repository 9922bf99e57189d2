"""The dashboard's fields: `dashboard` and `module_metrics` (`gui_dashboard.use_cases`), the answers of
`GET /dashboard` and `GET /metrics/{module}` with the same arguments, each with `age_s`, the value of
REST's `Age` header (how old the figures are). Queries only: the dashboard changes nothing.

`range`, `bucket` and `module` are strings, as REST's query and path parameters are: REST documents
their names but checks them in the use case, so an unknown one is an error of its field with REST's
code and status (422 `invalid_range`, 404 `unknown_module`), not a refused document. Their values
(`24h`, `1d`) are no GraphQL enum names anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from graphql import GraphQLArgument, GraphQLField, GraphQLNonNull, GraphQLString
from pydantic import BaseModel, ConfigDict, Field

from gui_core import rbac
from gui_core.date_times import QueryTime
from gui_dashboard import use_cases
from gui_dashboard.models import Dashboard, ModuleMetrics, Telemetry
from gui_graphql.fields.base import Access, Context, make_field, validated

if TYPE_CHECKING:
    from gui_dashboard.settings import DashboardSettings
    from gui_dashboard.use_cases import Answer, DashboardPorts, Served
    from gui_graphql.types import ModelTypes

GROUP = "dashboard"
ORDER = 10  # where its root fields come in the schema
PAGES: dict[str, int] = {}  # no lists of pages
ACCESS = Access("dashboard", rbac.DASHBOARD, read_class="dashboard")

_AGE = (
    "Seconds since the figures were computed (REST's `Age` header): 0 for a fresh answer, more for a "
    "preset's cached answer (served stale while another call recomputes it)."
)


# The schema's `Dashboard` and `ModuleMetrics` (named as REST's): REST's models and `age_s`. A field
# answers REST's document with the header's value beside it (`_aged`).
class AgedDashboard(Dashboard):
    """Figures of every module for a range, with trends (`GET /dashboard`), and how old they are."""

    age_s: int = Field(ge=0, description=_AGE)


class AgedModuleMetrics(ModuleMetrics):
    """One module's time series and breakdown (`GET /metrics/{module}`), and how old they are."""

    age_s: int = Field(ge=0, description=_AGE)


class _Bounds(BaseModel):
    """`from` and `to` as REST parses them (ISO 8601 text, UTC if no offset): a bad one is REST's 422
    `validation_failed` at its argument (`/from`)."""

    model_config = ConfigDict(populate_by_name=True)

    start: QueryTime | None = Field(default=None, alias="from")
    end: QueryTime | None = Field(default=None, alias="to")


def settings() -> DashboardSettings:
    """The group's settings, from the environment (read at the cold start, as its own function does)."""
    from gui_dashboard.settings import DashboardSettings

    return DashboardSettings()  # type: ignore[call-arg]  # fields come from the environment


def ports(settings: DashboardSettings) -> DashboardPorts:
    """As the dashboard's function builds them, without the cache's Count metrics: those are the
    dashboard function's (`gui_core.metric_names.EMITTED_BY`), its alarms' terms."""
    from gui_dashboard.ports import build_ports

    return build_ports(settings)


def _ports(context: Context) -> DashboardPorts:
    found: DashboardPorts = context.ports.of(GROUP)
    return found


def _bounds(arguments: Mapping[str, Any]) -> _Bounds:
    bounds: _Bounds = validated(_Bounds, {"from": arguments.get("from"), "to": arguments.get("to")})
    return bounds


def _aged(served: Served[Answer]) -> dict[str, Any]:
    return {**served.answer.model_dump(mode="json"), "age_s": served.age_s}


def _dashboard(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    bounds = _bounds(arguments)
    served = use_cases.read_dashboard(
        _ports(context), context.caller, start=bounds.start, end=bounds.end, preset=arguments.get("range")
    )
    return _aged(served)


def _module_metrics(context: Context, arguments: Mapping[str, Any]) -> dict[str, Any]:
    bounds = _bounds(arguments)
    served = use_cases.read_module_metrics(
        _ports(context),
        context.caller,
        str(arguments["module"]),
        start=bounds.start,
        end=bounds.end,
        preset=arguments.get("range"),
        bucket=arguments.get("bucket"),
    )
    return _aged(served)


def _names(annotation: Any) -> str:
    """The values of a (maybe optional) `Literal`, for a description: `24h`, `7d` or `30d`."""
    while get_origin(annotation) is not Literal:
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    values = [f"`{v}`" for v in get_args(annotation)]
    return ", ".join(values[:-1]) + f" or {values[-1]}"


def _range_arguments() -> dict[str, GraphQLArgument]:
    presets = _names(Telemetry.model_fields["preset"].annotation)
    return {
        "range": GraphQLArgument(
            GraphQLString,
            description=f"{presets} ending now (default `7d`); not with `from`/`to`. Another: "
            "`invalid_range` (422).",
        ),
        "from": GraphQLArgument(
            GraphQLString,
            description="Start, ISO 8601 (UTC if no offset). Figures count whole hours (from the "
            "tenant's rollups), so it is taken down to its hour; the answer's `range` says what was "
            "counted.",
        ),
        "to": GraphQLArgument(
            GraphQLString, description="End, ISO 8601; default now; taken up to the end of its hour."
        ),
    }


def query(types: ModelTypes) -> dict[str, GraphQLField]:
    buckets = _names(ModuleMetrics.model_fields["bucket"].annotation)
    return {
        "dashboard": make_field(
            GraphQLNonNull(types.object(AgedDashboard, "Dashboard")),
            _dashboard,
            args=_range_arguments(),
            description="Figures of every module for a range, with trends against the previous period "
            "(`GET /dashboard`).",
            access=ACCESS,
        ),
        "module_metrics": make_field(
            GraphQLNonNull(types.object(AgedModuleMetrics, "ModuleMetrics")),
            _module_metrics,
            args={
                "module": GraphQLArgument(
                    GraphQLNonNull(GraphQLString),
                    description="ingestion, coverage, mapping, overlay, readiness, ...; another: "
                    "`unknown_module` (404).",
                ),
                **_range_arguments(),
                "bucket": GraphQLArgument(
                    GraphQLString,
                    description=f"{buckets}; default the finest within 200 points.",
                ),
            },
            description="One module's time series and breakdown (`GET /metrics/{module}`).",
            access=ACCESS,
        ),
    }


def mutation(types: ModelTypes) -> dict[str, GraphQLField]:
    return {}
