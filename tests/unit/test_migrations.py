"""The migration engine on fakes (gui_core.migrations): idempotent and resumable runs, the ledger,
failures, the deploy step's rules, tenant isolation, plans that write nothing, object migrations."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gui_core.dynamo import Check, Condition, Put
from gui_core.migrations.engine import Engine, MigrationBlocked, RunIdentity, WorkItem
from gui_core.migrations.ledger import Ledger, RunRecord
from gui_core.migrations.model import (
    ItemChange,
    ItemMigration,
    Migration,
    ObjectMigration,
    Phase,
    Status,
    ordered,
)
from gui_core.migrations.runner import Budget, MigrationFailed, Outcome, run_tenant
from gui_core.migrations.targets import ItemPager, ObjectPager, Pending, pager_for
from gui_core.migrations.work_queue import SqsWorkQueue
from local.memory_table import MemoryTable
from tests.fakes import MemoryObjects, MemoryWorkQueue

HOMED = ("acme", "initech")
ELSEWHERE = "globex"  # homed in another region: its items are in this table, never touched


class AddColor(ItemMigration):
    """A fixture: items of the `things` store get `color`, derived from `kind`."""

    id = "0001_add_color"
    description = "things get a color"
    phase = Phase.EXPAND
    store = "things"
    sort_prefix = "THING#"

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if "color" in item:
            return None
        return ItemChange(
            values={"color": f"{item['kind']}-color"},
            condition=Condition("attribute_not_exists(#c)", names={"#c": "color"}),
        )


class BrokenColor(AddColor):
    """Version 1 of a migration that fails on the items of kind `bad`."""

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if item.get("kind") == "bad":
            raise ValueError(f"cannot color {item['sk']}")
        return super().upgrade(item)


class FixedColor(AddColor):
    version = 2


class DropKind(ItemMigration):
    id = "0002_drop_kind"
    description = "things lose kind"
    phase = Phase.CONTRACT
    requires = ("0001_add_color",)
    store = "things"

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        if "kind" not in item:
            return None
        return ItemChange(remove=("kind",), condition=Condition("attribute_exists(#k)", names={"#k": "kind"}))


class AddColorAgain(AddColor):
    """A second pass of AddColor: the same upgrade, for what the release before wrote meanwhile."""

    id = "0004_add_color_again"
    phase = Phase.MIGRATE
    requires = ("0001_add_color",)
    repeats = "0001_add_color"


class FactsV2(ObjectMigration):
    """A fixture of the telemetry facts: JSON lines of schema 1 get `schema: 2` and `unit`."""

    id = "0003_facts_v2"
    description = "fact rows get a unit"
    phase = Phase.MIGRATE
    prefix = "telemetry/"

    def upgrade(self, key: str, body: bytes) -> bytes | None:
        rows = [json.loads(line) for line in body.decode().splitlines()]
        if all(row.get("schema") == 2 for row in rows):
            return None
        return "".join(json.dumps({**row, "schema": 2, "unit": "count"}) + "\n" for row in rows).encode()


class CountingTable(MemoryTable):
    """A MemoryTable that counts the queries and the item updates made through it."""

    def __init__(self, items: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(items)
        self.updates: Counter[tuple[str, str]] = Counter()
        self.queries: Counter[str] = Counter()  # per partition

    def query(self, partition: tuple[str, str], **kwargs: Any) -> Any:
        self.queries[partition[1]] += 1
        return super().query(partition, **kwargs)

    def update(self, key: Mapping[str, Any], values: Mapping[str, Any], **kwargs: Any) -> Any:
        answer = super().update(key, values, **kwargs)
        self.updates[(str(key["pk"]), str(key.get("sk")))] += 1
        return answer


def things(tenant: str, count: int, *, kind: str = "plain") -> list[dict[str, Any]]:
    return [{"pk": tenant, "sk": f"THING#{n:05d}", "kind": kind} for n in range(count)]


def engine(
    store: MemoryTable,
    ledger_table: MemoryTable,
    queue: MemoryWorkQueue,
    *,
    migrations: Sequence[Migration] = (AddColor(),),
    inline_max_items: int = 10_000,
    counted: Counter[str] | None = None,
    objects: MemoryObjects | None = None,
) -> Engine:
    def count(name: str, value: float) -> None:
        if counted is not None:
            counted[name] += int(value)

    return Engine(
        ordered(migrations),
        ledger=Ledger(ledger_table),
        pager=lambda m: pager_for(m, tables={"things": store}, files=objects),
        tenants=lambda: list(HOMED),
        queue=queue,
        identity=RunIdentity(who="tests", code_version="test"),
        count=count,
        page_size=100,
        inline_max_items=inline_max_items,
    )


def started(migration: Migration, tenants: Sequence[str]) -> Ledger:
    """A ledger in memory where `migration` is running for `tenants`."""
    ledger = Ledger(MemoryTable())
    ledger.record(migration)
    ledger.start(
        migration,
        tenants=tenants,
        mode="inline",
        started_by="t",
        code_version="t",
        from_status=Status.PENDING,
    )
    return ledger


def record_of(ledger: Ledger | MemoryTable, migration_id: str) -> RunRecord:
    found = (ledger if isinstance(ledger, Ledger) else Ledger(ledger)).run(migration_id)
    assert found is not None
    return found


def colored(store: MemoryTable, tenant: str) -> int:
    return sum(1 for (pk, _), item in store.items.items() if pk == tenant and "color" in item)


# -- one tenant's run -------------------------------------------------------------------------


def test_an_interrupted_run_resumes_from_its_checkpoint_without_repeating_or_skipping_items() -> None:
    store = CountingTable(things("acme", 250))
    ledger = started(AddColor(), ["acme"])
    pager = ItemPager(AddColor(), store)

    first = run_tenant(AddColor(), "acme", pager=pager, ledger=ledger, budget=Budget(max_pages=1))
    checkpoint = ledger.checkpoint(AddColor.id, "acme")
    second = run_tenant(AddColor(), "acme", pager=pager, ledger=ledger, budget=Budget())

    assert (first.outcome, first.counts.changed) == (Outcome.PAUSED, 100)
    assert (checkpoint.pages, checkpoint.position) == (1, {"pk": "acme", "sk": "THING#00099"})
    assert (second.outcome, second.counts.changed, second.counts.skipped) == (Outcome.DONE, 150, 0)
    assert colored(store, "acme") == 250
    assert set(store.updates.values()) == {1}  # every item written once, none twice
    run = record_of(ledger, AddColor.id)
    assert (run.tenants_done, run.counts.changed, run.counts.scanned) == (1, 250, 250)


def test_a_second_run_changes_nothing() -> None:
    store = CountingTable(things("acme", 120))
    queue = MemoryWorkQueue()
    ledger_table = MemoryTable()
    engine(store, ledger_table, queue).deploy(Budget())
    writes = sum(store.updates.values())

    again = engine(store, ledger_table, queue).deploy(Budget())
    # The same migration from scratch (a ledger lost), over the upgraded data.
    redo = engine(store, MemoryTable(), queue).deploy(Budget())

    assert writes == 120
    assert again == []  # done: nothing to do, nothing read
    assert (redo[0].counts.changed, redo[0].counts.skipped) == (0, 120)
    assert sum(store.updates.values()) == 120


def test_a_writer_of_the_new_shape_between_read_and_write_wins() -> None:
    store = MemoryTable(things("acme", 3))

    class Racing(ItemPager):
        def apply(self, pending: Any) -> bool:
            # Another writer (the new code) sets the attribute after the page was read.
            store.update(pending.key, {"color": "written-by-new-code"})
            return super().apply(pending)

    ledger = started(AddColor(), ["acme"])
    result = run_tenant(AddColor(), "acme", pager=Racing(AddColor(), store), ledger=ledger, budget=Budget())

    assert (result.counts.changed, result.counts.skipped) == (0, 3)
    assert {item["color"] for item in store.items.values()} == {"written-by-new-code"}


def test_a_change_whose_conditions_fail_is_written_otherwise_and_at_most_one_is() -> None:
    """`ItemChange.otherwise`: tried when the first change's conditions do not hold (here, whether a
    mark beside the item exists), so an upgrade that cannot see that item still writes the one that
    fits; when neither holds, nothing is written."""
    marked = Condition("attribute_exists(#sk)", names={"#sk": "sk"})
    absent = Condition("attribute_not_exists(#sk)", names={"#sk": "sk"})
    plain = Condition("attribute_not_exists(#c)", names={"#c": "color"})

    def change(thing: Mapping[str, Any]) -> ItemChange:
        mark = {"pk": thing["pk"], "sk": f"MARK#{thing['sk']}"}
        return ItemChange(
            values={"color": "first"},
            condition=plain,
            also=(Put(mark, absent),),
            otherwise=ItemChange(values={"color": "second"}, condition=plain, also=(Check(mark, marked),)),
        )

    store = MemoryTable([*things("acme", 2), {"pk": "acme", "sk": "MARK#THING#00001"}])
    pager = ItemPager(AddColor(), store)
    pending = [Pending({"pk": t["pk"], "sk": t["sk"]}, change(t)) for t in things("acme", 2)]

    assert [pager.apply(p) for p in pending] == [True, True]
    assert [store.items[("acme", f"THING#0000{n}")]["color"] for n in (0, 1)] == ["first", "second"]
    assert [pager.apply(p) for p in pending] == [False, False]  # colored: neither holds


def test_a_runner_whose_checkpoint_another_advanced_stops() -> None:
    store = MemoryTable(things("acme", 250))
    ledger = started(AddColor(), ["acme"])
    stale = ledger.checkpoint(AddColor.id, "acme")
    run_tenant(
        AddColor(), "acme", pager=ItemPager(AddColor(), store), ledger=ledger, budget=Budget(max_pages=1)
    )

    assert ledger.advance(stale, {"pk": "acme", "sk": "THING#00000"}, stale.counts) is None
    assert ledger.finish_tenant(stale, stale.counts) is False
    assert ledger.checkpoint(AddColor.id, "acme").pages == 1


# -- failures -----------------------------------------------------------------------------------


def bad_rows() -> list[dict[str, Any]]:
    """acme's things with one that BrokenColor fails on, in its second page."""
    return [
        *things("acme", 150),
        {"pk": "acme", "sk": "THING#00150", "kind": "bad"},
        *({"pk": "acme", "sk": f"THING#{n:05d}", "kind": "plain"} for n in range(151, 220)),
    ]


