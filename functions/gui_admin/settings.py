from __future__ import annotations

from gui_core.settings import ApiSettings


class AdminSettings(ApiSettings):
    """The admin group needs nothing beyond the platform stores every REST function has."""
