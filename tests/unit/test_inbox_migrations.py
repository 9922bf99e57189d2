"""Migrations 0002_inbox_audience_key_again, 0003_inbox_counters and 0004_inbox_assignee_copies on the
in-memory table: their formats are the repository's, 0003 counts every item stored before the
counters exactly once (with its status key and due entry) and 0004 copies every assigned item once,
even when a writer of this release writes the item first, and a second pass changes nothing; 0006,
0004's second pass, makes the copies of what the release before wrote during its deploy their
items' (put, deleted, or out of the indexes for a removed item), and a third pass changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.date_times import iso
from gui_core.migrations.model import ItemMigration
from gui_core.migrations.targets import ItemPager
from gui_migrate.migrations import m0001_inbox_audience_key as m0001
from gui_migrate.migrations import m0002_inbox_audience_key_again as m0002
from gui_migrate.migrations import m0003_inbox_counters as m0003
from gui_migrate.migrations import m0004_inbox_assignee_copies as m0004
from gui_migrate.migrations import m0006_inbox_assignee_copies_again as m0006
from gui_migrate.registry import MIGRATIONS
from gui_notifications import counting, repository
from gui_notifications.counting import COUNTED, Mark, counter_sk, is_cell, tally_items
from gui_notifications.repository import AUDIENCE_KEY, InboxRepository, due_sk, shaped
from local.memory_table import MemoryTable

TENANT = "acme"
NOW = datetime.now(UTC)


def _old_items(count: int) -> list[dict[str, Any]]:
    """Notifications as the release before the counters stored them: no `counted`, no status key,
    no counter item, no due entry (and, for 0002, some without the audience key)."""
    inbox = InboxRepository(MemoryTable(), retention_days=90)
    statuses = ("unread", "read", "acknowledged", "archived", "snoozed")
    items = []
    for n in range(count):
        status = statuses[n % len(statuses)]
        item = inbox.new_item(
            TENANT,
            {
                "id": f"n{n:016x}",
                "category": ("job", "cost", "incident")[n % 3],
                "severity": ("info", "warning", "critical")[n % 3],
                "title": f"old {n}",
                "audience": f"ada@{TENANT}" if n % 4 == 0 else "*",
                "assignee": "otto" if n % 7 == 0 else None,
                "status": status,
                "snoozed_until": NOW + timedelta(hours=n + 1) if status == "snoozed" else None,
            },
        )
        if n % 6 == 0:
            del item[AUDIENCE_KEY]
        items.append({k: v for k, v in item.items() if v is not None})
    return items


def _run(migration: ItemMigration, table: MemoryTable) -> tuple[int, int]:
    """One tenant's pass of `migration`, page by page as the runner does; (changed, skipped)."""
    pager = ItemPager(migration, table)
    changed = skipped = 0
    position = None
    while True:
        batch = pager.page(TENANT, position, 7)
        for unit in batch.units:
            pending = pager.pending(unit)
            if pending is None:
                continue
            if pager.apply(pending):
                changed += 1
            else:
                skipped += 1
        if batch.next is None:
            return changed, skipped
        position = batch.next


def _notes(table: MemoryTable) -> list[dict[str, Any]]:
    return [i for (pk, sk), i in table.items.items() if pk == TENANT and sk.startswith("NOTE#")]


def _counters(table: MemoryTable) -> dict[str, dict[str, int]]:
    held = {
        sk: {n: int(v) for n, v in item.items() if is_cell(n) and v}
        for (pk, sk), item in table.items.items()
        if pk == TENANT and sk.startswith("COUNT#")
    }
    return {sk: cells for sk, cells in held.items() if cells}


def test_the_migrations_formats_are_the_repositorys() -> None:
    for tenant, audience in (("acme", "*"), ("acme", "ada@acme"), ("a#b", "x")):
        assert m0001.audience_key(tenant, audience) == repository.audience_key(tenant, audience)
    assert (m0003.COUNTED, m0003.STATUS_KEY, m0003.UNREAD_GEN) == (
        counting.COUNTED,
        counting.STATUS_KEY,
        counting.UNREAD_GEN,
    )
    assert m0002.InboxAudienceKeyAgain.sort_prefix == m0003.InboxCounters.sort_prefix == repository.PREFIX
    for item in _old_items(20):
        stored = shaped(item)
        change = m0003.InboxCounters().upgrade(item)
        assert change is not None
        assert change.values == {COUNTED: stored[COUNTED], m0003.STATUS_KEY: stored[m0003.STATUS_KEY]}
        assert m0003.counter_sk(str(item["audience"])) == counter_sk(str(item["audience"]))
        if item["status"] == "snoozed":
            assert m0003.due_sk(str(item["audience"]), item["snoozed_until"], item["id"]) == due_sk(
                str(item["audience"]), item["snoozed_until"], item["id"]
            )


