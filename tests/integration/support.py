"""Helpers of the integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3
import httpx

from gui_core.dynamo import to_dynamo
from gui_notifications.repository import AUDIENCE_KEY, InboxRepository
from local.demo import TENANTS, DemoTenant, DemoUser
from local.memory_table import MemoryTable
from local.runtime import LocalBackend
from stacks.manifest import MANIFEST

PREFERENCES = "/service/gui/preferences"


def table(store: str) -> str:
    return MANIFEST.store(store).local_table_name()


def demo_tenant(tenant: str) -> DemoTenant:
    return next(t for t in TENANTS if t.tenant == tenant)


def demo_user(tenant: str, name: str) -> DemoUser:
    return next(u for u in demo_tenant(tenant).users if u.subject == f"{name}@{tenant}")


def fresh_subject(tenant: str) -> str:
    return f"it-{uuid.uuid4().hex[:12]}@{tenant}"


def aws(backend: LocalBackend, service: str, region: str) -> Any:
    """A boto3 client of `service` on the backend's AWS endpoint in `region`."""
    return boto3.client(
        service,
        endpoint_url=backend.aws_endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def add_tenant(backend: LocalBackend, tenant: str, region: str) -> None:
    """A bare tenant record homed in `region` (no limits, flags or policy: the defaults)."""
    aws(backend, "dynamodb", region).put_item(
        TableName=table("tenants"),
        Item={
            "pk": {"S": tenant},
            "sk": {"S": "tenant"},
            "name": {"S": tenant},
            "home_region": {"S": region},
        },
    )


def deploy(backend: LocalBackend, region: str) -> dict[str, Any]:
    """The deploy step, as the stack's trigger invokes it (an empty event)."""
    return backend.deploy_migrations(region)


def new_tenant(backend: LocalBackend, region: str) -> str:
    """A bare tenant of a new name homed in `region`."""
    tenant = f"mig-{uuid.uuid4().hex[:10]}"
    add_tenant(backend, tenant, region)
    return tenant


def caller(backend: LocalBackend, tenant: str, region: str) -> Callable[..., httpx.Response]:
    """Requests to the region's API as an admin of `tenant`."""
    assert backend.keys is not None
    token = backend.keys.mint(tenant=tenant, subject=f"ada@{tenant}", roles=["admin"])
    client = httpx.Client(base_url=backend.base_urls[region], timeout=30)

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


def put_items(backend: LocalBackend, region: str, store: str, items: list[dict[str, Any]]) -> None:
    """Write `items` straight into a store (25 a batch, what a batch leaves unprocessed again), as
    data written before a migration or by the previous release would be."""
    dynamodb = aws(backend, "dynamodb", region)
    name = table(store)
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": to_dynamo(i)}} for i in items[start : start + 25]]
        while batch:
            batch = (
                dynamodb.batch_write_item(RequestItems={name: batch})
                .get("UnprocessedItems", {})
                .get(name, [])
            )


def seed_old_items(
    backend: LocalBackend, region: str, tenant: str, count: int, *, title: str = "old"
) -> list[dict[str, Any]]:
    """`count` notifications of `tenant` (titled `title` and their number) written straight into the
    region's inbox in the shape before migration 0001 (no audience key; every third personal to ada)."""
    repository = InboxRepository(MemoryTable(), retention_days=90)
    items = []
    for n in range(count):
        item = repository.new_item(
            tenant,
            {
                "id": f"n{n:012x}{uuid.uuid4().hex[:8]}",
                "category": "job",
                "severity": "info",
                "title": f"{title} {n}",
                "audience": f"ada@{tenant}" if n % 3 == 0 else "*",
            },
        )
        del item[AUDIENCE_KEY]
        items.append({k: v for k, v in item.items() if v is not None})
    put_items(backend, region, "inbox", items)
    return items
