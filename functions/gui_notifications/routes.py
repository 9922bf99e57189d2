"""Routes of the notifications group: each parses, calls one use case (`use_cases`), answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Response

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.guard import GroupPolicy, group_router
from gui_notifications import use_cases
from gui_notifications.models import (
    Category,
    CommandInput,
    InboxQuery,
    Notification,
    NotificationPage,
    ReadAllResult,
    Severity,
    Status,
)
from gui_notifications.use_cases import NotificationsPorts

PREFIX = "/service/gui/notifications"

router = group_router(prefix=PREFIX, policy=GroupPolicy("notifications"))

User = Annotated[RequestContext, Depends(require_scope(rbac.NOTIFICATIONS))]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='The ETag you read (`"n<version>"`); optional.')
]
NotificationIdPath = Annotated[str, Path(alias="id", max_length=64, description="The notification's id.")]


async def _ports(request: Request) -> NotificationsPorts:
    ports: NotificationsPorts = request.app.state.ports
    return ports


Ports = Annotated[NotificationsPorts, Depends(_ports)]


_LIST_DESCRIPTION = """Tenant-wide and the caller's personal items, merged newest first. `counts` are
kept with every change (whatever the inbox holds) and follow every filter but `status`. A page reads
its items and one more per audience: with no filter, or `status` and `assignee` alone or together,
every page but the last is full. A `severity` or `category` filter reads on at most 500 items for a
page: when fewer match, the page is shorter (perhaps empty) and `next_cursor` continues where the
reading stopped. A page may show an item's state of a moment ago (its index is read eventually
consistent); one item, its commands and the counts are exact."""


@router.get(
    "",
    response_model=NotificationPage,
    summary="The caller's inbox: tenant-wide and personal items, newest first, with counts per status",
    description=_LIST_DESCRIPTION,
)
def list_notifications(
    caller: User,
    ports: Ports,
    pages: PageCursors,
    status: Annotated[Status | None, Query(description="A due snooze counts as unread.")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=128, description="A subject, or `me`.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: CursorQuery = None,
) -> NotificationPage:
    query = InboxQuery(
        status=status, severity=severity, category=category, assignee=assignee, limit=limit, cursor=cursor
    )
    return use_cases.list_notifications(ports, caller, query, pages)


@router.post(
    "/read-all",
    response_model=ReadAllResult,
    summary="Mark every unread item the caller sees read, in one call",
)
def read_all(caller: User, ports: Ports) -> ReadAllResult:
    return use_cases.read_all(ports, caller)


@router.get("/{id}", response_model=Notification, summary="One notification of the caller's inbox")
def get_notification(
    notification_id: NotificationIdPath, caller: User, ports: Ports, response: Response
) -> Notification:
    notification = use_cases.get_notification(ports, caller, notification_id)
    response.headers["ETag"] = notification.etag
    return notification


@router.post(
    "/{id}/{command}",
    response_model=Notification,
    summary="Command one notification: read, acknowledge, snooze, unsnooze, assign or archive",
    responses={
        404: {"description": "No such notification visible to the caller, or no such command"},
        409: {"description": "The command does not apply to the status, or a concurrent command won"},
        412: {"description": "If-Match names another version"},
        422: {"description": "Snooze time out of bounds, or an invalid assignee"},
    },
)
def command_notification(
    notification_id: NotificationIdPath,
    command: Annotated[str, Path(max_length=32)],
    caller: User,
    ports: Ports,
    response: Response,
    body: CommandInput | None = None,
    if_match: IfMatch = None,
) -> Notification:
    notification = use_cases.command_notification(
        ports, caller, notification_id, command, body, if_match=if_match
    )
    response.headers["ETag"] = notification.etag
    return notification
