"""The saved views' list keys (issue 14): the key items each write leaves, the migration that writes
them for the views stored before, the two at once, and the list served from them
(gui_preferences.repository, migration 0011)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gui_core.context import RequestContext
from gui_core.cursors import CursorPlace, Cursors, Pages, StaticCursorKeys
from gui_core.errors import PreconditionFailed
from gui_core.migrations.engine import Engine, RunIdentity
from gui_core.migrations.gate import Always
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.runner import Budget
from gui_core.migrations.targets import ItemPager
from gui_migrate.migrations import m0011_view_list_keys as m0011
from gui_migrate.migrations.m0013_view_list_keys_again import ViewListKeysAgain
from gui_preferences import repository as views
from gui_preferences.repository import KEYED, PreferencesRepository, view_keys, view_sk
from gui_preferences.use_cases import PreferencesPorts, list_views
from local.memory_table import MemoryTable
from tests.fakes import ItemsReadTable, MemoryWorkQueue

_ids = itertools.count(1)
AT = "2026-12-01T10:00:00.000+00:00"
MODULES = ("coverage", "mapping", "jobs")


def view(owner: str = "ada@acme", module: str = "coverage", visibility: str = "private") -> dict[str, Any]:
    n = next(_ids)
    return {
        "name": f"view {n}",
        "module": module,
        "filters": {},
        "sort": [],
        "columns": [],
        "visibility": visibility,
        "id": f"{n:012x}abcdef0123",
        "owner": owner,
        "version": 1,
        "created_at": AT,
        "updated_at": AT,
    }


def key_items(table: MemoryTable, tenant: str = "acme") -> set[str]:
    return {sk for (pk, sk) in table.items if pk == tenant and sk.startswith("VK#")}


def expected_keys(*stored: dict[str, Any], tenant: str = "acme") -> set[str]:
    return {i["sk"] for v in stored for i in view_keys(tenant, v)}


def stored_view(table: MemoryTable, view_id: str) -> dict[str, Any]:
    found = table.get({"pk": "acme", "sk": view_sk(view_id)})
    assert found is not None
    return found


def changed(old: dict[str, Any], **values: Any) -> dict[str, Any]:
    """What PUT /preferences/views/{id} writes: the stored view with the body's values."""
    new = {**old, **values, "version": int(old["version"]) + 1}
    for key in ("pk", "sk", "kind"):
        new.pop(key, None)
    return new


def repo(table: MemoryTable) -> PreferencesRepository:
    return PreferencesRepository(table, history_days=1)  # type: ignore[arg-type]


def test_a_private_view_has_its_owners_keys_and_a_shared_one_the_tenants_too() -> None:
    table = MemoryTable()
    private, shared = view(owner="ada#1@acme"), view(visibility="tenant", module="mapping")
    repo(table).create_view("acme", private)
    repo(table).create_view("acme", shared)

    assert key_items(table) == expected_keys(private, shared)
    assert len(key_items(table)) == 2 + 4
    assert f"VK#o#ada%231%40acme#{private['id']}" in key_items(table)  # `#` cannot forge a key
    assert f"VK#tm#mapping#{shared['id']}" in key_items(table)
    assert stored_view(table, shared["id"])[KEYED] == "tenant#mapping"


@pytest.mark.parametrize(
    "values",
    [
        {"visibility": "tenant"},
        {"module": "mapping"},
        {"visibility": "tenant", "module": "jobs"},
        {"name": "x"},
    ],
)
def test_a_replace_moves_exactly_the_keys_it_changes(values: dict[str, Any]) -> None:
    table = MemoryTable()
    created = view()
    repo(table).create_view("acme", created)
    old = stored_view(table, created["id"])
    repo(table).replace_view("acme", old, changed(old, **values))

    now = stored_view(table, created["id"])
    assert key_items(table) == expected_keys(now)
    assert now[KEYED] == f"{now['visibility']}#{now['module']}"
    back = changed(now, visibility="private", module="coverage")
    repo(table).replace_view("acme", now, back)
    assert key_items(table) == expected_keys(stored_view(table, created["id"]))


def test_a_delete_removes_the_view_its_guard_and_its_keys() -> None:
    table = MemoryTable()
    kept, gone = view(visibility="tenant"), view(visibility="tenant")
    for one in (kept, gone):
        repo(table).create_view("acme", one)
    repo(table).delete_view("acme", stored_view(table, gone["id"]))
    assert key_items(table) == expected_keys(kept)
    assert not any(gone["id"] in sk for (_, sk) in table.items)


