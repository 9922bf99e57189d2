"""Helpers of the integration tests."""

from __future__ import annotations

import uuid
from typing import Any

import boto3

from local.demo import TENANTS, DemoTenant, DemoUser
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
