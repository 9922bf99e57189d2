"""Index versions in S3 (moto in process) and the copies a search container keeps: publication of
the files a version adds with a compare-and-swap manifest (racing publishers too), checksums,
retired files deleted two versions on and unnamed ones swept, containers and indexers fetching only
the files they lack, the archive layout still read, cheap manifest checks, tenant folders that
cannot collide, and the indexer's drift check and incremental application."""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gui_core.domain_events import ArtifactDeprecated, ArtifactPublished
from gui_core.objects import ObjectStore, Superseded
from gui_core.registry_fingerprint import Fingerprint
from gui_indexer.indexer import TenantIndexes, drift
from gui_search import store as index_store
from gui_search.documents import document_of
from gui_search.index import SCHEMA_FILE, SearchIndex, index_files
from gui_search.query import SearchQuery
from gui_search.store import IndexCorrupt, IndexStore, LocalIndexes, archive, tenant_slug
from local.apigw import sample_event
from tests.fakes import ManualClock

BUCKET = "ddgui-data-eu-west-1"


class RecordingObjects(ObjectStore):
    """moto's S3 with the bytes each key was written and read with, and S3's atomic conditional
    write: moto checks an If-Match and then writes, so two threads could both pass its check."""

    def __init__(self, bucket: str, client: Any) -> None:
        super().__init__(bucket, client)
        self.written: dict[str, int] = {}
        self.read: dict[str, int] = {}
        self._lock = threading.Lock()
        self._switch = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.written.clear()
            self.read.clear()

    def _note(self, into: dict[str, int], key: str, size: int) -> None:
        with self._lock:
            into[key] = into.get(key, 0) + size

    def put_bytes(self, key: str, body: bytes, **kwargs: Any) -> str:
        if kwargs.get("if_match") is None and kwargs.get("if_none_match") is None:
            etag = super().put_bytes(key, body, **kwargs)
        else:
            with self._switch:
                etag = super().put_bytes(key, body, **kwargs)
        self._note(self.written, key, len(body))
        return etag

    def upload(self, key: str, path: str, **kwargs: Any) -> None:
        super().upload(key, path, **kwargs)
        self._note(self.written, key, Path(path).stat().st_size)

    def download(self, key: str, path: str) -> None:
        super().download(key, path)
        self._note(self.read, key, Path(path).stat().st_size)

    def download_hashed(self, key: str, path: str) -> tuple[int, str] | None:
        got = super().download_hashed(key, path)
        if got is not None:
            self._note(self.read, key, got[0])
        return got

    def index_keys(self, tenant: str = "acme") -> set[str]:
        """The tenant's objects but its manifest: files and archives."""
        return {
            o.key
            for o in self.list_keys(f"search/{tenant_slug(tenant)}/")
            if not o.key.endswith("/manifest.json")
        }


@pytest.fixture
def objects(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingObjects]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield RecordingObjects(BUCKET, s3)


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


def test_publish_then_fetch_gives_the_same_index(objects: RecordingObjects, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "built", _record("a", "Cholera mapping"), _record("b", "Lab units overlay"))
    first = store.publish("acme", tmp_path / "built", documents=2, previous=None)
    assert (first.version, first.documents, first.layout, first.retired) == (1, 2, 2, ())
    assert first.etag
    names = [f.name for f in first.files]
    assert names == index_files(tmp_path / "built")
    assert {"meta.json", "dd_search_schema.json"} <= set(names)
    for file in first.files:  # each under its content's SHA-256
        body = (tmp_path / "built" / file.name).read_bytes()
        assert (file.sha256, file.size) == (hashlib.sha256(body).hexdigest(), len(body))
    assert objects.index_keys() == {f"search/t-acme/files/{f.sha256}" for f in first.files}

    manifest = store.manifest("acme")
    assert manifest is not None
    assert (manifest.version, manifest.files) == (1, first.files)
    fetched = store.fetch(manifest, tmp_path / "fetched")
    assert (fetched.downloaded, fetched.linked) == (len(first.files), 0)
    assert sorted(p.name for p in (tmp_path / "fetched").iterdir()) == names
    assert _titles(SearchIndex.open(tmp_path / "fetched"), "cholera") == ["Cholera mapping"]


def test_the_manifest_switch_is_a_compare_and_swap(objects: RecordingObjects, tmp_path: Path) -> None:
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


