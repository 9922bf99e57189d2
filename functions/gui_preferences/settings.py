from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class PreferencesSettings(ApiSettings):
    preferences_table: str = Field(alias="PREFERENCES_TABLE")
    migrations_table: str = Field(alias="MIGRATIONS_TABLE")  # the ledger, read: gui_core.migrations.gate
    history_days: int = Field(default=180, alias="PREFERENCE_HISTORY_DAYS", gt=0, le=3650)
