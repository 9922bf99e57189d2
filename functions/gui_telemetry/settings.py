from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gui_core.settings import FunctionSettings, lambda_tmp


class TelemetrySettings(FunctionSettings):
    """Fields of both telemetry functions."""

    # The manifest's `Bucket.env_var` and `Store.env_var` names (the manifest is not shipped).
    data_bucket: str = Field(alias="DATA_BUCKET", min_length=1)
    tenants_table: str = Field(alias="TENANTS_TABLE", min_length=1)
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
    # DuckDB's home, spill and scratch folders, and the aggregation's copies of the fact files.
    work_dir: Path = Field(default_factory=lambda: lambda_tmp("telemetry"), alias="TELEMETRY_WORK_DIR")
    # Set by Lambda; DuckDB gets 60% of it (its default, 80% of the host's memory, is not the
    # function's).
    function_memory_mb: int | None = Field(default=None, alias="AWS_LAMBDA_FUNCTION_MEMORY_SIZE", gt=0)

    @property
    def duckdb_memory_mb(self) -> int | None:
        return None if self.function_memory_mb is None else max(64, self.function_memory_mb * 6 // 10)


class FactsSettings(TelemetrySettings):
    """The facts writer (a Kinesis consumer of the `gui-events` stream)."""


class AggregateSettings(TelemetrySettings):
    """The scheduled aggregation."""

    metrics_table: str = Field(alias="METRICS_TABLE", min_length=1)
    # How long a cache item lives: a bit more than two schedule periods, so one missed run leaves
    # the dashboard its figures and a stopped aggregation shows as `pending` soon.
    cache_s: int = Field(default=900, alias="TELEMETRY_CACHE_S", ge=60, le=86_400)
    # Merge the files of closed days into one per day.
    compact: bool = Field(default=True, alias="TELEMETRY_COMPACT")
    # Compaction stops with less than this left before the function's timeout.
    reserve_s: float = Field(default=30.0, alias="TELEMETRY_RESERVE_S", ge=0)
    # The work queue of the per-tenant aggregations (gui_core.tenant_work) and its cycle: the
    # schedule's rate, which the manifest gives.
    work_queue_url: str = Field(alias="TELEMETRY_WORK_QUEUE_URL", min_length=1)
    cycle_s: int = Field(default=300, alias="TENANT_WORK_CYCLE_S", ge=60)
    # The copies of fact files a container keeps across invocations: past this the least recently
    # aggregated tenants' go (a container meets many tenants, one an invocation).
    fact_cache_mb: int = Field(default=2048, alias="TELEMETRY_FACT_CACHE_MB", ge=64)
