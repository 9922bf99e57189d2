from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings, FunctionSettings


class ArtifactsSettings(ApiSettings):
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")


class ArtifactEventsSettings(FunctionSettings):
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
    tenants_table: str = Field(alias="TENANTS_TABLE")
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