def test_a_stale_write_is_refused_and_changes_no_key() -> None:
    table = MemoryTable()
    created = view()
    repo(table).create_view("acme", created)
    old = stored_view(table, created["id"])
    repo(table).replace_view("acme", old, changed(old, visibility="tenant"))
    before = dict(table.items)
    with pytest.raises(PreconditionFailed):
        repo(table).replace_view("acme", old, changed(old, module="jobs"))
    with pytest.raises(PreconditionFailed):
        repo(table).delete_view("acme", old)
    assert table.items == before


def test_the_migration_writes_the_key_items_the_repository_writes() -> None:
    for owner, module, visibility in (("ada@acme", "coverage", "private"), ("a b#c", "jobs", "tenant")):
        one = view(owner, module, visibility)
        assert m0011.key_items("t#1", one, f"{visibility}#{module}") == view_keys("t#1", one)
    assert m0011.KEYED == views.KEYED
    assert m0011.ViewListKeys.sort_prefix == views.VIEW_PREFIX
    assert ViewListKeysAgain.id == views.VIEW_KEYS_MIGRATION  # the list waits for the second pass


def _unkeyed(table: MemoryTable, *stored: dict[str, Any]) -> None:
    """Views as the release before this one wrote them: no key items, no keyed_as."""
    for one in stored:
        table.put({"pk": "acme", "sk": view_sk(one["id"]), "kind": "view", **one})


def _run(table: MemoryTable) -> None:
    engine = Engine(
        [m0011.ViewListKeys()],
        ledger=Ledger(MemoryTable()),
        pager=lambda m: ItemPager(m, table),  # type: ignore[arg-type]
        tenants=lambda: ("acme",),
        queue=MemoryWorkQueue(),
        identity=RunIdentity("test", "test"),
        page_size=3,
    )
    engine.deploy(Budget())


def test_the_migration_keys_the_views_stored_before_and_a_second_run_changes_nothing() -> None:
    table = MemoryTable()
    stored = [view(module=m, visibility=v) for m in MODULES for v in ("private", "tenant")]
    _unkeyed(table, *stored)
    _run(table)
    assert key_items(table) == expected_keys(*stored)
    assert all(stored_view(table, v["id"])[KEYED] == f"{v['visibility']}#{v['module']}" for v in stored)

    before = dict(table.items)
    _run(table)
    assert table.items == before


def test_a_second_pass_moves_the_keys_of_a_view_an_older_release_changed() -> None:
    """A release that does not know the keys rewrites a keyed view whole (it carries keyed_as over):
    the second pass moves the keys, and a writer of this release would too."""
    table = MemoryTable()
    created = view()
    repo(table).create_view("acme", created)
    old = stored_view(table, created["id"])
    table.put({**old, "visibility": "tenant", "module": "jobs", "version": 2})  # the older release

    pager = ItemPager(m0011.ViewListKeys(), table)  # type: ignore[arg-type]
    pending = pager.pending(stored_view(table, created["id"]))
    assert pending is not None
    assert pager.apply(pending)
    assert key_items(table) == expected_keys(stored_view(table, created["id"]))
    assert stored_view(table, created["id"])[KEYED] == "tenant#jobs"


def test_a_write_racing_the_migration_leaves_exact_keys() -> None:
    """The PUT reads a view the migration has not keyed, the migration keys it, the PUT writes: it
    sees the keys now there and moves them (nothing stale, none twice)."""
    table = MemoryTable()
    created, deleted = view(), view(visibility="tenant")
    _unkeyed(table, created, deleted)
    read, read_deleted = stored_view(table, created["id"]), stored_view(table, deleted["id"])
    _run(table)  # between the writers' reads and their writes
    repo(table).replace_view("acme", read, changed(read, visibility="tenant", module="jobs"))
    repo(table).delete_view("acme", read_deleted)

    assert key_items(table) == expected_keys(stored_view(table, created["id"]))


def test_the_migration_racing_a_write_skips_the_view_the_write_keyed() -> None:
    table = MemoryTable()
    created = view()
    _unkeyed(table, created)
    read = stored_view(table, created["id"])
    pager = ItemPager(m0011.ViewListKeys(), table)  # type: ignore[arg-type]
    pending = pager.pending(read)
    assert pending is not None
    repo(table).replace_view("acme", read, changed(read, module="mapping"))

    assert pager.apply(pending) is False  # its condition: the view still as it read it
    assert key_items(table) == expected_keys(stored_view(table, created["id"]))


# -- the list route on the keys ---------------------------------------------------------------------


