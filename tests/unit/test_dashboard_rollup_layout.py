"""A rollup item's size does not grow with the tenant: it holds the whole layout of the vocabularies'
counters from its first write on, by short names, and its run-time bins are bounded; migration 0023
moves the items written before the layout into it without losing a count."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gui_core.domain_events import ARTIFACT_KINDS, CATEGORIES, GOVERNANCE_STATUSES, SEVERITIES, VERBS
from gui_core.dynamo import Put, Update
from gui_core.migrations.targets import ItemPager
from gui_dashboard import logic, rollups
from gui_dashboard.rollup_store import RollupStore
from gui_dashboard.rollups import LAYOUT, MAX_RUN_BIN, WRITES, counter_name, duration_bin, stored_name
from gui_jobs.models import JOB_STATUSES
from gui_migrate.migrations.m0023_dashboard_rollups_layout import MOVED_AT_MOST, DashboardRollupsLayout
from gui_migrate.migrations.m0024_dashboard_rollups_layout_again import DashboardRollupsLayoutAgain
from local.memory_table import MemoryTable

NOW = datetime(2026, 12, 7, 10, 37, 12, tzinfo=UTC)
AT = (NOW - timedelta(hours=3)).isoformat(timespec="milliseconds")
TENANT = "acme"
HOUR_SK = rollups.buckets_of(NOW - timedelta(hours=3))[0]
ITEM_LIMIT = 400 * 1024  # DynamoDB's largest item


def _number_size(value: float) -> int:
    """DynamoDB's size of a number: a byte per two significant digits, and one."""
    digits = Decimal(str(value)).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1 if value else 1


def _size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it (names and values, UTF-8), without its key attributes'
    difference from one bucket to another."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        total += len(str(value).encode()) if isinstance(value, str) else _number_size(value)
    return total


def _job(n: int, verb: str, status: str, run_s: float | None = None) -> dict[str, Any]:
    job = {"sk": f"JOB#{n:06d}", "verb": verb, "status": status, "requested_at": AT}
    if run_s is not None:
        job |= {
            "started_at": AT,
            "finished_at": (datetime.fromisoformat(AT) + timedelta(seconds=run_s)).isoformat(),
        }
    return job


def _every_combination() -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    for verb in VERBS:
        for status in JOB_STATUSES:
            records.append(("jobs", _job(len(records), verb, status)))
    for category in CATEGORIES:
        for severity in SEVERITIES:
            for status in ("unread", "archived"):
                note = {"category": category, "severity": severity, "status": status, "created_at": AT}
                records.append(("inbox", {"sk": f"NOTE#n{len(records):06d}", **note}))
    for kind in ARTIFACT_KINDS:
        for governance in GOVERNANCE_STATUSES:
            artifact = {"kind": kind, "governance_status": governance, "created_at": AT}
            records.append(("artifacts", {"sk": f"ART#a{len(records)}", **artifact}))
    return records


