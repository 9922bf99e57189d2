from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class NotificationsSettings(ApiSettings):
    inbox_table: str = Field(alias="INBOX_TABLE")
    retention_days: int = Field(default=90, alias="NOTIFICATION_RETENTION_DAYS", gt=0, le=3650)
    # The region's migrations ledger, read: counts are complete and the status filter uses its index
    # once migration 0005_inbox_counters_again (0003's second pass) is done for the tenant, and the
    # assignee filter pages from the copies once 0006_inbox_assignee_copies_again is
    # (gui_core.migrations.gate).
    migrations_table: str | None = Field(default=None, alias="MIGRATIONS_TABLE")
