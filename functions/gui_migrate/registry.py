"""The migrations of this code, in order. Add a new one at the end (its number the next), in a
module of its own under `gui_migrate/migrations/`; never edit one released, but give a fixed one a
higher `version` (docs/gui/migrations.md)."""

from __future__ import annotations

from gui_core.migrations.model import Migration, ordered
from gui_migrate.migrations.m0001_inbox_audience_key import InboxAudienceKey

MIGRATIONS: tuple[Migration, ...] = ordered([InboxAudienceKey()])
