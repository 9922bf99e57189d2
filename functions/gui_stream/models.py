"""What the SSE group's ticket route takes and answers (the SSE route answers an event stream)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TicketRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"channels": ["jobs"]}]})

    channels: Annotated[
        list[ChannelName],
        Field(min_length=1, max_length=16, description="The channels the connection will follow."),
    ]


class Ticket(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket": "q3Vt0dZpM1n8kX4sB7wYc2LhR9eF6aJgT5uN0oPzKiE",
                    "channels": ["jobs"],
                    "expires_in": 60,
                    "expires_at": "2026-11-27T18:31:00Z",
                }
            ]
        }
    )

    ticket: str = Field(description="Present it once, as `?ticket=`, within `expires_in` seconds.")
    channels: list[str] = Field(description="The channels it serves; it carries only their scopes.")
    expires_in: int = Field(description="Seconds it stays valid.")
    expires_at: datetime
