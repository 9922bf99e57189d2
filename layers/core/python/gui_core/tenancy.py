"""Tenants: where each is homed, what it may use, how fast it may call, what its license restricts.

A function reads its caller's tenant record from the region's tenants store and keeps it for a
short while per container, so a change of flags or limits reaches every container within
`ttl_s` without a read per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gui_core.errors import FeatureDisabled, MisdirectedRequest, TenantUnknown
from gui_core.masking import LicensePolicy
from gui_core.metric_names import GuardMetric

TENANT_SK = "tenant"
_log = logging.getLogger("gui_core.tenancy")


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    home_region: str
    plan: str = "standard"
    flags: Mapping[str, bool] = field(default_factory=dict)
    rate_limits: Mapping[str, int] = field(default_factory=dict)  # per route class, per minute
    license: LicensePolicy = field(default_factory=lambda: LicensePolicy.from_record(None))
    version: int = 0

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Tenant:
        return cls(
            id=str(item["pk"]),
            name=str(item.get("name") or item["pk"]),
            home_region=str(item["home_region"]),
            plan=str(item.get("plan") or "standard"),
            flags={str(k): bool(v) for k, v in (item.get("flags") or {}).items()},
            rate_limits={str(k): int(v) for k, v in (item.get("rate_limits") or {}).items()},
            license=LicensePolicy.from_record(item.get("license_policy")),
            version=int(item.get("version") or 0),
        )

    def feature_enabled(self, feature: str) -> bool:
        """Features are on unless the tenant turns them off; `a.b` is off when `a` is off."""
        parts = feature.split(".")
        return all(self.flags.get(".".join(parts[: i + 1]), True) for i in range(len(parts)))


class TenantSource(Protocol):
    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None: ...


class TenantDirectory:
    """Tenant records by id, cached per container for `ttl_s` (misses too, for a shorter time)."""

    def __init__(
        self,
        table: TenantSource,
        *,
        ttl_s: float = 30.0,
        miss_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._ttl_s = ttl_s
        self._miss_ttl_s = miss_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Tenant | None]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> Tenant | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached and cached[0] > now:
            return cached[1]
        item = self._table.get({"pk": tenant_id, "sk": TENANT_SK}, consistent=False)
        tenant = Tenant.from_item(item) if item else None
        expires = now + (self._ttl_s if tenant else self._miss_ttl_s)
        with self._lock:
            self._cache[tenant_id] = (expires, tenant)
        return tenant

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)

    def clear(self) -> None:
        """Forget every record (gui_core.snapstart, after a restore: their ages count on a clock
        that did not see the snapshot wait)."""
        with self._lock:
            self._cache.clear()


class TenantLookup(Protocol):
    """What the checks need of a tenant directory (`TenantDirectory`, or a test's fake)."""

    def get(self, tenant_id: str) -> Tenant | None: ...


def admit_tenant(
    tenants: TenantLookup,
    tenant_id: str,
    *,
    region: str,
    feature: str,
    count: Callable[[GuardMetric], None],
    misdirected: Callable[[Tenant], MisdirectedRequest] | None = None,
) -> Tenant:
    """The caller's tenant, if it is provisioned here (403), homed here (421) and has the feature
    on (404): the checks of every request, over HTTP (`Guard.check`) or a WebSocket."""
    tenant = tenants.get(tenant_id)
    if tenant is None:
        raise TenantUnknown("The tenant is not provisioned in this region.")
    if tenant.home_region != region:
        count(GuardMetric.RESIDENCY_REFUSALS)
        if misdirected is not None:
            raise misdirected(tenant)
        raise MisdirectedRequest(
            f"The tenant is served by region {tenant.home_region}.", home_region=tenant.home_region
        )
    if not tenant.feature_enabled(feature):
        raise FeatureDisabled(f"The feature {feature!r} is turned off for this tenant.", feature=feature)
    return tenant


class NotHomedHere(Exception):
    """A consumed event's tenant is unknown here or homed in another region: the consumer refuses
    the event, whose data stays home. `reason` is the quarantine's reason for it."""

    def __init__(self, reason: Literal["unknown_tenant", "wrong_region"], message: str) -> None:
        super().__init__(message)
        self.reason: Literal["unknown_tenant", "wrong_region"] = reason


def homed_here(tenants: TenantLookup, tenant_id: str, *, region: str, what: str) -> Tenant:
    """The tenant of a consumed event if it is homed in `region`, else NotHomedHere, logged as a
    warning naming `what` (the record or event): the residency check of every event consumer, each
    counting the refusal under its own metric. A failed lookup raises as it is."""
    tenant = tenants.get(tenant_id)
    if tenant is not None and tenant.home_region == region:
        return tenant
    if tenant is None:
        refused = NotHomedHere("unknown_tenant", f"tenant {tenant_id} is unknown here")
    else:
        refused = NotHomedHere(
            "wrong_region", f"tenant {tenant_id} is homed in {tenant.home_region}, not {region}"
        )
    _log.warning("%s refused: %s", what, refused)
    raise refused


class TenantScan(Protocol):
    def scan(self, *, attribute_equals: tuple[str, str] | None = None) -> Iterable[Mapping[str, Any]]: ...


def homed_tenants(table: TenantScan, region: str) -> list[Tenant]:
    """Every tenant homed in `region`, by id: what a scheduled function of that region works on
    (the tenants table is small, and a Scan reads it whole)."""
    tenants = [Tenant.from_item(item) for item in table.scan(attribute_equals=("sk", TENANT_SK))]
    return sorted((t for t in tenants if t.home_region == region), key=lambda t: t.id)
