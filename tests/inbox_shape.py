"""The inbox's registered migrations over one tenant's items, for tests that seed the demo inbox in
the shape before migration 0001 (`local.demo_notifications`) after the backend's deploy step ran:
a tenant seeded then is brought to the current shape as a deploy's step brings the tenants it meets."""

from __future__ import annotations

from gui_core.dynamo import Table
from gui_core.migrations.model import ItemMigration
from gui_core.migrations.targets import ItemPager
from gui_migrate.registry import MIGRATIONS


def migrate_inbox(inbox: Table, tenant: str) -> None:
    # The inbox's own shape: from 0020 on, the dashboard's rollups' backfills read the inbox and
    # write another store.
    for migration in MIGRATIONS:
        if isinstance(migration, ItemMigration) and migration.store == "inbox" and migration.id < "0020":
            pager = ItemPager(migration, inbox)
            position = None
            while True:
                batch = pager.page(tenant, position, 100)
                for unit in batch.units:
                    pending = pager.pending(unit)
                    if pending is not None:
                        pager.apply(pending)
                if batch.next is None:
                    break
                position = batch.next
