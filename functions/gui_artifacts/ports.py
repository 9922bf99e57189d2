"""The artifacts' ports built from settings: one way for every door (the REST app, the GraphQL API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gui_artifacts.repository import ArtifactsRepository
from gui_artifacts.use_cases import ArtifactsPorts
from gui_core.dynamo import Table, dynamodb_client
from gui_core.migrations.gate import Gate, settings_gate

if TYPE_CHECKING:
    from gui_artifacts.settings import ArtifactsSettings


def build_ports(
    settings: ArtifactsSettings, *, repository: ArtifactsRepository | None = None, gate: Gate | None = None
) -> ArtifactsPorts:
    return ArtifactsPorts(
        repository=repository
        or ArtifactsRepository(Table(settings.artifacts_table, dynamodb_client(settings.region))),
        # Whether a tenant's order items and edge counts are backfilled (migrations 0030, 0031).
        gate=gate or settings_gate(settings),
        search_read_budget=settings.search_read_budget,
    )