def test_a_failing_migration_stops_records_its_error_and_checkpoint_and_blocks_the_deploy() -> None:
    store = CountingTable(bad_rows())
    ledger_table = MemoryTable()
    queue = MemoryWorkQueue()
    counted: Counter[str] = Counter()

    with pytest.raises(MigrationFailed, match="cannot color THING#00150"):
        engine(store, ledger_table, queue, migrations=[BrokenColor()], counted=counted).deploy(Budget())
    run = record_of(ledger_table, AddColor.id)
    checkpoint = Ledger(ledger_table).checkpoint(AddColor.id, "acme")

    assert run.status is Status.FAILED
    assert run.error is not None
    assert run.error["tenant"] == "acme"
    assert "THING#00150" in run.error["message"]
    assert (checkpoint.status, checkpoint.pages) == (Status.FAILED, 1)
    assert checkpoint.position == {"pk": "acme", "sk": "THING#00099"}
    assert counted["MigrationFailures"] == 1
    with pytest.raises(MigrationBlocked, match=r"failed \(version 1\).*raise its version"):
        engine(store, ledger_table, queue, migrations=[BrokenColor()]).deploy(Budget())


def test_a_fixed_version_resumes_from_the_checkpoint() -> None:
    store = CountingTable(bad_rows())
    ledger_table = MemoryTable()
    queue = MemoryWorkQueue()
    with pytest.raises(MigrationFailed):
        engine(store, ledger_table, queue, migrations=[BrokenColor()]).deploy(Budget())
    queries_before = store.queries["acme"]

    steps = engine(store, ledger_table, queue, migrations=[FixedColor()]).deploy(Budget())

    run = record_of(ledger_table, AddColor.id)
    assert [s.action for s in steps] == ["done"]
    assert (run.status, run.version, run.error) == (Status.DONE, 2, None)
    assert store.queries["acme"] - queries_before == 2  # the pages after the checkpoint only
    assert colored(store, "acme") == 220
    assert set(store.updates.values()) == {1}


