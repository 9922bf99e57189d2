from __future__ import annotations

from pydantic import Field

from gui_core.settings import FunctionSettings


class RealtimeSettings(FunctionSettings):
    """The WebSocket function's environment (table names from the manifest's `<STORE>_TABLE`)."""

    tenants_table: str = Field(alias="TENANTS_TABLE")
    limits_table: str = Field(alias="LIMITS_TABLE")
    audit_table: str = Field(alias="AUDIT_TABLE")
    connections_table: str = Field(alias="CONNECTIONS_TABLE")
    events_table: str = Field(alias="EVENTS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    replay_window_s: int = Field(alias="REPLAY_WINDOW_S", gt=0)
    connection_ttl_s: int = Field(alias="CONNECTION_TTL_S", gt=0)
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
    connections_url: str = Field(alias="GUI_CONNECTIONS_URL")
    rate_limiting: bool = Field(default=True, alias="GUI_RATE_LIMITING")
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
