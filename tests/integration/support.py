"""Helpers of the integration tests."""

from __future__ import annotations

import uuid

from local.demo import TENANTS, DemoTenant, DemoUser
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
