"""The pure rules of the inbox: visibility, due snoozes, filters, counts, paging and commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.errors import PreconditionFailed, ValidationFailed
from gui_notifications.logic import (
    InboxFilter,
    InvalidTransition,
    UnknownCommand,
    apply_command,
    as_seen,
    effective_status,
    etag,
    iso,
    notification_id,
    page_after,
    require_match,
    status_counts,
    visible_to,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _item(status: str = "unread", **fields: Any) -> dict[str, Any]:
    return {
        "sk": "NOTE#n1",
        "id": "n1",
        "audience": "*",
        "status": status,
        "severity": "info",
        "category": "job",
        "version": 3,
        **fields,
    }


def test_ids_sort_by_creation_time_and_a_discriminator_makes_them_deterministic() -> None:
    earlier, later = notification_id(NOW), notification_id(NOW + timedelta(milliseconds=1))
    assert earlier < later
    assert notification_id(NOW, "event-1") == notification_id(NOW, "event-1")
    assert notification_id(NOW, "event-1") != notification_id(NOW, "event-2")


def test_tenant_wide_and_own_items_are_visible_others_personal_ones_are_not() -> None:
    assert visible_to(_item(audience="*"), "ada")
    assert visible_to(_item(audience="ada"), "ada")
    assert not visible_to(_item(audience="otto"), "ada")


def test_a_due_snooze_reads_as_unread_and_a_future_one_as_snoozed() -> None:
    due = _item("snoozed", snoozed_until=iso(NOW - timedelta(seconds=1)))
    future = _item("snoozed", snoozed_until=iso(NOW + timedelta(hours=1)))
    assert effective_status(due, NOW) == "unread"
    assert effective_status(future, NOW) == "snoozed"
    assert as_seen(due, NOW)["snoozed_until"] is None
    assert as_seen(future, NOW)["etag"] == '"n3"'


def test_filters_and_counts_use_the_effective_status() -> None:
    items = [
        _item("unread", severity="critical"),
        _item("snoozed", snoozed_until=iso(NOW - timedelta(minutes=1))),
        _item("snoozed", snoozed_until=iso(NOW + timedelta(minutes=10)), assignee="ada"),
        _item("archived", category="cost"),
    ]
    assert status_counts(items, NOW) == {
        "unread": 2,
        "read": 0,
        "acknowledged": 0,
        "snoozed": 1,
        "archived": 1,
    }
    assert [InboxFilter(status="unread").matches(i, NOW) for i in items] == [True, True, False, False]
    assert [InboxFilter(assignee="ada").matches(i, NOW) for i in items] == [False, False, True, False]
    assert InboxFilter(category="cost", status="unread").matches(items[3], NOW, ignore_status=True)


def test_pages_follow_the_sort_key_so_new_items_never_shift_them() -> None:
    items = [{"sk": f"NOTE#{n:03d}"} for n in range(10, 0, -1)]
    first, cursor = page_after(items, after_sk=None, limit=4)
    assert [i["sk"] for i in first] == ["NOTE#010", "NOTE#009", "NOTE#008", "NOTE#007"]
    newer = [{"sk": "NOTE#011"}, *items]  # arrives between two page requests
    second, cursor = page_after(newer, after_sk=cursor, limit=4)
    assert [i["sk"] for i in second] == ["NOTE#006", "NOTE#005", "NOTE#004", "NOTE#003"]
    last, cursor = page_after(newer, after_sk=cursor, limit=4)
    assert ([i["sk"] for i in last], cursor) == (["NOTE#002", "NOTE#001"], None)


def test_a_page_exactly_full_at_the_end_has_no_next_cursor() -> None:
    assert page_after([{"sk": "NOTE#2"}, {"sk": "NOTE#1"}], after_sk=None, limit=2)[1] is None


@pytest.mark.parametrize(
    ("command", "start", "expected"),
    [
        ("read", "unread", "read"),
        ("read", "snoozed", "read"),
        ("acknowledge", "read", "acknowledged"),
        ("acknowledge", "unread", "acknowledged"),
        ("unsnooze", "snoozed", "unread"),
        ("archive", "acknowledged", "archived"),
        ("assign", "read", "read"),
    ],
)
def test_commands_move_the_status_and_raise_the_version(command: str, start: str, expected: str) -> None:
    item = _item(start, snoozed_until=iso(NOW + timedelta(hours=1)) if start == "snoozed" else None)
    updated = apply_command(item, command, actor="ada", now=NOW, assignee="otto")
    assert updated is not None
    assert (updated["status"], updated["version"], updated["acted_by"]) == (expected, 4, "ada")
    assert updated["updated_at"] == iso(NOW)
    if expected != "snoozed":
        assert updated["snoozed_until"] is None


@pytest.mark.parametrize(
    ("command", "start"),
    [
        ("acknowledge", "archived"),
        ("read", "acknowledged"),
        ("read", "archived"),
        ("snooze", "acknowledged"),
        ("snooze", "archived"),
        ("unsnooze", "unread"),
        ("assign", "archived"),
    ],
)
def test_senseless_transitions_are_409(command: str, start: str) -> None:
    with pytest.raises(InvalidTransition) as raised:
        apply_command(_item(start), command, actor="ada", now=NOW, until=NOW + timedelta(hours=1))
    assert raised.value.status == 409
    assert raised.value.extensions["current_status"] == start


def test_repeating_a_command_changes_nothing() -> None:
    assert apply_command(_item("read"), "read", actor="ada", now=NOW) is None
    assert apply_command(_item("archived"), "archive", actor="ada", now=NOW) is None


def test_a_write_after_a_due_snooze_persists_the_return_to_unread() -> None:
    due = _item("snoozed", snoozed_until=iso(NOW - timedelta(minutes=1)))
    updated = apply_command(due, "assign", actor="ada", now=NOW, assignee="ada")
    assert updated is not None
    assert (updated["status"], updated["snoozed_until"], updated["assignee"]) == ("unread", None, "ada")
    with pytest.raises(InvalidTransition):
        apply_command(due, "unsnooze", actor="ada", now=NOW)


@pytest.mark.parametrize(
    "until", [None, NOW + timedelta(minutes=4), NOW - timedelta(hours=1), NOW + timedelta(days=31)]
)
def test_snooze_needs_a_time_between_five_minutes_and_thirty_days(until: datetime | None) -> None:
    with pytest.raises(ValidationFailed) as raised:
        apply_command(_item(), "snooze", actor="ada", now=NOW, until=until)
    assert raised.value.extensions["errors"][0]["pointer"] == "/until"


def test_snooze_records_the_time() -> None:
    until = NOW + timedelta(days=30)
    updated = apply_command(_item(), "snooze", actor="ada", now=NOW, until=until)
    assert updated is not None
    assert (updated["status"], updated["snoozed_until"]) == ("snoozed", iso(until))


def test_an_unknown_command_is_404() -> None:
    with pytest.raises(UnknownCommand):
        apply_command(_item(), "delete", actor="ada", now=NOW)


def test_if_match_is_optional_and_compared_strongly() -> None:
    require_match(None, etag(3))
    require_match("*", etag(3))
    require_match('"n2", "n3"', etag(3))
    with pytest.raises(PreconditionFailed):
        require_match('"n2"', etag(3))
    with pytest.raises(PreconditionFailed):
        require_match('W/"n3"', etag(3))
