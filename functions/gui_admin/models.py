"""Request and response models of the admin group."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from gui_core.migrations.model import Phase, Status

FlagName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)]

_FLAGS_BODY_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_JOB_BODY_SHA256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "at": "2026-11-20T10:02:11.418205+00:00",
                            "actor": "ada@acme",
                            "method": "PUT",
                            "endpoint": "/service/gui/admin/tenant/flags",
                            "path": "/service/gui/admin/tenant/flags",
                            "status": 200,
                            "payload_sha256": _FLAGS_BODY_SHA256,
                            "latency_ms": 42.7,
                            "request_id": "0b7c3e52-6f1d-4a8e-9c2b-5d4e3f2a1b0c",
                            "trace_id": "Root=1-673db7e3-5f2c4a1b9d8e7f6a5b4c3d2e",
                        },
                        {
                            "at": "2026-11-20T09:15:00.052771+00:00",
                            "actor": "otto@acme",
                            "method": "POST",
                            "endpoint": "/service/gui/jobs/{verb}",
                            "path": "/service/gui/jobs/mapping",
                            "status": 422,
                            "code": "validation_failed",
                            "payload_sha256": _JOB_BODY_SHA256,
                            "latency_ms": 18.3,
                            "request_id": "e41f9a07-2c6b-4d3e-8f15-a9b8c7d6e5f4",
                        },
                    ],
                    "next_cursor": "eyJwayI6ImFjbWUiLCJzayI6IjIwMjYtMTEtMjBUMDk6MTU6MDBaIn0",
                }
            ]
        }
    )

    items: list[AuditEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class TenantDocument(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant": "acme",
                    "name": "Acme Corporation",
                    "home_region": "eu-west-1",
                    "plan": "enterprise",
                    "flags": {"preferences": True, "search": True, "realtime": False},
                    "rate_limits": {
                        "admin": 60,
                        "dashboard": 300,
                        "job_commands": 60,
                        "reads": 900,
                        "search": 360,
                        "writes": 180,
                    },
                    "license_tag": "acme-enterprise",
                    "version": 7,
                }
            ]
        }
    )

    tenant: str
    name: str
    home_region: str
    plan: str
    flags: dict[str, bool] = Field(description="Features turned off or on explicitly; absent means on.")
    rate_limits: dict[str, int] = Field(description="Effective requests per minute per route class.")
    license_tag: str
    version: int


class FlagsInput(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"flags": {"realtime": False, "search": True}}]},
    )

    flags: dict[FlagName, StrictBool] = Field(max_length=100)  # "yes" or 1 is refused, not read as true


class MigrationCounts(BaseModel):
    scanned: int = Field(description="Items (or objects) read.")
    changed: int = Field(description="Items changed into the new shape.")
    skipped: int = Field(
        description="Items already in the new shape, or changed by another writer meanwhile."
    )


class TenantMigrationPart(BaseModel):
    """The caller's tenant's checkpoint of one migration."""

    status: Status = Field(
        description="`pending` with no `updated_at`: nothing of the tenant's was touched by this run "
        "(none of its data needed it, or the tenant came after the run)."
    )
    pages: int = Field(description="Pages of the tenant's data done.")
    counts: MigrationCounts
    updated_at: str | None = Field(description="When the tenant's part last moved (ISO 8601).")
    error: str | None = Field(description="Why the tenant's part stopped, when it failed.")


class MigrationFailure(BaseModel):
    """Why a run stopped. The message is the tenant's own only: a failure in another tenant's part
    answers when and which version, not that tenant's id or data."""

    at: str | None
    version: int | None = Field(description="The migration's version that failed.")
    in_your_tenant: bool = Field(description="The failure was in the caller's tenant's part.")
    message: str | None = Field(description="The error, when `in_your_tenant`.")


class MigrationRun(BaseModel):
    id: str = Field(description="`<4-digit number>_<name>`: the number orders the migrations.")
    description: str
    phase: Phase = Field(description="expand, migrate, or contract (a later release removes the old shape).")
    target: str = Field(description="What it changes: `store:<name>` or `objects:<prefix>`.")
    version: int
    status: Status
    mode: str | None = Field(
        description="`inline` (inside the deploy step) or `queued` (per tenant, by a worker)."
    )
    planned_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    started_by: str | None = Field(
        description="What started it: `deploy` (a deploy of the region), `operator` "
        "(`ddgui migrate apply`) or `worker` (the backfill, after the previous migration)."
    )
    code_version: str | None = Field(description="The version of the code that ran it.")
    error: MigrationFailure | None
    tenant: TenantMigrationPart = Field(description="The caller's tenant's part of it.")


class MigrationList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "0001_inbox_audience_key",
                            "description": "Inbox items carry their audience's key (tenant_audience), "
                            "the partition of the by_audience index.",
                            "phase": "expand",
                            "target": "store:inbox",
                            "version": 1,
                            "status": "done",
                            "mode": "queued",
                            "planned_at": "2026-12-08T09:00:02.118+00:00",
                            "started_at": "2026-12-08T09:00:02.412+00:00",
                            "finished_at": "2026-12-08T09:04:40.905+00:00",
                            "duration_s": 278.493,
                            "started_by": "deploy",
                            "code_version": "7 (75f99c2)",
                            "error": None,
                            "tenant": {
                                "status": "done",
                                "pages": 3,
                                "counts": {"scanned": 251, "changed": 248, "skipped": 3},
                                "updated_at": "2026-12-08T09:01:13.027+00:00",
                                "error": None,
                            },
                        }
                    ]
                }
            ]
        }
    )

    items: list[MigrationRun] = Field(description="The region's migrations, in the order they apply.")


class AuditQuery(BaseModel):
    """Which records of the audit trail a page asks for: between two times (inclusive), of one actor."""

    requested_from: datetime | None = None
    requested_to: datetime | None = None
    actor: str | None = None
    limit: int = 50
    cursor: str | None = None
