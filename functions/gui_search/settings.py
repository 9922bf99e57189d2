from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gui_core.settings import ApiSettings, lambda_tmp


class SearchSettings(ApiSettings):
    data_bucket: str = Field(alias="DATA_BUCKET")
    search_prefix: str = Field(default="search/", alias="SEARCH_PREFIX")
    # How often a container asks S3 whether a tenant's index has a new version (a conditional GET).
    manifest_check_s: float = Field(default=2.0, alias="SEARCH_MANIFEST_CHECK_S", ge=0)
    max_tenants: int = Field(default=8, alias="SEARCH_MAX_TENANTS", ge=1)
    cache_dir: Path = Field(default_factory=lambda: lambda_tmp("gui-search"), alias="SEARCH_CACHE_DIR")
