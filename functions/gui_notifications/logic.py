"""Pure rules of the notifications group: visibility, effective status, filters, commands.

An item's effective status is its stored one read with its audience's mark (`counting.Mark`): an
unread item stamped with an earlier generation than its audience's is read (a read-all came since),
and a snooze whose time has come is unread, or read when a read-all came after that time."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gui_core.date_times import aware_time, iso
from gui_core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from gui_notifications.counting import UNREAD_GEN, Mark
from gui_notifications.models import COMMANDS, TENANT_WIDE

NO_MARK = Mark()

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


def effective_status(item: dict[str, Any], now: datetime, mark: Mark = NO_MARK) -> str:
    """The status answers show, with `mark` the read mark of the item's audience: an unread item of
    an earlier generation than the mark's is read; a snooze whose time has come is unread (read
    when the audience's last read-all came after that time), before any write persists it."""
    status = str(item.get("status", "unread"))
    if status == "unread":
        return "read" if int(item.get(UNREAD_GEN) or 0) < mark.gen else "unread"
    until = item.get("snoozed_until")
    if status == "snoozed" and (until is None or aware_time(str(until)) <= now):
        if mark.read_at and (until is None or aware_time(str(until)) <= aware_time(mark.read_at)):
            return "read"
        return "unread"
    return status


def as_seen(item: dict[str, Any], now: datetime, mark: Mark = NO_MARK) -> dict[str, Any]:
    """The item with its effective status (and no stale snooze time), as answers show it."""
    status = effective_status(item, now, mark)
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

    def matches(
        self, item: dict[str, Any], now: datetime, mark: Mark = NO_MARK, *, ignore_status: bool = False
    ) -> bool:
        if not ignore_status and self.status and effective_status(item, now, mark) != self.status:
            return False
        if self.severity and item.get("severity") != self.severity:
            return False
        if self.category and item.get("category") != self.category:
            return False
        return not (self.assignee and item.get("assignee") != self.assignee)


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
    mark: Mark = NO_MARK,
    until: datetime | None = None,
    assignee: str | None = None,
) -> dict[str, Any] | None:
    """The item after `command` by `actor`, with its version raised; None when nothing changes.

    The transition starts from the effective status (`mark`: the read mark of the item's
    audience), so a write after a due snooze or a read-all also persists what the item reads as. An
    item that becomes unread is stamped with the mark's generation.
    """
    check_command(command)
    current = effective_status(item, now, mark)
    if current not in _ALLOWED_FROM[command]:
        raise InvalidTransition(
            f"Cannot {command} a notification that is {current}.", current_status=current, command=command
        )
    status = _TARGET[command] or current
    snoozed_until: str | None = item.get("snoozed_until") if status == "snoozed" else None
    if command == "snooze":
        snoozed_until = iso(check_snooze_until(until, now))
    new_assignee = assignee if command == "assign" else item.get("assignee")
    # Nothing changes for the reader (the effective status, snooze time and assignee stay): a repeated
    # command, or `read` on an item a read-all marked read, writes nothing.
    seen_until = item.get("snoozed_until") if current == "snoozed" else None
    if status == current and snoozed_until == seen_until and new_assignee == item.get("assignee"):
        return None
    return {
        **item,
        "status": status,
        UNREAD_GEN: mark.gen if status == "unread" else None,
        "snoozed_until": snoozed_until,
        "assignee": new_assignee,
        "version": int(item["version"]) + 1,
        "updated_at": iso(now),
        "acted_by": actor,
    }


def persisted(item: dict[str, Any], now: datetime, mark: Mark) -> dict[str, Any] | None:
    """The item with its effective status stored (a due snooze woken, an unread item of an earlier
    generation stored read), version and times unchanged: nothing a reader sees changes, so its
    ETag stays. None when the stored status is the effective one already."""
    status = effective_status(item, now, mark)
    if status == item.get("status"):
        return None
    return {
        **item,
        "status": status,
        UNREAD_GEN: mark.gen if status == "unread" else None,
        "snoozed_until": None,
    }
