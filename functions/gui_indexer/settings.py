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


class RebuildSettings(IndexerSettings):
    artifacts_table: str = Field(alias="ARTIFACTS_TABLE")
