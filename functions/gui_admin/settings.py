from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class AdminSettings(ApiSettings):
    """The platform stores every REST function has, and the region's ledger of migrations (read)."""

    migrations_table: str = Field(alias="MIGRATIONS_TABLE")
