from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gui_core.settings import ApiSettings, lambda_tmp


class SearchSettings(ApiSettings):
    data_bucket: str = Field(alias="DATA_BUCKET")
    search_prefix: str = Field(default="search/", alias="SEARCH_PREFIX")
    # How often a container asks S3 whether a tenant's index has a new version (a conditional GET).
    manifest_check_s: float = Field(default=2.0, alias="SEARCH_MANIFEST_CHECK_S", ge=0)
    # The bytes of open indexes a container keeps in /tmp (the least recently used tenant leaves
    # first): the function's ephemeral storage less room for an archive-layout fetch (stacks.manifest).
    cache_mb: int = Field(default=1536, alias="SEARCH_CACHE_MB", ge=16)
    # A bound on the count of open indexes as well; none unless set.
    max_tenants: int | None = Field(default=None, alias="SEARCH_MAX_TENANTS", ge=1)
    cache_dir: Path = Field(default_factory=lambda: lambda_tmp("gui-search"), alias="SEARCH_CACHE_DIR")
    # The file system the region's search containers and indexers share (EFS; gui_search.shared):
    # set, indexes are opened where they lie there and /tmp holds none (SEARCH_CACHE_MB unused).
    shared_dir: Path | None = Field(default=None, alias="SEARCH_SHARED_DIR")
    # FastAPI's dependencies, endpoint and serialization spans of each search, beside its server
    # span and the REST span (gui_core.tracing): off, they cost about a fifth of the handler's own
    # time (docs/performance.md, issue 17).
    operation_spans: bool = Field(default=False, alias="SEARCH_OPERATION_SPANS")
