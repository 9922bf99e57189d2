"""The second pass of 0023_dashboard_rollups_layout (issue 14)."""

from __future__ import annotations

from gui_core.migrations.model import Phase
from gui_migrate.migrations.m0023_dashboard_rollups_layout import DashboardRollupsLayout


class DashboardRollupsLayoutAgain(DashboardRollupsLayout):
    """0023 again, after the deploy that ran it: the release before kept adding to spelled counters
    for the minutes that deploy took (its step runs before the functions are updated), and an item
    with more than `MOVED_AT_MOST` of them has the rest left. Each is moved as 0023 moves them."""

    id = "0024_dashboard_rollups_layout_again"
    description = (
        "Second pass of 0023: rollup items the release before wrote spelled counters into during 0023's "
        "deploy, or with more than one rewrite's worth, get the layout."
    )
    phase = Phase.MIGRATE
    requires = ("0023_dashboard_rollups_layout",)
    repeats = "0023_dashboard_rollups_layout"
