"""Pure rules of the notifications group: visibility, effective status, filters, counts, commands."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gui_core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from gui_notifications.models import COMMANDS, STATUSES, TENANT_WIDE

SNOOZE_MIN = timedelta(minutes=5)
SNOOZE_MAX = timedelta(days=30)


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The command does not apply to the item in its current status"


class UnknownCommand(NotFound):
    code, title = "unknown_command", "No such notification command"


# What each command may start from (the effective status) and where it leads. A command repeated on
# an item already in its target status is a no-op, so a double click does not fail.
_ALLOWED_FROM: dict[str, frozenset[str]] = {
    "read": frozenset({"unread", "snoozed", "read"}),
    "acknowledge": frozenset({"unread", "read", "snoozed", "acknowledged"}),
    "snooze": frozenset({"unread", "read", "snoozed"}),
    "unsnooze": frozenset({"snoozed"}),
    "assign": frozenset({"unread", "read", "snoozed", "acknowledged"}),
    "archive": frozenset({"unread", "read", "snoozed", "acknowledged", "archived"}),
}
_TARGET: dict[str, str | None] = {
    "read": "read",
    "acknowledge": "acknowledged",
    "snooze": "snoozed",
    "unsnooze": "unread",
    "assign": None,  # keeps the status
    "archive": "archived",
}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def notification_id(created_at: datetime, discriminator: str | None = None) -> str:
    """A time-sortable id: `n`, the creation time in ms (12 hex digits), then 10 more characters.

    With a `discriminator` (an event id) the id is deterministic, so a redelivered event maps to
    the same item and the writer's conditional put makes it idempotent.
    """
    millis = int(created_at.timestamp() * 1000)
    tail = (
        hashlib.sha256(discriminator.encode()).hexdigest()[:10]
        if discriminator is not None
        else secrets.token_hex(5)
    )
    return f"n{millis:012x}{tail}"


def etag(version: int) -> str:
    return f'"n{version}"'


def require_match(if_match: str | None, current_etag: str) -> None:
    """Optional RFC 9110 If-Match with strong comparison; `*` matches any current item."""
    if if_match is None or not if_match.strip():
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or current_etag in tags:
        return
    raise PreconditionFailed("The notification changed since it was read; read it again.")


def visible_to(item: dict[str, Any], subject: str) -> bool:
    """Tenant-wide items and the caller's own; another user's personal item does not exist for them."""
    return item.get("audience") in (TENANT_WIDE, subject)


def effective_status(item: dict[str, Any], now: datetime) -> str:
    """A snooze whose time has come reads as unread, before any write persists it."""
    status = str(item.get("status", "unread"))
    until = item.get("snoozed_until")
    if status == "snoozed" and (until is None or parse_time(str(until)) <= now):
        return "unread"
    return status


def as_seen(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The item with its effective status (and no stale snooze time), as answers show it."""
    status = effective_status(item, now)
    seen = {**item, "status": status, "etag": etag(int(item["version"]))}
    if status != "snoozed":
        seen["snoozed_until"] = None
    return seen


@dataclass(frozen=True)
class InboxFilter:
    status: str | None = None
    severity: str | None = None
    category: str | None = None
    assignee: str | None = None  # already resolved: `me` is the caller's subject

    def matches(self, item: dict[str, Any], now: datetime, *, ignore_status: bool = False) -> bool:
        if not ignore_status and self.status and effective_status(item, now) != self.status:
            return False
        if self.severity and item.get("severity") != self.severity:
            return False
        if self.category and item.get("category") != self.category:
            return False
        return not (self.assignee and item.get("assignee") != self.assignee)


def status_counts(items: list[dict[str, Any]], now: datetime) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for item in items:
        counts[effective_status(item, now)] += 1
    return counts


def page_after(
    items: list[dict[str, Any]], *, after_sk: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Items newest first (descending sk) strictly after the cursor's key, and the next cursor's key.

    Keyed on the sort key, not an offset: items arriving meanwhile sort before the cursor, so a walk
    through the pages neither repeats nor skips an item.
    """
    remaining = [i for i in items if after_sk is None or str(i["sk"]) < after_sk]
    page = remaining[:limit]
    more = len(remaining) > limit
    return page, (str(page[-1]["sk"]) if more and page else None)


def check_command(command: str) -> None:
    if command not in COMMANDS:
        raise UnknownCommand(f"No command {command!r}; one of {', '.join(COMMANDS)}.")


def _invalid(pointer: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        errors=[
            {
                "location": ["body", pointer],
                "pointer": f"/{pointer}",
                "message": message,
                "type": "value_error",
            }
        ],
    )


def check_snooze_until(until: datetime | None, now: datetime) -> datetime:
    if until is None:
        raise _invalid("until", "Snooze needs `until`, an ISO time with an offset.")
    if until - now < SNOOZE_MIN:
        raise _invalid("until", "Snooze until at least 5 minutes from now.")
    if until - now > SNOOZE_MAX:
        raise _invalid("until", "Snooze for at most 30 days.")
    return until


def apply_command(
    item: dict[str, Any],
    command: str,
    *,
    actor: str,
    now: datetime,
    until: datetime | None = None,
    assignee: str | None = None,
) -> dict[str, Any] | None:
    """The item after `command` by `actor`, with its version raised; None when nothing changes.

    The transition starts from the effective status, so a write after a due snooze also persists
    the item's return to unread.
    """
    check_command(command)
    current = effective_status(item, now)
    if current not in _ALLOWED_FROM[command]:
        raise InvalidTransition(
            f"Cannot {command} a notification that is {current}.", current_status=current, command=command
        )
    status = _TARGET[command] or current
    snoozed_until: str | None = item.get("snoozed_until") if status == "snoozed" else None
    if command == "snooze":
        snoozed_until = iso(check_snooze_until(until, now))
    new_assignee = assignee if command == "assign" else item.get("assignee")
    if (
        status == item.get("status")
        and snoozed_until == item.get("snoozed_until")
        and new_assignee == item.get("assignee")
    ):
        return None
    return {
        **item,
        "status": status,
        "snoozed_until": snoozed_until,
        "assignee": new_assignee,
        "version": int(item["version"]) + 1,
        "updated_at": iso(now),
        "acted_by": actor,
    }
