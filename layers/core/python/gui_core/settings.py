"""Settings: one pydantic model per function, read from the environment at cold start.

Logic never reads `os.environ`; a handler builds its settings once, and a missing or malformed
variable stops the cold start with a message naming it.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FunctionSettings(BaseSettings):
    """Fields every function has."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    service_name: str = Field(alias="POWERTOOLS_SERVICE_NAME")
    region: str = Field(alias="GUI_REGION")
    stage: str = Field(default="prod", alias="GUI_STAGE")


class ApiSettings(FunctionSettings):
    """Fields of every REST function: the audit store and the limits of a request."""

    audit_table: str = Field(alias="AUDIT_TABLE")
    max_body_bytes: int = Field(default=256 * 1024, alias="GUI_MAX_BODY_BYTES", gt=0)
