from __future__ import annotations

from pydantic import Field

from gui_core.settings import ApiSettings


class StreamSettings(ApiSettings):
    events_table: str = Field(alias="EVENTS_TABLE")
    # The live replay log's window (not ApiSettings.replay_window_s, the mutation replay guard's).
    live_window_s: int = Field(alias="REPLAY_WINDOW_S", gt=0)
    hold_s: float = Field(default=20.0, alias="STREAM_HOLD_S", ge=0, le=25)
    poll_s: float = Field(default=0.25, alias="STREAM_POLL_S", gt=0)
