"""The second passes 0005, 0012, 0013 and 0032 through the local runtime (the deploy step in its
container, as the stack's trigger invokes it; moto with IAM enforced), in a region a release before
ran in: the deploy that brings the first passes runs them and holds the second; the release before,
still serving, then writes in its shape (a new item without keys or count, a change that carries the
old keys and `counted` over); the next deploy runs the second passes, and every such item is reached
by the lists that read the keys, counted exactly once. Run once more from scratch, a second pass
changes nothing."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gui_core.dynamo import from_dynamo, to_dynamo
from gui_jobs.logic import new_job
from gui_jobs.repository import job_sk
from gui_notifications.repository import InboxRepository
from gui_preferences.repository import view_sk
from local.memory_table import MemoryTable
from local.runtime import LocalBackend
from tests.contract.conftest import group_backend
from tests.integration.support import caller, new_tenant, seed_old_items
from tests.integration.test_migrations_inbox import _assert_counted_exactly
from tests.unit.test_artifact_migrations import old_record

from .support import aws, table

REGION = "eu-west-1"
FIRST = ("0003_inbox_counters", "0010_jobs_filter_keys", "0011_view_list_keys", "0030_artifact_order_keys")
AGAIN = (
    "0005_inbox_counters_again",
    "0012_jobs_filter_keys_again",
    "0013_view_list_keys_again",
    "0032_artifact_order_keys_again",
)
STORES = ("inbox", "jobs", "preferences", "artifacts")
AT = "2026-12-01T09:00:00.000+00:00"


@dataclass(frozen=True)
class Scenario:
    backend: LocalBackend
    tenant: str
    call: Callable[..., httpx.Response]
    first: list[tuple[str, str]]  # (migration, action) of the deploy that brought the first passes
    gated: dict[str, Any]  # the answers between the two deploys
    second: dict[str, dict[str, Any]]  # the second passes' steps in the next deploy
    window: dict[str, list[str]]  # per store, the ids the release before wrote during the deploy
    again: dict[str, dict[str, Any]]  # the second passes' steps, run once more from scratch
    before_again: dict[str, list[dict[str, Any]]]
    after_again: dict[str, list[dict[str, Any]]]


def _put(backend: LocalBackend, store: str, items: list[dict[str, Any]]) -> None:
    ddb = aws(backend, "dynamodb", REGION)
    for item in items:
        ddb.put_item(TableName=table(store), Item=to_dynamo(item))


def _partition(backend: LocalBackend, store: str, tenant: str, prefix: str = "") -> list[dict[str, Any]]:
    pages = (
        aws(backend, "dynamodb", REGION)
        .get_paginator("query")
        .paginate(
            TableName=table(store),
            KeyConditionExpression="pk = :t AND begins_with(sk, :p)" if prefix else "pk = :t",
            ExpressionAttributeValues={":t": {"S": tenant}, **({":p": {"S": prefix}} if prefix else {})},
            ConsistentRead=True,
        )
    )
    return [from_dynamo(item) for page in pages for item in page["Items"]]


def _stored(backend: LocalBackend, store: str, tenant: str, sk: str) -> dict[str, Any]:
    found = aws(backend, "dynamodb", REGION).get_item(
        TableName=table(store), Key={"pk": {"S": tenant}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return from_dynamo(found["Item"])


def _rewritten(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The release before's whole-item write of a change: what it read, changed, its version raised."""
    return {**item, **changes, "version": int(item["version"]) + 1}


def _job(tenant: str, n: int, status: str) -> dict[str, Any]:
    made = new_job(
        job_id=f"{n:012x}{uuid.uuid4().hex[:10]}", verb="ingest", parameters={}, actor="ada", at=AT
    )
    return {"pk": tenant, "sk": job_sk(made["id"]), "kind": "job", **made, "status": status}


def _view(tenant: str, owner: str, visibility: str) -> dict[str, Any]:
    view_id = uuid.uuid4().hex
    return {
        "pk": tenant,
        "sk": view_sk(view_id),
        "kind": "view",
        "id": view_id,
        "name": f"view {view_id[:6]}",
        "module": "coverage",
        "filters": {},
        "sort": [],
        "columns": [],
        "visibility": visibility,
        "owner": owner,
        "version": 1,
        "created_at": AT,
        "updated_at": AT,
    }


