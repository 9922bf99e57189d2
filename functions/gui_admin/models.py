"""Request and response models of the admin group."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FlagName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)]


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    at: str
    actor: str
    method: str
    endpoint: str
    path: str
    status: int
    code: str | None = None
    payload_sha256: str
    latency_ms: float
    request_id: str
    trace_id: str | None = None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class TenantDocument(BaseModel):
    tenant: str
    name: str
    home_region: str
    plan: str
    flags: dict[str, bool] = Field(description="Features turned off or on explicitly; absent means on.")
    rate_limits: dict[str, int] = Field(description="Effective requests per minute per route class.")
    license_tag: str
    version: int


class FlagsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flags: dict[FlagName, bool] = Field(max_length=100)
