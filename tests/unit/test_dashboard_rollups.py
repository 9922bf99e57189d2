"""The dashboard's rollups answer what the computation over the records answers: seeded tenants
with jobs, inbox items and artifacts that change and go, every change applied (some twice, some
late), compared figure by figure with `gui_dashboard.logic` over the same records and ranges."""

from __future__ import annotations

import copy
import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gui_dashboard import logic, rollups
from gui_dashboard.logic import MODULES, SourceRecords, TimeRange, choose_bucket
from gui_dashboard.rollup_store import BatchStopped, Change, RollupStore
from gui_dashboard.rollups import align, cover
from local.memory_table import MemoryTable

NOW = datetime(2026, 12, 7, 10, 37, 12, tzinfo=UTC)
TENANT = "acme"
VERBS = (*logic.ALL_VERBS, "unknown|verb")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ALERT_STATUSES = ("unread", "read", "snoozed", "acknowledged", "archived")
KINDS = ("coverage", "mapping", "overlay", "readiness", "prompt_pack", "other")


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def _job(rng: random.Random, n: int) -> dict[str, Any]:
    requested = NOW - timedelta(seconds=rng.randrange(0, 70 * 86400))
    job: dict[str, Any] = {
        "pk": TENANT,
        "sk": f"JOB#{n:06d}",
        "verb": rng.choice(VERBS),
        "status": rng.choice(JOB_STATUSES),
        "requested_at": _iso(requested),
    }
    if job["status"] in {"succeeded", "failed", "cancelled"}:
        job["started_at"] = _iso(requested)
        run = rng.choice([600.0, 600.0, 0.0, rng.uniform(1, 7200)])
        job["finished_at"] = _iso(requested + timedelta(seconds=round(run, 3)))
    if rng.random() < 0.1:
        job["cost_usd"] = round(rng.uniform(0, 5), 2)
    if rng.random() < 0.02:
        del job["requested_at"]
    return job


def _alert(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "pk": TENANT,
        "sk": f"NOTE#n{n:06d}",
        "category": rng.choice(("readiness", "prompt_pack", "governance", "cost", "system")),
        "severity": rng.choice(("info", "warning", "critical")),
        "status": rng.choice(ALERT_STATUSES),
        "created_at": (NOW - timedelta(seconds=rng.randrange(0, 70 * 86400))).isoformat(),
    }


def _artifact(rng: random.Random, n: int) -> dict[str, Any]:
    at = NOW - timedelta(seconds=rng.randrange(-3 * 3600, 800 * 86400))  # a few dated ahead of now
    artifact: dict[str, Any] = {
        "pk": TENANT,
        "sk": f"ART#a{n}",
        "kind": rng.choice(KINDS),
        "governance_status": rng.choice(("draft", "approved", "deprecated")),
        "created_at": _iso(at),
    }
    if rng.random() < 0.5:
        artifact["published_at"] = _iso(at + timedelta(hours=rng.randrange(0, 48)))
    return artifact


class Seeded:
    """Records of the three stores and the rollups of every change made to them."""

    def __init__(self, seed: int, size: int) -> None:
        self.rng = random.Random(seed)
        self.table = MemoryTable()
        self.rollups = RollupStore(self.table)  # type: ignore[arg-type]
        self.records: dict[str, dict[str, dict[str, Any]]] = {"jobs": {}, "inbox": {}, "artifacts": {}}
        self.sequence = itertools.count(1000)
        self.applied: list[tuple[str, str, dict[str, Any] | None, int]] = []
        makers = {"jobs": _job, "inbox": _alert, "artifacts": _artifact}
        for n in range(size):
            for store, make in makers.items():
                self.change(store, make(self.rng, n))

    def change(self, store: str, record: dict[str, Any] | None, sk: str | None = None) -> None:
        sk = sk or str(record["sk"] if record else "")
        if record is None:
            self.records[store].pop(sk, None)
        else:
            self.records[store][sk] = copy.deepcopy(record)
        seq = next(self.sequence)
        self.applied.append((store, sk, copy.deepcopy(record), seq))
        assert self.rollups.apply(TENANT, store, sk, record, seq)

    def sources(self) -> SourceRecords:
        return SourceRecords(
            jobs=list(self.records["jobs"].values()),
            alerts=list(self.records["inbox"].values()),
            artifacts=list(self.records["artifacts"].values()),
        )


