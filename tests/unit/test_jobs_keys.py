"""The jobs list's filter keys (issue 14): the key items each write leaves, the migration that writes
them for the jobs stored before, and the two at once (gui_jobs.repository, migration 0010)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gui_core.migrations.engine import Engine, RunIdentity
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.model import ItemChange
from gui_core.migrations.runner import Budget
from gui_core.migrations.targets import ItemPager
from gui_jobs import repository as jobs
from gui_jobs.logic import cancel_requested, new_job, retried
from gui_jobs.repository import FILTERS, KEYED, JobsRepository, filter_items
from gui_migrate.migrations import m0010_jobs_filter_keys as m0010
from gui_migrate.migrations.m0012_jobs_filter_keys_again import JobsFilterKeysAgain
from local.memory_table import MemoryTable
from tests.fakes import ItemsReadTable, MemoryWorkQueue

_ids = itertools.count(1)
AT = "2026-12-01T10:00:00.000+00:00"


def job(verb: str = "ingest", actor: str = "ada@acme", status: str = "queued") -> dict[str, Any]:
    made = new_job(
        job_id=f"{next(_ids):012x}abcdef0123",
        verb=verb,
        parameters={},
        actor=actor,
        at=AT,
    )
    return {**made, "status": status}


def key_items(table: MemoryTable, tenant: str = "acme") -> set[str]:
    return {sk for (pk, sk) in table.items if pk == tenant and sk.startswith("JF#")}


def expected_keys(*stored: dict[str, Any], tenant: str = "acme") -> set[str]:
    return {i["sk"] for j in stored for i in filter_items(tenant, j)}


def stored_job(table: MemoryTable, job_id: str) -> dict[str, Any]:
    found = table.get({"pk": "acme", "sk": jobs.job_sk(job_id)})
    assert found is not None
    return found


def test_a_new_job_has_one_key_item_per_filter_and_its_keyed_status() -> None:
    table = MemoryTable()
    created = job(actor="ada#1@acme")  # a `#` in a subject cannot forge another key
    JobsRepository(table).create("acme", created)

    assert key_items(table) == expected_keys(created)
    assert len(key_items(table)) == len(FILTERS) == 7
    assert "JF#a#ada%231%40acme#" + created["id"] in key_items(table)
    assert stored_job(table, created["id"])[KEYED] == "queued"


def test_a_status_change_moves_the_status_keys_in_the_same_write() -> None:
    table = MemoryTable()
    repository = JobsRepository(table)
    created = job()
    repository.create("acme", created)
    old = stored_job(table, created["id"])

    repository.replace("acme", old, cancel_requested(old, actor="ada@acme", at=AT))

    now = stored_job(table, created["id"])
    assert now["status"] == now[KEYED] == "cancelling"
    assert key_items(table) == expected_keys(now)
    assert not any("#queued#" in sk for sk in key_items(table))


def test_a_retry_keys_the_new_attempt_and_keeps_the_old_ones_keys() -> None:
    table = MemoryTable()
    repository = JobsRepository(table)
    failed = job(status="failed")
    repository.create("acme", failed)
    old = stored_job(table, failed["id"])
    attempt = job()
    repository.retry("acme", old, retried(old, next_id=attempt["id"], actor="ada@acme", at=AT), attempt)

    assert key_items(table) == expected_keys(failed, attempt)


def test_the_migration_writes_the_key_items_the_repository_writes() -> None:
    cases = (("ingest", "ada@acme", "queued"), ("prompt_pack_calibration", "a b#c", "failed"))
    for verb, actor, status in cases:
        one = job(verb, actor, status)
        assert [m0010.key_item("t#1", n, one, status) for n in m0010.FILTERS] == filter_items("t#1", one)
    assert m0010.FILTERS == jobs.FILTERS
    assert m0010.KEYED == jobs.KEYED
    assert m0010.JobsFilterKeys.sort_prefix == jobs.JOB_PREFIX
    assert JobsFilterKeysAgain.id == jobs.JOBS_KEYS_MIGRATION  # the list waits for the second pass


def _unkeyed(table: MemoryTable, *stored: dict[str, Any]) -> None:
    """Jobs as the release before this one wrote them: no key items, no keyed_status."""
    for one in stored:
        table.put({"pk": "acme", "sk": jobs.job_sk(one["id"]), "kind": "job", **one})


def _run(table: MemoryTable, *, tenants: tuple[str, ...] = ("acme",)) -> Engine:
    ledger_table = MemoryTable()
    engine = Engine(
        [m0010.JobsFilterKeys()],
        ledger=Ledger(ledger_table),
        pager=lambda m: ItemPager(m, table),  # type: ignore[arg-type]
        tenants=lambda: tenants,
        queue=MemoryWorkQueue(),
        identity=RunIdentity("test", "test"),
        page_size=3,
    )
    engine.deploy(Budget())
    return engine


def test_the_migration_keys_the_jobs_stored_before_and_a_second_run_changes_nothing() -> None:
    table = MemoryTable()
    stored = [job(status=s) for s in ("queued", "running", "failed", "succeeded", "cancelled")]
    _unkeyed(table, *stored)
    _run(table)
    assert key_items(table) == expected_keys(*stored)
    assert all(stored_job(table, j["id"])[KEYED] == j["status"] for j in stored)
    assert m0010.JobsFilterKeys().upgrade(stored_job(table, stored[0]["id"])) is None

    before = dict(table.items)
    _run(table)
    assert table.items == before


def test_a_second_pass_moves_the_keys_of_a_job_an_older_release_moved() -> None:
    """A release that does not know the keys rewrites a keyed job whole (it carries keyed_status
    over): the second pass moves the status keys, and a writer of this release would too."""
    table = MemoryTable()
    repository = JobsRepository(table)
    created = job()
    repository.create("acme", created)
    old = stored_job(table, created["id"])
    table.put({**old, "status": "running", "version": old["version"] + 1})  # the older release's write

    pager = ItemPager(m0010.JobsFilterKeys(), table)  # type: ignore[arg-type]
    pending = pager.pending(stored_job(table, created["id"]))
    assert pending is not None
    assert isinstance(pending.change, ItemChange)
    assert pager.apply(pending)
    assert key_items(table) == expected_keys(stored_job(table, created["id"]))
    assert stored_job(table, created["id"])[KEYED] == "running"


def test_a_command_racing_the_migration_leaves_exact_keys() -> None:
    """The command reads a job the migration has not keyed, the migration keys it, the command
    writes: the command's write sees the keys now there and moves them (nothing stale, none twice)."""
    table = MemoryTable()
    repository = JobsRepository(table)
    created = job()
    _unkeyed(table, created)
    read = stored_job(table, created["id"])
    _run(table)  # between the command's read and its write
    repository.replace("acme", read, cancel_requested(read, actor="ada@acme", at=AT))

    now = stored_job(table, created["id"])
    assert key_items(table) == expected_keys(now)
    assert now[KEYED] == "cancelling"


