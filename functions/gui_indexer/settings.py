from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gui_core.settings import FunctionSettings, lambda_tmp


class IndexerSettings(FunctionSettings):
    data_bucket: str = Field(alias="DATA_BUCKET")
    tenants_table: str = Field(alias="TENANTS_TABLE")
    search_prefix: str = Field(default="search/", alias="SEARCH_PREFIX")
    work_dir: Path = Field(default_factory=lambda: lambda_tmp("gui-index"), alias="INDEX_WORK_DIR")
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
    # The bytes of working copies the indexer keeps in /tmp between batches, the least recently
    # updated tenant's let go first; unset: no bound (the drift check lets each copy go itself).
    work_mb: int | None = Field(default=None, alias="INDEX_WORK_MB", ge=16)
    # The file system the region's search containers and indexers share (EFS; gui_search.shared):
    # set, batches work there and install each version they publish for the readers; /tmp holds
    # no copies (INDEX_WORK_DIR and INDEX_WORK_MB unused).
    shared_dir: Path | None = Field(default=None, alias="SEARCH_SHARED_DIR")


class RebuildSettings(IndexerSettings):
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
    # The work queue of the per-tenant checks (gui_core.tenant_work) and its cycle: the schedule's
    # rate, which the manifest gives.
    work_queue_url: str = Field(alias="INDEX_REBUILD_WORK_QUEUE_URL", min_length=1)
    cycle_s: int = Field(default=6 * 3600, alias="TENANT_WORK_CYCLE_S", ge=60)