def _without_percentiles(document: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[Any, Any]]]:
    """The document with its run-time percentiles taken out, and those (expected, got) pairs."""
    document = copy.deepcopy(document)
    taken: list[Any] = []
    for module in document.get("modules", []):
        for figure in module["figures"]:
            if figure["name"].startswith("duration_p"):
                taken.append((figure["value"], figure["previous"]))
                figure["value"] = figure["previous"] = None
                figure["trend"] = None
    document.pop("complete", None)
    return document, taken


def _assert_same(expected: dict[str, Any], got: dict[str, Any]) -> None:
    old, old_p = _without_percentiles(expected)
    new, new_p = _without_percentiles(got)
    assert new == old
    for (value, previous), (value_r, previous_r) in zip(old_p, new_p, strict=True):
        for exact, binned in ((value, value_r), (previous, previous_r)):
            assert (exact is None) == (binned is None)
            if exact is not None:
                assert binned == pytest.approx(exact, rel=0.01, abs=1e-3)


def _ranges() -> list[TimeRange]:
    presets = [align(logic.resolve_range(start=None, end=None, preset=p, now=NOW)) for p in logic.PRESETS]
    explicit = [
        TimeRange(datetime(2026, 10, 3, 5, tzinfo=UTC), datetime(2026, 11, 20, 17, tzinfo=UTC)),
        TimeRange(datetime(2026, 11, 30, 22, tzinfo=UTC), datetime(2026, 12, 1, 3, tzinfo=UTC)),
        TimeRange(datetime(2025, 12, 7, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)),
    ]
    return presets + explicit


@pytest.fixture(scope="module")
def seeded() -> Seeded:
    tenant = Seeded(seed=14, size=400)
    rng = tenant.rng
    # Changes after creation: jobs end, alerts are read, artifacts deprecated; some go (TTL).
    for store, make in (("jobs", _job), ("inbox", _alert), ("artifacts", _artifact)):
        for sk in rng.sample(sorted(tenant.records[store]), 120):
            changed = make(rng, 0)
            changed["sk"] = sk
            tenant.change(store, changed)
        for sk in rng.sample(sorted(tenant.records[store]), 30):
            tenant.change(store, None, sk=sk)
    return tenant


def test_the_dashboard_from_rollups_is_the_computation_over_the_records(seeded: Seeded) -> None:
    for period in _ranges():
        expected = logic.dashboard_document(period, seeded.sources(), as_of=NOW)
        got = seeded.rollups.dashboard(TENANT, period, now=NOW)
        _assert_same(expected, got)
    values = [f["value"] for m in got["modules"] for f in m["figures"]]
    assert sum(1 for v in values if v) > 30  # figures with something in them, not zeros compared


@pytest.mark.parametrize("module", list(MODULES))
def test_each_modules_series_from_rollups_is_the_computation_over_the_records(
    seeded: Seeded, module: str
) -> None:
    for period in _ranges():
        for bucket in (None, "1d"):
            size = (
                choose_bucket(period, bucket)
                if bucket is None or logic.point_count(period, bucket) <= 200
                else None
            )
            if size is None:
                continue
            expected = logic.metrics_document(module, period, size, seeded.sources(), as_of=NOW)
            got = seeded.rollups.series(TENANT, module, period, size, now=NOW)
            _assert_same(expected, got)


def test_a_redelivered_or_older_change_changes_nothing(seeded: Seeded) -> None:
    before = copy.deepcopy(seeded.table.items)
    for store, sk, record, seq in seeded.rng.sample(seeded.applied, 200):
        assert not seeded.rollups.apply(TENANT, store, sk, record, seq)
    assert seeded.table.items == before


def test_a_backfill_counts_a_record_once_and_never_over_a_change() -> None:
    tenant = Seeded(seed=3, size=0)
    requested = _iso(NOW - timedelta(hours=2))
    job = {"pk": TENANT, "sk": "JOB#1", "verb": "ingest", "status": "running", "requested_at": requested}
    assert tenant.rollups.backfill(TENANT, "jobs", job)
    assert not tenant.rollups.backfill(TENANT, "jobs", job)  # twice: counted once
    ended = job | {"status": "failed", "started_at": requested, "finished_at": _iso(NOW)}
    tenant.change("jobs", ended)
    assert not tenant.rollups.backfill(TENANT, "jobs", job)  # an older read of it: the change stays
    period = align(logic.resolve_range(start=None, end=None, preset="24h", now=NOW))
    ingestion = tenant.rollups.dashboard(TENANT, period, now=NOW)["modules"][0]
    figures = {f["name"]: f["value"] for f in ingestion["figures"]}
    assert (ingestion["module"], figures["jobs"], figures["jobs_failed"]) == ("ingestion", 1, 1)
    assert figures["duration_p50_s"] == pytest.approx(2 * 3600, rel=0.001)