def test_a_rollback_re_running_an_older_release_step_does_nothing() -> None:
    """CloudFormation rolling a failed update back sends the trigger the old properties, which invoke
    the previous version of the deploy step: with a failed migration in the ledger it would raise
    and leave the stack in UPDATE_ROLLBACK_FAILED. An older version than the highest that ran the
    step does nothing; the same or a newer one runs (and still blocks on the failure)."""
    store = CountingTable(bad_rows())
    ledger_table = MemoryTable()
    queue = MemoryWorkQueue()
    with pytest.raises(MigrationFailed):
        engine(store, ledger_table, queue, migrations=[BrokenColor()]).deploy(Budget(), function_version=8)

    steps = engine(store, ledger_table, queue, migrations=[BrokenColor()]).deploy(
        Budget(), function_version=7
    )

    assert [(s.migration, s.action) for s in steps] == [("*", "skipped")]
    assert "version 7 of the deploy step is older than version 8" in steps[0].detail
    for version in (8, 9):
        with pytest.raises(MigrationBlocked):
            engine(store, ledger_table, queue, migrations=[BrokenColor()]).deploy(
                Budget(), function_version=version
            )


# -- the deploy step and the worker ------------------------------------------------------------


def test_a_large_migration_is_queued_per_tenant_and_the_worker_finishes_it() -> None:
    store = MemoryTable(things("acme", 130) + things("initech", 40) + things(ELSEWHERE, 10))
    ledger_table = MemoryTable()
    queue = MemoryWorkQueue()
    run = engine(store, ledger_table, queue, inline_max_items=100)

    steps = run.deploy(Budget())
    items = queue.take()
    assert [s.action for s in steps] == ["queued"]
    assert sorted(i.tenant for i in items) == sorted(HOMED)
    assert record_of(ledger_table, AddColor.id).status is Status.RUNNING

    pages_left = {"acme": 1}  # acme's first work item runs out of time after a page: re-queued
    while items:
        item = items.pop(0)
        run.work(WorkItem.of(item.body()), Budget(max_pages=pages_left.pop(item.tenant, None)))
        items += queue.take()

    record = record_of(ledger_table, AddColor.id)
    assert record.status is Status.DONE
    assert (record.tenants_done, record.tenants_total, record.counts.changed) == (2, 2, 170)
    assert (colored(store, "acme"), colored(store, "initech")) == (130, 40)
    assert colored(store, ELSEWHERE) == 0  # homed in another region: never touched


