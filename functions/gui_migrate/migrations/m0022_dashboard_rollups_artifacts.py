"""Backfill of the dashboard's rollups for the artifacts (see m0020_dashboard_rollups_jobs)."""

from __future__ import annotations

from gui_migrate.migrations.m0020_dashboard_rollups_jobs import RollupBackfill


class DashboardRollupsArtifacts(RollupBackfill):
    id = "0022_dashboard_rollups_artifacts"
    description = "The dashboard's rollups count the artifacts stored before their stream consumer."
    store = "artifacts"
    sort_prefix = "ART#"  # gui_dashboard.rollup_events.RECORD_PREFIXES
