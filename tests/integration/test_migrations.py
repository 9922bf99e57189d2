"""Schema migrations through the local runtime (issue 13): the deploy step (`gui_migrate`, invoked in
its container with its role's credentials, as the stack's trigger invokes it) and the worker fed by the
local SQS mapping of `migration-work`, on moto with IAM enforced, over the real migration
0001_inbox_audience_key.

Each backend here has a moto server of its own (the ledger's state is the test's), starts without
running the migrations, and delivers events, records and work items only when a test pumps them.
Each test makes the region's inbox the shape before the migration again (`old_shape`) and works on
tenants of its own.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gui_core.dynamo import from_dynamo
from gui_core.migrations.model import Migration
from gui_core.migrations.targets import ItemPager, Pending
from gui_notifications.repository import AUDIENCE_KEY
from local.cli import main
from local.runtime import LocalBackend

from .support import aws, caller, deploy, new_tenant, seed_old_items, table

REGION, OTHER = "eu-west-1", "us-east-1"
MIGRATION = "0001_inbox_audience_key"
NOTIFICATIONS = "/service/gui/notifications"
WAIT_S = 120.0


def _backend(keys_dir: Path, **migration_env: str) -> LocalBackend:
    return LocalBackend(
        port=0,
        keys_dir=keys_dir,
        ttl_sweep_s=None,
        bus_poll_s=None,
        migrate=False,
        environment={
            "gui_migrate": {"MIGRATION_PAGE_SIZE": "25", **migration_env},
            # The worker stops 0.4 s into each run, so a tenant takes several runs: each re-queues the
            # rest from its checkpoint, as a run out of time in Lambda does.
            "gui_migrate_worker": {"MIGRATION_PAGE_SIZE": "25", "MIGRATION_RESERVE_S": "299.6"},
        },
    )


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """A backend whose deploy step runs the migrations itself (the default threshold)."""
    with _backend(tmp_path_factory.mktemp("keys")) as backend:
        yield backend


@pytest.fixture(scope="module")
def queued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """A backend whose deploy step queues every migration (its threshold is 0 items)."""
    with _backend(tmp_path_factory.mktemp("keys"), MIGRATION_INLINE_MAX_ITEMS="0") as backend:
        yield backend


# -- helpers ------------------------------------------------------------------------------------


def old_shape(backend: LocalBackend) -> None:
    """The regions as before the migration: no ledger, no inbox item with its audience's key."""
    for region in backend.regions:
        dynamodb = aws(backend, "dynamodb", region)
        for name in ("migrations", "inbox"):
            for page in dynamodb.get_paginator("scan").paginate(TableName=table(name)):
                for item in page["Items"]:
                    key = {"pk": item["pk"], "sk": item["sk"]}
                    if name == "migrations":
                        dynamodb.delete_item(TableName=table(name), Key=key)
                    elif AUDIENCE_KEY in item:
                        dynamodb.update_item(
                            TableName=table(name), Key=key, UpdateExpression=f"REMOVE {AUDIENCE_KEY}"
                        )


def inbox_of(backend: LocalBackend, region: str, tenant: str) -> list[dict[str, Any]]:
    """The tenant's notifications (not the counters and other items the inbox keeps beside them)."""
    dynamodb = aws(backend, "dynamodb", region)
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table("inbox"),
        KeyConditionExpression="pk = :t AND begins_with(sk, :note)",
        ExpressionAttributeValues={":t": {"S": tenant}, ":note": {"S": "NOTE#"}},
        ConsistentRead=True,
    )
    return [from_dynamo(item) for page in pages for item in page["Items"]]


def ledger(backend: LocalBackend, region: str, sk: str = "RUN") -> dict[str, Any] | None:
    item = (
        aws(backend, "dynamodb", region)
        .get_item(
            TableName=table("migrations"), Key={"pk": {"S": MIGRATION}, "sk": {"S": sk}}, ConsistentRead=True
        )
        .get("Item")
    )
    return from_dynamo(item) if item else None


