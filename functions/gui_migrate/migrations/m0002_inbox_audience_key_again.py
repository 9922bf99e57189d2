from __future__ import annotations

from gui_core.migrations.model import Phase
from gui_migrate.migrations.m0001_inbox_audience_key import InboxAudienceKey


class InboxAudienceKeyAgain(InboxAudienceKey):
    """The second pass of 0001_inbox_audience_key, which issue 14's readers begin with: the release
    before 0001 kept writing items without the key for the minutes its deploy took, after the first
    pass had gone by. From this release on the list reads the `by_audience` index (an item without
    the key is not in it), so every item must have it; 0001's own upgrade finds only those few."""

    id = "0002_inbox_audience_key_again"
    description = (
        "Second pass of 0001: inbox notifications written without tenant_audience during 0001's deploy "
        "get it, before the list reads the by_audience index."
    )
    phase = Phase.MIGRATE
    requires = ("0001_inbox_audience_key",)
    repeats = "0001_inbox_audience_key"
