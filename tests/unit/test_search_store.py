"""Index versions in S3 (moto in process) and the copies a search container keeps: publication with
a compare-and-swap manifest, checksums, the old archives' deletion, cheap manifest checks, tenant
folders that cannot collide, and the indexer's drift check and incremental application."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gui_core.domain_events import ArtifactDeprecated, ArtifactPublished
from gui_core.objects import ObjectStore, Superseded
from gui_indexer.indexer import TenantIndexes, drift
from gui_search.engine import SearchIndex, SearchQuery, document_of
from gui_search.store import IndexCorrupt, IndexStore, LocalIndexes, tenant_slug
from local.apigw import sample_event

BUCKET = "ddgui-data-eu-west-1"


@pytest.fixture
def objects(monkeypatch: pytest.MonkeyPatch) -> Iterator[ObjectStore]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield ObjectStore(BUCKET, s3)


def _record(artifact_id: str, title: str, *, version: int = 1, kind: str = "mapping") -> dict[str, Any]:
    return {
        "id": artifact_id,
        "kind": kind,
        "title": title,
        "summary": f"{title}, for tests.",
        "version": version,
        "owner": "otto@acme",
        "tags": ["test"],
        "license_tag": "internal",
        "governance_status": "approved",
        "created_at": "2026-11-01T10:00:00.000+00:00",
        "updated_at": "2026-11-01T10:00:00.000+00:00",
    }


def _index(folder: Path, *records: dict[str, Any]) -> SearchIndex:
    index = SearchIndex.create(folder)
    index.upsert([document_of(r) for r in records])
    index.commit()
    return index


def _titles(index: SearchIndex, text: str) -> list[str]:
    return [hit.document["title"] for hit in index.search(SearchQuery(text=text)).hits]


def test_tenant_slugs_are_injective_and_stay_inside_their_prefix() -> None:
    tenants = ["acme", "..", ".", "a/b", "a%2Fb", "t-acme", "Acme"]
    slugs = [tenant_slug(t) for t in tenants]
    assert len(set(slugs)) == len(tenants)
    assert all("/" not in s and s not in {".", ".."} and s.startswith("t-") for s in slugs)


def test_publish_then_fetch_gives_the_same_index(objects: ObjectStore, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "built", _record("a", "Cholera mapping"), _record("b", "Lab units overlay"))
    first = store.publish("acme", tmp_path / "built", documents=2, previous=None)
    assert (first.version, first.documents, first.previous_archive) == (1, 2, None)
    assert first.checksum.startswith("sha256:")
    assert first.etag

    manifest = store.manifest("acme")
    assert manifest is not None
    assert manifest.version == 1
    assert manifest.archive == first.archive
    store.fetch(manifest, tmp_path / "fetched")
    assert _titles(SearchIndex.open(tmp_path / "fetched"), "cholera") == ["Cholera mapping"]


def test_the_manifest_switch_is_a_compare_and_swap(objects: ObjectStore, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "One"))
    first = store.publish("acme", tmp_path / "v", documents=1, previous=None)
    with pytest.raises(Superseded):  # a second first version
        store.publish("acme", tmp_path / "v", documents=1, previous=None)
    second = store.publish("acme", tmp_path / "v", documents=1, previous=first)
    with pytest.raises(Superseded):  # a writer that read version 1 after version 2 was published
        store.publish("acme", tmp_path / "v", documents=1, previous=first)
    manifest = store.manifest("acme")
    assert manifest is not None
    assert manifest.version == second.version == 2


def test_the_archive_two_versions_back_is_deleted(objects: ObjectStore, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "One"))
    one = store.publish("acme", tmp_path / "v", documents=1, previous=None)
    two = store.publish("acme", tmp_path / "v", documents=1, previous=one)
    three = store.publish("acme", tmp_path / "v", documents=1, previous=two)
    keys = {o.key for o in objects.list_keys("search/t-acme/versions/")}
    assert keys == {two.archive, three.archive}  # version 1 is a noncurrent version now
    assert three.previous_archive == two.archive


def test_a_corrupt_archive_is_refused(objects: ObjectStore, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "One"))
    manifest = store.publish("acme", tmp_path / "v", documents=1, previous=None)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("meta.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    objects.put_bytes(manifest.archive, buffer.getvalue())
    with pytest.raises(IndexCorrupt):
        store.fetch(manifest, tmp_path / "fetched")


def test_a_manifest_naming_another_tenant_is_never_served(objects: ObjectStore, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "Globex secret"))
    manifest = store.publish("globex", tmp_path / "v", documents=1, previous=None)
    body = json.dumps(manifest.document()).encode()  # globex's manifest copied under acme's prefix
    objects.put_bytes(store.manifest_key("acme"), body)
    with pytest.raises(IndexCorrupt):
        store.manifest("acme")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_container_fetches_once_and_checks_the_manifest_cheaply(
    objects: ObjectStore, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v1", _record("a", "Cholera mapping"))
    one = store.publish("acme", tmp_path / "v1", documents=1, previous=None)
    clock = _Clock()
    local = LocalIndexes(store, tmp_path / "cache", check_s=2.0, clock=clock)

    index, manifest = local.get("acme")
    assert index is not None
    assert manifest is not None
    assert manifest.version == 1
    for step in range(5):
        clock.now = 0.5 * step + 2.5  # past check_s: a conditional GET, 304, nothing fetched
        assert local.get("acme")[1] == manifest
    assert local.fetches == 1

    _index(tmp_path / "v2", _record("a", "Cholera mapping"), _record("b", "Typhoid mapping"))
    store.publish("acme", tmp_path / "v2", documents=2, previous=one)
    assert local.get("acme")[1] == manifest  # within check_s of the last check: the old version
    clock.now += 2.5
    index, manifest = local.get("acme")
    assert manifest is not None
    assert manifest.version == 2
    assert local.fetches == 2
    assert index is not None
    assert _titles(index, "typhoid") == ["Typhoid mapping"]
    assert not (tmp_path / "cache" / "t-acme" / "1").exists()  # the old version left /tmp


def test_a_tenant_without_an_index_has_none_and_tenants_stay_apart(
    objects: ObjectStore, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "Acme only"))
    store.publish("acme", tmp_path / "v", documents=1, previous=None)
    local = LocalIndexes(store, tmp_path / "cache", max_tenants=1)
    assert local.get("globex") == (None, None)
    index, _ = local.get("acme")
    assert index is not None
    assert _titles(index, "acme") == ["Acme only"]
    assert local.get("globex") == (None, None)  # evicts acme (max_tenants=1)
    assert not (tmp_path / "cache" / "t-acme").exists() or not any((tmp_path / "cache" / "t-acme").iterdir())


def _published(artifact_id: str, version: int, title: str) -> ArtifactPublished:
    detail = copy.deepcopy(sample_event("eventbridge_artifact_published")["detail"])
    detail.update(
        {"artifact_id": artifact_id, "version": version, "title": title, "inputs": [],
         "event_id": str(uuid.uuid4()), "diff_hash": f"sha256:{uuid.uuid4().hex}"}
    )  # fmt: skip
    return ArtifactPublished.model_validate(detail)


def _deprecated(artifact_id: str, version: int) -> ArtifactDeprecated:
    detail = copy.deepcopy(sample_event("eventbridge_artifact_deprecated")["detail"])
    detail.update({"artifact_id": artifact_id, "version": version, "event_id": str(uuid.uuid4())})
    return ArtifactDeprecated.model_validate(detail)


def test_the_indexer_applies_events_by_the_registry_rules(objects: ObjectStore, tmp_path: Path) -> None:
    store = IndexStore(objects)
    indexes = TenantIndexes(store, tmp_path / "work")
    first = indexes.apply("acme", [_published("m1", 2, "Cholera v2"), _published("m2", 1, "Typhoid")])
    assert (first.applied, first.version, first.documents) == (2, 1, 2)

    stale = indexes.apply("acme", [_published("m1", 1, "Cholera v1")])  # older than the indexed one
    assert stale.applied == 0
    assert stale.version is None
    assert stale.skipped["stale"] == 1

    newer = indexes.apply("acme", [_published("m1", 3, "Cholera v3"), _deprecated("m2", 1)])
    assert newer.applied == 2
    assert newer.version == 2

    manifest = store.manifest("acme")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    index = SearchIndex.open(tmp_path / "check")
    assert index.versions() == {"m1": 3, "m2": 1}
    m2 = index.get("m2")
    assert m2 is not None
    assert m2["governance_status"] == "deprecated"
    assert _titles(index, "title:cholera") == ["Cholera v3"]  # the sample's source_text names cholera too


def test_the_indexer_works_on_the_version_another_writer_published(
    objects: ObjectStore, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "a")
    rebuilder = TenantIndexes(store, tmp_path / "b")
    indexer.apply("acme", [_published("m1", 1, "Cholera")])
    # The scheduled rebuild publishes a version the indexer's working copy does not have.
    rebuilder.rebuild("acme", [_record("m1", "Cholera"), _record("r9", "Rebuilt record")])
    result = indexer.apply("acme", [_published("m3", 1, "Typhoid")])
    assert result.version == 3
    assert result.documents == 3
    manifest = store.manifest("acme")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    assert set(SearchIndex.open(tmp_path / "check").versions()) == {"m1", "r9", "m3"}


def test_drift_compares_counts_ids_and_versions() -> None:
    found = drift("acme", {"a": 1, "b": 2, "c": 1}, {"a": 1, "b": 1, "d": 4})
    assert (found.missing, found.extra, found.stale) == (("c",), ("d",), ("b",))
    assert found.drifted
    assert found.summary()["examples"] == ["b", "c", "d"]
    assert not drift("acme", {"a": 1}, {"a": 1}).drifted


class _StaleOnce(IndexStore):
    """Answers one read with the manifest as it was before: the read raced another writer."""

    def __init__(self, objects: ObjectStore, stale: Any) -> None:
        super().__init__(objects)
        self.stale = stale

    def manifest(self, tenant: str, *, if_none_match: str | None = None) -> Any:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return super().manifest(tenant, if_none_match=if_none_match)


def test_the_indexer_reapplies_its_batch_after_losing_the_switch(
    objects: ObjectStore, tmp_path: Path
) -> None:
    plain = IndexStore(objects)
    TenantIndexes(plain, tmp_path / "a").apply("acme", [_published("m1", 1, "Cholera")])
    before = plain.manifest("acme")
    TenantIndexes(plain, tmp_path / "b").rebuild("acme", [_record("m1", "Cholera"), _record("r9", "Rebuilt")])
    racing = TenantIndexes(_StaleOnce(objects, before), tmp_path / "c")
    result = racing.apply("acme", [_published("m3", 1, "Typhoid")])
    assert result.version == 3  # its first try (on version 1) lost the switch; the second won
    manifest = plain.manifest("acme")
    assert manifest is not None
    assert manifest.version == 3
    plain.fetch(manifest, tmp_path / "check")
    assert set(SearchIndex.open(tmp_path / "check").versions()) == {"m1", "r9", "m3"}
