"""The preferences' ports built from settings: one way for every door (the REST app, the GraphQL API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Gate, settings_gate
from gui_preferences.repository import PreferencesRepository
from gui_preferences.use_cases import PreferencesPorts

if TYPE_CHECKING:
    from gui_preferences.settings import PreferencesSettings


def build_ports(
    settings: PreferencesSettings,
    *,
    repository: PreferencesRepository | None = None,
    gate: Gate | None = None,
) -> PreferencesPorts:
    return PreferencesPorts(
        repository=repository
        or PreferencesRepository(
            Table(settings.preferences_table, dynamodb_client(settings.region)),
            history_days=settings.history_days,
        ),
        # Whether the views' list keys are there for a tenant (migration 0011): the ledger says.
        gate=gate or settings_gate(settings),
    )
