"""Migrations 0030 and 0031 through the local runtime: a registry in the shape the releases before
issue 14 wrote (no order items, no counts, a hub's stored count of 1,000 left stale), answered as before
until the deploy step runs them, then from the order index and the exact counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.runtime import LocalBackend
from stacks.manifest import ARTIFACTS_FUNCTION, MANIFEST
from tests.contract.conftest import REGION, Client
from tests.unit.test_artifact_migrations import old_edges, old_record

from .support import add_tenant, put_items

TENANT = "acme"  # the helpers' tenant
LEAVES = 41  # moto copies a table per transaction: a registry of thousands times out here


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    with LocalBackend(
        regions=(REGION,),
        port=0,
        seed=False,
        keys_dir=tmp_path_factory.mktemp("keys"),
        ttl_sweep_s=None,
        bus_poll_s=None,
        migrate=False,
        # The deploy step runs them itself, whatever the registry holds (not queued to the worker).
        environment={"gui_migrate": {"MIGRATION_INLINE_MAX_ITEMS": "100000"}},
        manifest=MANIFEST.only(ARTIFACTS_FUNCTION.name, "gui_migrate", "gui_migrate_worker"),
    ) as running:
        yield running


def _seed_old_shape(backend: LocalBackend) -> None:
    add_tenant(backend, TENANT, REGION)
    items = [old_record("hub", [], out_degree=1000)]
    for n in range(LEAVES):
        items.append(old_record(f"leaf-{n:04d}", ["hub"], n=n))
        items += old_edges("hub", f"leaf-{n:04d}")
    put_items(backend, REGION, "artifacts", items)


def _get(client: Client, path: str, query: str = "") -> Any:
    answer = client.call("GET", path, query=query)
    assert answer.status == 200, answer.body
    return answer.json()


def test_the_registry_is_answered_as_before_until_the_backfill_then_exactly(backend: LocalBackend) -> None:
    _seed_old_shape(backend)
    assert backend.keys is not None
    viewer = Client(backend, backend.keys, TENANT, "vic", scopes=(), roles=("viewer",))
    # Before: the registry read whole, degrees counted from up to 1,000 edges (not the stored 1,000).
    assert _get(viewer, "/artifacts/hub")["out_degree"] == LEAVES
    before = _get(viewer, "/artifacts/search", "limit=5&sort=title&order=asc")
    assert (before["total"], len(before["items"])) == (LEAVES + 1, 5)
    steps = backend.deploy_migrations(REGION)
    assert backend.pump_queues() == 0, steps  # nothing was queued: done in the deploy step
    assert _get(viewer, "/artifacts/hub")["out_degree"] == LEAVES
    walk = _get(viewer, "/artifacts/hub/lineage", "direction=downstream&fan_out=10")
    hub = next(n for n in walk["nodes"] if n["id"] == "hub")
    assert (hub["out_degree"], hub["cut"]["downstream"]) == (LEAVES, LEAVES - 10)
    after = _get(viewer, "/artifacts/search", "limit=5&sort=title&order=asc")
    assert after["total"] == LEAVES + 1  # the count the backfill made
    assert [a["id"] for a in after["items"]] == [a["id"] for a in before["items"]]  # the same order
    pages, cursor, seen = 0, None, []
    while pages < 20:
        page = _get(
            viewer, "/artifacts/search", "limit=10&sort=created" + (f"&cursor={cursor}" if cursor else "")
        )
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5  # 42 artifacts, 10 a page
    assert sorted(seen) == sorted(["hub", *(f"leaf-{n:04d}" for n in range(LEAVES))])
