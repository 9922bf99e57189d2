"""Settings: one pydantic model per function, read from the environment at cold start.

Logic never reads `os.environ`; a handler builds its settings once, and a missing or malformed
variable stops the cold start with a message naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def lambda_tmp(*parts: str) -> Path:
    """A folder under the function's /tmp (Lambda's ephemeral storage): `TMPDIR` when set, as the
    local runtime sets it to each container's own folder of the configured size, else /tmp."""
    return Path(os.environ.get("TMPDIR") or "/tmp", *parts)  # noqa: S108 - Lambda's /tmp


class FunctionSettings(BaseSettings):
    """Fields every function has."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    service_name: str = Field(alias="POWERTOOLS_SERVICE_NAME")
    region: str = Field(alias="GUI_REGION")
    stage: str = Field(default="prod", alias="GUI_STAGE")


class ApiSettings(FunctionSettings):
    """Fields of every REST function: the platform stores, the regions, the limits of a request."""

    audit_table: str = Field(alias="AUDIT_TABLE")
    tenants_table: str = Field(alias="TENANTS_TABLE")
    limits_table: str = Field(alias="LIMITS_TABLE")
    region_urls: dict[str, str] = Field(default_factory=dict, alias="GUI_REGION_URLS")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(default=(), alias="GUI_CORS_ORIGINS")
    max_body_bytes: int = Field(default=256 * 1024, alias="GUI_MAX_BODY_BYTES", gt=0)
    rate_limiting: bool = Field(default=True, alias="GUI_RATE_LIMITING")
    replay_window_s: int = Field(default=600, alias="GUI_REPLAY_WINDOW_S", ge=0)
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
    # The region's cursor key (gui_core.cursors), given to the functions with paged routes only.
    cursor_key_secret_arn: str | None = Field(default=None, alias="CURSOR_KEY_SECRET_ARN", min_length=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value


class LiveSettings(FunctionSettings):
    """Fields of the functions that post to WebSocket connections (the fan-out and the WebSocket
    function): the live stores, the replay window, the connections' lifetime, the management URL."""

    tenants_table: str = Field(alias="TENANTS_TABLE")
    connections_table: str = Field(alias="CONNECTIONS_TABLE")
    events_table: str = Field(alias="EVENTS_TABLE")
    inbox_table: str = Field(alias="INBOX_TABLE")
    replay_window_s: int = Field(alias="REPLAY_WINDOW_S", gt=0)
    connection_ttl_s: int = Field(alias="CONNECTION_TTL_S", gt=0)
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
    connections_url: str = Field(alias="GUI_CONNECTIONS_URL", min_length=1)
    tenant_cache_s: float = Field(default=30.0, alias="GUI_TENANT_CACHE_S", ge=0)