def work_until_done(backend: LocalBackend, region: str) -> int:
    """Deliver the region's work items until the migration is done; the worker's invocations."""
    (poller,) = [p for p in backend.queue_pollers[region] if p.queue.name == "migration-work"]
    before = poller.invocations
    deadline = time.monotonic() + WAIT_S
    while (ledger(backend, region) or {}).get("status") != "done":
        assert time.monotonic() < deadline, f"not done in {WAIT_S:.0f} s: {ledger(backend, region)}"
        if not poller.pump():
            time.sleep(0.05)
    return poller.invocations - before


# -- tests --------------------------------------------------------------------------------------


def test_the_inbox_is_upgraded_while_the_api_reads_and_writes_both_shapes(queued: LocalBackend) -> None:
    """Version N (no audience key) to N+1 while the notifications API lists and acknowledges items of
    both shapes and the fan-out appends new ones: nothing lost, every item upgraded, counts match."""
    old_shape(queued)
    tenant = new_tenant(queued, REGION)
    seeded = seed_old_items(queued, REGION, tenant, 300)
    call = caller(queued, tenant, REGION)
    steps = deploy(queued, REGION)["steps"]
    assert [(s["migration"], s["action"]) for s in steps] == [(MIGRATION, "queued")]

    worker_done = threading.Event()
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            work_until_done(queued, REGION)
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)
        finally:
            worker_done.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    acknowledged: list[str] = []
    published = 0
    round_ = 0
    while not worker_done.is_set() or round_ < 3:
        listed = call("GET", NOTIFICATIONS, params={"limit": 20})
        assert listed.status_code == 200, listed.text
        target = seeded[(round_ * 37) % len(seeded)]
        if target["id"] not in acknowledged:
            done = call("POST", f"{NOTIFICATIONS}/{target['id']}/acknowledge")
            assert done.status_code == 200, done.text
            acknowledged.append(target["id"])
        queued.relays[REGION].publish(
            "domaindetermine.governance",
            "GovernanceAlert",
            {
                "tenant": tenant,
                "alert_id": f"alert-{round_}",
                "severity": "warning",
                "title": f"new {round_}",
                "body": "",
                "module": "governance",
                "event_id": str(uuid.uuid4()),
                "schema_version": "1",
                "region": REGION,
                "time": "2026-12-07T03:00:00.000+00:00",
            },
        )
        published += 1
        queued.pump_events()
        queued.pump_stream()
        round_ += 1
    thread.join(WAIT_S)
    assert not failures, failures

    items = inbox_of(queued, REGION, tenant)
    assert len(items) == 300 + published  # nothing lost
    assert all(item[AUDIENCE_KEY] == f"{tenant}#{item['audience']}" for item in items)
    by_id = {item["id"]: item for item in items}
    assert all(by_id[i]["status"] == "acknowledged" and by_id[i]["version"] == 2 for i in acknowledged)
    run, checkpoint = ledger(queued, REGION), ledger(queued, REGION, f"TENANT#{tenant}")
    assert run is not None
    assert checkpoint is not None
    assert run["status"] == "done"
    assert checkpoint["scanned"] == checkpoint["changed"] + checkpoint["skipped"]
    assert 300 - len(acknowledged) <= checkpoint["changed"] <= 300
    others = [
        ledger(queued, REGION, f"TENANT#{t}")
        for t in ("acme",)  # the demo tenant homed here
    ]
    assert run["changed"] == checkpoint["changed"] + sum(o["changed"] for o in others if o)
    assert run["tenants_done"] == run["tenants_total"]
    # The index answers per audience: ada's personal items and the tenant-wide ones, apart.
    personal = aws(queued, "dynamodb", REGION).query(
        TableName=table("inbox"),
        IndexName="by_audience",
        KeyConditionExpression="tenant_audience = :a",
        ExpressionAttributeValues={":a": {"S": f"{tenant}#ada@{tenant}"}},
        Select="COUNT",
    )
    assert personal["Count"] == 100