def test_a_work_item_of_a_tenant_not_homed_here_touches_nothing() -> None:
    store = MemoryTable(things("acme", 5) + things("initech", 5) + things(ELSEWHERE, 5))
    queue = MemoryWorkQueue()
    run = engine(store, MemoryTable(), queue, inline_max_items=0)
    run.deploy(Budget())

    steps = run.work(WorkItem(AddColor.id, ELSEWHERE), Budget())

    assert steps[0].action == "skipped"
    assert colored(store, ELSEWHERE) == 0


def test_the_worker_starts_the_next_migration_when_one_is_done() -> None:
    store = MemoryTable(things("acme", 5) + things("initech", 5))
    ledger_table = MemoryTable()
    queue = MemoryWorkQueue()
    objects = MemoryObjects({"telemetry/acme/facts/a.jsonl": b'{"schema": 1}\n'})
    run = engine(
        store, ledger_table, queue, migrations=[AddColor(), FactsV2()], inline_max_items=0, objects=objects
    )

    run.deploy(Budget())
    for item in queue.take():
        run.work(item, Budget())
    queued = queue.take()

    assert record_of(ledger_table, AddColor.id).status is Status.DONE
    assert sorted((i.migration, i.tenant) for i in queued) == [(FactsV2.id, t) for t in HOMED]


def test_a_contract_step_whose_prerequisite_is_not_done_blocks_the_deploy() -> None:
    queue = MemoryWorkQueue()
    both = [AddColor(), DropKind()]

    with pytest.raises(MigrationBlocked, match="contract migration 0002_drop_kind requires 0001_add_color"):
        engine(
            MemoryTable(things("acme", 5)), MemoryTable(), queue, migrations=both, inline_max_items=0
        ).deploy(Budget())
    assert [i.migration for i in queue.take()] == [AddColor.id, AddColor.id]  # the expand goes on

    steps = engine(MemoryTable(things("acme", 5)), MemoryTable(), queue, migrations=both).deploy(Budget())
    assert [s.action for s in steps] == ["done", "done"]


