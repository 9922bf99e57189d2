"""Request and response models of the preferences group (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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
FilterValue = FilterText | int | float | bool | Annotated[list[FilterText], Field(max_length=50)]
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
LockKey = Annotated[str, StringConstraints(pattern=r"^[a-z_.]{1,64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreferenceValues(_Strict):
    """A partial set of preferences: a user's overrides or a tenant's defaults. Absent = inherit."""

    theme: Literal["light", "dark", "system"] | None = None
    locale: Locale | None = None
    density: Literal["comfortable", "compact"] | None = None
    default_filters: dict[Module, Filters] | None = Field(default=None, description="Filters per module.")
    pinned_dashboards: list[DashboardId] | None = Field(default=None, max_length=20)

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
    tenant: str
    subject: str
    effective: EffectivePreferences
    overrides: PreferenceValues
    defaults: PreferenceValues
    locked_keys: list[str]
    version: int = Field(description="Version of the user's own preferences; 0 before the first change.")
    updated_at: str | None


class TenantPolicyInput(_Strict):
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
    name: ViewName
    module: Module
    filters: Filters = Field(default_factory=dict)
    sort: list[SortKey] = Field(default_factory=list, max_length=5)
    columns: list[ColumnName] = Field(default_factory=list, max_length=50)
    visibility: Literal["private", "tenant"] = "private"


class View(ViewInput):
    model_config = ConfigDict(extra="ignore")

    id: str
    owner: str
    version: int
    created_at: str
    updated_at: str


class ViewPage(BaseModel):
    items: list[View]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