def _step(granularity: str, at: datetime) -> datetime:
    if granularity == "m":
        return rollups._next_month(at)
    return at + (timedelta(hours=1) if granularity == "h" else timedelta(days=1))


def test_a_range_is_covered_by_its_largest_buckets_without_gap_or_overlap() -> None:
    rng = random.Random(5)
    for _ in range(300):
        start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 20000))
        period = TimeRange(start, start + timedelta(hours=rng.randrange(1, 2 * 366 * 24)))
        buckets: list[tuple[datetime, datetime]] = []
        for segment in cover(period):
            at = segment.first
            while at <= segment.last:
                buckets.append((at, _step(segment.granularity, at)))
                at = _step(segment.granularity, at)
        assert buckets[0][0] == period.start
        assert buckets[-1][1] == period.end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(buckets))  # no gap, no overlap
        assert len(cover(period)) <= 5  # queries
        assert len(buckets) <= 23 + 30 + 25 + 30 + 23  # items, at most


def _tenant_of(size: int) -> RollupStore:
    """`size` jobs, inbox items and artifacts over the 60 days before NOW, every hour holding some."""
    store = RollupStore(MemoryTable())  # type: ignore[arg-type]
    hours = 60 * 24
    for n in range(size):
        at = NOW - timedelta(hours=n % hours, minutes=n % 60)
        job = {
            "sk": f"JOB#{n:06d}",
            "verb": VERBS[n % 7],
            "status": JOB_STATUSES[n % 5],
            "requested_at": _iso(at),
        }
        alert = {"sk": f"NOTE#n{n:06d}", "category": "cost", "severity": "info", "status": "unread"}
        artifact = {"sk": f"ART#a{n}", "kind": KINDS[n % 6], "governance_status": "approved"}
        store.backfill(TENANT, "jobs", job)
        store.backfill(TENANT, "inbox", alert | {"created_at": at.isoformat()})
        store.backfill(TENANT, "artifacts", artifact | {"created_at": _iso(at - timedelta(days=400))})
    return store


def test_a_call_reads_as_many_items_at_1500_records_as_at_10000() -> None:
    """What a call reads depends on its range only: counted per call at two tenant sizes."""
    reads: dict[int, list[int]] = {}
    for size in (1_500, 10_000):
        store = _tenant_of(size)
        counts = []
        for preset in logic.PRESETS:
            period = align(logic.resolve_range(start=None, end=None, preset=preset, now=NOW))
            before = store.items_read
            store.dashboard(TENANT, period, now=NOW)
            counts.append(store.items_read - before)
            before = store.items_read
            store.series(TENANT, "mapping", period, choose_bucket(period, None), now=NOW)
            counts.append(store.items_read - before)
        reads[size] = counts
    assert reads[1_500] == reads[10_000]
    assert max(reads[10_000]) <= 2 * 131 + 24 * 30 + 2  # the 30-day series reads its 720 hours


def test_the_backfill_migrations_count_what_was_stored_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """0020-0022 give each stored record its contribution, a page at a time, and change no record;
    deciding a record's change (what a plan does) writes nothing; run again, they write nothing."""
    from gui_migrate.migrations import m0020_dashboard_rollups_jobs as m0020
    from gui_migrate.migrations.m0021_dashboard_rollups_inbox import DashboardRollupsInbox
    from gui_migrate.migrations.m0022_dashboard_rollups_artifacts import DashboardRollupsArtifacts

    table = MemoryTable()
    store = RollupStore(table)  # type: ignore[arg-type]
    monkeypatch.setattr(m0020, "rollups", lambda: store)
    rng = random.Random(20)
    stored = {
        "jobs": [_job(rng, n) for n in range(60)],
        "inbox": [_alert(rng, n) for n in range(60)],
        "artifacts": [_artifact(rng, n) for n in range(60)],
    }
    migrations = {
        "jobs": m0020.DashboardRollupsJobs(),
        "inbox": DashboardRollupsInbox(),
        "artifacts": DashboardRollupsArtifacts(),
    }
    for name, records in stored.items():
        assert all(str(r["sk"]).startswith(migrations[name].sort_prefix or "") for r in records)
        assert [migrations[name].upgrade(record) for record in records] == [None] * len(records)
    assert table.items == {}  # a plan's reads
    for name, records in stored.items():
        for page in (records[:7], records[7:40], records[40:]):
            migrations[name].write_page(page)
    counted = copy.deepcopy(table.items)
    for name, records in stored.items():  # a second run
        migrations[name].write_page(records)
    assert table.items == counted
    sources = SourceRecords(jobs=stored["jobs"], alerts=stored["inbox"], artifacts=stored["artifacts"])
    for period in _ranges():
        _assert_same(
            logic.dashboard_document(period, sources, as_of=NOW), store.dashboard(TENANT, period, now=NOW)
        )


