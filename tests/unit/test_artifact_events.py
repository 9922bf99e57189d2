"""gui_artifact_events: ArtifactPublished/ArtifactDeprecated, from the sample EventBridge events, applied
to an in-memory registry behind the repository interface."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gui_artifacts.logic import Edge
from gui_artifacts.registry_feed import RegistryFeed
from gui_artifacts.repository import ArtifactChanged, ArtifactsRepository
from gui_core.registry_fingerprint import Fingerprint
from gui_core.tenancy import Tenant
from local.apigw import sample_event
from local.memory_table import MemoryTable

PUBLISHED = sample_event("eventbridge_artifact_published")
DEPRECATED = sample_event("eventbridge_artifact_deprecated")
ARTIFACT = PUBLISHED["detail"]["artifact_id"]


class MemoryRegistry(ArtifactsRepository):
    """The DynamoDB repository itself over an in-memory table: its transactions, conditions and
    counts; `races` refuses writes as if another event had won first."""

    def __init__(self) -> None:
        self.table = MemoryTable()
        super().__init__(self.table)  # type: ignore[arg-type]
        self.races = 0
        self.writes = 0
        self.largest = 0  # operations of the largest transaction written
        self.meanwhile: list[Callable[[], object]] = []  # each run once, before a write: a racing writer

    @property
    def records(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (pk, sk.removeprefix("ART#")): {k: v for k, v in item.items() if k not in {"pk", "sk", "type"}}
            for (pk, sk), item in self.table.items.items()
            if sk.startswith("ART#")
        }

    def out_degree(self, tenant: str, artifact_id: str) -> int:
        return self.out_degrees(tenant, [artifact_id])[artifact_id]

    def neighbours(self, tenant: str, artifact_id: str, side: str) -> list[Edge]:
        edges = [
            Edge(str(i["from"]), str(i["to"]), str(i["relation"]))
            for (pk, sk), i in self.table.items.items()
            if pk == tenant and sk.startswith("OUT#")
        ]
        found = [e for e in edges if (e.target if side == "upstream" else e.source) == artifact_id]
        return sorted(found, key=lambda e: e.neighbour(side))  # type: ignore[arg-type]

    def _write(self, operations: list[Any]) -> None:
        while self.meanwhile:
            self.meanwhile.pop(0)()
        if self.races:
            self.races -= 1
            raise ArtifactChanged("raced")
        super()._write(operations)
        self.writes += 1
        self.largest = max(self.largest, len(operations))

    def pairs_of_records(self, tenant: str) -> Fingerprint:
        """The fingerprint of the tenant's records, read whole."""
        return Fingerprint.of({i: int(r["version"]) for (t, i), r in self.records.items() if t == tenant})


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
    assert (record["in_degree"], registry.out_degree("acme", ARTIFACT)) == (2, 0)
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
    assert registry.out_degree("acme", "cov-icd10") == 1
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
    assert registry.out_degree("acme", "cov-icd10") == 0  # moved with the edge, in its transaction
    assert registry.out_degree("acme", "ovl-de") == 1  # an input never published is counted too


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
    assert registry.out_degree("acme", "cov-icd10") == 1


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


# -- the fingerprint of the tenant's (id, version) pairs ------------------------------------------------


def _inputs(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "relation": "derived_from"} for i in ids]