def _bucket(records: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    table = MemoryTable()
    store = RollupStore(table)  # type: ignore[arg-type]
    for sequence, (name, record) in enumerate(records):
        assert store.apply(TENANT, name, str(record["sk"]), record, sequence + 1)
    return dict(table.items[(TENANT, HOUR_SK)])


def test_the_stored_names_depend_on_vocabularies_that_only_grow_at_their_end() -> None:
    """A stored name holds places in these: reordering one would read stored counters as others."""
    assert rollups.JOB_STATUSES == JOB_STATUSES  # the jobs group's own, which the dashboard does not import
    assert VERBS[:7] == (
        "ingest",
        "coverage",
        "mapping",
        "overlay",
        "readiness",
        "prompt_pack_calibration",
        "reindex",
    )
    assert rollups.JOB_STATUSES[:6] == ("queued", "running", "succeeded", "failed", "cancelling", "cancelled")
    assert CATEGORIES[:6] == ("governance", "readiness", "prompt_pack", "cost", "incident", "job")
    assert SEVERITIES[:3] == ("info", "warning", "critical")
    assert ARTIFACT_KINDS[:7] == (
        "coverage",
        "mapping",
        "overlay",
        "readiness",
        "prompt_pack",
        "ingestion",
        "governance",
    )
    assert GOVERNANCE_STATUSES[:5] == ("draft", "in_review", "approved", "deprecated", "blocked")
    assert LAYOUT["j|mapping|failed"] == "j2_3"
    assert LAYOUT["a|cost|critical|1"] == "a3_2_1"


def test_every_counter_reads_back_from_its_stored_name() -> None:
    names = [*LAYOUT, "d|ingest|z", "s|reindex|0", f"d|mapping|{MAX_RUN_BIN}", "j|unknown%7Cverb|queued"]
    for name in [*names, "a|system|info|1", "d|ingest|-12", "p|other|draft"]:
        assert counter_name(stored_name(name)) == name
    assert len(set(map(stored_name, names))) == len(names)
    assert [counter_name(key) for key in ("pk", "sk", WRITES, "d9_5", "j0")] == [None] * 5


def test_a_bucket_with_one_combination_is_the_size_of_one_with_all_of_them() -> None:
    """The layout is whole from the first write: which counters are there does not depend on what
    was counted, only their numbers' digits do (a zero is one byte, a one two)."""
    one = _bucket([("jobs", _job(0, "ingest", "queued"))])
    every = _bucket(_every_combination())
    assert set(one) == set(every)
    assert len(every) == len(LAYOUT) + 3  # the key and the count of writes
    digits = sum(
        _number_size(every[name]) - _number_size(one[name]) for name in every if name not in {"pk", "sk"}
    )
    assert _size(every) == _size(one) + digits
    assert digits <= len(LAYOUT) + 1
    assert rollups.add_up([every]) == {name: 1 for name in LAYOUT if not name.startswith("c|")} | {
        name: 0 for name in LAYOUT if name.startswith("c|")
    }


class _Recording(MemoryTable):
    """The in-memory table, keeping the counters each transaction's updates add."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[list[int]] = []  # the counters each update adds
        self.made: list[list[int]] = []  # the counters each bucket's put holds (the record's left out)

    def transact(self, operations: Any) -> None:
        self.added.append([len(op.add or {}) for op in operations if isinstance(op, Update)])
        self.made.append([len(op.item) - 2 for op in operations[1:] if isinstance(op, Put)])
        super().transact(operations)


def test_a_write_adds_the_whole_layout_only_to_a_bucket_that_lacks_it() -> None:
    """The first write to a bucket makes it whole (a put of the layout's counters, zeros too); the
    next ones add only what they move: a few counters per bucket, not the layout's (an
    UpdateExpression's cost, in DynamoDB and in moto, grows with its clauses)."""
    table = _Recording()
    store = RollupStore(table)  # type: ignore[arg-type]
    assert store.apply(TENANT, "jobs", "JOB#000001", _job(1, "ingest", "queued"), 1)
    assert table.added == [[2, 2, 2], []]  # tried laid out: hour, day and month, a counter and w each
    assert table.made == [[], [len(LAYOUT) + 1] * 3]  # refused (none there yet): put whole
    table.added = []
    assert store.apply(TENANT, "jobs", "JOB#000001", _job(1, "ingest", "running"), 2)
    assert store.apply(TENANT, "jobs", "JOB#000002", _job(2, "mapping", "queued"), 3)
    assert [max(adds) for adds in table.added] == [3, 2]  # a status moves two counters, a new job one
    assert set(table.items[(TENANT, HOUR_SK)]) == set(_bucket([("jobs", _job(0, "ingest", "queued"))]))


def test_a_bucket_written_before_the_layout_gets_it_added() -> None:
    """GIVEN an hour bucket of the release before the layout (no count of writes, a counter by its
    spelled name) WHEN a job of that hour is counted THEN the bucket takes the whole layout by ADD
    (its put refused: the item is there), keeps its counter and counts the new job."""
    table = _Recording()
    table.items[(TENANT, HOUR_SK)] = {"pk": TENANT, "sk": HOUR_SK, "j|ingest|queued": 4}
    store = RollupStore(table)  # type: ignore[arg-type]
    assert store.apply(TENANT, "jobs", "JOB#000001", _job(1, "ingest", "queued"), 1)
    assert table.added[-1] == [len(LAYOUT) + 1]
    bucket = table.items[(TENANT, HOUR_SK)]
    assert rollups.add_up([bucket])["j|ingest|queued"] == 5
    assert set(_bucket([("jobs", _job(0, "ingest", "queued"))])) <= set(bucket)


def test_run_time_bins_are_bounded_so_a_bucket_stays_well_under_the_item_limit() -> None:
    assert duration_bin(0.001) == duration_bin(1) == "0"
    assert duration_bin(30 * 86400) == duration_bin(rollups.MAX_RUN_S) == str(MAX_RUN_BIN)
    assert duration_bin(0) == "z"
    # The largest bucket (docs/decision_log.md, "What a rollup read can reach"): every verb with a
    # job in every bin, every number with the most digits it can reach (counts under 10^10, costs
    # under 10^12 USD with 6 decimals, run-time sums under 10^17 s with 3): DynamoDB trims zeros, so
    # 10**8 would be a one-digit number.
    count, cost, run_s = (
        Decimal("9999999999"),
        Decimal("999999999999.999999"),
        Decimal("99999999999999999.999"),
    )
    item = {"pk": TENANT, "sk": HOUR_SK, WRITES: count}
    item |= {short: cost if short.startswith("c") else count for short in LAYOUT.values()}
    for verb in VERBS:
        for slot in ["z", *map(str, range(MAX_RUN_BIN + 1))]:
            item[stored_name(f"d|{verb}|{slot}")] = count
            item[stored_name(f"s|{verb}|{slot}")] = run_s
    assert len(item) == 3 + len(LAYOUT) + 2 * len(VERBS) * (MAX_RUN_BIN + 2)
    assert _size(item) < 0.8 * ITEM_LIMIT


def test_a_figure_is_the_same_from_the_layout_as_from_the_names_spelled_out() -> None:
    records = [*_every_combination(), ("jobs", _job(999, "mapping", "succeeded", run_s=300))]
    item = _bucket(records)
    spelled = {counter_name(k) or k: v for k, v in item.items() if k != WRITES and v != 0}
    period = rollups.align(logic.TimeRange(NOW - timedelta(hours=5), NOW))
    first = rollups.Period(rollups.add_up([item]))
    second = rollups.Period(rollups.add_up([spelled]))
    assert rollups.dashboard_document(period, first, first, as_of=NOW) == rollups.dashboard_document(
        period, second, second, as_of=NOW
    )


# -- migration 0023 ------------------------------------------------------------------------------


def _spelled(item: dict[str, Any]) -> dict[str, Any]:
    """The item as the writers before the layout left it: counters by their spelled names, those
    they met only, no count of writes."""
    return {
        (counter_name(k) or k): v
        for k, v in item.items()
        if k != WRITES and (v != 0 or counter_name(k) is None)
    }


def _migrate(table: MemoryTable, migration: DashboardRollupsLayout | None = None) -> list[bool]:
    pager = ItemPager(migration or DashboardRollupsLayout(), table)  # type: ignore[arg-type]
    done = []
    for item in list(table.items.values()):
        pending = pager.pending(copy.deepcopy(item))
        if pending is not None:
            done.append(pager.apply(pending))
    return done


def test_the_layout_migration_moves_spelled_counters_to_their_stored_names_once() -> None:
    records = [*_every_combination(), ("jobs", _job(999, "mapping", "succeeded", run_s=300))]
    records.append(
        (
            "inbox",
            {"sk": "NOTE#n9", "category": "system", "severity": "info", "status": "read", "created_at": AT},
        )
    )
    table = MemoryTable()
    store = RollupStore(table)  # type: ignore[arg-type]
    for sequence, (name, record) in enumerate(records):
        store.apply(TENANT, name, str(record["sk"]), record, sequence + 1)
    new = {key: dict(item) for key, item in table.items.items() if str(key[1]).startswith("ROLLUP#")}
    for key, item in new.items():
        table.items[key] = _spelled(item)
    period = rollups.align(logic.TimeRange(NOW - timedelta(days=2), NOW))
    before = store.dashboard(TENANT, period, now=NOW)
    assert all(_migrate(table))  # the first pass moves at most MOVED_AT_MOST per item
    assert all(_migrate(table))
    assert _migrate(table) == []  # nothing left
    for key, item in new.items():
        migrated = table.items[key]
        assert set(migrated) == set(item) - {WRITES}  # the layout's names, and those outside it
        assert rollups.add_up([migrated]) == pytest.approx(rollups.add_up([item]))
    assert store.dashboard(TENANT, period, now=NOW) == before
    assert len([k for k in new[(TENANT, HOUR_SK)] if k != WRITES]) > MOVED_AT_MOST  # two passes were needed
    assert table.items[(TENANT, HOUR_SK)]["a|system|info|1"] == 1  # outside the vocabularies: spelled


def test_the_layout_migration_leaves_an_item_a_writer_changed_since_it_was_read() -> None:
    table = MemoryTable()
    store = RollupStore(table)  # type: ignore[arg-type]
    store.apply(TENANT, "jobs", "JOB#1", _job(1, "ingest", "running"), 1)
    table.items[(TENANT, HOUR_SK)] = _spelled(table.items[(TENANT, HOUR_SK)])
    pager = ItemPager(DashboardRollupsLayout(), table)  # type: ignore[arg-type]
    pending = pager.pending(copy.deepcopy(table.items[(TENANT, HOUR_SK)]))
    assert pending is not None
    store.apply(TENANT, "jobs", "JOB#2", _job(2, "ingest", "running"), 2)  # a writer of this release
    assert not pager.apply(pending)
    assert rollups.add_up([table.items[(TENANT, HOUR_SK)]])["j|ingest|running"] == 2
    assert all(_migrate(table))  # read again, it moves
    assert rollups.add_up([table.items[(TENANT, HOUR_SK)]])["j|ingest|running"] == 2
    assert not any("|" in k for k in table.items[(TENANT, HOUR_SK)])


def test_a_moved_counter_keeps_the_decimals_its_counts_have() -> None:
    """A cost moved onto what this release's writers added is their sum, not a float's 17 digits."""
    item = {"pk": TENANT, "sk": HOUR_SK, "c|ingest": 0.1, LAYOUT["c|ingest"]: 0.2, WRITES: 1}
    change = DashboardRollupsLayout().upgrade(item)
    assert change is not None
    assert change.values[LAYOUT["c|ingest"]] == 0.3
    assert change.remove == ("c|ingest",)
    assert change.values[LAYOUT["j|ingest|queued"]] == 0  # the rest of the layout


def test_the_second_pass_moves_what_the_release_before_wrote_during_the_first_passs_deploy() -> None:
    table = MemoryTable()
    store = RollupStore(table)  # type: ignore[arg-type]
    store.apply(TENANT, "jobs", "JOB#1", _job(1, "ingest", "running"), 1)
    table.items[(TENANT, HOUR_SK)] = _spelled(table.items[(TENANT, HOUR_SK)])
    assert all(_migrate(table))
    table.items[(TENANT, HOUR_SK)]["j|ingest|running"] = 1  # the release before, after 0023 went by
    again = DashboardRollupsLayoutAgain()
    assert (again.repeats, again.requires) == (DashboardRollupsLayout.id, (DashboardRollupsLayout.id,))
    assert all(_migrate(table, again))
    assert _migrate(table, again) == []
    item = table.items[(TENANT, HOUR_SK)]
    assert item[LAYOUT["j|ingest|running"]] == 2
    assert not any("|" in k for k in item)
