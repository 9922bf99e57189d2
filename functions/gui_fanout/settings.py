from __future__ import annotations

from pydantic import Field

from gui_core.settings import LiveSettings


class FanoutSettings(LiveSettings):
    """The fan-out's environment: the live fields, and how many posts run side by side."""

    push_concurrency: int = Field(default=16, alias="PUSH_CONCURRENCY", ge=1, le=256)
