"""Applies ArtifactPublished/ArtifactDeprecated events to the registry (the gui_artifact_events function).

Checks in order: a schema version this code knows (else refused and counted: a producer ahead of
us must not be half-read), a valid event, a tenant homed in this region (else refused and counted:
the tenant's registry lives in its home region). Then the pure rules of `logic` decide; writes are
conditional on the record's revision, and a lost race reads again. Redeliveries change nothing:
the event id is remembered on the record and versions only move forward.
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


class Tenants(Protocol):
    def get(self, tenant_id: str) -> Any: ...


class Registry(Protocol):
    """What the feed needs of `ArtifactsRepository` (unit tests pass an in-memory one)."""

    def artifact(self, tenant: str, artifact_id: str) -> dict[str, Any] | None: ...

    def count_downstream(self, tenant: str, artifact_id: str) -> int: ...

    def publish(self, tenant: str, stored: dict[str, Any] | None, publication: Publication) -> None: ...

    def replace(self, tenant: str, stored: dict[str, Any], record: dict[str, Any]) -> None: ...


@dataclass
class RegistryFeed:
    region: str
    tenants: Tenants
    registry: Registry
    count: Callable[[str], None] = lambda _name: None

    def handle(self, event: dict[str, Any]) -> Outcome:
        """One EventBridge event (the envelope, as Lambda receives it)."""
        detail = event.get("detail") or {}
        model = EVENT_MODELS.get(str(event.get("detail-type")))
        if model is None or not isinstance(detail, dict):
            return self._invalid(f"unexpected detail-type {event.get('detail-type')!r}")
        if str(detail.get("schema_version")) not in SUPPORTED_SCHEMA_VERSIONS:
            self.count("UnsupportedSchemaVersions")
            logger.warning("artifact event with schema_version %r refused", detail.get("schema_version"))
            return "unsupported_schema"
        try:
            parsed: BaseModel = model.model_validate(detail)
        except ValidationError as exc:
            return self._invalid(str(exc.errors(include_url=False)))
        tenant = self.tenants.get(detail["tenant"])
        if tenant is None or tenant.home_region != self.region:
            self.count("ResidencyRefusals")
            logger.warning(
                "artifact event refused: tenant %s is not homed in %s", detail["tenant"], self.region
            )
            return "wrong_region"
        for _ in range(MAX_RACES):
            try:
                if isinstance(parsed, ArtifactPublished):
                    return self._published(parsed)
                assert isinstance(parsed, ArtifactDeprecated)
                return self._deprecated(parsed)
            except ArtifactChanged:
                continue  # another event or a degree refresh wrote first: decide again
        raise ArtifactChanged("the artifact kept changing; the event will be delivered again")

    def _invalid(self, why: str) -> Outcome:
        # Redelivering a malformed event cannot fix it: drop it, with a count for the alarm.
        logger.warning("invalid artifact event: %s", why)
        self.count("InvalidArtifactEvents")
        return "invalid"

    def _not_applied(self, why: str) -> Outcome:
        if why == "conflict":
            self.count("ArtifactVersionConflicts")
            return "conflict"
        if why == "unknown_artifact":
            self.count("UnknownArtifactEvents")
            return "unknown_artifact"
        self.count("ArtifactEventsIgnored")
        return "ignored"

    def _published(self, event: ArtifactPublished) -> Outcome:
        stored = self.registry.artifact(event.tenant, event.artifact_id)
        out_degree = self.registry.count_downstream(event.tenant, event.artifact_id)
        decision = apply_published(stored, event, out_degree=out_degree)
        if isinstance(decision, str):
            return self._not_applied(decision)
        self.registry.publish(event.tenant, stored, decision)
        for upstream in sorted({e.source for e in (*decision.added, *decision.removed)}):
            self._refresh_out_degree(event.tenant, upstream)
        self.count("ArtifactEventsApplied")
        return "applied"

    def _deprecated(self, event: ArtifactDeprecated) -> Outcome:
        stored = self.registry.artifact(event.tenant, event.artifact_id)
        decision = apply_deprecated(stored, event)
        if isinstance(decision, str):
            return self._not_applied(decision)
        assert stored is not None
        self.registry.replace(event.tenant, stored, decision)
        self.count("ArtifactEventsApplied")
        return "applied"

    def _refresh_out_degree(self, tenant: str, artifact_id: str) -> None:
        """Recount the edges out of an upstream artifact (a recount, not +1, so a redelivery or a
        retry cannot count twice). An input not published yet counts its edges when it is."""
        for _ in range(MAX_RACES):
            stored = self.registry.artifact(tenant, artifact_id)
            if stored is None:
                return
            out_degree = self.registry.count_downstream(tenant, artifact_id)
            if int(stored.get("out_degree") or 0) == out_degree:
                return
            record = {**stored, "out_degree": out_degree, "revision": int(stored.get("revision") or 0) + 1}
            try:
                self.registry.replace(tenant, stored, record)
            except ArtifactChanged:
                continue
            return
        logger.warning("out_degree of %s not refreshed: it kept changing", artifact_id)
