"""Routes of the notifications group. Each parses, calls the repository and the pure rules, answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response

from gui_core import rbac
from gui_core.context import RequestContext
from gui_core.cursors import position_text
from gui_core.dependencies import CursorQuery, PageCursors, require_scope
from gui_core.errors import Conflict, NotFound, PreconditionFailed
from gui_core.guard import GroupPolicy, group_router
from gui_notifications.logic import (
    InboxFilter,
    apply_command,
    as_seen,
    check_command,
    effective_status,
    etag,
    page_after,
    require_match,
    status_counts,
    visible_to,
)
from gui_notifications.models import (
    Category,
    CommandInput,
    Notification,
    NotificationPage,
    ReadAllResult,
    Severity,
    Status,
    StatusCounts,
)
from gui_notifications.repository import InboxRepository

PREFIX = "/service/gui/notifications"
READ_ALL_BATCH = 100  # writes per read-all call, to stay well inside the function's timeout

router = group_router(prefix=PREFIX, policy=GroupPolicy("notifications"))

User = Annotated[RequestContext, Depends(require_scope(rbac.NOTIFICATIONS))]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='The ETag you read (`"n<version>"`); optional.')
]
NotificationIdPath = Annotated[str, Path(alias="id", max_length=64, description="The notification's id.")]


def _repository(request: Request) -> InboxRepository:
    repository: InboxRepository = request.app.state.repository
    return repository


Repository = Annotated[InboxRepository, Depends(_repository)]


def _now() -> datetime:
    return datetime.now(UTC)


def _model(item: dict[str, Any], now: datetime) -> Notification:
    return Notification.model_validate(as_seen(item, now))


def _load(repository: InboxRepository, caller: RequestContext, notification_id: str) -> dict[str, Any]:
    item = repository.get(caller.tenant, notification_id)
    if item is None or not visible_to(item, caller.subject):
        # Another user's personal item is answered as absent, never as forbidden.
        raise NotFound(f"No notification {notification_id!r}.")
    return item


@router.get(
    "",
    response_model=NotificationPage,
    summary="The caller's inbox: tenant-wide and personal items, newest first, with counts per status",
)
def list_notifications(
    caller: User,
    repository: Repository,
    pages: PageCursors,
    status: Annotated[Status | None, Query(description="A due snooze counts as unread.")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=128, description="A subject, or `me`.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: CursorQuery = None,
) -> NotificationPage:
    position = pages.read(cursor)
    now = _now()
    items, complete = repository.inbox(caller.tenant)
    mine = [i for i in items if visible_to(i, caller.subject)]
    filters = InboxFilter(
        status=status,
        severity=severity,
        category=category,
        assignee=caller.subject if assignee == "me" else assignee,
    )
    # Counts are badges: they follow the other filters but not the status one.
    counts = status_counts([i for i in mine if filters.matches(i, now, ignore_status=True)], now)
    page, next_sk = page_after(
        [i for i in mine if filters.matches(i, now)],
        after_sk=position_text(position, "sk") if position else None,
        limit=limit,
    )
    return NotificationPage(
        items=[_model(i, now) for i in page],
        next_cursor=pages.issue({"sk": next_sk} if next_sk else None),
        counts=StatusCounts(**counts),
        counts_complete=complete,
    )


@router.post(
    "/read-all",
    response_model=ReadAllResult,
    summary="Mark the caller's unread items read (up to 100 per call)",
)
def read_all(caller: User, repository: Repository) -> ReadAllResult:
    now = _now()
    items, _ = repository.inbox(caller.tenant)
    unread = [i for i in items if visible_to(i, caller.subject) and effective_status(i, now) == "unread"]
    marked = 0
    for item in unread[:READ_ALL_BATCH]:
        updated = apply_command(item, "read", actor=caller.subject, now=now)
        if updated is None:
            continue
        try:
            repository.save(updated)
        except Conflict:
            continue  # someone acted on it meanwhile; their command stands
        marked += 1
    return ReadAllResult(marked=marked, remaining=len(unread) > READ_ALL_BATCH)


@router.get("/{id}", response_model=Notification, summary="One notification of the caller's inbox")
def get_notification(
    notification_id: NotificationIdPath, caller: User, repository: Repository, response: Response
) -> Notification:
    item = _load(repository, caller, notification_id)
    notification = _model(item, _now())
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
    repository: Repository,
    response: Response,
    body: CommandInput | None = None,
    if_match: IfMatch = None,
) -> Notification:
    check_command(command)
    item = _load(repository, caller, notification_id)
    require_match(if_match, etag(int(item["version"])))
    arguments = body or CommandInput()
    assignee = arguments.assignee
    if command == "assign" and assignee == "me":
        assignee = caller.subject
    now = _now()
    updated = apply_command(
        item, command, actor=caller.subject, now=now, until=arguments.until, assignee=assignee
    )
    if updated is not None:
        try:
            repository.save(updated)
        except Conflict as exc:
            if if_match:
                # The version If-Match named was current when read, not when written: the
                # precondition failed at the write (RFC 9110 13.1.1), which is a 412, not a 409.
                raise PreconditionFailed(
                    "The notification changed since it was read; read it again.", id=notification_id
                ) from exc
            raise
        item = updated
    notification = _model(item, now)
    response.headers["ETag"] = notification.etag
    return notification
