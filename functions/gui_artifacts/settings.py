from __future__ import annotations

from pydantic import Field

from gui_artifacts.repository import SEARCH_READ_BUDGET
from gui_core.settings import ApiSettings, FunctionSettings


class ArtifactsSettings(ApiSettings):
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
    migrations_table: str = Field(alias="MIGRATIONS_TABLE")  # the ledger, read: gui_core.migrations.gate
    # Order items one search page reads at most (gui_artifacts.repository.SEARCH_READ_BUDGET).
    search_read_budget: int = Field(default=SEARCH_READ_BUDGET, alias="ARTIFACT_SEARCH_READ_BUDGET", ge=1)


class ArtifactEventsSettings(FunctionSettings):
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
    tenants_table: str = Field(alias="TENANTS_TABLE")
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