def test_they_are_registered_in_order_after_0001() -> None:
    ids = [m.id for m in MIGRATIONS]
    assert ids.index("0001_inbox_audience_key") < ids.index(m0002.InboxAudienceKeyAgain.id)
    assert ids.index(m0002.InboxAudienceKeyAgain.id) < ids.index(m0003.InboxCounters.id)


def test_0002_sets_the_key_only_where_it_is_missing() -> None:
    table = MemoryTable(_old_items(30))
    missing = [i for i in _notes(table) if AUDIENCE_KEY not in i]
    assert _run(m0002.InboxAudienceKeyAgain(), table) == (len(missing), 0)
    assert all(i[AUDIENCE_KEY] == f"{TENANT}#{i['audience']}" for i in _notes(table))
    assert _run(m0002.InboxAudienceKeyAgain(), table) == (0, 0)


def test_0003_counts_every_item_once_with_its_status_key_and_due_entry() -> None:
    old = _old_items(60)
    table = MemoryTable(old)
    assert _run(m0003.InboxCounters(), table) == (60, 0)
    notes = _notes(table)
    assert _counters(table) == tally_items(notes)
    for note in notes:
        assert note[COUNTED] == counting.counted_value(note)
        assert note[m0003.STATUS_KEY] == shaped(note)[m0003.STATUS_KEY]
    snoozed = [n for n in notes if n["status"] == "snoozed"]
    dues = [i for (pk, sk), i in table.items.items() if sk.startswith("DUE#")]
    assert sorted(d["id"] for d in dues) == sorted(n["id"] for n in snoozed)
    # a second pass (a redelivered work item, the next release's) changes nothing
    before = {k: dict(v) for k, v in table.items.items()}
    assert _run(m0003.InboxCounters(), table) == (0, 0)
    assert table.items == before


@pytest.mark.parametrize("command", ["read", "archive", "assign"])
def test_an_item_a_writer_counts_between_the_migrations_read_and_write_is_counted_once(command: str) -> None:
    """The migration decides on an item, a command of this release writes it (counting it), then the
    migration's write comes: its condition fails, the item is skipped, the counters stay exact."""
    table = MemoryTable(_old_items(10))
    inbox = InboxRepository(table, retention_days=90)
    migration = m0003.InboxCounters()
    pager = ItemPager(migration, table)
    unit = next(i for i in pager.page(TENANT, None, 100).units if i["status"] == "unread")
    pending = pager.pending(unit)
    assert pending is not None
    read = inbox.get(TENANT, str(unit["id"]))
    assert read is not None
    changed = {
        "read": {"status": "read"},
        "archive": {"status": "archived"},
        "assign": {"assignee": "bob"},
    }[command]
    inbox.commit(read, {**read, **changed, "version": int(read["version"]) + 1}, Mark())
    assert pager.apply(pending) is False  # counted by the writer: skipped
    assert _run(migration, table) == (9, 0)
    assert _counters(table) == tally_items(_notes(table))


def test_an_item_removed_by_ttl_before_it_was_counted_leaves_no_counter() -> None:
    table = MemoryTable(_old_items(5))
    inbox = InboxRepository(table, retention_days=90)
    gone = _notes(table)[0]
    table.delete({"pk": TENANT, "sk": gone["sk"]})
    assert inbox.forget(gone, "record-1", now=NOW.timestamp()) is False  # never counted: nothing
    assert _run(m0003.InboxCounters(), table) == (4, 0)
    assert _counters(table) == tally_items(_notes(table))


def test_a_snooze_due_when_counted_gets_its_due_entry_so_the_next_list_wakes_it() -> None:
    """A snooze already due when counted is counted snoozed, with its due entry: the next list wakes
    it (the counters then move it to unread)."""
    item = _old_items(5)[4]
    assert item["status"] == "snoozed"
    due = {**item, "snoozed_until": iso(NOW - timedelta(minutes=1))}
    change = m0003.InboxCounters().upgrade(due)
    assert change is not None
    assert any(getattr(op, "item", {}).get("sk", "").startswith("DUE#") for op in change.also)


# -- 0004: the copies of assigned items ------------------------------------------------------------


def _copies(table: MemoryTable) -> dict[str, dict[str, Any]]:
    return {str(i["id"]): i for (pk, sk), i in table.items.items() if pk == TENANT and sk.startswith("ASG#")}