def test_a_corrupt_file_is_refused(objects: RecordingObjects, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "One"))
    manifest = store.publish("acme", tmp_path / "v", documents=1, previous=None)
    (meta,) = [f for f in manifest.files if f.name == "meta.json"]
    objects.put_bytes(store.file_key("acme", meta.sha256), b"{}")
    with pytest.raises(IndexCorrupt):
        store.fetch(manifest, tmp_path / "fetched")


@pytest.mark.parametrize("name", ["../meta.json", "a/b", "..", ".managed.json", ""])
def test_a_manifest_naming_a_file_outside_the_folder_is_refused(
    objects: RecordingObjects, tmp_path: Path, name: str
) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "One"))
    manifest = store.publish("acme", tmp_path / "v", documents=1, previous=None)
    document = manifest.document()
    document["files"][0]["name"] = name
    objects.put_bytes(store.manifest_key("acme"), json.dumps(document).encode())
    with pytest.raises(IndexCorrupt):
        store.manifest("acme")


def test_a_manifest_naming_another_tenant_is_never_served(objects: RecordingObjects, tmp_path: Path) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "Globex secret"))
    manifest = store.publish("globex", tmp_path / "v", documents=1, previous=None)
    body = json.dumps(manifest.document()).encode()  # globex's manifest copied under acme's prefix
    objects.put_bytes(store.manifest_key("acme"), body)
    with pytest.raises(IndexCorrupt):
        store.manifest("acme")


