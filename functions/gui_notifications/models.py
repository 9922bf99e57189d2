"""Request and response models of the notifications group (they are its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from gui_core.date_times import IsoOnly

Category = Literal["governance", "readiness", "prompt_pack", "cost", "incident", "job"]
Severity = Literal["info", "warning", "critical"]
Status = Literal["unread", "read", "acknowledged", "snoozed", "archived"]
Command = Literal["read", "acknowledge", "snooze", "unsnooze", "assign", "archive"]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
SEVERITIES: tuple[str, ...] = Severity.__args__  # type: ignore[attr-defined]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
COMMANDS: tuple[str, ...] = Command.__args__  # type: ignore[attr-defined]

SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+:|-]{0,127}$"
Subject = Annotated[str, StringConstraints(pattern=SUBJECT_PATTERN)]
NotificationId = Annotated[str, StringConstraints(pattern=r"^n[0-9a-f]{12}[0-9a-z]{4,32}$")]
TENANT_WIDE = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotificationSource(_Strict):
    """Where the notification comes from; every field optional."""

    module: Annotated[str, StringConstraints(max_length=64)] | None = None
    artifact_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    job_id: Annotated[str, StringConstraints(max_length=128)] | None = None


class NewNotification(_Strict):
    """What the inbox writer (`InboxRepository.append`) accepts: a fan-out's notification.

    `status`, `snoozed_until` and `assignee` default to a fresh unread item; the demo seed sets them.
    """

    id: NotificationId
    category: Category
    severity: Severity
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(max_length=4000)] = ""
    source: NotificationSource = Field(default_factory=NotificationSource)
    audience: Subject | Literal["*"] = Field(
        default=TENANT_WIDE, description="`*` for the whole tenant, else the subject of one user."
    )
    status: Status = "unread"
    snoozed_until: AwareDatetime | None = None
    assignee: Subject | None = None
    created_at: AwareDatetime | None = Field(default=None, description="Defaults to the time of writing.")


_NOTIFICATION_EXAMPLE: JsonDict = {
    "id": "n01a1f83cda20c4d2e9f1a7",
    "category": "job",
    "severity": "warning",
    "title": "Ingest job failed: loinc",
    "body": "The ingest of s3://acme-raw/loinc/loinc-2.78.csv failed: access denied.",
    "source": {"module": "ingestion", "job_id": "01a1f8680cb8c41e09b2d7"},
    "audience": "*",
    "status": "acknowledged",
    "assignee": "otto@acme",
    "version": 3,
    "etag": '"n3"',
    "created_at": "2026-11-20T09:15:00.000+00:00",
    "updated_at": "2026-11-20T10:12:45.318+00:00",
    "acted_by": "ada@acme",
    "expires_at": 1802942100,
}
_UNREAD_NOTIFICATION_EXAMPLE: JsonDict = {
    "id": "n01a1f4e4d5803b9f27c4e0",
    "category": "governance",
    "severity": "info",
    "title": "Review requested: ICD-10 to SNOMED CT (trial)",
    "body": "ada@acme asked for a governance review of map-icd10-snomed-exp version 1.",
    "source": {"module": "governance", "artifact_id": "map-icd10-snomed-exp"},
    "audience": "otto@acme",
    "status": "unread",
    "version": 1,
    "etag": '"n1"',
    "created_at": "2026-11-19T17:40:00.000+00:00",
    "updated_at": "2026-11-19T17:40:00.000+00:00",
    "expires_at": 1802886000,
}


class Notification(BaseModel):
    """One inbox item as the caller sees it: a due snooze already shows as unread."""

    model_config = ConfigDict(json_schema_extra={"examples": [_NOTIFICATION_EXAMPLE]})

    id: str
    category: Category
    severity: Severity
    title: str
    body: str
    source: NotificationSource
    audience: str = Field(description="`*` (tenant-wide, one shared status) or the owner's subject.")
    status: Status
    # Absent attributes are not stored (DynamoDB has no use for nulls), hence the defaults.
    snoozed_until: str | None = None
    assignee: str | None = None
    version: int
    etag: str = Field(description='The value to send as If-Match: `"n<version>"`.')
    created_at: str
    updated_at: str
    acted_by: str | None = Field(default=None, description="Who issued the last command.")
    expires_at: int = Field(description="Epoch seconds when retention removes the item.")


class StatusCounts(BaseModel):
    """Items per effective status over the caller's whole inbox (tenant-wide and personal items),
    following every filter but `status`: counters kept with each change, whatever the inbox's size."""

    unread: int = 0
    read: int = 0
    acknowledged: int = 0
    snoozed: int = 0
    archived: int = 0


class NotificationPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_NOTIFICATION_EXAMPLE, _UNREAD_NOTIFICATION_EXAMPLE],
                    "next_cursor": "eyJwayI6ImFjbWUjb3R0b0BhY21lIiwic2siOiJuMDFhMWY0ZTRkNTgwM2I5ZjI3YzRlMCJ9",
                    "counts": {"unread": 4, "read": 11, "acknowledged": 2, "snoozed": 1, "archived": 23},
                    "counts_complete": True,
                }
            ]
        }
    )

    items: list[Notification]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
    counts: StatusCounts
    counts_complete: bool = Field(
        description="False while the counts may leave items out: the tenant's items stored before the "
        "counters are still being counted (after an upgrade), or more snoozes came due than one "
        "request wakes (the next requests catch up)."
    )


class CommandInput(_Strict):
    """Body of a command: `until` for snooze, `assignee` for assign; no body for the others."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"until": "2026-11-21T08:00:00Z"}, {"assignee": "otto@acme"}]},
    )

    until: Annotated[AwareDatetime, IsoOnly] | None = Field(  # a number is no date-time
        default=None, description="Snooze: at least 5 minutes ahead, at most 30 days, with an offset."
    )
    assignee: Subject | None = Field(
        default=None, description="Assign: a subject of the caller's tenant, or `me`; null unassigns."
    )


class ReadAllResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"marked": 4, "remaining": False}]})

    marked: int = Field(description="Items this call marked read.")
    remaining: bool = Field(
        description="True when unread items are left (call again). Always false: one call marks every "
        "unread item, whatever their number."
    )


class InboxQuery(BaseModel):
    """What a list of the inbox asks (the list route's query parameters; not a request body)."""

    status: Status | None = None
    severity: Severity | None = None
    category: Category | None = None
    assignee: str | None = Field(default=None, description="A subject, or `me`.")
    limit: int = 25
    cursor: str | None = None
