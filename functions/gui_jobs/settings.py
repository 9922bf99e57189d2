from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings, FunctionSettings


class JobsSettings(ApiSettings):
    jobs_table: str = Field(alias="JOBS_TABLE")
    migrations_table: str = Field(alias="MIGRATIONS_TABLE")  # the ledger, read: gui_core.migrations.gate
    domain_bus: str = Field(alias="DOMAIN_BUS")
    idempotency_hours: int = Field(default=24, alias="JOB_IDEMPOTENCY_HOURS", gt=0, le=24 * 30)


class JobEventsSettings(FunctionSettings):
    jobs_table: str = Field(alias="JOBS_TABLE")
    tenants_table: str = Field(alias="TENANTS_TABLE")
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
