"""Migrations 0030 (the artifacts' order items and the tenant's count) and 0031 (the edges' counts):
over the registry in the shape the releases before issue 14 wrote, through the engine's runner, with
writers of this release racing them; and their formats equal to the repository's."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from gui_artifacts import repository
from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactsRepository
from gui_core.migrations.ledger import Ledger
from gui_core.migrations.model import ItemMigration, Status
from gui_core.migrations.runner import Budget, Outcome, run_tenant
from gui_core.migrations.targets import ItemPager
from gui_core.tenancy import Tenant
from gui_migrate.migrations import m0030_artifact_order_keys as m0030
from gui_migrate.migrations import m0031_artifact_edge_counts as m0031
from local.apigw import sample_event
from local.memory_table import MemoryTable

PUBLISHED = sample_event("eventbridge_artifact_published")
TENANT = "acme"


class Tenants:
    def get(self, tenant_id: str) -> Tenant | None:
        return Tenant(tenant_id, tenant_id, "eu-west-1")


def old_record(artifact_id: str, inputs: list[str], *, out_degree: int = 0, n: int = 0) -> dict[str, Any]:
    """An ART# record as the releases before issue 14 wrote it (no `listed`, a recounted out_degree)."""
    at = f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00.000+00:00"
    return {
        "pk": TENANT,
        "sk": f"ART#{artifact_id}",
        "type": "artifact",
        "id": artifact_id,
        "kind": "mapping" if n % 2 else "coverage",
        "title": f"Title {artifact_id}",
        "version": 1,
        "owner": "ada" if n % 3 else "bob",
        "tags": ["clinical"] if n % 2 else [],
        "license_tag": "internal",
        "diff_hash": f"sha256:{artifact_id}",
        "governance_status": "approved",
        "created_at": at,
        "updated_at": at,
        "inputs": [{"id": i, "relation": "derived_from"} for i in inputs],
        "in_degree": len(inputs),
        "out_degree": out_degree,
        "event_ids": [f"old-{artifact_id}"],
        "revision": 1,
    }


def old_edges(source: str, target: str) -> list[dict[str, Any]]:
    body = {"kind": "edge", "from": source, "to": target, "relation": "derived_from"}
    return [
        {"pk": TENANT, "sk": f"OUT#{source}#{target}", **body},
        {"pk": TENANT, "sk": f"IN#{target}#{source}", **body},
    ]


def old_registry(leaves: int = 120) -> MemoryTable:
    """`hub` with `leaves` artifacts made from it (its old count stopped at 100 here, as at 1,000
    before), and `ghost`, an input never published, named by 3 of them."""
    items = [old_record("hub", [], out_degree=min(leaves, 100))]
    for n in range(leaves):
        inputs = ["hub", "ghost"] if n < 3 else ["hub"]
        items.append(old_record(f"leaf-{n:03d}", inputs, n=n))
        for source in inputs:
            items += old_edges(source, f"leaf-{n:03d}")
    return MemoryTable(items)


def run(migration: ItemMigration, table: MemoryTable) -> Any:
    ledger = Ledger(MemoryTable())
    ledger.record(migration)
    ledger.start(
        migration,
        tenants=[TENANT],
        mode="inline",
        started_by="t",
        code_version="t",
        from_status=Status.PENDING,
    )
    return run_tenant(migration, TENANT, pager=ItemPager(migration, table), ledger=ledger, budget=Budget())


def edges_out(table: MemoryTable) -> Counter[str]:
    return Counter(
        str(i["from"]) for (pk, sk), i in table.items.items() if pk == TENANT and sk.startswith("OUT#")
    )


def degrees(table: MemoryTable) -> dict[str, int]:
    return {
        sk.removeprefix("DEG#"): int(i["out"])
        for (pk, sk), i in table.items.items()
        if pk == TENANT and sk.startswith("DEG#") and i.get("out")
    }


def count(table: MemoryTable) -> int:
    return int(table.items.get((TENANT, "STAT#artifacts"), {}).get("count", 0))


def records(table: MemoryTable) -> list[dict[str, Any]]:
    return [i for (pk, sk), i in table.items.items() if pk == TENANT and sk.startswith("ART#")]


def test_the_migrations_write_the_formats_the_repository_writes() -> None:
    record = {k: v for k, v in old_record("map-1", ["a"], n=3).items() if k not in {"pk", "sk"}}
    record["title"] = "Straße " * 40  # folds longer than the 200 characters that order it
    assert m0030.order_items(TENANT, record) == repository.order_items(TENANT, record)
    assert (m0030.STAT_SK, m0030.ORDER_SEPARATOR, m0030.SORTS) == (
        repository.STAT_SK,
        repository.ORDER_SEPARATOR,
        repository.SORTS,
    )
    assert m0031.deg_sk("map-1") == repository.deg_sk("map-1")


def test_the_backfill_lists_every_artifact_once_and_counts_every_edge_beyond_the_old_cap() -> None:
    table = old_registry()
    listed = run(m0030.ArtifactOrderKeys(), table)
    counted = run(m0031.ArtifactEdgeCounts(), table)
    assert (listed.outcome, listed.counts.changed) == (Outcome.DONE, 121)
    assert (counted.outcome, counted.counts.changed) == (Outcome.DONE, 123)
    assert count(table) == 121
    assert degrees(table) == dict(edges_out(table)) == {"hub": 120, "ghost": 3}  # the old count said 100
    for record in records(table):
        assert record["listed"] == 1
        for order in repository.order_items(TENANT, record):
            assert table.items[(TENANT, order["sk"])] == order
    # A second run of each changes nothing.
    assert run(m0030.ArtifactOrderKeys(), table).counts.changed == 0
    assert run(m0031.ArtifactEdgeCounts(), table).counts.changed == 0
    assert (count(table), degrees(table)) == (121, {"hub": 120, "ghost": 3})


