"""The inbox's ports built from settings: one way for every door (the REST app, the GraphQL API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Always, Gate, settings_gate
from gui_notifications.repository import InboxRepository
from gui_notifications.use_cases import NotificationsPorts

if TYPE_CHECKING:
    from gui_notifications.settings import NotificationsSettings


def build_ports(
    settings: NotificationsSettings, *, repository: InboxRepository | None = None, gate: Gate | None = None
) -> NotificationsPorts:
    client = dynamodb_client(settings.region)
    repository = repository or InboxRepository(
        Table(settings.inbox_table, client), retention_days=settings.retention_days
    )
    # The ledger says when the counters' migration is done for a tenant; without a ledger (a test's
    # settings) there is no migration to wait for.
    return NotificationsPorts(repository, gate=gate or settings_gate(settings, client) or Always())