def test_the_migration_racing_a_command_skips_the_job_the_command_keyed() -> None:
    table = MemoryTable()
    repository = JobsRepository(table)
    created = job()
    _unkeyed(table, created)
    read = stored_job(table, created["id"])
    pager = ItemPager(m0010.JobsFilterKeys(), table)  # type: ignore[arg-type]
    pending = pager.pending(read)
    assert pending is not None
    repository.replace("acme", read, cancel_requested(read, actor="ada@acme", at=AT))

    assert pager.apply(pending) is False  # its condition: the job still as it read it
    assert key_items(table) == expected_keys(stored_job(table, created["id"]))


@pytest.mark.parametrize(
    ("criteria", "name"),
    [
        ({"verb": "ingest", "status": None, "actor": None}, "v"),
        ({"verb": None, "status": "failed", "actor": "ada"}, "sa"),
        ({"verb": "ingest", "status": "failed", "actor": "ada"}, "vsa"),
        ({"verb": None, "status": None, "actor": None}, None),
    ],
)
def test_each_combination_of_criteria_has_its_filter(
    criteria: dict[str, str | None], name: str | None
) -> None:
    assert jobs.filter_name(**criteria) == name


# -- the list route on the keys ---------------------------------------------------------------------


class CountingTable(ItemsReadTable):
    """Counts the items each read hands back, single gets too, as DynamoDB bills them."""

    def get(self, key: Any, *, consistent: bool = True) -> dict[str, Any] | None:
        found = super().get(key, consistent=consistent)
        self.read += found is not None
        return found


def caller(subject: str = "ada@acme") -> Any:
    from gui_core.context import RequestContext

    return RequestContext("acme", subject, frozenset({"gui:jobs"}), (), "eu-west-1", "r", None, None, 0)


