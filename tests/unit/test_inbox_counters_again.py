"""Migration 0005_inbox_counters_again on the in-memory table: over an inbox 0003 counted, then changed
by the release before (which ignores `counted`: a new item appended, others changed with their
`counted` and `by_status` key carried over), it counts the new item once and moves the changed ones
to their cells, so the counters equal a count of the items; a third pass changes nothing, and a
writer of this release that moves an item first wins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gui_core.date_times import iso
from gui_core.migrations.targets import ItemPager
from gui_migrate.migrations import m0003_inbox_counters as m0003
from gui_migrate.migrations import m0005_inbox_counters_again as m0005
from gui_notifications import counting
from gui_notifications.counting import COUNTED, STATUS_KEY, Mark, tally_items
from gui_notifications.repository import InboxRepository, due_entry, shaped
from local.memory_table import MemoryTable
from tests.unit.test_inbox_migrations import NOW, TENANT, _counters, _notes, _old_items, _run


def _counted_then_changed_by_the_release_before() -> tuple[MemoryTable, list[str]]:
    """An inbox 0003 counted; then the release before, during 0003's deploy, appends one item and
    changes four with its whole-item write (version raised, everything else read carried over)."""
    table = MemoryTable(_old_items(20))
    assert _run(m0003.InboxCounters(), table) == (20, 0)
    notes = {str(n["id"]): n for n in _notes(table)}
    unread = [i for i, n in notes.items() if n["status"] == "unread"]
    snoozed = next(i for i, n in notes.items() if n["status"] == "snoozed")
    changes: dict[str, dict[str, Any]] = {
        unread[0]: {"status": "read"},
        unread[1]: {"status": "snoozed", "snoozed_until": iso(NOW + timedelta(days=2))},
        unread[2]: {"assignee": "bob"},
        snoozed: {"status": "unread", "snoozed_until": None},
    }
    for item_id, change in changes.items():
        before = notes[item_id]
        table.put(
            {
                k: v
                for k, v in {**before, **change, "version": int(before["version"]) + 1}.items()
                if v is not None
            }
        )
    appended = _old_items(21)[20]
    table.put(appended)
    return table, [*changes, str(appended["id"])]


def _assert_counted_exactly(table: MemoryTable) -> None:
    notes = _notes(table)
    assert _counters(table) == tally_items(notes)
    for note in notes:
        assert note[COUNTED] == counting.counted_value(note)
        assert note[STATUS_KEY] == shaped(note)[STATUS_KEY]
    dues = {sk for (pk, sk) in table.items if pk == TENANT and sk.startswith("DUE#")}
    assert {e["sk"] for n in notes if (e := due_entry(n))} <= dues  # stale ones: dropped when met


def test_the_second_pass_counts_what_the_release_before_wrote_once_and_then_changes_nothing() -> None:
    table, written = _counted_then_changed_by_the_release_before()
    assert _counters(table) != tally_items(_notes(table))  # the counters still count their states before

    assert _run(m0005.InboxCountersAgain(), table) == (len(written), 0)
    _assert_counted_exactly(table)

    before = {k: dict(v) for k, v in table.items.items()}
    assert _run(m0005.InboxCountersAgain(), table) == (0, 0)
    assert table.items == before


def test_a_move_a_writer_of_this_release_made_first_wins() -> None:
    """The second pass decides on a changed item, a command of this release writes it (moving it from
    its `counted`), then the pass's write comes: its condition fails, the counters stay exact."""
    table, written = _counted_then_changed_by_the_release_before()
    pager = ItemPager(m0005.InboxCountersAgain(), table)
    unit = next(i for i in pager.page(TENANT, None, 100).units if str(i["id"]) == written[0])
    pending = pager.pending(unit)
    assert pending is not None
    inbox = InboxRepository(table, retention_days=90)  # type: ignore[arg-type]
    read = inbox.get(TENANT, written[0])
    assert read is not None
    inbox.commit(read, {**read, "status": "archived", "version": int(read["version"]) + 1}, Mark())

    assert pager.apply(pending) is False
    assert _run(m0005.InboxCountersAgain(), table) == (len(written) - 1, 0)
    _assert_counted_exactly(table)


def test_the_second_pass_is_the_first_pass_for_an_item_never_counted() -> None:
    item = _old_items(3)[2]
    assert m0005.InboxCountersAgain().upgrade(item) == m0003.InboxCounters().upgrade(item)
