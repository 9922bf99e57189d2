"""The inbox's assignee filter pages from the copies of assigned items (issue 14), through the real
gateway, authorizer and handler on moto: a page reads the same items at 200 and at 2,000 notifications
(its page and one more per index partition, and the counter items), the pages reach every assigned
item the caller sees once, newest first, with no empty page, in the statuses the unfiltered list
shows (after commands and a read-all too), agree with the counts, and never show another tenant's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_core.date_times import iso
from gui_core.dynamo import Table, to_dynamo
from gui_notifications.logic import InboxFilter, notification_id
from gui_notifications.models import CATEGORIES, SEVERITIES, STATUSES, TENANT_WIDE
from gui_notifications.repository import InboxRepository
from local.memory_table import MemoryTable
from local.runtime import LocalBackend
from stacks.manifest import MIGRATE_FUNCTION, MIGRATE_WORKER_FUNCTION, NOTIFICATIONS_FUNCTION
from tests.contract.conftest import Client, aws, group_backend, provision, table
from tests.contract.items_read import ItemsRead
from tests.contract.test_notifications_counters import (
    SCOPE,
    _assert_counters_exact,
    _expected_ids,
    _page,
    _walk,
)

SIZES = (200, 2_000)
LIMIT = 5
USER = "vic"
QUERIES = ("assignee=me", "assignee=me&status=unread", "assignee=me&status=read", f"assignee={USER}-b")


@pytest.fixture(scope="module")
def items_read() -> Iterator[ItemsRead]:
    with ItemsRead.installed() as meter:  # before the backend starts: its clients carry the hook
        yield meter


@pytest.fixture(scope="module")
def inbox_backend(tmp_path_factory: pytest.TempPathFactory, items_read: ItemsRead) -> Iterator[LocalBackend]:
    # With the migrations' deploy step, as a deploy runs it: the copies' migration is done at start.
    functions = (NOTIFICATIONS_FUNCTION, MIGRATE_FUNCTION, MIGRATE_WORKER_FUNCTION)
    with group_backend(tmp_path_factory, *(f.name for f in functions)) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(inbox_backend: LocalBackend) -> Any:
    return aws(inbox_backend, "dynamodb")


def _seed(ddb: Any, tenant: str, count: int) -> None:
    """`count` notifications, every fourth assigned to `vic` and of the others every seventh to
    `vic-b` (a third of them personal, to vic or a colleague), in every status, written as the
    repository writes them (copies and counters too), straight into the store (BatchWriteItem)."""
    memory = MemoryTable()
    repository = InboxRepository(memory, retention_days=90)  # type: ignore[arg-type]  # the Table contract
    statuses = ("unread", "read", "acknowledged", "archived", "snoozed")
    now = datetime.now(UTC)
    for n in range(count):
        created = now - timedelta(days=30) + timedelta(seconds=n)
        status = statuses[n % len(statuses)]
        repository.append(
            tenant,
            {
                "id": notification_id(created, f"{tenant}:{n}"),
                "category": CATEGORIES[n % len(CATEGORIES)],
                "severity": SEVERITIES[(n // 2) % len(SEVERITIES)],
                "title": f"Notification {n}",
                "audience": (USER if n % 2 else f"ada@{tenant}") if n % 3 == 2 else TENANT_WIDE,
                "assignee": USER if n % 4 == 1 else (f"{USER}-b" if n % 7 == 0 else None),
                "status": status,
                "snoozed_until": iso(now + timedelta(days=1)) if status == "snoozed" else None,
                "created_at": iso(created),
            },
        )
    items = [to_dynamo(i) for i in memory.items.values()]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        answer = ddb.batch_write_item(RequestItems={table("inbox"): requests})
        assert not answer.get("UnprocessedItems")


@pytest.fixture(scope="module")
def sized_tenants(ddb: Any) -> dict[int, str]:
    """A tenant of each size, seeded once for the module."""
    tenants = {count: f"inbox-size-{count}" for count in SIZES}
    for count, tenant in tenants.items():
        provision(ddb, tenant)
        _seed(ddb, tenant, count)
    return tenants


def _vic(backend: LocalBackend, tenant: str) -> Client:
    assert backend.keys is not None
    return Client(backend, backend.keys, tenant, USER, (SCOPE,))


def _filters(query: str) -> InboxFilter:
    fields = dict(part.split("=") for part in query.split("&"))
    return InboxFilter(
        status=fields.get("status"), assignee=USER if fields["assignee"] == "me" else fields["assignee"]
    )


@pytest.mark.parametrize("query", QUERIES)
def test_an_assignee_page_reads_its_page_plus_a_constant_at_any_inbox_size(
    query: str, inbox_backend: LocalBackend, sized_tenants: dict[int, str], items_read: ItemsRead
) -> None:
    """A full page at 200 and at 2,000 notifications reads at most the four counter items (two
    audiences, with and without the assignee) and `limit + 1` copies per audience (fewer where an
    audience has fewer), where the audiences' partitions read on within 500 before the copies."""
    reads = []
    for count in SIZES:
        items_read.reset()
        page = _page(_vic(inbox_backend, sized_tenants[count]), f"{query}&limit={LIMIT}")
        reads.append(items_read.items[table("inbox")])
        assert len(page.items) == LIMIT
        assert page.next_cursor is not None
    assert reads[0] <= reads[1] == 4 + 2 * (LIMIT + 1), (query, reads)


