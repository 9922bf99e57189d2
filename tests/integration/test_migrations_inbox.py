"""Migrations 0002_inbox_audience_key_again, 0003_inbox_counters and 0004_inbox_assignee_copies
through the local runtime (the deploy step in its container, as the stack's trigger invokes it, moto
with IAM enforced): a tenant's inbox stored before the counters, which the API commanded and the
fan-out appended to meanwhile, is counted exactly once, keyed in `by_status`, given its due entries
and its assigned items their copies, which the assignee filter then pages; the gate keeps
`counts_complete` false until the tenant is done, and a second deploy changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gui_core.date_times import iso
from gui_core.dynamo import from_dynamo
from gui_notifications.counting import COUNTED, Mark, counted_value, counter_sk, is_cell, tally_items
from gui_notifications.logic import effective_status
from gui_notifications.models import STATUSES, TENANT_WIDE
from gui_notifications.repository import ASSIGNED_PREFIX, AUDIENCE_KEY, STATUS_KEY, assigned_copy, shaped
from local.runtime import LocalBackend
from tests.integration.support import caller, deploy, new_tenant, seed_old_items

from .support import aws, put_items, table

REGION = "eu-west-1"
COUNTERS = "0003_inbox_counters"
COPIES = "0004_inbox_assignee_copies"
NOTIFICATIONS = "/service/gui/notifications"
WAIT_S = 180.0


@pytest.fixture(scope="module")
def queued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """A backend that runs no migration at start: its deploy step runs them (inline: few items)."""
    with LocalBackend(
        port=0,
        keys_dir=Path(tmp_path_factory.mktemp("keys")),
        ttl_sweep_s=None,
        bus_poll_s=None,
        migrate=False,
        environment={
            "gui_migrate": {"MIGRATION_PAGE_SIZE": "25"},
        },
    ) as backend:
        yield backend


def _ledger(backend: LocalBackend, migration: str, sk: str = "RUN") -> dict[str, Any] | None:
    item = (
        aws(backend, "dynamodb", REGION)
        .get_item(
            TableName=table("migrations"),
            Key={"pk": {"S": migration}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return from_dynamo(item) if item else None


def _partition(backend: LocalBackend, tenant: str) -> list[dict[str, Any]]:
    pages = (
        aws(backend, "dynamodb", REGION)
        .get_paginator("query")
        .paginate(
            TableName=table("inbox"),
            KeyConditionExpression="pk = :t",
            ExpressionAttributeValues={":t": {"S": tenant}},
            ConsistentRead=True,
        )
    )
    return [from_dynamo(item) for page in pages for item in page["Items"]]


def _old_inbox(backend: LocalBackend, tenant: str) -> list[dict[str, Any]]:
    """60 notifications in the shape before 0001 (no audience key, no counters), with statuses,
    snoozes and assignees, written straight into the store."""
    now = datetime.now(UTC)
    items = []
    for n, item in enumerate(seed_old_items(backend, REGION, tenant, 60)):
        if n % 10 == 1:
            item["status"] = "read"
        elif n % 10 in (2, 7):
            # Not due: waking one is a transaction, which moto makes by copying the table (seconds
            # here); the contract tests wake due snoozes.
            item.update(status="snoozed", snoozed_until=iso(now + timedelta(days=1 + n % 3)))
        elif n % 10 == 9:
            item["status"] = "archived"
        if n % 7 == 0:
            item["assignee"] = f"otto@{tenant}"
        items.append(item)
    put_items(backend, REGION, "inbox", items)
    return items


def _assert_counted_exactly(partition: list[dict[str, Any]]) -> list[dict[str, Any]]:
    notes = [i for i in partition if str(i["sk"]).startswith("NOTE#")]
    for note in notes:
        assert note[COUNTED] == counted_value(note), note
        assert note[STATUS_KEY] == shaped(note)[STATUS_KEY]
        assert note[AUDIENCE_KEY] == f"{note['pk']}#{note['audience']}"
    held = {
        str(i["sk"]): {n: int(v) for n, v in i.items() if is_cell(n) and v}
        for i in partition
        if str(i["sk"]).startswith("COUNT#")
    }
    assert {sk: cells for sk, cells in held.items() if cells} == tally_items(notes)
    dues = {str(i["id"]) for i in partition if str(i["sk"]).startswith("DUE#")}
    assert dues == {str(n["id"]) for n in notes if n["status"] == "snoozed"}
    copies = {str(i["id"]): i for i in partition if str(i["sk"]).startswith(ASSIGNED_PREFIX)}
    assert copies == {str(n["id"]): assigned_copy(n) for n in notes if n.get("assignee")}
    return notes


def test_the_deploy_step_counts_the_stored_inbox_once_beside_what_the_api_and_fanout_wrote(
    queued: LocalBackend,
) -> None:
    tenant = new_tenant(queued, REGION)
    old = _old_inbox(queued, tenant)
    call = caller(queued, tenant, REGION)
    before = call("GET", NOTIFICATIONS, params={"limit": 5})
    assert before.status_code == 200, before.text
    assert before.json()["counts_complete"] is False  # the ledger has not heard of 0003

    # Before the deploy: the release's API acknowledges an old item (counting it) and the fan-out
    # appends new ones (counted as written); the migration must count the rest, each once.
    acknowledged = [str(i["id"]) for i in old if i["status"] == "unread"][:3]
    for item_id in acknowledged:
        answer = call("POST", f"{NOTIFICATIONS}/{item_id}/acknowledge")
        assert answer.status_code == 200, answer.text
    published = 3
    for round_ in range(published):
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
    queued.pump_events()
    queued.pump_stream()
    # The deploy step runs the migrations itself (MoTo copies the table for every transaction, so the
    # API's requests racing the worker's per-item transactions would wait past their timeout here;
    # an item's own race with the migration is the unit tests').
    steps = deploy(queued, REGION)["steps"]
    for migration in (COUNTERS, COPIES):
        assert (migration, "done") in [(s["migration"], s["action"]) for s in steps], steps
        assert (_ledger(queued, migration, f"TENANT#{tenant}") or {}).get("status") == "done"

    listed = call("GET", NOTIFICATIONS, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    notes = _assert_counted_exactly(_partition(queued, tenant))
    assert len(notes) == 60 + published  # nothing lost
    by_id = {n["id"]: n for n in notes}
    assert all(by_id[i]["status"] == "acknowledged" for i in acknowledged)
    counters = {str(i["sk"]): i for i in _partition(queued, tenant) if str(i["sk"]).startswith("COUNT#")}
    subject = f"ada@{tenant}"
    now = datetime.now(UTC)
    expected = dict.fromkeys(STATUSES, 0)
    for note in notes:
        if note["audience"] in (TENANT_WIDE, subject):
            mark = Mark.of(counters.get(counter_sk(str(note["audience"]))))
            expected[effective_status(note, now, mark)] += 1
    assert page["counts_complete"] is True
    assert page["counts"] == expected
    unread = call("GET", NOTIFICATIONS, params={"status": "unread", "limit": 100}).json()
    assert len(unread["items"]) == expected["unread"]  # the by_status index holds them all
    assigned = call("GET", NOTIFICATIONS, params={"assignee": f"otto@{tenant}", "limit": 100}).json()
    seen = [n for n in notes if n["audience"] in (TENANT_WIDE, subject)]
    assert [i["id"] for i in assigned["items"]] == [  # from the copies, newest first
        n["id"] for n in sorted(seen, key=lambda n: str(n["sk"]), reverse=True) if n.get("assignee")
    ]

    again = deploy(queued, REGION)  # a second deploy: nothing left to do, nothing counted twice
    assert again["steps"] == []
    _assert_counted_exactly(_partition(queued, tenant))