def test_a_small_migration_whose_budget_runs_out_inline_queues_the_rest() -> None:
    store = MemoryTable(things("acme", 250) + things("initech", 10))
    queue = MemoryWorkQueue()
    ledger_table = MemoryTable()

    steps = engine(store, ledger_table, queue).deploy(Budget(max_pages=2))

    assert [(s.action, s.tenants) for s in steps] == [("queued", 2)]
    assert [i.tenant for i in queue.take()] == ["acme", "initech"]
    assert record_of(ledger_table, AddColor.id).mode == "queued"


# -- second passes -----------------------------------------------------------------------------


class OlderRelease(AddColor):
    id = "0000_older_release"
    sort_prefix = "OLD#"


def _region_with_a_release(ledger_table: MemoryTable) -> None:
    """A ledger where a release before ran (and finished) a migration of its own."""
    engine(MemoryTable(), ledger_table, MemoryWorkQueue(), migrations=[OlderRelease()]).deploy(Budget())


def test_a_second_pass_waits_for_the_deploy_after_its_first_pass_and_finds_what_came_since() -> None:
    store = MemoryTable(things("acme", 5) + things("initech", 5))
    ledger_table = MemoryTable()
    queue = MemoryWorkQueue()
    _region_with_a_release(ledger_table)
    both = [AddColor(), AddColorAgain()]

    first = engine(store, ledger_table, queue, migrations=both, inline_max_items=0).deploy(Budget())
    worker = [
        step.action
        for item in queue.take()
        for step in engine(store, ledger_table, queue, migrations=both).work(item, Budget())
    ]
    # The release before, still serving while this deploy runs, writes the old shape after the
    # first pass went by.
    store.put({"pk": "acme", "sk": "THING#late", "kind": "late"})
    second = engine(store, ledger_table, queue, migrations=both).deploy(Budget())
    third = engine(store, ledger_table, queue, migrations=both).deploy(Budget())

    assert [(s.migration, s.action) for s in first] == [(AddColor.id, "queued")]
    assert worker[-1] == "held"  # the worker holds it too
    assert queue.take() == []
    assert [(s.migration, s.action, s.counts.changed) for s in second] == [(AddColorAgain.id, "done", 1)]
    assert store.items[("acme", "THING#late")]["color"] == "late-color"
    assert third == []


def test_a_second_pass_registered_with_its_first_is_held_in_their_deploy() -> None:
    ledger_table = MemoryTable()
    _region_with_a_release(ledger_table)

    both = [AddColor(), AddColorAgain()]

    steps = engine(MemoryTable(things("acme", 5)), ledger_table, MemoryWorkQueue(), migrations=both).deploy(
        Budget()
    )

    assert [(s.migration, s.action) for s in steps] == [(AddColor.id, "done"), (AddColorAgain.id, "held")]


def test_in_a_new_region_both_passes_run_in_its_first_deploy() -> None:
    store = MemoryTable(things("acme", 5))

    steps = engine(store, MemoryTable(), MemoryWorkQueue(), migrations=[AddColor(), AddColorAgain()]).deploy(
        Budget()
    )

    assert [(s.migration, s.action) for s in steps] == [(AddColor.id, "done"), (AddColorAgain.id, "done")]


def test_an_operators_apply_starts_a_held_second_pass() -> None:
    ledger_table = MemoryTable()
    _region_with_a_release(ledger_table)
    both = [AddColor(), AddColorAgain()]
    engine(MemoryTable(things("acme", 5)), ledger_table, MemoryWorkQueue(), migrations=both).deploy(Budget())

    steps = engine(MemoryTable(), ledger_table, MemoryWorkQueue(), migrations=both).apply(Budget())

    assert [(s.migration, s.action) for s in steps] == [(AddColorAgain.id, "done")]


# -- plan, status ------------------------------------------------------------------------------


