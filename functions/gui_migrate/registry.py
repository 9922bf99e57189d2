"""The migrations of this code, in order. Add a new one at the end (its number the next), in a
module of its own under `gui_migrate/migrations/`; never edit one released, but give a fixed one a
higher `version` (docs/gui/migrations.md)."""

from __future__ import annotations

from gui_core.migrations.model import Migration, ordered
from gui_migrate.migrations.m0001_inbox_audience_key import InboxAudienceKey
from gui_migrate.migrations.m0002_inbox_audience_key_again import InboxAudienceKeyAgain
from gui_migrate.migrations.m0003_inbox_counters import InboxCounters
from gui_migrate.migrations.m0004_inbox_assignee_copies import InboxAssigneeCopies
from gui_migrate.migrations.m0005_inbox_counters_again import InboxCountersAgain
from gui_migrate.migrations.m0006_inbox_assignee_copies_again import InboxAssigneeCopiesAgain
from gui_migrate.migrations.m0010_jobs_filter_keys import JobsFilterKeys
from gui_migrate.migrations.m0011_view_list_keys import ViewListKeys
from gui_migrate.migrations.m0012_jobs_filter_keys_again import JobsFilterKeysAgain
from gui_migrate.migrations.m0013_view_list_keys_again import ViewListKeysAgain
from gui_migrate.migrations.m0020_dashboard_rollups_jobs import DashboardRollupsJobs
from gui_migrate.migrations.m0021_dashboard_rollups_inbox import DashboardRollupsInbox
from gui_migrate.migrations.m0022_dashboard_rollups_artifacts import DashboardRollupsArtifacts
from gui_migrate.migrations.m0023_dashboard_rollups_layout import DashboardRollupsLayout
from gui_migrate.migrations.m0024_dashboard_rollups_layout_again import DashboardRollupsLayoutAgain
from gui_migrate.migrations.m0030_artifact_order_keys import ArtifactOrderKeys
from gui_migrate.migrations.m0031_artifact_edge_counts import ArtifactEdgeCounts
from gui_migrate.migrations.m0032_artifact_order_keys_again import ArtifactOrderKeysAgain

MIGRATIONS: tuple[Migration, ...] = ordered(
    [
        InboxAudienceKey(),
        InboxAudienceKeyAgain(),
        InboxCounters(),
        InboxAssigneeCopies(),
        InboxCountersAgain(),
        InboxAssigneeCopiesAgain(),
        JobsFilterKeys(),
        ViewListKeys(),
        JobsFilterKeysAgain(),
        ViewListKeysAgain(),
        DashboardRollupsJobs(),
        DashboardRollupsInbox(),
        DashboardRollupsArtifacts(),
        DashboardRollupsLayout(),
        DashboardRollupsLayoutAgain(),
        ArtifactOrderKeys(),
        ArtifactEdgeCounts(),
        ArtifactOrderKeysAgain(),
    ]
)
