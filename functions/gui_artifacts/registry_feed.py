"""Applies ArtifactPublished/ArtifactDeprecated events to the registry (the gui_artifact_events function).

Checks in order: a schema version this code knows (else refused and counted: a producer ahead of
us must not be half-read), a valid event, a tenant homed in this region (else refused and counted:
the tenant's registry lives in its home region). Then the pure rules of `logic` decide; writes are
conditional on the record's revision, and a lost race reads again. Redeliveries change nothing:
the event id is remembered on the record and versions only move forward, and an edge's count moves
in the transaction that writes or deletes the edge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from gui_artifacts.logic import Publication, apply_deprecated, apply_published
from gui_artifacts.models import SUPPORTED_SCHEMA_VERSIONS, ArtifactDeprecated, ArtifactPublished
from gui_artifacts.repository import ArtifactChanged
from gui_core.metric_names import ArtifactEventsMetric
from gui_core.tenancy import NotHomedHere, TenantLookup, homed_here

logger = logging.getLogger("gui_artifacts.registry_feed")
MAX_RACES = 5

Outcome = Literal[
    "applied",
    "ignored",
    "conflict",
    "unknown_artifact",
    "wrong_region",
    "invalid",
    "unsupported_schema",
]
EVENT_MODELS: dict[str, type[ArtifactPublished | ArtifactDeprecated]] = {
    "ArtifactPublished": ArtifactPublished,
    "ArtifactDeprecated": ArtifactDeprecated,
}


class Registry(Protocol):
    """What the feed needs of `ArtifactsRepository` (unit tests pass an in-memory one)."""

    def artifact(self, tenant: str, artifact_id: str) -> dict[str, Any] | None: ...

    def publish(self, tenant: str, stored: dict[str, Any] | None, publication: Publication) -> None: ...

    def replace(self, tenant: str, stored: dict[str, Any], record: dict[str, Any]) -> None: ...


@dataclass
class RegistryFeed:
    region: str
    tenants: TenantLookup
    registry: Registry
    count: Callable[[ArtifactEventsMetric], None] = lambda _name: None

    def handle(self, event: dict[str, Any]) -> Outcome:
        """One EventBridge event (the envelope, as Lambda receives it)."""
        detail = event.get("detail") or {}
        model = EVENT_MODELS.get(str(event.get("detail-type")))
        if model is None or not isinstance(detail, dict):
            return self._invalid(f"unexpected detail-type {event.get('detail-type')!r}")
        if str(detail.get("schema_version")) not in SUPPORTED_SCHEMA_VERSIONS:
            self.count(ArtifactEventsMetric.UNSUPPORTED_SCHEMA_VERSIONS)
            logger.warning("artifact event with schema_version %r refused", detail.get("schema_version"))
            return "unsupported_schema"
        try:
            parsed: BaseModel = model.model_validate(detail)
        except ValidationError as exc:
            return self._invalid(str(exc.errors(include_url=False)))
        try:
            homed_here(
                self.tenants,
                detail["tenant"],
                region=self.region,
                what=f"{event.get('detail-type')} {event.get('id')}",
            )
        except NotHomedHere:
            self.count(ArtifactEventsMetric.RESIDENCY_REFUSALS)
            return "wrong_region"
        for _ in range(MAX_RACES):
            try:
                if isinstance(parsed, ArtifactPublished):
                    return self._published(parsed)
                assert isinstance(parsed, ArtifactDeprecated)
                return self._deprecated(parsed)
            except ArtifactChanged:
                continue  # another event wrote first (or moved a count at once): decide again
        raise ArtifactChanged("the artifact kept changing; the event will be delivered again")

    def _invalid(self, why: str) -> Outcome:
        # Redelivering a malformed event cannot fix it: drop it, with a count for the alarm.
        logger.warning("invalid artifact event: %s", why)
        self.count(ArtifactEventsMetric.INVALID)
        return "invalid"

    def _not_applied(self, why: str) -> Outcome:
        if why == "conflict":
            self.count(ArtifactEventsMetric.VERSION_CONFLICTS)
            return "conflict"
        if why == "unknown_artifact":
            self.count(ArtifactEventsMetric.UNKNOWN)
            return "unknown_artifact"
        self.count(ArtifactEventsMetric.IGNORED)
        return "ignored"

    def _published(self, event: ArtifactPublished) -> Outcome:
        stored = self.registry.artifact(event.tenant, event.artifact_id)
        decision = apply_published(stored, event)
        if isinstance(decision, str):
            return self._not_applied(decision)
        # The edges' upstream ends count them in the same transaction (`ArtifactsRepository.publish`).
        self.registry.publish(event.tenant, stored, decision)
        self.count(ArtifactEventsMetric.APPLIED)
        return "applied"

    def _deprecated(self, event: ArtifactDeprecated) -> Outcome:
        stored = self.registry.artifact(event.tenant, event.artifact_id)
        decision = apply_deprecated(stored, event)
        if isinstance(decision, str):
            return self._not_applied(decision)
        assert stored is not None
        self.registry.replace(event.tenant, stored, decision)
        self.count(ArtifactEventsMetric.APPLIED)
        return "applied"
