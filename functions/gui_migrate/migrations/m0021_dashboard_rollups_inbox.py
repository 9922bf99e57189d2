"""Backfill of the dashboard's rollups for the inbox items (see m0020_dashboard_rollups_jobs)."""

from __future__ import annotations

from gui_migrate.migrations.m0020_dashboard_rollups_jobs import RollupBackfill


class DashboardRollupsInbox(RollupBackfill):
    id = "0021_dashboard_rollups_inbox"
    description = "The dashboard's rollups count the inbox items stored before their stream consumer."
    store = "inbox"
    sort_prefix = "NOTE#n"  # gui_dashboard.rollup_events.RECORD_PREFIXES