class CountingTable(MemoryTable):
    """The transactions written, by their number of actions."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[int] = []

    def transact(self, operations: Any) -> None:
        self.transactions.append(len(operations))
        super().transact(operations)


def _counters(table: MemoryTable) -> dict[str, dict[str, float]]:
    """Each bucket's counters by their spelled names, zeros left out (not how many writes it took)."""
    buckets = {}
    for (_, sk), item in table.items.items():
        if str(sk).startswith(rollups.ROLLUP_PREFIX):
            buckets[str(sk)] = {n: round(v, 6) for n, v in rollups.add_up([item]).items() if round(v, 6)}
    return buckets


def test_a_page_backfilled_together_counts_what_records_backfilled_alone_count() -> None:
    """GIVEN 250 jobs, inbox items and artifacts over 3 days WHEN backfilled a page at a time and
    one by one THEN every bucket holds the same counters and record items, in transactions of at
    most 25 actions each (a bucket not laid out takes a second try), a fifth as many as record by
    record, writing each bucket once a chunk."""
    rng = random.Random(8)
    records = {
        "jobs": [_job(rng, n) | {"requested_at": _iso(NOW - timedelta(minutes=17 * n))} for n in range(250)],
        "inbox": [_alert(rng, n) | {"created_at": _iso(NOW - timedelta(minutes=17 * n))} for n in range(250)],
        "artifacts": [_artifact(rng, n) for n in range(250)],
    }
    alone, together = CountingTable(), CountingTable()
    for store, page in records.items():
        for record in page:
            assert RollupStore(alone).backfill(TENANT, store, record)  # type: ignore[arg-type]
        assert RollupStore(together).backfill_page(TENANT, store, page) == len(page)  # type: ignore[arg-type]
    assert _counters(together) == _counters(alone)
    record_items = {k: v for k, v in alone.items.items() if str(k[1]).startswith("ROLLREC#")}
    assert {k: v for k, v in together.items.items() if str(k[1]).startswith("ROLLREC#")} == record_items
    assert len(record_items) == 750
    assert max(together.transactions) <= 25
    assert len(together.transactions) <= 150 < 750 <= len(alone.transactions)
    assert sum(together.transactions) < 0.7 * sum(alone.transactions)  # each bucket once a chunk


def test_a_page_backfill_leaves_a_record_the_stream_applied_as_the_stream_left_it() -> None:
    """GIVEN a page of which the consumer applied a newer change of one job WHEN the page is
    backfilled THEN that job counts as the change says, the others as stored, each once."""
    tenant = Seeded(seed=4, size=0)
    requested = _iso(NOW - timedelta(hours=2))
    jobs = [
        {"pk": TENANT, "sk": f"JOB#{n}", "verb": "ingest", "status": "running", "requested_at": requested}
        for n in range(5)
    ]
    ended = jobs[2] | {"status": "failed", "started_at": requested, "finished_at": _iso(NOW)}
    tenant.change("jobs", ended)
    assert tenant.rollups.backfill_page(TENANT, "jobs", jobs) == 4
    assert tenant.rollups.backfill_page(TENANT, "jobs", jobs) == 0  # run again: nothing
    period = align(logic.resolve_range(start=None, end=None, preset="24h", now=NOW))
    ingestion = tenant.rollups.dashboard(TENANT, period, now=NOW)["modules"][0]
    figures = {f["name"]: f["value"] for f in ingestion["figures"]}
    assert (figures["jobs"], figures["jobs_failed"]) == (5, 1)


