"""Demo inbox of the local runtime: every category, severity and status, personal and tenant-wide.

Made by `InboxRepository.new_item`, what the notification fan-out's writer stores, but written in the
shape before migration 0001_inbox_audience_key (version N: without `tenant_audience`), so the
migration the runtime applies at start does real work on every start. The items are dated relative
to the time of seeding, so their ids differ from one start to the next: a tenant whose inbox already
holds items (a persistent endpoint) is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gui_core.date_times import iso
from gui_core.dynamo import ConditionFailed, Table, item_absent
from gui_notifications.logic import notification_id
from gui_notifications.models import CATEGORIES, SEVERITIES, STATUSES, TENANT_WIDE
from gui_notifications.repository import AUDIENCE_KEY, InboxRepository
from local.aws import aws_client

if TYPE_CHECKING:
    from stacks.manifest import Manifest

DEMO_ITEMS = 36
RETENTION_DAYS = 90

_TITLES: dict[str, tuple[str, str, dict[str, str]]] = {
    "governance": (
        "Overlay awaiting sign-off",
        "The overlay of release {n} waits for a governance reviewer.",
        {"module": "governance", "artifact_id": "overlay-{n}"},
    ),
    "readiness": (
        "Readiness score dropped",
        "Readiness of the mapping set {n} fell below its threshold.",
        {"module": "readiness", "artifact_id": "readiness-{n}"},
    ),
    "prompt_pack": (
        "Prompt pack calibration finished",
        "Calibration of prompt pack {n} finished; review the drift report.",
        {"module": "prompt_pack", "artifact_id": "prompt-pack-{n}"},
    ),
    "cost": (
        "Spend above budget",
        "Daily model spend reached {n}0% of the budget.",
        {"module": "cost"},
    ),
    "incident": (
        "Ingestion source unreachable",
        "Source {n} failed three polls in a row.",
        {"module": "ingestion"},
    ),
    "job": (
        "Coverage job failed",
        "The coverage job {n} failed on its second attempt.",
        {"module": "jobs", "job_id": "job-{n}"},
    ),
}


def demo_notifications(tenant: str, users: Sequence[str], *, now: datetime) -> list[dict[str, Any]]:
    """`DEMO_ITEMS` notifications, newest an hour old, oldest about three weeks old.

    Every category, severity and status occurs; every third item is personal (round-robin over the
    users), snoozes alternate between due (they show as unread) and future, every fourth is assigned.
    """
    items: list[dict[str, Any]] = []
    for n in range(DEMO_ITEMS):
        category = CATEGORIES[n % len(CATEGORIES)]
        severity = SEVERITIES[(n // 2) % len(SEVERITIES)]
        status = STATUSES[(n // 3) % len(STATUSES)]
        created = now - timedelta(hours=1 + n * 14)
        title, body, source = _TITLES[category]
        snoozed_until = None
        if status == "snoozed":
            due = n % 2 == 0
            snoozed_until = iso(now - timedelta(hours=2) if due else now + timedelta(days=2))
        items.append(
            {
                "id": notification_id(created, f"demo:{tenant}:{n}"),
                "category": category,
                "severity": severity,
                "title": title,
                "body": body.format(n=n + 1),
                "source": {k: v.format(n=n + 1) for k, v in source.items()},
                "audience": users[(n // 3) % len(users)] if users and n % 3 == 2 else TENANT_WIDE,
                "status": status,
                "snoozed_until": snoozed_until,
                "assignee": users[n % len(users)] if users and n % 4 == 1 else None,
                "created_at": iso(created),
            }
        )
    return items


def seed_notifications(
    manifest: Manifest, *, endpoint_url: str, region: str, tenant: str, users: Sequence[str]
) -> int:
    """Write the demo inbox of `tenant` into `region`'s inbox store, unless it has items; how many
    items were written."""
    table = Table(
        manifest.store("inbox").local_table_name(),
        aws_client("dynamodb", endpoint_url=endpoint_url, region=region),
    )
    repository = InboxRepository(table, retention_days=RETENTION_DAYS)
    if repository.has_items(tenant):
        return 0
    written = 0
    for notification in demo_notifications(tenant, users, now=datetime.now(UTC)):
        item = repository.new_item(tenant, notification)
        del item[AUDIENCE_KEY]  # the shape before migration 0001
        try:
            table.put(item, condition=item_absent("sk"))
        except ConditionFailed:
            continue
        written += 1
    return written


def seed_demo_inboxes(manifest: Manifest, *, endpoint_url: str, regions: Sequence[str]) -> None:
    """The demo inbox of every demo tenant whose home region runs here (the runtime's one call)."""
    from local.demo import TENANTS  # at call time: local.demo may come to import this module

    for tenant in TENANTS:
        if tenant.home_region in regions:
            seed_notifications(
                manifest,
                endpoint_url=endpoint_url,
                region=tenant.home_region,
                tenant=tenant.tenant,
                users=[user.subject for user in tenant.users],
            )