def listing(
    repository: PreferencesRepository,
    *,
    subject: str = "ada@acme",
    gate: Any = None,
    cursor: str | None = None,
    limit: int = 50,
    **query: Any,
) -> Any:
    """GET /preferences/views through the route's use case, with a real cursor codec."""
    caller = RequestContext(
        "acme", subject, frozenset({"gui:preferences"}), (), "eu-west-1", "r", None, None, 0
    )
    place = CursorPlace(
        "GET /service/gui/preferences/views", "acme", tuple(sorted((k, str(v)) for k, v in query.items()))
    )
    return list_views(
        PreferencesPorts(repository, gate or Always()),
        caller,
        Pages(Cursors(StaticCursorKeys(b"k" * 32)), place),
        module=query.get("module"),
        owner=query.get("owner"),
        limit=limit,
        cursor=cursor,
    )


def seeded(count: int) -> ItemsReadTable:
    """`count` private views of others, and 5 views of ada (2 shared) among the oldest."""
    table = ItemsReadTable()
    for n in range(count + 5):
        if n < 5:
            one = view("ada@acme", "mapping", ("private", "tenant")[n % 2])
        else:
            one = view(f"user{n % 7}@acme", MODULES[n % 3])
        repo(table).create_view("acme", one)
    table.read = 0
    return table


@pytest.mark.parametrize(
    "query", [{}, {"module": "mapping"}, {"owner": "me"}, {"owner": "me", "module": "mapping"}]
)
def test_a_page_reads_its_page_plus_a_constant_whatever_the_tenant_holds(query: dict[str, str]) -> None:
    reads = []
    for count in (1_000, 4_000):
        table = seeded(count)
        page = listing(repo(table), limit=20, **query)
        assert len(page.items) == 5
        assert page.next_cursor is None
        reads.append(table.read)
    # Each range's key items (at most the page and one more), and the views they name.
    assert reads[0] <= 3 * (20 + 1), reads
    assert reads[1] == reads[0], reads


def test_the_list_reads_the_old_way_until_the_migration_is_done_for_the_tenant() -> None:
    table = seeded(300)
    page = listing(repo(table), gate=Always(False), owner="me", limit=20)
    assert len(page.items) == 5
    assert table.read > 300  # every view in order, filtered: the path before the keys


def test_pages_of_every_list_are_exact_and_never_empty_with_a_cursor() -> None:
    table = MemoryTable()
    made = []
    for n in range(30):
        one = view(
            ("ada@acme", "bob@acme", "cy@acme")[n % 3], MODULES[n % 2], ("private", "tenant")[n % 4 == 0]
        )
        repo(table).create_view("acme", one)
        if n % 5 == 0:  # moved after its creation: its keys with it
            stored = stored_view(table, one["id"])
            repo(table).replace_view("acme", stored, changed(stored, visibility="tenant", module="jobs"))
        made.append(stored_view(table, one["id"]))
    for subject in ("ada@acme", "bob@acme"):
        for query in (
            {},
            {"module": "jobs"},
            {"module": "coverage"},
            {"owner": "me"},
            {"owner": "me", "module": "jobs"},
        ):
            expected = [
                v["id"]
                for v in sorted(made, key=lambda v: v["id"])
                if (v["visibility"] == "tenant" or v["owner"] == subject)
                and query.get("module") in (None, v["module"])
                and (query.get("owner") is None or v["owner"] == subject)
            ]
            for limit in (1, 3, 4, len(expected) or 1):
                shown: list[str] = []
                cursor = None
                while True:
                    page = listing(repo(table), subject=subject, cursor=cursor, limit=limit, **query)
                    assert page.items or not shown, (query, "an empty page after a cursor")
                    shown += [v.id for v in page.items]
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                    assert len(page.items) == limit
                assert shown == expected, (subject, query, limit)


def test_a_stale_key_item_is_skipped_never_answered() -> None:
    """Key items an older release left (a view it deleted, or moved): the view decides."""
    table = MemoryTable()
    deleted, moved, kept = (
        view(visibility="tenant"),
        view(visibility="tenant"),
        view("bob@acme", visibility="tenant"),
    )
    for one in (deleted, moved, kept):
        repo(table).create_view("acme", one)
    table.delete({"pk": "acme", "sk": view_sk(deleted["id"])})  # the older release's delete
    stored = stored_view(table, moved["id"])
    table.put({**stored, "visibility": "private", "owner": "ada@acme", "version": 2})  # its PUT

    page = listing(repo(table), subject="bob@acme", limit=1)
    assert [v.id for v in page.items] == [kept["id"]]
    assert page.next_cursor is None
