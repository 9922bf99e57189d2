from __future__ import annotations

from pydantic import Field

from gui_core.settings import LiveSettings


class RealtimeSettings(LiveSettings):
    """The WebSocket function's environment: the live fields, and the platform stores its guard
    checks use (rate limits, audit of `ack`)."""

    limits_table: str = Field(alias="LIMITS_TABLE")
    audit_table: str = Field(alias="AUDIT_TABLE")
    rate_limiting: bool = Field(default=True, alias="GUI_RATE_LIMITING")
