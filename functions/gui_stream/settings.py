from __future__ import annotations

from pydantic import Field, model_validator

from gui_core.settings import ApiSettings
from gui_core.stream_tickets import TICKET_TTL_S


class StreamSettings(ApiSettings):
    events_table: str = Field(alias="EVENTS_TABLE")
    # The live replay log's window (not ApiSettings.replay_window_s, the mutation replay guard's).
    live_window_s: int = Field(alias="REPLAY_WINDOW_S", gt=0)
    hold_s: float = Field(default=20.0, alias="STREAM_HOLD_S", ge=0, le=25)
    # The first wait between two empty reads of a hold; each next one doubles, up to poll_max_s.
    poll_s: float = Field(default=0.25, alias="STREAM_POLL_S", gt=0)
    poll_max_s: float = Field(default=2.0, alias="STREAM_POLL_MAX_S", gt=0)
    # How long a stream ticket stays valid: enough to open the connection it was asked for.
    ticket_ttl_s: int = Field(default=TICKET_TTL_S, alias="STREAM_TICKET_TTL_S", gt=0, le=300)

    @model_validator(mode="after")
    def _poll_bounds(self) -> StreamSettings:
        if self.poll_max_s < self.poll_s:
            raise ValueError("STREAM_POLL_MAX_S must not be below STREAM_POLL_S")
        return self
