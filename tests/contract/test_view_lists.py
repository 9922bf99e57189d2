"""The saved views' lists served from key items (issue 14), through the gateway on moto: every list
pages exactly and never hands out a cursor to an empty page, a page reads its page plus a constant
whatever the tenant holds, and the key items stay exact under racing saves, deletes, retries and the
migration that writes them for the views stored before."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gui_core.dynamo import Table, to_dynamo
from gui_core.errors import PreconditionFailed
from gui_core.migrations.targets import ItemPager
from gui_migrate.migrations.m0011_view_list_keys import ViewListKeys
from gui_preferences.models import ViewPage
from gui_preferences.repository import KEYED, PreferencesRepository, view_keys, view_sk
from local.memory_table import MemoryTable
from local.runtime import LocalBackend
from stacks.manifest import PREFERENCES_FUNCTION
from tests.contract.conftest import Client, aws, group_backend, provision, table
from tests.contract.items_read import ItemsRead

MIGRATION_FUNCTIONS = ("gui_migrate", "gui_migrate_worker")
MODULES = ("coverage", "mapping", "jobs")
LISTS = ("", "module=mapping", "owner=me", "owner=me&module=mapping")
_numbers = itertools.count()
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def items_read() -> Iterator[ItemsRead]:
    """Installed before the backend starts, so its functions' clients carry the hook."""
    meter = ItemsRead().install()
    yield meter
    meter.uninstall()


@pytest.fixture(scope="module")
def views_backend(tmp_path_factory: pytest.TempPathFactory, items_read: ItemsRead) -> Iterator[LocalBackend]:
    # With the migrations' deploy step, as a deploy runs it: the lists' keys are done at start.
    with group_backend(tmp_path_factory, PREFERENCES_FUNCTION.name, *MIGRATION_FUNCTIONS) as running:
        yield running


@pytest.fixture(scope="module")
def ddb(views_backend: LocalBackend) -> Any:
    return aws(views_backend, "dynamodb")


@pytest.fixture
def ada(views_backend: LocalBackend, ddb: Any) -> Client:
    n = next(_numbers)
    provision(ddb, f"views-{n}")
    assert views_backend.keys is not None
    return Client(views_backend, views_backend.keys, f"views-{n}", f"ada-{n}")


def _body(name: str, module: str = "coverage", visibility: str = "private") -> dict[str, Any]:
    return {"name": name, "module": module, "visibility": visibility}