def test_an_interrupted_run_resumes_without_repeating_or_skipping_and_a_second_run_is_a_no_op(
    queued: LocalBackend,
) -> None:
    old_shape(queued)
    tenant = new_tenant(queued, REGION)
    seed_old_items(queued, REGION, tenant, 260)
    deploy(queued, REGION)

    invocations = work_until_done(queued, REGION)

    checkpoint = ledger(queued, REGION, f"TENANT#{tenant}")
    assert checkpoint is not None
    assert invocations > len(queued.queue_pollers[REGION]) + 2  # the worker ran out of time and resumed
    assert (checkpoint["scanned"], checkpoint["changed"], checkpoint["skipped"]) == (260, 260, 0)
    assert checkpoint["pages"] == 11  # 260 items in pages of 25: each read once
    versions = {item["id"]: item["version"] for item in inbox_of(queued, REGION, tenant)}
    assert all(AUDIENCE_KEY in item for item in inbox_of(queued, REGION, tenant))

    again = deploy(queued, REGION)

    # Nothing of 0001 again; its second pass, which the worker held, starts now (gui_core.migrations).
    steps = [(s["migration"], s["action"]) for s in again["steps"]]
    assert steps == [("0002_inbox_audience_key_again", "queued")]
    assert {item["id"]: item["version"] for item in inbox_of(queued, REGION, tenant)} == versions
    assert ledger(queued, REGION, f"TENANT#{tenant}") == checkpoint


def test_a_regions_run_touches_only_the_tenants_homed_there(queued: LocalBackend) -> None:
    old_shape(queued)
    here, elsewhere = new_tenant(queued, REGION), new_tenant(queued, OTHER)
    # Every region knows the tenants homed elsewhere (to answer them 421 with their region's URL).
    record = aws(queued, "dynamodb", OTHER).get_item(
        TableName=table("tenants"), Key={"pk": {"S": elsewhere}, "sk": {"S": "tenant"}}
    )["Item"]
    aws(queued, "dynamodb", REGION).put_item(TableName=table("tenants"), Item=record)
    seed_old_items(queued, REGION, here, 30)
    seed_old_items(queued, REGION, elsewhere, 30)  # a tenant homed in us-east-1, with data here
    seed_old_items(queued, OTHER, elsewhere, 30)

    deploy(queued, REGION)
    work_until_done(queued, REGION)

    assert all(AUDIENCE_KEY in item for item in inbox_of(queued, REGION, here))
    assert not any(AUDIENCE_KEY in item for item in inbox_of(queued, REGION, elsewhere))
    assert not any(AUDIENCE_KEY in item for item in inbox_of(queued, OTHER, elsewhere))
    assert ledger(queued, REGION, f"TENANT#{elsewhere}") is None
    assert ledger(queued, OTHER) is None  # no run in the other region

    deploy(queued, OTHER)
    work_until_done(queued, OTHER)

    assert all(AUDIENCE_KEY in item for item in inbox_of(queued, OTHER, elsewhere))
    assert not any(AUDIENCE_KEY in item for item in inbox_of(queued, REGION, elsewhere))
    assert ledger(queued, OTHER, f"TENANT#{here}") is None


