from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class NotificationsSettings(ApiSettings):
    inbox_table: str = Field(alias="INBOX_TABLE")
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