def _walked(caller: Client, query: str, limit: int) -> list[Any]:
    """Every item of a list paged through, checking that each page with a cursor is full."""
    pages = list(_walk(caller, query, limit))
    assert all(len(page.items) == limit for page in pages[:-1]), [len(p.items) for p in pages]
    assert pages[-1].items or len(pages) == 1  # no cursor leads to an empty page
    return [item for page in pages for item in page.items]


def test_assignee_pages_reach_every_assigned_item_once_in_the_lists_statuses_with_its_counts(
    inbox_backend: LocalBackend, sized_tenants: dict[int, str], ddb: Any
) -> None:
    """Each filter's pages, walked 7 at a time, are every item the caller sees assigned so, newest
    first, each once; each item's status is the unfiltered list's; the items per status are the
    counts; all of it again after commands (assign away, assign to the caller, archive, read) and a
    read-all, whose marks the copies' statuses follow."""
    tenant = sized_tenants[SIZES[0]]
    vic = _vic(inbox_backend, tenant)
    listed = {n.id: n.status for n in _walked(vic, "", 100)}

    def check() -> None:
        now = datetime.now(UTC)
        for query in ("assignee=me", f"assignee={USER}-b"):
            walked = _walked(vic, query, 7)
            assert [n.id for n in walked] == _expected_ids(ddb, tenant, USER, _filters(query), now)
            assert all(n.status == listed[n.id] for n in walked)
            counts = _page(vic, query).counts.model_dump()
            assert Counter(n.status for n in walked) == Counter({s: c for s, c in counts.items() if c})
            for status in STATUSES:
                ids = [n.id for n in _walked(vic, f"{query}&status={status}", 7)]
                assert ids == [n.id for n in walked if n.status == status], status

    check()
    mine = _expected_ids(ddb, tenant, USER, InboxFilter(assignee=USER), datetime.now(UTC))
    others = _expected_ids(ddb, tenant, USER, InboxFilter(assignee=f"{USER}-b"), datetime.now(UTC))
    commands = [
        (mine[0], "assign", {"assignee": f"{USER}-b"}),
        (others[0], "assign", {"assignee": "me"}),
        (mine[1], "archive", None),
        (mine[2], "read", None),
    ]
    for item_id, command, body in commands:
        answer = vic.call("POST", f"/notifications/{item_id}/{command}", body=body)
        assert answer.status == 200, (command, answer.body[:300])
    assert vic.call("POST", "/notifications/read-all").status == 200
    listed = {n.id: n.status for n in _walked(vic, "", 100)}
    assert "unread" not in listed.values()
    check()
    _assert_counters_exact(ddb, tenant)


def test_an_assignee_page_shows_no_other_tenants_items(
    inbox_backend: LocalBackend, sized_tenants: dict[int, str], ddb: Any
) -> None:
    """vic is assigned items in both sized tenants: each tenant's pages hold its own only, and vic
    of a third tenant, where nothing is assigned, sees none."""
    now = datetime.now(UTC)
    for tenant in sized_tenants.values():
        walked = [n.id for n in _walked(_vic(inbox_backend, tenant), "assignee=me", 100)]
        assert walked == _expected_ids(ddb, tenant, USER, InboxFilter(assignee=USER), now)
    provision(ddb, "inbox-empty")
    InboxRepository(Table(table("inbox"), ddb), retention_days=90).append(
        "inbox-empty", {"id": notification_id(now), "category": "job", "severity": "info", "title": "x"}
    )
    page = _page(_vic(inbox_backend, "inbox-empty"), "assignee=me")
    assert (page.items, page.next_cursor, sum(page.counts.model_dump().values())) == ([], None, 0)
