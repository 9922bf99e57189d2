from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class DashboardSettings(ApiSettings):
    metrics_table: str = Field(alias="METRICS_TABLE")
    jobs_table: str = Field(alias="JOBS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
    # A range ending now (or later) changes with every new job: its cache entry lives briefly.
    cache_s: int = Field(default=60, alias="METRICS_CACHE_S", ge=0, le=3600)
    # A closed past range changes only when old jobs end late or artifacts move: kept longer.
    closed_cache_s: int = Field(default=3600, alias="METRICS_CACHE_CLOSED_S", ge=0, le=86400)