def test_every_write_moves_the_fingerprint_of_the_pairs_in_its_own_transaction(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    mark = registry.pairs("acme")
    assert (mark.fingerprint, mark.writes) == (None, 0)  # no full read has set it yet
    assert registry.set_pairs("acme", Fingerprint(), mark=mark, at="2026-12-07T00:00:00.000+00:00")
    writes = registry.writes
    steps = [
        published(),  # a first publication
        published(event_id="cov", artifact_id="cov-icd10", kind="coverage", version=1, inputs=[]),
        published(event_id="v4", version=4, diff_hash="sha256:v4", previous_diff_hash=None),  # a new version
        published(event_id="old", version=2, diff_hash="sha256:older"),  # stale: nothing written
        published(event_id="v4-again", version=4, diff_hash="sha256:v4"),  # a redelivery
        deprecated(version=4),  # the same version, deprecated
    ]
    for event in steps:
        feed.handle(event)
        assert registry.pairs("acme").fingerprint == registry.pairs_of_records("acme"), event["id"]
    assert registry.writes - writes == 4
    assert registry.pairs("acme").writes == 3  # the writes that moved a pair


def test_a_record_written_before_the_order_items_is_listed_and_moves_the_fingerprint_once(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    feed.handle(published())
    registry.set_pairs("acme", registry.pairs_of_records("acme"), mark=registry.pairs("acme"), at="now")
    key = ("acme", f"ART#{ARTIFACT}")
    registry.table.items[key] = {k: v for k, v in registry.table.items[key].items() if k != "listed"}
    assert feed.handle(published(event_id="v4", version=4, diff_hash="sha256:v4")) == "applied"
    assert registry.records[("acme", ARTIFACT)]["listed"] == 1
    assert registry.pairs("acme").fingerprint == registry.pairs_of_records("acme")


def test_racing_writers_add_to_the_sums_and_the_loser_moves_them_from_what_the_winner_wrote(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    registry.set_pairs("acme", Fingerprint(), mark=registry.pairs("acme"), at="now")
    feed.handle(published())
    other = RegistryFeed(region="eu-west-1", tenants=Tenants(), registry=registry)
    # Between this writer's read and its write, another publishes a new artifact (the count item's
    # ADD: no read of the sums) and a newer version of the same one (the record's condition fails).
    registry.meanwhile.append(
        lambda: other.handle(published(event_id="n", artifact_id="new-one", version=1, inputs=[]))
    )
    registry.meanwhile.append(
        lambda: other.handle(published(event_id="v5", version=5, diff_hash="sha256:v5"))
    )
    assert feed.handle(published(event_id="v6", version=6, diff_hash="sha256:v6")) == "applied"
    assert {i: r["version"] for (_, i), r in registry.records.items()} == {ARTIFACT: 6, "new-one": 1}
    assert registry.pairs("acme").fingerprint == registry.pairs_of_records("acme")


def test_a_full_read_sets_the_fingerprint_only_if_no_write_moved_it_meanwhile(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    feed.handle(published())  # before any full read: the sums are partial
    mark = registry.pairs("acme")
    assert mark.fingerprint is None
    read = registry.pairs_of_records("acme")
    feed.handle(published(event_id="n", artifact_id="new-one", version=1, inputs=[]))  # meanwhile
    assert not registry.set_pairs("acme", read, mark=mark, at="now")  # the read may have missed it
    assert registry.pairs("acme").fingerprint is None
    mark = registry.pairs("acme")
    assert registry.set_pairs("acme", registry.pairs_of_records("acme"), mark=mark, at="now")
    assert registry.pairs("acme").fingerprint == registry.pairs_of_records("acme")
    assert registry.artifact_count("acme") == 2  # the search's count is another attribute


def test_a_version_that_replaces_all_its_inputs_fits_two_transactions_and_keeps_the_counts(
    feed: RegistryFeed, registry: MemoryRegistry
) -> None:
    registry.set_pairs("acme", Fingerprint(), mark=registry.pairs("acme"), at="now")
    old = [f"old-{n:02d}" for n in range(24)]
    new = [f"new-{n:02d}" for n in range(24)]
    feed.handle(published(inputs=_inputs(*old)))
    assert feed.handle(published(event_id="v4", version=4, diff_hash="sha256:v4", inputs=_inputs(*new))) == (
        "applied"
    )
    assert registry.largest <= 100  # DynamoDB's limit of one transaction
    record = registry.records[("acme", ARTIFACT)]
    assert (record["version"], record["in_degree"]) == (4, 24)
    assert [e.source for e in registry.neighbours("acme", ARTIFACT, "upstream")] == new
    assert registry.out_degrees("acme", old + new) == {**dict.fromkeys(old, 0), **dict.fromkeys(new, 1)}
    assert registry.pairs("acme").fingerprint == registry.pairs_of_records("acme")