def _assert_copies_exact(table: MemoryTable) -> None:
    """Every assigned item has its copy, as the repository writes it, and nothing else has one."""
    notes = {str(n["id"]): n for n in _notes(table)}
    assert set(_copies(table)) == {i for i, n in notes.items() if n.get("assignee")}
    for item_id, copy in _copies(table).items():
        assert copy == repository.assigned_copy(shaped(notes[item_id]))


def test_0004s_formats_are_the_repositorys() -> None:
    assert (m0004.AUDIENCE_KEY, m0004.STATUS_KEY, m0004.ASSIGNED_KEY) == (
        repository.AUDIENCE_KEY,
        repository.STATUS_KEY,
        repository.ASSIGNED_KEY,
    )
    assert (m0004.COUNTED, m0004.UNREAD_GEN) == (counting.COUNTED, counting.UNREAD_GEN)
    assert m0004.InboxAssigneeCopies.sort_prefix == repository.PREFIX
    assigned = [i for i in _old_items(30) if i.get("assignee")]
    assert assigned
    for item in assigned:
        stored = shaped(item)
        assert m0004.copy_of(stored) == repository.assigned_copy(stored)
        assert m0004.assigned_sk(str(item["id"])) == repository.assigned_sk(str(item["id"]))
        assert m0004.InboxAssigneeCopies().upgrade(stored) is None  # a writer of this release copied it
        unmarked = {k: v for k, v in stored.items() if k != repository.ASSIGNED_KEY}
        change = m0004.InboxAssigneeCopies().upgrade(unmarked)
        assert change is not None
        assert change.values == {m0004.ASSIGNED_KEY: stored[repository.ASSIGNED_KEY]}
    ids = [m.id for m in MIGRATIONS]
    assert ids.index(m0003.InboxCounters.id) < ids.index(m0004.InboxAssigneeCopies.id)


def test_0004_copies_every_assigned_item_once_and_a_second_pass_changes_nothing() -> None:
    table = MemoryTable(_old_items(60))
    assert _run(m0003.InboxCounters(), table) == (60, 0)
    assigned = [n for n in _notes(table) if n.get("assignee")]
    assert _run(m0004.InboxAssigneeCopies(), table) == (len(assigned), 0)
    _assert_copies_exact(table)
    before = {k: dict(v) for k, v in table.items.items()}
    assert _run(m0004.InboxAssigneeCopies(), table) == (0, 0)
    assert table.items == before


@pytest.mark.parametrize("assignee", ["bob", None])
def test_an_item_a_writer_reassigns_between_0004s_read_and_write_keeps_the_writers_copy(
    assignee: str | None,
) -> None:
    """The migration decides to copy an item, a command of this release reassigns (or unassigns) it,
    writing its copy (or deleting it): the migration's write fails and leaves the writer's."""
    table = MemoryTable(_old_items(15))
    _run(m0003.InboxCounters(), table)
    inbox = InboxRepository(table, retention_days=90)
    pager = ItemPager(m0004.InboxAssigneeCopies(), table)
    unit = next(i for i in pager.page(TENANT, None, 100).units if i.get("assignee"))
    pending = pager.pending(unit)
    assert pending is not None
    read = inbox.get(TENANT, str(unit["id"]))
    assert read is not None
    inbox.commit(read, {**read, "assignee": assignee, "version": int(read["version"]) + 1}, Mark())
    assert pager.apply(pending) is False
    _run(m0004.InboxAssigneeCopies(), table)
    _assert_copies_exact(table)
    copy = _copies(table).get(str(unit["id"]))
    assert (copy or {}).get("assignee") == assignee


def test_a_ttl_removal_takes_the_copy_with_it() -> None:
    table = MemoryTable(_old_items(8))
    _run(m0003.InboxCounters(), table)
    _run(m0004.InboxAssigneeCopies(), table)
    inbox = InboxRepository(table, retention_days=90)
    gone = next(n for n in _notes(table) if n.get("assignee"))
    table.delete({"pk": TENANT, "sk": gone["sk"]})
    assert inbox.forget(gone, "record-1", now=NOW.timestamp())
    assert str(gone["id"]) not in _copies(table)
    _assert_copies_exact(table)
    assert _counters(table) == tally_items(_notes(table))


# -- 0006: 0004's second pass ----------------------------------------------------------------------


