"""The pure rules of the inbox: visibility, due snoozes, read marks, filters, counters and commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.date_times import iso
from gui_core.errors import PreconditionFailed, ValidationFailed
from gui_notifications.counting import (
    COUNTED,
    Mark,
    counted_value,
    counter_sk,
    deltas,
    tally,
    tally_items,
    unread_in,
)
from gui_notifications.logic import (
    NO_MARK,
    InboxFilter,
    InvalidTransition,
    UnknownCommand,
    apply_command,
    as_seen,
    effective_status,
    etag,
    notification_id,
    persisted,
    require_match,
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


def _counted(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, COUNTED: counted_value(item)}


def _counts(items: list[dict[str, Any]], mark: Mark = NO_MARK, **filters: str) -> dict[str, int]:
    counters = tally_items(items)
    return tally([(counters.get(counter_sk("*")), mark)], **filters)


def test_filters_and_counts_use_the_effective_status() -> None:
    items = [
        _item("unread", severity="critical"),
        _item("snoozed", snoozed_until=iso(NOW + timedelta(minutes=10)), assignee="ada"),
        _item("archived", category="cost"),
        _item("read"),
    ]
    assert _counts(items) == {"unread": 1, "read": 1, "acknowledged": 0, "snoozed": 1, "archived": 1}
    assert _counts(items, severity="critical") == {
        "unread": 1,
        "read": 0,
        "acknowledged": 0,
        "snoozed": 0,
        "archived": 0,
    }
    assert _counts(items, category="cost")["archived"] == 1
    assert sum(_counts(items, category="cost").values()) == 1
    due = _item("snoozed", snoozed_until=iso(NOW - timedelta(minutes=1)))
    assert [InboxFilter(status="unread").matches(i, NOW) for i in [*items, due]] == [
        True,
        False,
        False,
        False,
        True,
    ]
    assert [InboxFilter(assignee="ada").matches(i, NOW) for i in items] == [False, True, False, False]
    assert InboxFilter(category="cost", status="unread").matches(items[2], NOW, ignore_status=True)


def test_a_read_all_makes_unread_items_of_earlier_generations_read_without_writing_them() -> None:
    before = _item("unread", unread_gen=0)
    after = _item("unread", unread_gen=1)
    mark = Mark(gen=1, read_at=iso(NOW - timedelta(minutes=5)))
    assert effective_status(before, NOW, mark) == "read"
    assert effective_status(after, NOW, mark) == "unread"
    assert effective_status(before, NOW) == "unread"  # no read-all yet
    # counters count both as stored (unread.0, unread.1): the mark decides how they read
    assert _counts([before, after], mark)["unread"] == 1
    assert _counts([before, after], mark)["read"] == 1
    assert _counts([before, _item("unread")])["unread"] == 2  # before any read-all: both unread
    assert unread_in(tally_items([before, after])[counter_sk("*")], 0) == 1


def test_a_snooze_due_before_the_last_read_all_reads_as_read_and_after_it_as_unread() -> None:
    mark = Mark(gen=1, read_at=iso(NOW - timedelta(minutes=5)))
    due_before = _item("snoozed", snoozed_until=iso(NOW - timedelta(minutes=10)))
    due_after = _item("snoozed", snoozed_until=iso(NOW - timedelta(minutes=1)))
    assert effective_status(due_before, NOW, mark) == "read"
    assert effective_status(due_after, NOW, mark) == "unread"
    woken = persisted(due_after, NOW, mark)
    assert woken is not None
    assert (woken["status"], woken["unread_gen"], woken["snoozed_until"], woken["version"]) == (
        "unread",
        1,
        None,
        3,
    )
    stored_read = persisted(due_before, NOW, mark)
    assert stored_read is not None
    assert (stored_read["status"], stored_read["unread_gen"]) == ("read", None)
    assert persisted(_item("read"), NOW, mark) is None  # stored as it reads: nothing to write


def test_a_change_moves_an_item_between_cells_and_a_removal_takes_it_out() -> None:
    item = _counted(_item("unread", severity="warning", category="cost", assignee="ada"))
    read = _counted({**item, "status": "read"})  # as every writer stores it (repository.shaped)
    moves = deltas(item, read)
    assert moves == {
        counter_sk("*"): {"unread.0|warning|cost": -1, "read|warning|cost": 1},
        counter_sk("*", "ada"): {"unread.0|warning|cost": -1, "read|warning|cost": 1},
    }
    unassigned = _counted({**read, "assignee": None})
    assert deltas(read, unassigned) == {counter_sk("*", "ada"): {"read|warning|cost": -1}}
    assert deltas(item, None) == {
        counter_sk("*"): {"unread.0|warning|cost": -1},
        counter_sk("*", "ada"): {"unread.0|warning|cost": -1},
    }
    # never counted (stored before the counters): a change only adds it, a removal moves nothing
    uncounted = _item("unread")
    assert deltas(uncounted, {**uncounted, "status": "read"}) == {counter_sk("*"): {"read|info|job": 1}}
    assert deltas(uncounted, None) == {}
    assert deltas(item, item) == {}  # a write that changes nothing for the counters moves nothing


def test_an_item_counts_in_its_audiences_counter_and_its_assignees() -> None:
    personal = _item("acknowledged", audience="ada", assignee="otto")
    assert tally_items([personal]) == {
        counter_sk("ada"): {"acknowledged|info|job": 1},
        counter_sk("ada", "otto"): {"acknowledged|info|job": 1},
    }


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


def test_reading_an_item_a_read_all_marked_read_writes_nothing() -> None:
    mark = Mark(gen=2, read_at=iso(NOW))
    assert apply_command(_item("unread", unread_gen=1), "read", actor="ada", now=NOW, mark=mark) is None


def test_an_item_that_becomes_unread_is_stamped_with_its_audiences_generation() -> None:
    mark = Mark(gen=4, read_at=iso(NOW - timedelta(hours=1)))
    snoozed = _item("snoozed", snoozed_until=iso(NOW + timedelta(hours=1)))
    updated = apply_command(snoozed, "unsnooze", actor="ada", now=NOW, mark=mark)
    assert updated is not None
    assert (updated["status"], updated["unread_gen"]) == ("unread", 4)
    acknowledged = apply_command(
        _item("unread", unread_gen=4), "acknowledge", actor="ada", now=NOW, mark=mark
    )
    assert acknowledged is not None
    assert acknowledged["unread_gen"] is None


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