def test_a_container_fetches_once_and_checks_the_manifest_cheaply(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v1", _record("a", "Cholera mapping"))
    one = store.publish("acme", tmp_path / "v1", documents=1, previous=None)
    clock = ManualClock()
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
    assert len(list((tmp_path / "cache" / "t-acme").iterdir())) == 1  # the old version left /tmp


def test_a_tenant_without_an_index_has_none_and_tenants_stay_apart(
    objects: RecordingObjects, tmp_path: Path
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


def test_the_indexer_applies_events_by_the_registry_rules(objects: RecordingObjects, tmp_path: Path) -> None:
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
    assert manifest.fingerprint == Fingerprint.of(index.versions())  # kept by each batch's changes


def test_the_indexer_works_on_the_version_another_writer_published(
    objects: RecordingObjects, tmp_path: Path
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
    assert manifest.fingerprint == Fingerprint.of({"m1": 1, "r9": 1, "m3": 1})  # the rebuild's, moved


def test_a_batch_moves_the_fingerprint_by_what_its_documents_were_and_are(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexes = TenantIndexes(store, tmp_path / "work")
    indexes.apply("acme", [*_corpus(5), _published("c2", 2, "Mapping two v2")])
    # One artifact twice in a batch, a conflict, a stale version and a deprecation together.
    batch: list[ArtifactPublished | ArtifactDeprecated] = [
        _published("c1", 2, "Mapping one v2"),
        _published("c1", 3, "Mapping one v3"),
        _published("c0", 1, "Other content"),
        _published("c2", 1, "Old"),
        _deprecated("c3", 1),
        _published("n1", 4, "New one"),
    ]
    indexes.apply("acme", batch)
    manifest = store.manifest("acme")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    versions = SearchIndex.open(tmp_path / "check").versions()
    assert versions == {"c0": 1, "c1": 3, "c2": 2, "c3": 1, "c4": 1, "n1": 4}
    assert manifest.fingerprint == Fingerprint.of(versions)


def test_an_event_is_decided_on_what_its_batch_wrote_before_it(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    # The index shows a batch's writes once committed: a redelivered older version after a newer one
    # in the same batch was decided on the committed document, and won.
    store = IndexStore(objects)
    indexes = TenantIndexes(store, tmp_path / "work")
    indexes.apply("acme", [_published("m1", 1, "Cholera v1")])
    again = _published("m1", 2, "Cholera v2")
    result = indexes.apply("acme", [again, _published("m1", 3, "Cholera v3"), again, _deprecated("m1", 2)])
    assert (result.applied, dict(result.skipped)) == (2, {"stale": 2})
    manifest = store.manifest("acme")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    index = SearchIndex.open(tmp_path / "check")
    assert index.versions() == {"m1": 3}
    assert manifest.fingerprint == Fingerprint.of({"m1": 3})


def test_the_drift_check_compares_fingerprints_without_the_index_and_gives_an_old_manifest_one(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    # A version published before fingerprints: its manifest has none, nor do the batches after it.
    index = _index(tmp_path / "old", _record("a", "Cholera mapping"), _record("b", "Lab overlay"))
    index.close()
    store.publish("acme", tmp_path / "old", documents=2, previous=None)
    indexes = TenantIndexes(store, tmp_path / "work")
    indexes.apply("acme", [_published("c", 2, "Typhoid mapping")])
    old = store.manifest("acme")
    assert old is not None
    assert (old.version, old.fingerprint) == (2, None)
    pairs = {"a": 1, "b": 1, "c": 2}
    assert indexes.unchanged("acme", Fingerprint.of(pairs)) is None  # none to compare: check reads all

    assert indexes.check("acme", {**pairs, "d": 1}).drifted  # a drifted index gets none: it is rebuilt
    assert store.manifest("acme") == old
    assert not indexes.check("acme", pairs).drifted
    stamped = store.manifest("acme")
    assert stamped is not None
    assert (stamped.version, stamped.files) == (old.version, old.files)  # no new version, no upload
    assert stamped.fingerprint == Fingerprint.of(pairs)

    objects.reset()
    same = indexes.unchanged("acme", Fingerprint.of(pairs))
    assert same is not None
    assert not same.drifted
    assert (same.source_count, same.index_count) == (3, 3)
    assert objects.read == {}  # the manifest alone: no file of the index
    for other in ({"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 1}, {**pairs, "d": 1}):
        assert indexes.unchanged("acme", Fingerprint.of(other)) is None  # missing, stale, extra
    assert indexes.unchanged("globex", Fingerprint()) is not None  # no index and no artifacts
    assert indexes.unchanged("globex", Fingerprint.of({"a": 1})) is None


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
    objects: RecordingObjects, tmp_path: Path
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


# -- publishing and fetching in proportion to the change -----------------------------------------

CORPUS_SIZE = 2_000


def _corpus(count: int = CORPUS_SIZE) -> list[ArtifactPublished]:
    return [_published(f"c{i}", 1, f"Mapping {i} of the corpus") for i in range(count)]


def _keys(store: IndexStore, manifest: Any) -> set[str]:
    return {store.file_key(manifest.tenant, f.sha256) for f in manifest.files}


def _file_bytes(counts: dict[str, int]) -> int:
    """Bytes moved for index files and archives (manifests left out)."""
    return sum(size for key, size in counts.items() if not key.endswith("/manifest.json"))


def test_a_publication_uploads_only_the_files_the_version_adds(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "work")
    indexer.apply("acme", _corpus())
    whole = _file_bytes(objects.written)
    first = store.manifest("acme")
    objects.reset()

    result = indexer.apply("acme", [_published("c7", 2, "Mapping 7 revised")])
    assert result.version == 2
    uploaded = _file_bytes(objects.written)
    assert uploaded < whole / 20, f"one change uploaded {uploaded:,} bytes of a {whole:,}-byte index"
    second = store.manifest("acme")
    assert second is not None
    added = _keys(store, second) - _keys(store, first)
    assert {k for k in objects.written if not k.endswith("/manifest.json")} == added
    assert second.retired == tuple(sorted(_keys(store, first) - _keys(store, second)))
    assert objects.index_keys() >= _keys(store, second)


def test_a_container_downloads_only_the_files_a_new_version_adds(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "work")
    indexer.apply("acme", _corpus())
    clock = ManualClock()
    local = LocalIndexes(store, tmp_path / "cache", check_s=2.0, clock=clock)
    objects.reset()
    index, _ = local.get("acme")
    assert index is not None
    whole = _file_bytes(objects.read)

    indexer.apply("acme", [_published("c7", 2, "Mapping seven revised"), _published("n1", 1, "Typhoid map")])
    objects.reset()
    clock.now += 2.5
    index, manifest = local.get("acme")
    downloaded = _file_bytes(objects.read)
    assert downloaded < whole / 20, f"a change of 2 downloaded {downloaded:,} bytes of a {whole:,}-byte index"
    assert index is not None
    assert manifest is not None
    assert manifest.version == 2
    assert _titles(index, "title:typhoid") == ["Typhoid map"]
    assert _titles(index, "title:seven") == ["Mapping seven revised"]
    assert index.count() == CORPUS_SIZE + 1
    fetched = local.fetched.by_tenant["acme"]
    assert fetched.linked > 0
    assert fetched.downloaded_bytes == downloaded


def test_an_indexer_behind_another_writer_downloads_only_the_files_it_lacks(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    first = TenantIndexes(store, tmp_path / "a")
    first.apply("acme", _corpus())
    whole = _file_bytes(objects.written)
    TenantIndexes(store, tmp_path / "b").apply("acme", [_published("c3", 2, "Mapping three revised")])
    objects.reset()
    result = first.apply("acme", [_published("n1", 1, "Typhoid map")])  # its copy is one version behind
    assert result.version == 3
    downloaded = _file_bytes(objects.read)
    assert downloaded < whole / 20, f"{downloaded:,} bytes downloaded of a {whole:,}-byte index"
    manifest = store.manifest("acme")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    check = SearchIndex.open(tmp_path / "check")
    assert check.count() == CORPUS_SIZE + 1
    assert check.versions()["c3"] == 2


class _Published(IndexStore):
    """Keeps every manifest it published."""

    def __init__(self, objects: ObjectStore) -> None:
        super().__init__(objects)
        self.published: list[Any] = []
        self._lock = threading.Lock()

    def publish(self, tenant: str, folder: Path, *, documents: int, previous: Any, **options: Any) -> Any:
        manifest = super().publish(tenant, folder, documents=documents, previous=previous, **options)
        with self._lock:
            self.published.append(manifest)
        return manifest


def test_racing_publishers_switch_the_manifest_one_at_a_time_and_lose_nothing(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = _Published(objects)
    TenantIndexes(store, tmp_path / "seed").apply("acme", _corpus(200))
    writers = [TenantIndexes(store, tmp_path / f"w{n}") for n in range(3)]
    for writer in writers:  # each holds version 1, as indexers and the rebuild would
        writer.apply("acme", [_published("c1", 1, "Mapping 1 of the corpus")])
    barrier = threading.Barrier(len(writers))
    results: dict[int, Any] = {}

    def write(number: int) -> None:
        barrier.wait()
        results[number] = writers[number].apply("acme", [_published(f"race{number}", 1, f"Race {number}")])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.version for r in results.values()) == [2, 3, 4]  # each won one switch
    assert [m.version for m in store.published] == [1, 2, 3, 4]
    current = store.manifest("acme")
    assert current is not None
    assert current.version == 4
    present = objects.index_keys()
    assert _keys(store, current) | _keys(store, store.published[-2]) <= present  # readers of both
    store.fetch(current, tmp_path / "check")
    check = SearchIndex.open(tmp_path / "check")
    assert {f"race{n}" for n in range(3)} <= set(check.versions())
    assert check.count() == 203
    assert current.fingerprint == Fingerprint.of(check.versions())  # each loser applied its batch again
    # What the losers uploaded for their lost switches is named by no version: the sweep takes it.
    named = set().union(*(_keys(store, m) for m in store.published))
    assert store.sweep("acme", current, now=datetime.now(UTC) + timedelta(hours=2)) == len(present - named)
    assert objects.index_keys() == _keys(store, current) | set(current.retired)


def test_retired_files_go_two_versions_on_and_a_reader_a_version_behind_still_fetches(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "work")
    indexer.apply("acme", _corpus(300))
    clock = ManualClock()
    open_reader = LocalIndexes(store, tmp_path / "open", clock=clock)
    index, one = open_reader.get("acme")
    assert index is not None
    assert one is not None
    indexer.apply("acme", [_published("c1", 2, "Mapping one revised")])
    two = store.manifest("acme")  # a reader reads version 2 ...
    assert two is not None
    assert two.retired  # version 1's meta.json at least
    indexer.apply("acme", [_published("c2", 2, "Mapping two revised")])  # ... version 3 is published
    three = store.manifest("acme")
    assert three is not None
    assert objects.index_keys() == _keys(store, two) | _keys(store, three)  # version 1's own files went
    store.fetch(two, tmp_path / "two")  # the reader one version behind fetches all of its files
    assert SearchIndex.open(tmp_path / "two").versions()["c1"] == 2
    assert _titles(index, "title:one") == []  # an open copy of version 1 still answers
    assert index.count() == 300

    indexer.apply("acme", [_published("c3", 2, "Mapping three revised")])  # version 4
    with pytest.raises(index_store.IndexGone):  # two versions behind: a file of version 2 is gone
        store.fetch(two, tmp_path / "two-again")
    late = LocalIndexes(_StaleOnce(objects, two), tmp_path / "late")
    index, manifest = late.get("acme")  # read version 2, found a file gone, read the manifest again
    assert manifest is not None
    assert manifest.version == 4
    assert index is not None
    assert index.versions()["c3"] == 2


def test_the_drift_check_sweeps_files_no_version_names_once_they_are_old(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "work")
    indexer.apply("acme", _corpus(100))
    indexer.apply("acme", [_published("c1", 2, "Mapping one revised")])
    stray = store.file_key("acme", hashlib.sha256(b"a loser's upload").hexdigest())
    objects.put_bytes(stray, b"a loser's upload")
    source = {f"c{i}": 1 for i in range(100)} | {"c1": 2}
    checked = TenantIndexes(store, tmp_path / "check").check("acme", source)
    assert not checked.drifted
    assert checked.swept == 0  # younger than an hour: perhaps a publication about to switch
    assert stray in objects.index_keys()

    current = store.manifest("acme")
    assert current is not None
    keep = _keys(store, current) | set(current.retired)
    assert store.sweep("acme", current, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert objects.index_keys() == keep


def _legacy_version(objects: ObjectStore, tmp_path: Path, *records: dict[str, Any]) -> str:
    """Version 1 of acme's index in the layout before files: an archive and a manifest naming it,
    written as that code wrote them. Its archive's key."""
    index = _index(tmp_path / "legacy", *records)
    index.close()
    body = archive(tmp_path / "legacy")
    checksum = "sha256:" + hashlib.sha256(body).hexdigest()
    key = f"search/t-acme/versions/{1:010d}-{checksum[7:19]}.tar.gz"
    objects.put_bytes(key, body, content_type="application/gzip")
    manifest = {"tenant": "acme", "version": 1, "documents": len(records), "checksum": checksum,
                "archive": key, "built_at": "2026-11-28T00:00:00.000+00:00", "schema": 1,
                "previous_archive": None}  # fmt: skip
    objects.put_bytes("search/t-acme/manifest.json", json.dumps(manifest).encode(), if_none_match="*")
    return key


def test_a_version_in_the_archive_layout_is_read_until_the_next_publication_replaces_it(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    legacy = _legacy_version(objects, tmp_path, _record("a", "Cholera mapping"), _record("b", "Lab overlay"))
    store = IndexStore(objects)
    clock = ManualClock()
    local = LocalIndexes(store, tmp_path / "cache", clock=clock)
    index, manifest = local.get("acme")
    assert index is not None
    assert manifest is not None
    assert (manifest.version, manifest.archive) == (1, legacy)
    assert _titles(index, "cholera") == ["Cholera mapping"]
    indexer = TenantIndexes(store, tmp_path / "work")
    assert not indexer.check("acme", {"a": 1, "b": 1}).drifted  # the drift check reads it too

    assert indexer.apply("acme", [_published("c", 1, "Typhoid mapping")]).version == 2
    stored = objects.get_bytes("search/t-acme/manifest.json")
    assert stored is not None
    document = json.loads(stored.body)
    assert document["layout"] == 2, f"version 2 was published as {sorted(document)}"
    assert "archive" not in document
    assert document["retired"] == [legacy]
    clock.now += 2.5
    index, manifest = local.get("acme")
    assert index is not None
    assert manifest is not None
    assert manifest.version == 2
    assert sorted(index.versions()) == ["a", "b", "c"]
    assert legacy in objects.index_keys()  # a reader of version 1 may still be fetching it
    indexer.apply("acme", [_published("d", 1, "Plague mapping")])
    assert legacy not in objects.index_keys()  # version 3 deleted what version 2 retired


def test_an_indexer_that_lost_the_switch_downloads_only_the_files_it_lacks(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    TenantIndexes(store, tmp_path / "seed").apply("acme", _corpus())
    whole = _file_bytes(objects.written)
    racing_store = _StaleOnce(objects, None)
    racing = TenantIndexes(racing_store, tmp_path / "racing")
    racing.apply("acme", [_published("c1", 2, "Mapping one revised")])  # its copy: version 2
    two = store.manifest("acme")
    TenantIndexes(store, tmp_path / "other").apply("acme", [_published("c2", 2, "Mapping two revised")])
    racing_store.stale = two  # it reads version 2 (its own), applies, and loses the switch to 3
    objects.reset()
    result = racing.apply("acme", [_published("n1", 1, "Typhoid map")])
    assert result.version == 4
    downloaded = _file_bytes(objects.read)
    assert downloaded < whole / 20, f"{downloaded:,} bytes downloaded after a lost switch, index {whole:,}"
    manifest = store.manifest("acme")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    versions = SearchIndex.open(tmp_path / "check").versions()
    assert (versions["c1"], versions["c2"], versions["n1"]) == (2, 2, 1)


# -- what a container keeps in /tmp -----------------------------------------------------------------


def _tenants(store: IndexStore, tmp_path: Path, count: int) -> dict[str, Any]:
    """`count` tenants of 30 artifacts each, published: their manifests by tenant."""
    manifests = {}
    for number in range(count):
        tenant = f"tenant-{number:02d}"
        folder = tmp_path / "built" / tenant
        index = _index(folder, *(_record(f"{tenant}-{i}", f"{tenant} mapping {i}") for i in range(30)))
        index.close()
        manifests[tenant] = store.publish(tenant, folder, documents=30, previous=None)
    return manifests


def _bytes_on_disk(root: Path) -> int:
    """Bytes under `root`, a file linked twice counted once (as the filesystem holds it)."""
    seen: dict[int, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            seen[stat.st_ino] = stat.st_size
    return sum(seen.values())


def test_a_container_keeps_as_many_tenants_as_its_tmp_budget_holds(
    objects: RecordingObjects, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = IndexStore(objects)
    manifests = _tenants(store, tmp_path, 12)
    size = max(m.total_bytes for m in manifests.values())
    # A budget for all twelve: none leaves (the fixed count of 8 before let four go).
    roomy = LocalIndexes(store, tmp_path / "roomy", max_bytes=12 * size + 1)
    for tenant in manifests:
        assert roomy.get(tenant)[0] is not None
    assert (roomy.tenants(), roomy.evicted, roomy.fetches) == (list(manifests), 0, 12)

    # A budget for three and a half: the least recently used leave before each fetch.
    budget = int(3.5 * size)
    tight = LocalIndexes(store, tmp_path / "tight", max_bytes=budget)
    order = list(manifests)
    for tenant in order[:3]:
        tight.get(tenant)
    assert tight.get(order[0])[0] is not None  # used again: now the most recently used
    tight.get(order[3])  # order[1] is the least recently used: it leaves
    assert tight.tenants() == [order[2], order[0], order[3]]
    for tenant in order[4:]:
        index, _ = tight.get(tenant)
        assert index is not None
        assert _titles(index, f'"{tenant} mapping 7"') == [f"{tenant} mapping 7"]
        assert tight.held_bytes <= budget
        assert _bytes_on_disk(tmp_path / "tight") <= budget
    assert len(tight.tenants()) == 3
    assert tight.evicted == 12 - 3
    caplog.set_level(logging.INFO, logger="gui_search.store")
    caplog.clear()  # the fetches above, if another suite's Logger set the level already
    tight.get(order[0])  # let go long ago: fetched again, the least recently used leaving for it
    (line,) = [r for r in caplog.records if r.getMessage() == "search index fetched"]
    assert (line.tenant, line.version, line.evicted, line.open_tenants) == (order[0], 1, 1, 3)  # type: ignore[attr-defined]
    assert line.bytes == manifests[order[0]].total_bytes  # type: ignore[attr-defined]
    assert line.held_bytes <= budget  # type: ignore[attr-defined]


def test_a_new_version_counts_only_the_files_it_adds_against_the_budget(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "work")
    indexer.apply("acme", _corpus(300))
    manifests = _tenants(store, tmp_path, 1)
    acme = store.manifest("acme")
    assert acme is not None
    clock = ManualClock()
    # Room for acme, the small tenant and a little more, but not for acme twice.
    budget = acme.total_bytes + manifests["tenant-00"].total_bytes + acme.total_bytes // 4
    local = LocalIndexes(store, tmp_path / "cache", max_bytes=budget, clock=clock)
    local.get("tenant-00")
    local.get("acme")
    indexer.apply("acme", [_published("c5", 2, "Mapping five revised")])
    clock.now += 2.5
    index, manifest = local.get("acme")  # a few new files: the small tenant stays
    assert manifest is not None
    assert manifest.version == 2
    assert index is not None
    assert index.versions()["c5"] == 2
    assert local.tenants() == ["tenant-00", "acme"]
    assert local.evicted == 0
    assert _bytes_on_disk(tmp_path / "cache") <= budget


def test_containers_fetching_many_tenants_at_once_stay_within_their_budget(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    manifests = _tenants(store, tmp_path, 10)
    size = max(m.total_bytes for m in manifests.values())
    budget = 4 * size
    local = LocalIndexes(store, tmp_path / "cache", max_bytes=budget, check_s=0.0)
    barrier = threading.Barrier(5)
    failures: list[BaseException] = []
    peaks: list[int] = []

    def reader(number: int) -> None:
        try:
            barrier.wait()
            for step in range(20):
                tenant = f"tenant-{(number * 3 + step) % 10:02d}"
                index, manifest = local.get(tenant)
                assert index is not None
                assert manifest is not None
                assert manifest.tenant == tenant
                peaks.append(local.held_bytes)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert max(peaks) <= budget
    assert _bytes_on_disk(tmp_path / "cache") <= budget
    assert len(local.tenants()) <= 4


def test_the_functions_that_read_or_write_indexes_open_them_on_the_shared_file_system() -> None:
    """In the stacks, every function that opens a tenant's index mounts the region's search file
    system and its settings point its indexes there (so none copies an index into /tmp); the others
    are told of no such folder."""
    from gui_indexer.settings import IndexerSettings
    from gui_search.settings import SearchSettings
    from stacks.manifest import MANIFEST

    mounting = {fn.name for fn in MANIFEST.mounting("search")}
    assert mounting == {"gui_search", "gui_graphql", "gui_indexer", "gui_index_rebuild"}
    file_system = MANIFEST.file_system("search")
    common = {"GUI_REGION": "eu-west-1", "DATA_BUCKET": "b", "TENANTS_TABLE": "t", "AUDIT_TABLE": "a",
              "LIMITS_TABLE": "l", "ARTIFACTS_TABLE": "r", "INDEX_REBUILD_WORK_QUEUE_URL": "q"}  # fmt: skip
    for name, settings_type in (("gui_search", SearchSettings), ("gui_indexer", IndexerSettings)):
        function = MANIFEST.function(name)
        environment = {**common, "POWERTOOLS_SERVICE_NAME": name, **function.environment,
                       **MANIFEST._mount(function, {})}  # fmt: skip
        settings = settings_type.model_validate(environment)
        assert settings.shared_dir == Path(file_system.mount_path) == Path("/mnt/search")
        assert not {"SEARCH_CACHE_MB", "INDEX_WORK_MB"} & set(function.environment)
    assert MANIFEST._mount(MANIFEST.function("gui_jobs"), {}) == {}


def test_a_schema_file_of_the_same_size_but_another_content_is_published_as_it_is(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    """A rebuild in a fresh folder names its files anew but for `meta.json` and the schema file; a
    schema version of as many digits as the one before gives a schema file of the same size."""
    store = IndexStore(objects)
    _index(tmp_path / "one", _record("a", "One")).close()
    one = store.publish("acme", tmp_path / "one", documents=1, previous=None)
    _index(tmp_path / "two", _record("a", "One")).close()
    schema = tmp_path / "two" / SCHEMA_FILE
    before = schema.read_bytes()
    digit = before[-2:-1]  # {"schema_version": N}: another version of as many digits
    changed = before[:-2] + (b"8" if digit != b"8" else b"7") + before[-1:]
    assert len(changed) == len(before)
    assert changed != before
    schema.write_bytes(changed)
    two = store.publish("acme", tmp_path / "two", documents=1, previous=one)
    (entry,) = [f for f in two.files if f.name == SCHEMA_FILE]
    assert entry.sha256 == hashlib.sha256(changed).hexdigest()
    fetched = tmp_path / "fetched"
    store.fetch(two, fetched)
    assert (fetched / SCHEMA_FILE).read_bytes() == changed


def test_the_sweep_keeps_a_key_a_version_published_meanwhile_names(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    indexer = TenantIndexes(store, tmp_path / "work")
    indexer.apply("acme", _corpus(50))
    read = store.manifest("acme")  # what the drift check read
    assert read is not None
    body = b"the same content, uploaded again by the next publication"
    stray = store.file_key("acme", hashlib.sha256(body).hexdigest())
    objects.put_bytes(stray, body)  # a loser's upload, an hour old by the sweep's clock
    extra = index_store.IndexFile(name="extra.bin", sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    newer = index_store.IndexManifest(
        tenant="acme", version=read.version + 1, documents=read.documents, built_at="2026-12-07T00:00:00Z",
        files=(*read.files, extra),
    )  # fmt: skip
    store._switch("acme", newer, read)  # published while the sweep lists
    later = datetime.now(UTC) + timedelta(hours=2)
    assert store.sweep("acme", read, now=later) == 0
    assert stray in objects.index_keys()
    current = store.manifest("acme")
    assert current is not None
    assert store.sweep("acme", current, now=later) == 0  # named by the current version


def test_the_roots_an_owner_gone_left_in_tmp_are_removed_and_no_other_folder(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    _index(tmp_path / "v", _record("a", "Acme only")).close()
    store.publish("acme", tmp_path / "v", documents=1, previous=None)
    cache = tmp_path / "gui-search"
    # A process before this one: its root and an index in it, its lock released by its end.
    script = (
        "import sys; from pathlib import Path; from gui_search.store import LocalIndexes; "
        "root = Path(sys.argv[1]); LocalIndexes(None, root); "
        "(root / 't-acme' / '1-0a1b2c3d').mkdir(parents=True); "
        "(root / 't-acme' / '1-0a1b2c3d' / 'x.store').write_bytes(bytes(1000))"
    )
    repository = Path(__file__).resolve().parents[2]
    paths = [repository / "layers" / "core" / "python", repository / "functions", repository]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in paths)}
    subprocess.run([sys.executable, "-c", script, str(cache / "7-deadbeef")], check=True, env=environment)
    assert (cache / "7-deadbeef" / "t-acme").is_dir()
    live = LocalIndexes(store, cache / "8-live0001")  # this process's container
    assert live.get("acme")[0] is not None
    sibling = LocalIndexes(store, cache / "8-live0002")  # another container of a local runtime
    (cache / "other").mkdir()  # a folder no LocalIndexes made
    (cache / "other" / "data").write_bytes(b"kept")

    assert index_store.remove_stale_roots(cache) == 1
    assert sorted(p.name for p in cache.iterdir()) == ["8-live0001", "8-live0002", "other"]
    assert live.get("acme")[0] is not None
    assert (cache / "other" / "data").read_bytes() == b"kept"
    del sibling
    gc.collect()  # its finalizer releases its root: the next container's sweep removes it
    assert index_store.remove_stale_roots(cache) == 1
    assert sorted(p.name for p in cache.iterdir()) == ["8-live0001", "other"]


def _copies_on_disk(work: Path) -> set[str]:
    """The tenants (slugs) with a working copy's folder under `work`."""
    return {slug.name for slug in work.iterdir() if any(slug.iterdir())} if work.exists() else set()


def test_an_indexer_keeps_working_copies_within_its_budget_least_recently_updated_out(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    TenantIndexes(store, tmp_path / "seed").apply("t0", _corpus(200))
    size = store.manifest("t0").total_bytes  # type: ignore[union-attr]
    work = tmp_path / "work"
    indexer = TenantIndexes(store, work, max_bytes=int(2.5 * size))
    for tenant in ("t0", "t1", "t2"):
        events = _corpus(200) if tenant != "t0" else [_published("c1", 2, "Mapping one revised")]
        indexer.apply(tenant, events)
        assert indexer.held_bytes() <= int(2.5 * size)
    assert _copies_on_disk(work) == {"t-t1", "t-t2"}  # t0, the least recently updated, let go
    assert indexer.evicted == 1

    again = indexer.apply("t0", [_published("c2", 2, "Mapping two revised")])  # fetched anew
    assert again.version == 3
    assert _copies_on_disk(work) == {"t-t2", "t-t0"}
    manifest = store.manifest("t0")
    assert manifest is not None
    store.fetch(manifest, tmp_path / "check")
    versions = SearchIndex.open(tmp_path / "check").versions()
    assert (versions["c1"], versions["c2"], len(versions)) == (2, 2, 200)

    tiny = TenantIndexes(store, tmp_path / "tiny", max_bytes=1)  # smaller than any copy
    tiny.apply("t1", [_published("c3", 2, "Mapping three revised")])
    assert _copies_on_disk(tmp_path / "tiny") == {"t-t1"}  # the tenant just updated stays
    tiny.apply("t2", [_published("c3", 2, "Mapping three revised")])
    assert _copies_on_disk(tmp_path / "tiny") == {"t-t2"}