def _feed(table: MemoryTable) -> RegistryFeed:
    return RegistryFeed(region="eu-west-1", tenants=Tenants(), registry=ArtifactsRepository(table))  # type: ignore[arg-type]


def _publish(feed: RegistryFeed, artifact_id: str, inputs: list[str], *, version: int, event_id: str) -> str:
    event = copy.deepcopy(PUBLISHED)
    event["detail"].update(
        {
            "tenant": TENANT,
            "event_id": event_id,
            "artifact_id": artifact_id,
            "version": version,
            "diff_hash": f"sha256:{artifact_id}-{version}",
            "previous_diff_hash": None,
            "inputs": [{"id": i, "relation": "derived_from"} for i in inputs],
        }
    )
    return str(feed.handle(event))


@pytest.mark.parametrize("when", ["before", "between"])
def test_writers_of_this_release_and_the_backfill_count_each_artifact_and_edge_once(when: str) -> None:
    """A new version moves leaf-000 from hub to ghost (an edge the migration had not counted yet
    goes, one it will not count comes), a new artifact names hub, and hub itself is republished:
    before the backfills, or between the two."""
    table = old_registry()
    feed = _feed(table)

    def write() -> None:
        assert _publish(feed, "leaf-000", ["ghost"], version=2, event_id="move") == "applied"
        assert _publish(feed, "new-1", ["hub", "leaf-001"], version=1, event_id="new") == "applied"
        assert _publish(feed, "hub", [], version=2, event_id="hub-2") == "applied"
        # their redeliveries change nothing
        assert _publish(feed, "new-1", ["hub", "leaf-001"], version=1, event_id="new") == "ignored"

    if when == "before":
        write()
    run(m0030.ArtifactOrderKeys(), table)
    if when == "between":
        write()
    run(m0031.ArtifactEdgeCounts(), table)
    assert count(table) == 122  # 121 before, new-1
    assert degrees(table) == dict(edges_out(table)) == {"hub": 120, "ghost": 3, "leaf-001": 1}
    assert all(r.get("listed") for r in records(table))
    assert run(m0030.ArtifactOrderKeys(), table).counts.changed == 0
    assert run(m0031.ArtifactEdgeCounts(), table).counts.changed == 0


def test_an_edge_counted_between_a_writers_read_and_its_write_is_decided_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = old_registry(leaves=5)
    run(m0030.ArtifactOrderKeys(), table)
    transact = table.transact
    raced: list[int] = []

    def racing(operations: Any) -> None:
        if not raced:  # the backfill counts hub's edges after the writer read leaf-000's as uncounted
            raced.append(0)
            raced[0] = run(m0031.ArtifactEdgeCounts(), table).counts.changed
        transact(operations)

    monkeypatch.setattr(table, "transact", racing)
    assert _publish(_feed(table), "leaf-000", [], version=2, event_id="drop") == "applied"
    assert raced == [8]
    assert degrees(table) == dict(edges_out(table)) == {"hub": 4, "ghost": 2}


def test_a_record_an_older_release_rewrote_after_its_listing_is_never_counted_twice() -> None:
    table = old_registry(leaves=3)
    run(m0030.ArtifactOrderKeys(), table)
    assert count(table) == 4
    # The release before applies a new version during the deploy: the whole record, without `listed`.
    rewritten = old_record("leaf-000", ["hub"], n=0)
    table.items[(TENANT, "ART#leaf-000")] = {**rewritten, "version": 2, "revision": 2, "title": "Renamed"}
    again = run(m0030.ArtifactOrderKeys(), table)
    # Its `created` order item says it was counted: relisted (order items made again), not counted.
    assert (again.counts.changed, count(table)) == (1, 4)
    assert table.items[(TENANT, "ART#leaf-000")]["listed"] == 1
    assert table.items[(TENANT, "ORD#title#leaf-000")]["order_sk"].startswith("renamed\x01")
    assert run(m0030.ArtifactOrderKeys(), table).counts.changed == 0  # and again: nothing
    assert _publish(_feed(table), "leaf-000", ["hub"], version=3, event_id="v3") == "applied"
    assert count(table) == 4
    title = table.items[(TENANT, "ORD#title#leaf-000")]
    assert title["order_sk"].startswith(repository.order_value(PUBLISHED["detail"], "title"))
    assert table.items[(TENANT, "ART#leaf-000")]["listed"] == 1


def test_before_the_edge_backfill_degrees_are_counted_as_the_release_before_did() -> None:
    """Until 0031 is done for a tenant, a reader counts the edges (up to 1,000), as before."""
    from gui_artifacts.use_cases import out_degrees

    table = old_registry(leaves=12)
    reader = ArtifactsRepository(table)  # type: ignore[arg-type]
    assert out_degrees(reader, TENANT, ["hub", "ghost", "leaf-000"], counted=False) == {
        "hub": 12,
        "ghost": 3,
        "leaf-000": 0,
    }
    assert out_degrees(reader, TENANT, ["hub"], counted=True) == {"hub": 0}  # no DEG item yet
    run(m0031.ArtifactEdgeCounts(), table)
    assert out_degrees(reader, TENANT, ["hub", "ghost"], counted=True) == {"hub": 12, "ghost": 3}