def test_a_failing_migration_fails_the_deploy_step_and_a_fixed_version_resumes_from_its_checkpoint(
    inline: LocalBackend, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    old_shape(inline)
    tenant = new_tenant(inline, REGION)
    keys = sorted(item["sk"] for item in seed_old_items(inline, REGION, tenant, 80))
    refused = keys[60]  # in the tenant's third page of 25
    apply = ItemPager.apply

    def refusing(self: ItemPager, pending: Pending) -> bool:
        if pending.key.get("sk") == refused:  # DynamoDB refuses this one item's update
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "refused"}}, "UpdateItem")
        return apply(self, pending)

    monkeypatch.setattr(ItemPager, "apply", refusing)
    with pytest.raises(
        Exception, match=rf"{MIGRATION} \(version 1\) failed for tenant {tenant} after 2 page"
    ):
        inline.deploy_migrations(REGION)

    run, checkpoint = ledger(inline, REGION), ledger(inline, REGION, f"TENANT#{tenant}")
    assert run is not None
    assert checkpoint is not None
    assert run["status"] == "failed"
    assert (run["error"]["tenant"], run["error"]["version"]) == (tenant, 1)
    assert "refused" in run["error"]["message"]
    assert (checkpoint["status"], checkpoint["pages"], checkpoint["changed"]) == ("failed", 2, 50)
    assert checkpoint["position"] == f'{{"pk": "{tenant}", "sk": "{keys[49]}"}}'
    assert '"MigrationFailures":[1.0]' in capfd.readouterr().out  # the alarm's EMF count

    monkeypatch.setattr(ItemPager, "apply", apply)  # the cause is gone, but the code is the same
    with pytest.raises(Exception, match=r"failed \(version 1\) and this code holds no fixed version"):
        inline.deploy_migrations(REGION)

    monkeypatch.setattr(Migration, "version", 2)  # the fixed version
    steps = inline.deploy_migrations(REGION)["steps"]

    run, checkpoint = ledger(inline, REGION), ledger(inline, REGION, f"TENANT#{tenant}")
    assert run is not None
    assert checkpoint is not None
    # the fixed 0001 is done (the migrations after it then run in the same step)
    assert [s["action"] for s in steps if s["migration"] == MIGRATION] == ["done"]
    assert (run["status"], run["version"], "error" in run) == ("done", 2, False)
    # Pages 1 and 2 are not read again; page 3 is: the 10 items it changed before the refused one
    # are in the new shape now, so they are skipped, not written twice.
    assert (checkpoint["scanned"], checkpoint["changed"], checkpoint["skipped"]) == (80, 70, 10)
    assert all(AUDIENCE_KEY in item for item in inbox_of(inline, REGION, tenant))


def snapshot(backend: LocalBackend) -> dict[str, Any]:
    found = {}
    for region in backend.regions:
        for name in ("inbox", "migrations"):
            pages = aws(backend, "dynamodb", region).get_paginator("scan").paginate(TableName=table(name))
            found[f"{region}/{name}"] = sorted(
                json.dumps(from_dynamo(item), sort_keys=True) for page in pages for item in page["Items"]
            )
    return found


def test_the_cli_plans_and_dry_runs_without_writing_then_applies(
    inline: LocalBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    old_shape(inline)
    tenant = new_tenant(inline, REGION)
    seed_old_items(inline, REGION, tenant, 40)
    where = ["--endpoint-url", inline.aws_endpoint_url, "--region", REGION]
    before = snapshot(inline)

    assert main(["migrate", "plan", *where]) == 0
    planned = capsys.readouterr().out
    assert main(["migrate", "apply", "--dry-run", "--tenant", tenant, "--json", *where]) == 0
    (dry,) = [p for p in json.loads(capsys.readouterr().out)["plans"] if p["migration"] == MIGRATION]

    assert snapshot(inline) == before  # nothing written, not even the ledger
    assert f"{MIGRATION}" in planned
    assert f"{tenant}: would change 40 of 40" in planned
    assert '"set": {"tenant_audience": "' in planned  # examples
    assert (dry["would_change"], dry["scanned"], list(dry["tenants"])) == (40, 40, [tenant])
    assert len(dry["examples"]) == 3

    assert main(["migrate", "apply", *where]) == 0
    applied = capsys.readouterr().out
    assert main(["migrate", "status", "--json", *where]) == 0
    (state,) = [m for m in json.loads(capsys.readouterr().out)["migrations"] if m["migration"] == MIGRATION]

    assert f"{MIGRATION}: done" in applied
    assert all(AUDIENCE_KEY in item for item in inbox_of(inline, REGION, tenant))
    assert state["status"] == "done"
    assert state["run"]["started_by"].startswith("ddgui migrate (arn:aws:")
    assert state["run"]["code_version"].startswith("cli (")
