"""Request and response models of the preferences group (they are its OpenAPI schema)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.config import JsonDict

from gui_core.storable import JsonUnion

Module = Literal[
    "dashboard",
    "ingestion",
    "coverage",
    "mapping",
    "overlay",
    "readiness",
    "prompt_pack",
    "governance",
    "cost",
    "artifacts",
    "jobs",
    "notifications",
    "search",
]
MODULES: tuple[str, ...] = Module.__args__  # type: ignore[attr-defined]

FilterName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
FilterText = Annotated[str, StringConstraints(max_length=256)]
# One member per JSON type, each strict and storable (gui_core.storable): a string stays a string.
FilterValue = Annotated[
    FilterText | int | float | bool | Annotated[list[FilterText], Field(max_length=50)], JsonUnion()
]
Filters = Annotated[dict[FilterName, FilterValue], Field(max_length=50)]
DashboardId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")]

LOCKABLE_KEYS: tuple[str, ...] = (
    "theme",
    "locale",
    "density",
    "default_filters",
    "pinned_dashboards",
    *(f"default_filters.{m}" for m in MODULES),
)
# The document's pattern is exactly the lockable keys; the policy's validator refuses any other,
# naming them all in one error.
LockKey = Annotated[
    str, Field(json_schema_extra={"pattern": "^(" + "|".join(re.escape(k) for k in LOCKABLE_KEYS) + ")$"})
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_OVERRIDES_EXAMPLE: JsonDict = {
    "theme": "dark",
    "density": "compact",
    "default_filters": {"jobs": {"status": ["failed", "running"], "verb": "mapping"}},
    "pinned_dashboards": ["ops-overview", "mapping-quality"],
}
_TENANT_DEFAULTS_EXAMPLE: JsonDict = {"theme": "system", "locale": "en-GB", "density": "comfortable"}
_VIEW_INPUT_EXAMPLE: JsonDict = {
    "name": "Failed ingests",
    "module": "jobs",
    "filters": {"status": "failed", "verb": "ingest"},
    "sort": [{"field": "requested_at", "direction": "desc"}],
    "columns": ["id", "verb", "status", "requested_by", "requested_at"],
    "visibility": "tenant",
}
_VIEW_EXAMPLE: JsonDict = {
    **_VIEW_INPUT_EXAMPLE,
    "id": "01a1f83cda209e4c2b7d1a",
    "owner": "ada@acme",
    "version": 2,
    "created_at": "2026-11-20T09:15:00.000+00:00",
    "updated_at": "2026-11-20T10:02:11.476+00:00",
}


class PreferenceValues(_Strict):
    """A partial set of preferences: a user's overrides or a tenant's defaults. Absent = inherit."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_OVERRIDES_EXAMPLE]})

    theme: Literal["light", "dark", "system"] | None = None
    locale: Locale | None = None
    density: Literal["comfortable", "compact"] | None = None
    default_filters: dict[Module, Filters] | None = Field(default=None, description="Filters per module.")
    pinned_dashboards: list[DashboardId] | None = Field(
        default=None, max_length=20, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("pinned_dashboards")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("pinned dashboards must be unique")
        return value


class EffectivePreferences(_Strict):
    """Every preference resolved: user override, else tenant default, else the system default."""

    theme: Literal["light", "dark", "system"]
    locale: str
    density: Literal["comfortable", "compact"]
    default_filters: dict[str, dict[str, FilterValue]]
    pinned_dashboards: list[str]


class PreferencesDocument(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant": "acme",
                    "subject": "ada@acme",
                    "effective": {
                        "theme": "dark",
                        "locale": "en-GB",
                        "density": "compact",
                        "default_filters": {"jobs": {"status": ["failed", "running"], "verb": "mapping"}},
                        "pinned_dashboards": ["ops-overview", "mapping-quality"],
                    },
                    "overrides": _OVERRIDES_EXAMPLE,
                    "defaults": _TENANT_DEFAULTS_EXAMPLE,
                    "locked_keys": ["locale"],
                    "version": 5,
                    "updated_at": "2026-11-19T16:02:33.120+00:00",
                }
            ]
        }
    )

    tenant: str
    subject: str
    effective: EffectivePreferences
    overrides: PreferenceValues
    defaults: PreferenceValues
    locked_keys: list[str]
    version: int = Field(description="Version of the user's own preferences; 0 before the first change.")
    updated_at: str | None


class TenantPolicyInput(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"defaults": _TENANT_DEFAULTS_EXAMPLE, "locked_keys": ["locale"]}]},
    )

    defaults: PreferenceValues = Field(default_factory=PreferenceValues)
    locked_keys: list[LockKey] = Field(default_factory=list, max_length=len(LOCKABLE_KEYS))

    @field_validator("locked_keys")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(LOCKABLE_KEYS))
        if unknown:
            raise ValueError(f"unknown preference keys: {', '.join(unknown)}")
        return sorted(set(value))


class TenantPolicyDocument(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant": "acme",
                    "defaults": _TENANT_DEFAULTS_EXAMPLE,
                    "locked_keys": ["locale"],
                    "version": 3,
                    "updated_at": "2026-11-12T14:20:07.552+00:00",
                    "updated_by": "ada@acme",
                }
            ]
        }
    )

    tenant: str
    defaults: PreferenceValues
    locked_keys: list[str]
    version: int
    updated_at: str | None
    updated_by: str | None


class SortKey(_Strict):
    field: FilterName
    direction: Literal["asc", "desc"] = "asc"


ViewName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
ColumnName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]


class ViewInput(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_VIEW_INPUT_EXAMPLE]})

    name: ViewName
    module: Module
    filters: Filters = Field(default_factory=dict)
    sort: list[SortKey] = Field(default_factory=list, max_length=5)
    columns: list[ColumnName] = Field(default_factory=list, max_length=50)
    visibility: Literal["private", "tenant"] = "private"


class View(ViewInput):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [_VIEW_EXAMPLE]})

    id: str
    owner: str
    version: int
    created_at: str
    updated_at: str


class ViewPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_VIEW_EXAMPLE],
                    "next_cursor": "eyJwayI6ImFjbWUiLCJzayI6InZpZXcjMDFhMWY4M2NkYTIwOWU0YzJiN2QxYSJ9",
                }
            ]
        }
    )

    items: list[View]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
