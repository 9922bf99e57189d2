"""gui_artifact_events: ArtifactPublished/ArtifactDeprecated, from the sample EventBridge events, applied
to an in-memory registry behind the repository interface."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gui_artifacts.logic import Edge, Publication
from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactChanged
from gui_core.tenancy import Tenant

EVENTS = Path(__file__).parents[2] / "events" / "aws"
PUBLISHED = json.loads((EVENTS / "eventbridge_artifact_published.json").read_text())
DEPRECATED = json.loads((EVENTS / "eventbridge_artifact_deprecated.json").read_text())
ARTIFACT = PUBLISHED["detail"]["artifact_id"]


class MemoryRegistry:
    """Records and edges as the DynamoDB repository keeps them, with its revision checks."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}  # (tenant, from, to)
        self.races = 0  # writes to refuse as if another event had won first
        self.writes = 0

    def artifact(self, tenant: str, artifact_id: str) -> dict[str, Any] | None:
        found = self.records.get((tenant, artifact_id))
        return copy.deepcopy(found) if found else None

    def count_downstream(self, tenant: str, artifact_id: str) -> int:
        return sum(1 for (t, f, _to) in self.edges if t == tenant and f == artifact_id)

    def neighbours(self, tenant: str, artifact_id: str, side: str) -> list[Edge]:
        found = [
            e
            for (t, _f, _to), e in self.edges.items()
            if t == tenant and (e.target if side == "upstream" else e.source) == artifact_id
        ]
        return sorted(found, key=lambda e: e.neighbour(side))  # type: ignore[arg-type]

    def _check(self, tenant: str, artifact_id: str, stored: dict[str, Any] | None) -> None:
        current = self.records.get((tenant, artifact_id))
        if self.races:
            self.races -= 1
            if current:
                current["revision"] += 1
            raise ArtifactChanged("raced")
        if (current or {}).get("revision") != (stored or {}).get("revision"):
            raise ArtifactChanged("raced")

    def publish(self, tenant: str, stored: dict[str, Any] | None, publication: Publication) -> None:
        self._check(tenant, publication.record["id"], stored)
        self.records[(tenant, publication.record["id"])] = copy.deepcopy(publication.record)
        for edge in publication.added:
            self.edges[(tenant, edge.source, edge.target)] = edge
        for edge in publication.removed:
            self.edges.pop((tenant, edge.source, edge.target), None)
        self.writes += 1

    def replace(self, tenant: str, stored: dict[str, Any], record: dict[str, Any]) -> None:
        self._check(tenant, record["id"], stored)
        self.records[(tenant, record["id"])] = copy.deepcopy(record)
        self.writes += 1


class Tenants:
    def get(self, tenant_id: str) -> Tenant | None:
        homes = {"acme": "eu-west-1", "globex": "us-east-1"}
        return Tenant(tenant_id, tenant_id, homes[tenant_id]) if tenant_id in homes else None


@pytest.fixture
def registry() -> MemoryRegistry:
    return MemoryRegistry()


@pytest.fixture
def counted() -> list[str]:
    return []


@pytest.fixture
def feed(registry: MemoryRegistry, counted: list[str]) -> RegistryFeed:
    return RegistryFeed(region="eu-west-1", tenants=Tenants(), registry=registry, count=counted.append)