def test_a_plan_counts_and_shows_examples_and_writes_nothing() -> None:
    store = MemoryTable(
        [
            *things("acme", 7),
            *things("initech", 3),
            {"pk": "acme", "sk": "THING#09999", "kind": "x", "color": "x"},
        ]
    )
    ledger_table = MemoryTable()
    before = copy.deepcopy(store.items)

    (plan,) = engine(store, ledger_table, MemoryWorkQueue()).plan(Budget())

    assert (plan.counts.scanned, plan.counts.changed, plan.counts.skipped) == (11, 10, 1)
    assert {t: c.changed for t, c in plan.tenants.items()} == {"acme": 7, "initech": 3}
    assert plan.examples[0] == {
        "tenant": "acme",
        "key": {"pk": "acme", "sk": "THING#00000"},
        "set": {"color": "plain-color"},
        "remove": [],
    }
    assert (len(plan.examples), plan.mode) == (3, "inline")
    assert store.items == before
    assert ledger_table.items == {}


def test_status_shows_each_run_and_the_tenants_in_progress() -> None:
    store = MemoryTable(things("acme", 250) + things("initech", 5))
    queue = MemoryWorkQueue()
    run = engine(store, MemoryTable(), queue, inline_max_items=0)
    run.deploy(Budget())
    run.work(WorkItem(AddColor.id, "acme"), Budget(max_pages=1))

    (state,) = run.status()

    assert (state.status, state.tenants, state.in_progress.changed) == ("running", {"running": 1}, 100)
    assert state.run is not None
    assert state.run.started_by == "tests"


# -- object migrations -------------------------------------------------------------------------


def test_an_object_migration_upgrades_each_old_object_once_and_respects_a_new_writer() -> None:
    old = b'{"schema": 1, "metric": "jobs"}\n'
    newer = b'{"schema": 2, "metric": "jobs", "unit": "ms"}\n'
    objects = MemoryObjects(
        {f"telemetry/acme/facts/2026-12-0{d}.jsonl": old for d in range(1, 6)}
        | {"telemetry/acme/facts/2026-12-06.jsonl": b'{"schema": 2, "metric": "jobs", "unit": "count"}\n'}
        | {"telemetry/globex/facts/2026-12-01.jsonl": old}
    )

    def concurrent_writer(key: str) -> None:
        if key.endswith("2026-12-03.jsonl") and objects.objects[key][0] == old:
            objects.write(key, newer)  # the facts writer's new shape lands between read and write

    objects.before_put = concurrent_writer
    pager = ObjectPager(FactsV2(), objects)
    first = run_tenant(
        FactsV2(), "acme", pager=pager, ledger=started(FactsV2(), ["acme"]), budget=Budget(), page_size=2
    )
    objects.before_put = None
    second = run_tenant(
        FactsV2(), "acme", pager=pager, ledger=started(FactsV2(), ["acme"]), budget=Budget(), page_size=2
    )

    assert (first.counts.scanned, first.counts.changed, first.counts.skipped) == (6, 4, 2)
    assert objects.objects["telemetry/acme/facts/2026-12-03.jsonl"][0] == newer
    assert json.loads(objects.objects["telemetry/acme/facts/2026-12-01.jsonl"][0])["unit"] == "count"
    assert objects.objects["telemetry/globex/facts/2026-12-01.jsonl"][0] == old
    assert (second.counts.changed, second.counts.skipped) == (0, 6)
    assert len(objects.puts) == 4


# -- the registry, the queue ---------------------------------------------------------------------


def test_migrations_are_ordered_and_checked() -> None:
    assert [m.id for m in ordered([DropKind(), AddColor()])] == [AddColor.id, DropKind.id]
    with pytest.raises(ValueError, match="requires"):
        ordered([DropKind()])
    with pytest.raises(ValueError, match="number is taken"):
        ordered([AddColor(), FixedColor()])

    class Unrequired(AddColor):
        id = "0004_add_color_unrequired"
        repeats = AddColor.id

    with pytest.raises(ValueError, match="must require it"):
        ordered([AddColor(), Unrequired()])


def test_work_items_go_ten_a_call() -> None:
    calls: list[Sequence[Mapping[str, Any]]] = []

    class Client:
        def send_message_batch(self, **params: Any) -> Mapping[str, Any]:
            calls.append(params["Entries"])
            return {"Successful": [{"Id": e["Id"]} for e in params["Entries"]]}

    SqsWorkQueue("https://queue", Client()).send([WorkItem("0001_x", f"t{n}") for n in range(23)])

    assert [len(c) for c in calls] == [10, 10, 3]
    assert WorkItem.of(calls[2][2]["MessageBody"]) == WorkItem("0001_x", "t22")