def _record(tenant: str, artifact_id: str, n: int) -> dict[str, Any]:
    return {**old_record(artifact_id, [], n=n), "pk": tenant}


def _steps(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["migration"]: s for s in answer["steps"]}


def _forget_second_passes(backend: LocalBackend, tenant: str) -> None:
    """The ledger loses the second passes' runs: the next deploy runs them again from scratch."""
    ddb = aws(backend, "dynamodb", REGION)
    for migration in AGAIN:
        for sk in ("RUN", f"TENANT#{tenant}"):
            ddb.delete_item(TableName=table("migrations"), Key={"pk": {"S": migration}, "sk": {"S": sk}})


def _listed(call: Callable[..., httpx.Response], path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        answer = call("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
    raise AssertionError(f"{path}: more than 20 pages")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with group_backend(
        tmp_path_factory,
        *(
            "gui_notifications",
            "gui_jobs",
            "gui_preferences",
            "gui_artifacts",
            "gui_migrate",
            "gui_migrate_worker",
        ),
        migrate=False,
        environment={"gui_migrate": {"MIGRATION_INLINE_MAX_ITEMS": "100000"}},
    ) as backend:
        tenant = new_tenant(backend, REGION)
        # A release before ran here: its migration is done in the ledger (the inbox below is in the
        # shape before it, which 0002 finishes).
        _put(
            backend,
            "migrations",
            [
                {"pk": "0001_inbox_audience_key", "sk": "RUN", "status": "done", "version": 1},
                {"pk": "LEDGER", "sk": "0001_inbox_audience_key", "planned_at": AT},
            ],
        )
        seed_old_items(backend, REGION, tenant, 8)
        jobs = [_job(tenant, n, "queued") for n in range(4)]
        views = [_view(tenant, f"ada@{tenant}", "private"), _view(tenant, f"bob@{tenant}", "private")]
        records = [_record(tenant, f"art-{n}", n) for n in range(4)]
        _put(backend, "jobs", jobs)
        _put(backend, "preferences", views)
        _put(backend, "artifacts", records)

        first = [(s["migration"], s["action"]) for s in backend.deploy_migrations(REGION)["steps"]]

        # The release before, still serving while that deploy ran, writes its shape after the first
        # passes went by.
        late = InboxRepository(MemoryTable(), retention_days=90).new_item(
            tenant,
            {
                "id": f"n{uuid.uuid4().hex}",
                "category": "job",
                "severity": "info",
                "title": "late",
                "audience": "*",
            },
        )
        counted = next(n for n in _partition(backend, "inbox", tenant, "NOTE#") if n["audience"] == "*")
        _put(backend, "inbox", [late, _rewritten(counted, status="read")])
        late_job = _job(tenant, 99, "failed")
        moved_job = _rewritten(_stored(backend, "jobs", tenant, jobs[0]["sk"]), status="failed")
        _put(backend, "jobs", [late_job, moved_job])
        late_view = _view(tenant, f"ada@{tenant}", "private")
        shared = _rewritten(_stored(backend, "preferences", tenant, views[1]["sk"]), visibility="tenant")
        _put(backend, "preferences", [late_view, shared])
        late_record = _record(tenant, "art-late", 9)
        renamed = {**_record(tenant, "art-0", 0), "title": "Renamed", "version": 2, "revision": 2}
        _put(backend, "artifacts", [late_record, renamed])

        call = caller(backend, tenant, REGION)
        asked = time.monotonic()
        gated = {
            "inbox": call("GET", "/service/gui/notifications", params={"limit": 5}).json(),
            "jobs": _listed(call, "/service/gui/jobs", status="failed", limit=2),
            "views": _listed(call, "/service/gui/preferences/views", limit=1),
            "search": call("GET", "/service/gui/artifacts/search", params={"limit": 100}).json(),
        }
        second = _steps(backend.deploy_migrations(REGION))

        before_again = {s: _partition(backend, s, tenant) for s in STORES}
        _forget_second_passes(backend, tenant)
        again = _steps(backend.deploy_migrations(REGION))
        after_again = {s: _partition(backend, s, tenant) for s in STORES}
        # The containers asked the ledger before the deploy: they ask again 5 s later (recheck_s).
        time.sleep(max(0.0, asked + 5.5 - time.monotonic()))
        yield Scenario(
            backend,
            tenant,
            call,
            first,
            gated,
            second,
            {
                "inbox": [str(late["id"]), str(counted["id"])],
                "jobs": [late_job["id"], moved_job["id"]],
                "preferences": [late_view["id"], shared["id"]],
                "artifacts": [late_record["id"], renamed["id"]],
            },
            again,
            before_again,
            after_again,
        )


def test_the_deploy_that_brings_a_first_pass_holds_its_second_and_the_readers_wait(
    scenario: Scenario,
) -> None:
    actions = dict(scenario.first)
    assert all(actions[m] == "done" for m in FIRST), scenario.first
    assert all(actions[m] == "held" for m in AGAIN), scenario.first
    # Until the second passes, the readers take the paths before the keys, which reach everything.
    gated = scenario.gated
    assert gated["inbox"]["counts_complete"] is False
    assert sorted(j["id"] for j in gated["jobs"]) == sorted(scenario.window["jobs"])
    assert set(scenario.window["preferences"]) <= {v["id"] for v in gated["views"]}
    assert {a["id"] for a in gated["search"]["items"]} >= set(scenario.window["artifacts"])


def test_each_second_pass_changed_exactly_what_the_release_before_wrote(scenario: Scenario) -> None:
    for migration in AGAIN:
        step = scenario.second[migration]
        assert (step["action"], step["counts"]["changed"]) == ("done", 2), step


def test_the_inbox_counts_what_the_release_before_wrote_once(scenario: Scenario) -> None:
    notes = _assert_counted_exactly(_partition(scenario.backend, "inbox", scenario.tenant))
    by_id = {str(n["id"]): n for n in notes}
    late, changed = scenario.window["inbox"]
    assert by_id[changed]["status"] == "read"
    assert late in by_id
    page = scenario.call("GET", "/service/gui/notifications", params={"limit": 100}).json()
    visible = [n for n in notes if n["audience"] in ("*", f"ada@{scenario.tenant}")]
    assert page["counts_complete"] is True
    assert {s: c for s, c in page["counts"].items() if c} == dict(Counter(str(n["status"]) for n in visible))
    read = _listed(scenario.call, "/service/gui/notifications", status="read", limit=100)
    assert [i["id"] for i in read] == [changed]  # its by_status key moved with it


def test_a_filtered_job_list_reaches_what_the_release_before_wrote(scenario: Scenario) -> None:
    late, moved = scenario.window["jobs"]
    failed = [j["id"] for j in _listed(scenario.call, "/service/gui/jobs", status="failed", limit=2)]
    queued = [j["id"] for j in _listed(scenario.call, "/service/gui/jobs", status="queued", limit=2)]
    assert sorted(failed) == sorted([late, moved])
    assert len(queued) == 3
    assert moved not in queued


def test_the_view_list_reaches_what_the_release_before_wrote(scenario: Scenario) -> None:
    late, shared = scenario.window["preferences"]
    ids = [v["id"] for v in _listed(scenario.call, "/service/gui/preferences/views", limit=1)]
    assert late in ids
    assert shared in ids  # bob's, shared by the release before
    assert len(ids) == len(set(ids)) == 3


def test_the_search_lists_and_counts_what_the_release_before_published_once(scenario: Scenario) -> None:
    late, renamed = scenario.window["artifacts"]
    found = _listed(scenario.call, "/service/gui/artifacts/search", sort="title", order="asc", limit=2)
    titles = {a["id"]: a["title"] for a in found}
    assert sorted(titles) == sorted(["art-1", "art-2", "art-3", late, renamed])
    assert titles[renamed] == "Renamed"
    assert found[0]["id"] == renamed  # its title order item was made again
    total = scenario.call("GET", "/service/gui/artifacts/search", params={"limit": 1}).json()["total"]
    assert total == 5  # counted once: the rewrite relisted, not counted again


def test_a_second_pass_run_again_changes_nothing(scenario: Scenario) -> None:
    for migration in AGAIN:
        step = scenario.again[migration]
        assert (step["action"], step["counts"]["changed"]) == ("done", 0), step
    assert scenario.after_again == scenario.before_again
