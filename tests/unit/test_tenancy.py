"""Tenant records: features, cache expiry, defaults."""

from __future__ import annotations

from typing import Any

from gui_core.tenancy import Tenant, TenantDirectory
from tests.fakes import ManualClock


class Source:
    def __init__(self) -> None:
        self.item: dict[str, Any] | None = {
            "pk": "acme",
            "sk": "tenant",
            "home_region": "eu-west-1",
            "flags": {"search": False},
        }
        self.reads = 0

    def get(self, key: Any, *, consistent: bool = True) -> dict[str, Any] | None:
        self.reads += 1
        return dict(self.item) if self.item else None


def test_features_are_on_unless_turned_off_and_children_follow_parents() -> None:
    tenant = Tenant.from_item(
        {"pk": "t", "home_region": "r", "flags": {"search": False, "jobs.retry": False}}
    )
    assert tenant.feature_enabled("preferences")
    assert not tenant.feature_enabled("search")
    assert not tenant.feature_enabled("search.facets")
    assert tenant.feature_enabled("jobs")
    assert not tenant.feature_enabled("jobs.retry")


def test_a_flag_change_is_seen_once_the_cache_expires() -> None:
    source, clock = Source(), ManualClock()
    directory = TenantDirectory(source, ttl_s=30, clock=clock)
    assert not directory.get("acme").feature_enabled("search")  # type: ignore[union-attr]
    source.item = {**(source.item or {}), "flags": {}}
    clock.now = 29
    assert not directory.get("acme").feature_enabled("search")  # type: ignore[union-attr]
    clock.now = 31
    assert directory.get("acme").feature_enabled("search")  # type: ignore[union-attr]
    assert source.reads == 2


def test_unknown_tenants_are_remembered_briefly() -> None:
    source, clock = Source(), ManualClock()
    source.item = None
    directory = TenantDirectory(source, ttl_s=30, miss_ttl_s=5, clock=clock)
    assert directory.get("ghost") is None
    assert directory.get("ghost") is None
    assert source.reads == 1
    clock.now = 6
    directory.get("ghost")
    assert source.reads == 2
