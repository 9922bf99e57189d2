"""The migrations' backfill rate on the local runtime: items per second per worker.

One tenant's inbox is seeded with N notifications in the shape before migration 0001 (no
`tenant_audience`), straight into the local store. The deploy step queues the tenant's work item and
the worker (`gui_migrate_worker`, in its container, with its role's credentials and the local IAM
check, fed by the local SQS mapping) migrates it page by page, checkpointing each page in the ledger:
its items per second. The baseline, in the same run: a plain loop over the same number of items of
another tenant (not homed in the region, so the migration never touches it) by the operator's
client, a Query page and a conditional UpdateItem per item, no ledger. Not a CI gate.

Usage: `python bench/migrate.py [--items 5000] [--page-size 100]`; about a minute for 5,000 items.
The result goes to bench/results/migrate.json, the functions' logs to bench/results/migrate.log.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import load, stdout_to  # noqa: E402

from gui_notifications.repository import AUDIENCE_KEY  # noqa: E402
from local.aws import aws_client  # noqa: E402
from local.runtime import LocalBackend  # noqa: E402
from stacks.manifest import DEFAULT_REGIONS, MANIFEST, MIGRATION_QUEUE  # noqa: E402
from tests.integration.support import seed_old_items  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "migrate.json"
LOG = ROOT / "bench" / "results" / "migrate.log"
REGION, ELSEWHERE = DEFAULT_REGIONS
INBOX = MANIFEST.store("inbox").local_table_name()
MIGRATION = "0001_inbox_audience_key"


def add_tenant(dynamodb: Any, tenant: str, region: str) -> None:
    dynamodb.put_item(
        TableName=MANIFEST.store("tenants").local_table_name(),
        Item={
            "pk": {"S": tenant},
            "sk": {"S": "tenant"},
            "name": {"S": tenant},
            "home_region": {"S": region},
        },
    )


def baseline(dynamodb: Any, tenant: str, page_size: int) -> tuple[int, float]:
    """A plain Query + conditional UpdateItem loop over the tenant's items: (items, seconds)."""
    started = time.perf_counter()
    done = 0
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {
            "TableName": INBOX,
            "KeyConditionExpression": "pk = :t",
            "ExpressionAttributeValues": {":t": {"S": tenant}},
            "Limit": page_size,
            "ConsistentRead": True,
        }
        if start:
            params["ExclusiveStartKey"] = start
        page = dynamodb.query(**params)
        for item in page["Items"]:
            dynamodb.update_item(
                TableName=INBOX,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #a = :a",
                ConditionExpression="attribute_exists(#k) AND attribute_not_exists(#a)",
                ExpressionAttributeNames={"#a": AUDIENCE_KEY, "#k": "pk"},
                ExpressionAttributeValues={":a": {"S": f"{tenant}#{item['audience']['S']}"}},
            )
            done += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            return done, time.perf_counter() - started


def run_ledger(dynamodb: Any, sk: str) -> dict[str, Any]:
    item = dynamodb.get_item(
        TableName=MANIFEST.store("migrations").local_table_name(),
        Key={"pk": {"S": MIGRATION}, "sk": {"S": sk}},
        ConsistentRead=True,
    ).get("Item", {})
    return {k: next(iter(v.values())) for k, v in item.items()}


def measure(items: int, page_size: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as keys,
        LocalBackend(
            regions=(REGION,),
            port=0,
            keys_dir=Path(keys),
            seed=False,
            migrate=False,
            ttl_sweep_s=None,
            bus_poll_s=None,
            environment={
                "gui_migrate": {"MIGRATION_INLINE_MAX_ITEMS": "0"},
                "gui_migrate_worker": {"MIGRATION_PAGE_SIZE": str(page_size)},
            },
        ) as backend,
    ):
        dynamodb = aws_client("dynamodb", endpoint_url=backend.aws_endpoint_url, region=REGION)
        migrated, plain = f"bench-{uuid.uuid4().hex[:8]}", f"plain-{uuid.uuid4().hex[:8]}"
        add_tenant(dynamodb, migrated, REGION)
        add_tenant(dynamodb, plain, ELSEWHERE)  # never the migration's: not homed here
        seed_old_items(backend, REGION, migrated, items, title="bench")
        seed_old_items(backend, REGION, plain, items, title="bench")
        print(f"seeded {items} items for each of two tenants", file=sys.stderr)

        baseline_items, baseline_s = baseline(dynamodb, plain, page_size)
        steps = backend.deploy_migrations(REGION)["steps"]
        assert [s["action"] for s in steps] == ["queued"], steps
        # The migration work queue's poller (the region has other work queues' too).
        (poller,) = [p for p in backend.queue_pollers[REGION] if p.queue.name == MIGRATION_QUEUE.name]
        started = time.perf_counter()
        while run_ledger(dynamodb, "RUN").get("status") != "done":
            if not poller.pump():
                time.sleep(0.01)
        worker_s = time.perf_counter() - started
        checkpoint = run_ledger(dynamodb, f"TENANT#{migrated}")
        assert int(checkpoint["changed"]) == items, checkpoint
        return {
            "items": items,
            "page_size": page_size,
            "baseline_items": baseline_items,
            "baseline_s": baseline_s,
            "worker_s": worker_s,
            "worker_invocations": poller.invocations,
            "pages": int(checkpoint["pages"]),
            "changed": int(checkpoint["changed"]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    print(f"load before: {load()}")
    with stdout_to(LOG):
        figures = measure(args.items, args.page_size)
    print(f"load after:  {load()}")
    baseline_rate = figures["baseline_items"] / figures["baseline_s"]
    worker_rate = figures["changed"] / figures["worker_s"]
    print(f"{'path':62} {'items':>7} {'s':>7} {'items/s':>8} {'ratio':>6}")
    print(
        f"{'plain Query + conditional UpdateItem loop (baseline)':62} {figures['baseline_items']:7d} "
        f"{figures['baseline_s']:7.2f} {baseline_rate:8.1f} {1.0:5.2f}x"
    )
    print(
        f"{'gui_migrate_worker: pages, checkpoints, IAM check, SQS mapping':62} {figures['changed']:7d} "
        f"{figures['worker_s']:7.2f} {worker_rate:8.1f} {worker_rate / baseline_rate:5.2f}x"
    )
    print(f"worker invocations {figures['worker_invocations']}, pages {figures['pages']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {**figures, "baseline_items_per_s": baseline_rate, "worker_items_per_s": worker_rate}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