def published(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(PUBLISHED)
    event["detail"].update(detail)
    return event


def deprecated(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(DEPRECATED)
    event["detail"].update(detail)
    return event


def test_the_sample_publication_records_the_artifact_and_both_edge_directions(
    feed: RegistryFeed, registry: MemoryRegistry, counted: list[str]
) -> None:
    assert feed.handle(PUBLISHED) == "applied"
    record = registry.records[("acme", ARTIFACT)]
    detail = PUBLISHED["detail"]
    assert (record["kind"], record["version"], record["governance_status"]) == ("mapping", 3, "in_review")
    assert (record["diff_hash"], record["previous_diff_hash"]) == (
        detail["diff_hash"],
        detail["previous_diff_hash"],
    )
    assert record["created_at"] == record["updated_at"] == "2026-11-27T09:42:04.512+00:00"
    assert (record["in_degree"], record["out_degree"]) == (2, 0)
    assert [e.source for e in registry.neighbours("acme", ARTIFACT, "upstream")] == [
        "cov-icd10",
        "ing-snomed-2026",
    ]
    assert [e.target for e in registry.neighbours("acme", "cov-icd10", "downstream")] == [ARTIFACT]
    assert counted == ["ArtifactEventsApplied"]


def test_a_redelivered_publication_changes_nothing(feed: RegistryFeed, registry: MemoryRegistry) -> None:
    assert feed.handle(PUBLISHED) == "applied"
    before = copy.deepcopy(registry.records)
    writes = registry.writes
    assert feed.handle(PUBLISHED) == "ignored"
    # the same version and content under another event id is a redelivery too
    assert feed.handle(published(event_id="resent")) == "ignored"
    assert registry.records == before
    assert registry.writes == writes


def test_a_new_version_updates_the_record_and_replaces_its_edges(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    feed.handle(published(artifact_id="cov-icd10", kind="coverage", version=1, inputs=[]))
    assert feed.handle(PUBLISHED) == "applied"
    assert registry.records[("acme", "cov-icd10")]["out_degree"] == 1
    newer = published(
        event_id="v4",
        version=4,
        diff_hash="sha256:new-content-hash",
        previous_diff_hash=None,
        published_at="2026-11-28T08:00:00Z",
        inputs=[
            {"id": "ing-snomed-2026", "relation": "derived_from"},
            {"id": "ovl-de", "relation": "overlays"},
        ],
    )
    assert feed.handle(newer) == "applied"
    record = registry.records[("acme", ARTIFACT)]
    assert (record["version"], record["diff_hash"]) == (4, "sha256:new-content-hash")
    assert record["previous_diff_hash"] == PUBLISHED["detail"]["diff_hash"]  # taken from the stored version
    assert record["created_at"] == "2026-11-27T09:42:04.512+00:00"
    assert record["updated_at"] == "2026-11-28T08:00:00.000+00:00"
    assert [(e.source, e.relation) for e in registry.neighbours("acme", ARTIFACT, "upstream")] == [
        ("ing-snomed-2026", "derived_from"),
        ("ovl-de", "overlays"),
    ]
    assert registry.neighbours("acme", "cov-icd10", "downstream") == []
    assert registry.records[("acme", "cov-icd10")]["out_degree"] == 0  # recounted when the edge went


def test_an_older_version_is_stale_and_the_same_version_with_other_content_a_conflict(
    feed: RegistryFeed, registry: MemoryRegistry, counted: list[str]
) -> None:
    feed.handle(PUBLISHED)
    assert feed.handle(published(event_id="old", version=2, diff_hash="sha256:older-hash")) == "ignored"
    assert feed.handle(published(event_id="other", diff_hash="sha256:other-hash")) == "conflict"
    assert registry.records[("acme", ARTIFACT)]["diff_hash"] == PUBLISHED["detail"]["diff_hash"]
    assert counted == ["ArtifactEventsApplied", "ArtifactEventsIgnored", "ArtifactVersionConflicts"]


def test_an_upstream_published_later_counts_the_edges_already_pointing_at_it(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    feed.handle(PUBLISHED)
    feed.handle(published(event_id="cov", artifact_id="cov-icd10", kind="coverage", version=1, inputs=[]))
    assert registry.records[("acme", "cov-icd10")]["out_degree"] == 1


def test_the_sample_deprecation_deprecates_once(
    feed: RegistryFeed, registry: MemoryRegistry, counted: list[str]
) -> None:
    feed.handle(PUBLISHED)
    assert feed.handle(DEPRECATED) == "applied"
    record = registry.records[("acme", ARTIFACT)]
    assert record["governance_status"] == "deprecated"
    assert record["deprecated_at"] == "2026-11-27T11:05:11.904+00:00"
    assert (record["deprecation_reason"], record["replaced_by"]) == (
        "Superseded by the 2027 SNOMED release mapping.",
        "map-icd10-snomed-2027",
    )
    before = copy.deepcopy(registry.records)
    assert feed.handle(DEPRECATED) == "ignored"
    assert registry.records == before
    assert counted == ["ArtifactEventsApplied", "ArtifactEventsApplied", "ArtifactEventsIgnored"]


def test_deprecating_an_older_version_leaves_a_newer_one_alone(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    feed.handle(published(version=5, diff_hash="sha256:version-five"))
    assert feed.handle(DEPRECATED) == "ignored"
    assert registry.records[("acme", ARTIFACT)]["governance_status"] == "in_review"


def test_deprecating_an_unknown_artifact_is_counted(feed: RegistryFeed, counted: list[str]) -> None:
    assert feed.handle(DEPRECATED) == "unknown_artifact"
    assert counted == ["UnknownArtifactEvents"]


@pytest.mark.parametrize("tenant", ["globex", "nobody"])
def test_an_event_for_a_tenant_not_homed_here_is_refused_and_counted(
    feed: RegistryFeed, registry: MemoryRegistry, counted: list[str], tenant: str
) -> None:
    assert feed.handle(published(tenant=tenant)) == "wrong_region"
    assert feed.handle(deprecated(tenant=tenant)) == "wrong_region"
    assert registry.records == {}
    assert counted == ["ResidencyRefusals", "ResidencyRefusals"]


@pytest.mark.parametrize("version", ["2", "1.1", None])
def test_an_unknown_schema_version_is_refused_and_counted(
    feed: RegistryFeed, registry: MemoryRegistry, counted: list[str], version: str | None
) -> None:
    assert feed.handle(published(schema_version=version)) == "unsupported_schema"
    assert registry.records == {}
    assert counted == ["UnsupportedSchemaVersions"]


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "spreadsheet"},
        {"version": 0},
        {"artifact_id": "has#hash"},
        {"inputs": [{"id": "map-icd10-snomed", "relation": "derived_from"}]},
        {"inputs": [{"id": "a", "relation": "derived_from"}, {"id": "a", "relation": "calibrates"}]},
        {"governance_status": "published"},
    ],
)
def test_a_malformed_event_is_dropped_and_counted(
    feed: RegistryFeed, counted: list[str], change: dict[str, Any]
) -> None:
    assert feed.handle(published(**change)) == "invalid"
    assert counted == ["InvalidArtifactEvents"]


def test_an_unexpected_detail_type_is_invalid(feed: RegistryFeed, counted: list[str]) -> None:
    event = published()
    event["detail-type"] = "ArtifactRenamed"
    assert feed.handle(event) == "invalid"
    assert counted == ["InvalidArtifactEvents"]


def test_a_lost_race_is_decided_again(feed: RegistryFeed, registry: MemoryRegistry) -> None:
    feed.handle(PUBLISHED)
    registry.races = 2
    assert feed.handle(DEPRECATED) == "applied"
    assert registry.records[("acme", ARTIFACT)]["governance_status"] == "deprecated"


def test_an_artifact_that_keeps_changing_raises_so_the_event_comes_again(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    feed.handle(PUBLISHED)
    registry.races = 100
    with pytest.raises(ArtifactChanged):
        feed.handle(DEPRECATED)