def _pages(client: Client, query: str, limit: int) -> list[list[str]]:
    """Every page of a list, following cursors: the ids of each page."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        sent = "&".join(q for q in (query, f"limit={limit}", f"cursor={cursor}" if cursor else "") if q)
        answer = client.call("GET", "/preferences/views", query=sent)
        assert answer.status == 200, answer.body[:500]
        page = ViewPage.model_validate(answer.json())
        pages.append([v.id for v in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def _stored_views(ddb: Any, tenant: str) -> list[dict[str, Any]]:
    repository = Table(table("preferences"), ddb)
    return [i for i in _partition(repository, tenant) if str(i["sk"]).startswith("VIEW#")]


def _partition(store: Table, tenant: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    start = None
    while True:
        page = store.query(("pk", tenant), limit=500, start_key=start, consistent=True)
        items += page.items
        if page.last_key is None:
            return items
        start = page.last_key


def _assert_keys_exact(ddb: Any, tenant: str) -> None:
    """The tenant's key items are exactly those of its stored views, each written for the view as it
    is stored now."""
    items = _partition(Table(table("preferences"), ddb), tenant)
    stored = [i for i in items if str(i["sk"]).startswith("VIEW#")]
    keys = {str(i["sk"]) for i in items if str(i["sk"]).startswith("VK#")}
    assert all(v[KEYED] == f"{v['visibility']}#{v['module']}" for v in stored)
    assert keys == {k["sk"] for v in stored for k in view_keys(tenant, v)}


def test_every_list_pages_exactly_and_never_answers_an_empty_page_with_a_cursor(
    ada: Client, ddb: Any
) -> None:
    bob = ada.as_user(f"bob-{ada.subject}")
    made = []
    for n in range(10):
        who = bob if n % 3 == 0 else ada
        body = _body(f"v{n}", MODULES[n % 3], "tenant" if n % 4 == 0 else "private")
        made.append(who.call("POST", "/preferences/views", body=body).json())
    # Moved and removed after their creation: their keys with them.
    ada.call("PUT", f"/preferences/views/{made[1]['id']}", body=_body("v1", "mapping", "tenant"))
    bob.call("PUT", f"/preferences/views/{made[3]['id']}", body=_body("v3", "mapping", "private"))
    assert ada.call("DELETE", f"/preferences/views/{made[2]['id']}").status == 204
    stored = _stored_views(ddb, ada.tenant)
    for client in (ada, bob):
        for query in LISTS:
            expected = sorted(
                v["id"]
                for v in stored
                if (v["visibility"] == "tenant" or v["owner"] == client.subject)
                and ("module=mapping" not in query or v["module"] == "mapping")
                and ("owner=me" not in query or v["owner"] == client.subject)
            )
            for limit in (1, 2, 3, len(expected) or 1):
                pages = _pages(client, query, limit)
                assert [i for page in pages for i in page] == expected, (client.subject, query, limit)
                assert all(len(page) == limit for page in pages[:-1]), (query, limit, pages)
                assert pages[-1] or len(pages) == 1, (query, limit, "an empty page after a cursor")
    _assert_keys_exact(ddb, ada.tenant)


def _seed(ddb: Any, tenant: str, count: int, mine: str) -> None:
    """`count` views of 50 other users (30 % shared) and 5 of `mine` (2 shared) among the oldest,
    written as the repository writes them, straight into the store (BatchWriteItem)."""
    memory = MemoryTable()
    repository = PreferencesRepository(memory, history_days=1)  # type: ignore[arg-type]
    for n in range(count + 5):
        owner, module = (mine, "mapping") if n < 5 else (f"user{n % 50}", MODULES[n % 3])
        visibility = "tenant" if (n < 5 and n % 2) or (n >= 5 and n % 10 < 3) else "private"
        view_id = f"{n + 1:012x}{next(_ids):010x}"
        at = "2026-12-01T00:00:00.000+00:00"
        repository.create_view(
            tenant,
            {
                **_body(f"view {n}", module, visibility),
                "filters": {},
                "sort": [],
                "columns": [],
                "id": view_id,
                "owner": owner,
                "version": 1,
                "created_at": at,
                "updated_at": at,
            },
        )
    items = [to_dynamo(i) for i in memory.items.values()]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        answer = ddb.batch_write_item(RequestItems={table("preferences"): requests})
        assert not answer.get("UnprocessedItems")


SIZES = (200, 2_000)


@pytest.fixture(scope="module")
def sized_tenants(ddb: Any) -> dict[int, str]:
    """A tenant of each size, seeded once for the module."""
    tenants = {}
    for count in SIZES:
        tenant = f"views-size-{count}"
        provision(ddb, tenant)
        _seed(ddb, tenant, count, mine="vic")
        tenants[count] = tenant
    return tenants


@pytest.mark.parametrize("query", LISTS)
def test_a_page_reads_its_page_plus_a_constant_at_any_tenant_size(
    query: str, views_backend: LocalBackend, sized_tenants: dict[int, str], items_read: ItemsRead
) -> None:
    """The same page of 20 at 200 and at 2,000 views: the same items read, at most each range's page
    of key items and one more, and the views they name (before the keys: every view of the tenant
    for a list that finds few)."""
    reads = []
    assert views_backend.keys is not None
    for count in SIZES:
        vic = Client(views_backend, views_backend.keys, sized_tenants[count], "vic")
        items_read.reset()
        answer = vic.call("GET", "/preferences/views", query="&".join(q for q in (query, "limit=20") if q))
        assert answer.status == 200, answer.body[:500]
        page = ViewPage.model_validate(answer.json())
        reads.append(items_read.items[table("preferences")])
        if query.startswith("owner=me"):
            assert [v.owner for v in page.items] == ["vic"] * 5
            assert page.next_cursor is None
        else:
            assert len(page.items) == 20
            assert page.next_cursor is not None
    assert reads[0] <= 3 * (20 + 1), (query, reads)
    assert reads[1] == reads[0], (query, reads)


def test_racing_saves_deletes_and_retries_leave_exact_keys(ada: Client, ddb: Any) -> None:
    """Eight writers at once on the same views, each PUT on what it read (If-Match), a 412 read
    again and retried, some requests sent twice (a client's retry), DELETEs and new views among
    them: every answer is a 2xx, a 404, a 409 or a 412, and the key items are exactly those of the
    views stored at the end."""
    views = [
        ada.call("POST", "/preferences/views", body=_body(f"race {n}", MODULES[n % 3])).json()["id"]
        for n in range(4)
    ]
    statuses: list[int] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        for step in range(6):
            target = rng.choice(views)
            if rng.random() < 0.15:
                statuses.append(ada.call("DELETE", f"/preferences/views/{target}").status)
                continue
            if rng.random() < 0.15:
                body = _body(f"new {n}-{step}", rng.choice(MODULES), rng.choice(("private", "tenant")))
                statuses.append(ada.call("POST", "/preferences/views", body=body).status)
                continue
            for _ in range(5):  # a 412 is read again and retried
                read = ada.call("GET", f"/preferences/views/{target}")
                if read.status == 404:
                    statuses.append(404)
                    break
                body = {
                    **_body(read.json()["name"], rng.choice(MODULES), rng.choice(("private", "tenant"))),
                }
                headers = {"If-Match": read.header("etag") or ""}
                sent = [ada.call("PUT", f"/preferences/views/{target}", body=body, headers=headers)]
                if rng.random() < 0.3:  # the same request again: its If-Match is stale now
                    sent.append(ada.call("PUT", f"/preferences/views/{target}", body=body, headers=headers))
                statuses.extend(a.status for a in sent)
                if sent[0].status != 412:
                    break

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    # 429: the tenant's write budget refused it, writing nothing (the keys are exact all the same)
    assert set(statuses) <= {200, 201, 204, 404, 409, 412, 429}, statuses
    assert 200 in statuses
    assert 412 in statuses  # the requests sent twice
    _assert_keys_exact(ddb, ada.tenant)
    listed = [i for page in _pages(ada, "", 3) for i in page]
    assert listed == sorted(v["id"] for v in _stored_views(ddb, ada.tenant))


def test_writers_racing_the_migration_leave_exact_keys(ada: Client, ddb: Any) -> None:
    """Views stored before the keys (no key items, no keyed_as), then writers of this release and the
    migration's pass over them at once, on DynamoDB's conditions: no key item stale, none missing."""
    store = Table(table("preferences"), ddb)
    repository = PreferencesRepository(store, history_days=1)
    at = "2026-12-01T00:00:00.000+00:00"
    old = []
    for n in range(12):
        one = {
            **_body(f"old {n}", MODULES[n % 3], "tenant" if n % 2 else "private"),
            "filters": {},
            "sort": [],
            "columns": [],
            "id": f"{n + 1:012x}{next(_ids):010x}",
            "owner": ada.subject,
            "version": 1,
            "created_at": at,
            "updated_at": at,
        }
        store.put({"pk": ada.tenant, "sk": view_sk(one["id"]), "kind": "view", **one})
        old.append(one)
    pager = ItemPager(ViewListKeys(), store)  # type: ignore[arg-type]

    def migrate(_: int) -> None:
        for one in old:
            stored = store.get({"pk": ada.tenant, "sk": view_sk(one["id"])})
            pending = pager.pending(stored) if stored else None
            if pending is not None:
                pager.apply(pending)

    def write(n: int) -> None:
        rng = random.Random(100 + n)
        for one in rng.sample(old, 6):
            for _ in range(5):
                stored = repository.view(ada.tenant, one["id"])
                if stored is None:
                    break
                new = {
                    **stored,
                    "module": rng.choice(MODULES),
                    "visibility": rng.choice(("private", "tenant")),
                }
                new["version"] = int(stored["version"]) + 1
                for key in ("pk", "sk", "kind"):
                    new.pop(key)
                try:
                    if rng.random() < 0.2:
                        repository.delete_view(ada.tenant, stored)
                    else:
                        repository.replace_view(ada.tenant, stored, new)
                    break
                except PreconditionFailed:
                    continue

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: migrate(n) if n < 2 else write(n), range(6)))
    migrate(0)  # the pass that finishes after the writers (the ledger's run would)
    _assert_keys_exact(ddb, ada.tenant)
