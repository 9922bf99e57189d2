from __future__ import annotations

from pydantic import Field

from gui_core.settings import FunctionSettings


class FanoutSettings(FunctionSettings):
    """The fan-out's environment (table names from the manifest's `<STORE>_TABLE`)."""

    tenants_table: str = Field(alias="TENANTS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    events_table: str = Field(alias="EVENTS_TABLE")
    connections_table: str = Field(alias="CONNECTIONS_TABLE")
    replay_window_s: int = Field(alias="REPLAY_WINDOW_S", gt=0)
    connection_ttl_s: int = Field(alias="CONNECTION_TTL_S", gt=0)
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
    push_concurrency: int = Field(default=16, alias="PUSH_CONCURRENCY", ge=1, le=256)
    connections_url: str = Field(alias="GUI_CONNECTIONS_URL", min_length=1)
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
