"""What the event consumers' entry modules build at cold start from their settings: the region's
tenant directory (for the residency check, `gui_core.tenancy.homed_here`) and the quarantine of
their poison records, each spelled once here for the five consumers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gui_core.dynamo import Table, dynamodb_client
from gui_core.quarantine import QuarantineSettings, QueueQuarantine, sqs_client
from gui_core.tenancy import TenantDirectory

if TYPE_CHECKING:
    from botocore.client import BaseClient


class ConsumerSettings(Protocol):
    """The fields of a consumer's settings these builders read."""

    @property
    def service_name(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def tenants_table(self) -> str: ...

    @property
    def tenant_cache_s(self) -> float: ...


def tenant_directory(settings: ConsumerSettings, client: BaseClient | None = None) -> TenantDirectory:
    """The region's tenants store, cached `tenant_cache_s`; on `client`, or the region's client."""
    table = Table(settings.tenants_table, client or dynamodb_client(settings.region))
    return TenantDirectory(table, ttl_s=settings.tenant_cache_s)


def queue_quarantine(settings: ConsumerSettings) -> QueueQuarantine:
    """The region's quarantine queue (its URL from the environment), the consumer named by its
    service name."""
    return QueueQuarantine(
        QuarantineSettings().queue_url,  # type: ignore[call-arg]  # from the environment
        sqs_client(settings.region),
        function=settings.service_name,
        region=settings.region,
    )