def test_a_batch_applied_together_leaves_what_its_changes_applied_one_by_one_leave() -> None:
    """GIVEN 900 changes of 300 records (some redelivered, some late, some removals) WHEN applied in
    stream batches of 100 THEN every bucket's counters and every record's item are those of the
    changes applied one by one, in a third of the transactions and fewer writes: a record's latest
    change in a batch is the one written, each bucket once a chunk (these records spread over 70
    days, so few share an hour)."""
    one_by_one = Seeded(seed=11, size=100)
    rng = random.Random(12)
    for store, sk, _, _ in rng.sample(one_by_one.applied, 60):
        one_by_one.change(store, None, sk)  # removals
    changes = list(one_by_one.applied)
    changes += rng.sample(changes, 40)  # redelivered, late
    alone, together = CountingTable(), CountingTable()
    for store, sk, record, seq in changes:
        RollupStore(alone).apply(TENANT, store, sk, record, seq)  # type: ignore[arg-type]
    batched = RollupStore(together)  # type: ignore[arg-type]
    for start in range(0, len(changes), 100):
        batched.apply_batch(
            [
                Change(TENANT, store, sk, record, seq)
                for store, sk, record, seq in changes[start : start + 100]
            ]
        )
    assert _counters(together) == _counters(alone) == _counters(one_by_one.table)

    def records(table: MemoryTable) -> dict[Any, Any]:  # a removal's expiry is the clock's at its write
        items = table.items.items()
        return {
            k: {**v, "expires_at": "expires_at" in v} for k, v in items if str(k[1]).startswith("ROLLREC#")
        }

    assert records(together) == records(alone)
    assert len(together.transactions) < len(alone.transactions) / 3
    assert sum(together.transactions) < sum(alone.transactions)


class FailingTable(MemoryTable):
    """A table whose `fail_at`th transaction fails (a throttle, say)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.transactions, self.fail_at = 0, fail_at

    def transact(self, operations: Any) -> None:
        self.transactions += 1
        if self.transactions == self.fail_at:
            raise RuntimeError("throttled")
        super().transact(operations)


@pytest.mark.parametrize("fail_at", [1, 2, 5])
def test_a_batch_stopped_by_an_error_names_the_first_change_to_deliver_again(fail_at: int) -> None:
    """GIVEN a batch whose nth transaction fails WHEN the stream delivers it again from the change
    `BatchStopped` names THEN the rollups are those of the whole batch applied once."""
    source = Seeded(seed=13, size=40)
    changes = [Change(TENANT, store, sk, record, seq) for store, sk, record, seq in source.applied]
    table = FailingTable(fail_at)
    store = RollupStore(table)  # type: ignore[arg-type]
    with pytest.raises(BatchStopped) as stopped:
        store.apply_batch(changes)
    assert 0 <= stopped.value.first_unapplied < len(changes)
    store.apply_batch(changes[stopped.value.first_unapplied :])
    assert _counters(table) == _counters(source.table)


def test_the_consumer_reports_the_first_record_not_applied_and_after() -> None:
    """GIVEN a stream batch whose fourth record cannot be read WHEN the consumer applies it THEN
    the three before it are counted and the fourth and after are reported for redelivery."""
    from gui_core.dynamo import to_dynamo
    from gui_dashboard.rollup_events import apply_records

    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/gui-jobs/stream/2026-12-07T00:00:00.000"
    rng = random.Random(14)
    records = []
    for n in range(6):
        job = _job(rng, n) | {"requested_at": _iso(NOW - timedelta(hours=1))}
        change = {
            "Keys": to_dynamo({"pk": TENANT, "sk": job["sk"]}),
            "NewImage": to_dynamo(job),
            "SequenceNumber": str(100 + n),
        }
        records.append({"eventName": "INSERT", "eventSourceARN": arn, "dynamodb": change})
    del records[3]["dynamodb"]["SequenceNumber"]
    table = MemoryTable()
    failures = apply_records(records, RollupStore(table), {"gui-jobs": "jobs"})  # type: ignore[arg-type]
    assert failures == [{"itemIdentifier": "None"}, {"itemIdentifier": "104"}, {"itemIdentifier": "105"}]
    applied = [k[1] for k in table.items if str(k[1]).startswith("ROLLREC#")]
    assert sorted(applied) == [f"ROLLREC#jobs#{records[n]['dynamodb']['Keys']['sk']['S']}" for n in range(3)]
