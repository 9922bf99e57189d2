"""Backfill of the dashboard's rollups (issue 14), for the jobs stored before gui_dashboard_rollups
read the jobs store's stream. 0021 and 0022 do the same for the inbox and the artifacts."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.model import ItemChange, ItemMigration, Phase
from gui_dashboard.rollup_store import RollupStore

# The metrics store of this region (the migration functions' METRICS_TABLE), built at import with the
# function's settings and clients, as a Lambda's are (its environment is the function's then).
_TABLE, _REGION = os.environ.get("METRICS_TABLE"), os.environ.get("GUI_REGION")
_ROLLUPS = RollupStore(Table(_TABLE, dynamodb_client(_REGION))) if _TABLE and _REGION else None


def use_rollups(store: RollupStore) -> None:
    """The metrics store the backfill writes where no function's environment names it: the local
    engine of `ddgui migrate` (local.migrate), which runs in the operator's process."""
    global _ROLLUPS  # noqa: PLW0603
    _ROLLUPS = store


def rollups() -> RollupStore:
    if _ROLLUPS is None:
        raise RuntimeError("the dashboard's rollups need METRICS_TABLE and GUI_REGION")
    return _ROLLUPS


class RollupBackfill(ItemMigration):
    """Expand step of the dashboard's rollups: each record the dashboard counts gets its contribution
    (`ROLLREC#<store>#<sk>` and the counters of its buckets, in the metrics store) unless the
    stream's consumer wrote one (that one is newer). The record itself is not changed: a page's
    contributions are written to the metrics store together (`write_page`, a few transactions a
    page) and `upgrade` answers no change, so a plan writes nothing. Run again, it writes nothing that
    is there. The dashboard serves a tenant from the rollups once 0020, 0021 and 0022 are done for it."""

    phase = Phase.EXPAND

    def write_page(self, items: Sequence[Mapping[str, Any]]) -> None:
        tenants: dict[str, list[Mapping[str, Any]]] = {}
        for item in items:
            tenants.setdefault(str(item["pk"]), []).append(item)
        for tenant, records in tenants.items():
            rollups().backfill_page(tenant, self.store, records)

    def upgrade(self, item: Mapping[str, Any]) -> ItemChange | None:
        del item  # the record stays as it is; write_page wrote its contribution
        return None


class DashboardRollupsJobs(RollupBackfill):
    id = "0020_dashboard_rollups_jobs"
    description = "The dashboard's rollups count the jobs stored before their stream consumer."
    store = "jobs"
    sort_prefix = "JOB#"  # gui_dashboard.rollup_events.RECORD_PREFIXES
