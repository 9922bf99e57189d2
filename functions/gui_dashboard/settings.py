from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class DashboardSettings(ApiSettings):
    metrics_table: str = Field(alias="METRICS_TABLE")
    jobs_table: str = Field(alias="JOBS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
    # The ledger, read (gui_core.migrations.gate): a tenant is served from the rollups once their
    # backfill is done for it; without it, from the records.
    migrations_table: str | None = Field(default=None, alias="MIGRATIONS_TABLE")
    # A range ending now (or later) changes with every new job: its cache entry lives briefly.
    cache_s: int = Field(default=60, alias="METRICS_CACHE_S", ge=0, le=3600)
    # A closed past range changes only when old jobs end late or artifacts move: kept longer.
    closed_cache_s: int = Field(default=3600, alias="METRICS_CACHE_CLOSED_S", ge=0, le=86400)
    # A preset answer past its `cache_s` is stale: served at once, for this long, while one caller
    # recomputes it; past that, a miss.
    stale_s: int = Field(default=900, alias="METRICS_CACHE_STALE_S", ge=0, le=86400)
    # How long a caller holds a preset's recompute lease at most (then another may take it over), and
    # how long a caller without a cached answer waits for the holder's before computing its own.
    lease_s: int = Field(default=30, alias="METRICS_LEASE_S", ge=1, le=900)
    lease_wait_s: float = Field(default=5.0, alias="METRICS_LEASE_WAIT_S", ge=0, le=30)