def listing(repository: JobsRepository, *, gate: Any = None, cursor: str | None = None, **query: Any) -> Any:
    """GET /jobs through its use case, with a real cursor codec."""
    from gui_core.cursors import CursorPlace, Cursors, Pages, StaticCursorKeys
    from gui_core.migrations.gate import Always
    from gui_jobs.models import JobQuery
    from gui_jobs.use_cases import JobsPorts, list_jobs

    place = CursorPlace("GET /service/gui/jobs", "acme", tuple(sorted((k, str(v)) for k, v in query.items())))
    ports = JobsPorts(repository=repository, publisher=None, gate=gate or Always())  # type: ignore[arg-type]
    return list_jobs(
        ports,
        caller(),
        # `status_filter` as the route names it
        JobQuery(cursor=cursor, **{"status" if k == "status_filter" else k: v for k, v in query.items()}),
        Pages(Cursors(StaticCursorKeys(b"k" * 32)), place),
    )


def seeded(count: int, *, rare: int = 5) -> CountingTable:
    """`count` jobs of ada, and `rare` jobs of rare@acme among the oldest (a scan finds them last)."""
    table = CountingTable()
    repository = JobsRepository(table)
    for n in range(count + rare):
        repository.create("acme", job(actor="rare@acme" if n < rare else "ada@acme"))
    table.read = 0
    return table


@pytest.mark.parametrize("query", [{"actor": "rare@acme"}, {"verb": "ingest", "status": "queued"}])
def test_a_filtered_page_reads_its_page_plus_a_constant_whatever_the_tenant_holds(
    query: dict[str, str],
) -> None:
    reads = []
    for count in (1_000, 4_000):
        table = seeded(count)
        arguments = {
            "actor": query.get("actor"),
            "verb": query.get("verb"),
            "status_filter": query.get("status"),
        }
        page = listing(JobsRepository(table), limit=20, **arguments)
        assert len(page.items) == (5 if "actor" in query else 20)
        reads.append(table.read)
    # The page's key items and its jobs, and one more of each: nothing in proportion to the tenant.
    assert reads[0] <= 2 * (20 + 1), reads
    assert reads[1] <= 1.2 * reads[0], reads


def test_the_list_reads_the_old_way_until_the_migration_is_done_for_the_tenant() -> None:
    from gui_core.migrations.gate import Always

    table = seeded(300)
    page = listing(JobsRepository(table), gate=Always(False), actor="rare@acme", limit=20)
    assert len(page.items) == 5
    assert table.read > 300  # the jobs in order, filtered: the path before the keys


def test_a_page_that_holds_the_last_matches_has_no_cursor() -> None:
    """Exactly `limit` jobs match and other jobs follow them: the page is the last one."""
    table = CountingTable()
    repository = JobsRepository(table)
    mine = [job(actor="rare@acme") for _ in range(3)]
    for one in [*mine, *(job() for _ in range(5))]:
        repository.create("acme", one)
    page = listing(repository, actor="rare@acme", limit=3)
    assert [j.id for j in page.items] == sorted((j["id"] for j in mine), reverse=True)
    assert page.next_cursor is None


def test_pages_of_every_filter_are_exact_and_never_empty_with_a_cursor() -> None:
    table = MemoryTable()
    repository = JobsRepository(table)
    made = []
    for n in range(40):
        one = job(("ingest", "coverage")[n % 2], ("ada@acme", "rare@acme")[n % 3 == 0])
        repository.create("acme", one)
        stored = stored_job(table, one["id"])
        if n % 4 == 0:
            repository.replace("acme", stored, cancel_requested(stored, actor="ada@acme", at=AT))
        made.append(stored_job(table, one["id"]))
    criteria = [
        {"verb": v, "status_filter": s, "actor": a}
        for v in (None, "ingest")
        for s in (None, "cancelling", "queued")
        for a in (None, "rare@acme")
    ]
    for query in criteria:
        expected = [
            j["id"]
            for j in sorted(made, key=lambda j: j["id"], reverse=True)
            if (query["verb"] in (None, j["verb"]))
            and (query["status_filter"] in (None, j["status"]))
            and (query["actor"] in (None, j["requested_by"]))
        ]
        shown: list[str] = []
        cursor = None
        while True:
            named = {k: v for k, v in query.items() if v is not None}
            page = listing(repository, cursor=cursor, limit=4, **named)
            assert page.items or not shown, (query, "an empty page after a cursor")
            shown += [j.id for j in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
            assert len(page.items) == 4
        assert shown == expected, query