def _old_write(table: MemoryTable, item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The release before's whole-item write: the item it read, changed, keyed and counted as it
    was, the copy's mark carried over as read and the copy untouched."""
    mark = {repository.ASSIGNED_KEY: item.get(repository.ASSIGNED_KEY)}
    written = {k: v for k, v in {**shaped({**item, **changes}), **mark}.items() if v is not None}
    table.items[(TENANT, str(item["sk"]))] = written
    return written


def _deployed_window() -> tuple[MemoryTable, dict[str, dict[str, Any]]]:
    """0003 and 0004 done, then the release before's writes of the deploy window, by kind."""
    table = MemoryTable(_old_items(60))
    _run(m0003.InboxCounters(), table)
    _run(m0004.InboxAssigneeCopies(), table)
    assigned = {str(n["status"]): n for n in _notes(table) if n.get("assignee")}
    unassigned = next(n for n in _notes(table) if not n.get("assignee"))

    def command(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
        return _old_write(table, item, **changes, version=int(item["version"]) + 1)

    written = {
        "archived": command(assigned["unread"], status="archived"),
        "reassigned": command(assigned["acknowledged"], assignee="bob"),
        "unassigned": command(assigned["read"], assignee=None),
        "assigned": command(unassigned, assignee="otto"),
        # A wake stores the status it reads as, its version unchanged.
        "woken": _old_write(table, assigned["snoozed"], status="unread", snoozed_until=None, unread_gen=0),
        "appended": _old_write(table, {**_old_items(61)[60], "assignee": "otto"}),
    }
    gone = assigned["archived"]
    del table.items[(TENANT, str(gone["sk"]))]  # its retention ended: TTL removed it, not the copy
    table.items[(TENANT, repository.assigned_sk(str(gone["id"])))]["expires_at"] = int(NOW.timestamp()) - 1
    written["removed"] = gone
    return table, written


def _listed_copies(table: MemoryTable) -> dict[str, dict[str, Any]]:
    """The copies in the indexes (a copy without its keys is in neither, and TTL deletes it)."""
    return {i: c for i, c in _copies(table).items() if AUDIENCE_KEY in c}


def test_0006_makes_the_copies_of_what_the_release_before_wrote_their_items_and_a_rerun_nothing() -> None:
    table, written = _deployed_window()
    notes = {str(n["id"]): n for n in _notes(table)}
    stale = {
        i
        for i, c in _listed_copies(table).items()
        if i not in notes or c != repository.assigned_copy(shaped(notes[i]))
    }
    wrong = ("archived", "reassigned", "unassigned", "woken", "removed")
    assert stale == {str(written[kind]["id"]) for kind in wrong}  # what the window left wrong
    again = m0006.InboxAssigneeCopiesAgain()
    fine = len(_listed_copies(table)) - len(stale)  # already their items': put unless so, skipped
    assert _run(again, table) == (len(written), fine)
    notes = {str(n["id"]): n for n in _notes(table)}
    assigned = {i for i, n in notes.items() if n.get("assignee")}
    assert set(_listed_copies(table)) == assigned
    for item_id, copy in _listed_copies(table).items():
        assert copy == repository.assigned_copy(shaped(notes[item_id]))
    for item_id, note in notes.items():  # each item's mark is what this release's writer stores
        assert note.get(repository.ASSIGNED_KEY) == shaped(note)[repository.ASSIGNED_KEY], item_id
    assert _listed_copies(table)[str(written["reassigned"]["id"])]["assignee"] == "bob"
    assert str(written["unassigned"]["id"]) not in _copies(table)
    before = {k: dict(v) for k, v in table.items.items()}
    assert _run(again, table) == (0, len(assigned))  # a third pass: every copy already its item's
    assert table.items == before


def test_a_writer_of_this_release_between_0006s_read_and_write_wins() -> None:
    table, written = _deployed_window()
    inbox = InboxRepository(table, retention_days=90)
    pager = ItemPager(m0006.InboxAssigneeCopiesAgain(), table)
    unit = table.items[(TENANT, str(written["archived"]["sk"]))]
    pending = pager.pending(dict(unit))
    assert pending is not None
    read = inbox.get(TENANT, str(unit["id"]))
    assert read is not None
    inbox.commit(read, {**read, "assignee": "carla", "version": int(read["version"]) + 1}, Mark())
    assert pager.apply(pending) is False
    copy = _copies(table)[str(unit["id"])]
    assert copy["assignee"] == "carla"
    assert copy == repository.assigned_copy(shaped(inbox.get(TENANT, str(unit["id"])) or {}))


def test_0006_repeats_0004_in_the_next_deploy() -> None:
    again = m0006.InboxAssigneeCopiesAgain
    assert again.repeats == m0004.InboxAssigneeCopies.id
    assert again.requires == (m0004.InboxAssigneeCopies.id,)
    assert isinstance(again(), m0004.InboxAssigneeCopies)  # 0004's upgrade, again
    assert (m0006.NOTE_PREFIX, m0006.COPY_PREFIX) == (repository.PREFIX, repository.ASSIGNED_PREFIX)
    ids = [m.id for m in MIGRATIONS]
    assert ids.index(m0004.InboxAssigneeCopies.id) < ids.index(again.id)
