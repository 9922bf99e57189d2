"""Index versions on the file system the region's containers share (gui_search.shared): an indexer
installs each version it publishes there, a cold search container opens it in place (no download,
whatever the index's size), a version no container installed is fetched once for all, concurrent
installers agree, a work folder's links never change an installed version, and superseded versions
are retired only once their successor has been installed long enough."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gui_core.domain_events import ArtifactPublished
from gui_core.registry_fingerprint import Fingerprint
from gui_indexer.indexer import TenantIndexes
from gui_search.shared import VERSION_MANIFEST, SharedVersions
from gui_search.store import IndexStore, LocalIndexes
from tests.fakes import ManualClock
from tests.unit import test_search_store as store_tests
from tests.unit.test_search_store import RecordingObjects, _index, _published, _record, _titles

objects = store_tests.objects  # the fixture: moto's S3 with the bytes read and written


def _shared(store: IndexStore, root: Path, clock: ManualClock | None = None) -> SharedVersions:
    return SharedVersions(store, root, clock=clock or ManualClock())


def _corpus(count: int, start: int = 0) -> list[ArtifactPublished]:
    return [_published(f"a{i}", 1, f"Mapping number {i}") for i in range(start, start + count)]


def _inodes(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_size) for p in folder.iterdir() if p.is_file()}


def test_a_published_version_is_installed_and_a_cold_container_opens_it_without_a_download(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    shared = _shared(store, tmp_path / "efs")
    indexer = TenantIndexes(store, tmp_path / "work", shared=shared)
    for start in (0, 400, 800):  # three batches: three versions
        indexer.apply("acme", _corpus(400, start))
    manifest = store.manifest("acme")
    assert manifest is not None
    assert manifest.version == 3
    assert shared.folder(manifest).is_dir()
    assert not (tmp_path / "work").exists()  # nothing in the indexer's /tmp
    assert [p.name for p in shared.tenant_folder("acme").iterdir() if p.name.startswith(".")] == []

    objects.reset()
    cold = LocalIndexes(store, tmp_path / "tmp", shared=shared)
    index, got = cold.get("acme")
    assert got == manifest
    assert index is not None
    assert index.count() == 1200
    assert _titles(index, "number 812")[0] == "Mapping number 812"
    assert objects.read == {}  # no file, no archive: the manifest only (a GET, not recorded here)
    assert (cold.fetched.files, cold.fetched.bytes) == (0, 0)
    assert cold.held_bytes == 0
    assert not any((tmp_path / "tmp").rglob("*.idx"))  # the container's /tmp holds no index


def test_a_version_no_container_installed_is_fetched_once_linking_what_the_last_one_shares(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    shared = _shared(store, tmp_path / "efs")
    # Published without the shared folder (an indexer before it, or one that stopped before its
    # install): the readers install it.
    plain = TenantIndexes(store, tmp_path / "plain")
    plain.apply("acme", _corpus(300))
    first = LocalIndexes(store, tmp_path / "tmp1", shared=shared)
    one = first.get("acme")[1]
    assert one is not None
    assert first.fetched.files > 0
    plain.apply("acme", _corpus(5, 300))  # a small change: a small segment and meta.json
    manifest = store.manifest("acme")
    assert manifest is not None

    objects.reset()
    readers = [LocalIndexes(store, tmp_path / f"r{n}", shared=shared) for n in range(4)]
    threads = [threading.Thread(target=r.get, args=("acme",)) for r in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.get("acme")[1] == manifest for r in readers)
    # Only files version 2 adds came down (racing fetchers may each fetch them: one installs); the
    # files version 1 shares were linked from its installed folder.
    added = {store.file_key("acme", f.sha256) for f in manifest.files} - {
        store.file_key("acme", f.sha256) for f in one.files
    }
    downloaded = {k for k in objects.read if "/files/" in k}
    assert downloaded <= added
    assert all(r.fetched.linked >= len(one.files) - 2 for r in readers if r.fetched.files)
    assert all(r.fetched.bytes < manifest.total_bytes / 2 for r in readers)
    installed = [i.version for i in shared.installed("acme")]
    assert installed == [1, 2]
    assert [p for p in shared.tenant_folder("acme").iterdir() if p.name.startswith(".")] == []


def test_a_batch_works_on_links_and_never_changes_an_installed_version(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    shared = _shared(store, tmp_path / "efs")
    indexer = TenantIndexes(store, tmp_path / "work", shared=shared)
    indexer.apply("acme", _corpus(200))
    one = store.manifest("acme")
    assert one is not None
    before = _inodes(shared.folder(one))
    reader = LocalIndexes(store, tmp_path / "tmp", check_s=0, shared=shared)
    index, _ = reader.get("acme")
    assert index is not None

    # Changes and deletions that make tantivy write deletes files, a new segment and meta.json.
    indexer.apply("acme", [_published(f"a{i}", 2, f"Changed number {i}") for i in range(0, 200, 3)])
    assert _inodes(shared.folder(one)) == before
    assert _titles(index, "changed") == []  # the open version is what it was
    assert index.count() == 200

    index, two = reader.get("acme")
    assert two is not None
    assert two.version == 2
    assert index is not None
    assert len(_titles(index, "changed")) == 20  # the first page of 67
    assert index.versions()["a3"] == 2
    # The files the versions share are one inode each: linked, not copied.
    shared_names = {f.name for f in one.files} & {f.name for f in two.files} - {"meta.json"}
    after = _inodes(shared.folder(two))
    assert shared_names
    assert all(after[name] == before[name] for name in shared_names)
    assert two.fingerprint == Fingerprint.of(index.versions())


def test_superseded_versions_leave_only_once_their_successor_is_settled(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    clock = ManualClock()
    clock.now = 1_000_000.0
    shared = SharedVersions(store, tmp_path / "efs", keep_s=900, stray_s=3600, clock=clock)
    indexer = TenantIndexes(store, tmp_path / "work", shared=shared)
    indexer.apply("acme", _corpus(50))
    indexer.apply("acme", _corpus(5, 50))
    assert [i.version for i in shared.installed("acme")] == [1, 2]  # version 2 is not settled yet

    def age(version: int, seconds: float) -> None:
        installed = next(i for i in shared.installed("acme") if i.version == version)
        stamp = clock.now - seconds
        os.utime(installed.folder / VERSION_MANIFEST, (stamp, stamp))

    age(2, 899)
    assert shared.retire("acme") == 0
    age(2, 900)
    stray = shared.tenant_folder("acme") / ".work-stopped"
    stray.mkdir()
    os.utime(stray, (clock.now - 3599, clock.now - 3599))
    assert shared.retire("acme") == 1  # version 1; the stray is not old enough
    assert [i.version for i in shared.installed("acme")] == [2]
    os.utime(stray, (clock.now - 3600, clock.now - 3600))
    assert shared.retire("acme") == 1
    assert not stray.exists()

    # The indexer retires as it publishes: version 2 goes once version 3 has settled.
    indexer.apply("acme", _corpus(5, 55))
    age(3, 1000)
    indexer.apply("acme", _corpus(5, 60))
    assert [i.version for i in shared.installed("acme")] == [3, 4]
    reader = LocalIndexes(store, tmp_path / "tmp", shared=shared)
    index, manifest = reader.get("acme")
    assert manifest is not None
    assert manifest.version == 4
    assert index is not None
    assert index.count() == 65


def test_a_rebuild_and_a_drift_check_work_on_the_shared_folder(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    store = IndexStore(objects)
    shared = _shared(store, tmp_path / "efs")
    indexes = TenantIndexes(store, tmp_path / "work", shared=shared)
    indexes.apply("acme", _corpus(30))
    records = [_record(f"r{i}", f"Rebuilt {i}") for i in range(12)]
    result = indexes.rebuild("acme", records)
    assert (result.version, result.documents) == (2, 12)
    found = indexes.check("acme", {f"r{i}": 1 for i in range(12)})
    assert not found.drifted
    indexes.let_go("acme")
    assert [p for p in shared.tenant_folder("acme").iterdir() if p.name.startswith(".")] == []
    reader = LocalIndexes(store, tmp_path / "tmp", shared=shared)
    index, _ = reader.get("acme")
    assert index is not None
    assert _titles(index, "rebuilt 7")[0] == "Rebuilt 7"
    assert reader.fetched.bytes == 0


def test_readers_close_but_never_remove_a_shared_version(objects: RecordingObjects, tmp_path: Path) -> None:
    store = IndexStore(objects)
    shared = _shared(store, tmp_path / "efs")
    for tenant in ("acme", "globex"):
        _index(tmp_path / tenant, _record("a", f"{tenant} only"))
        store.publish(tenant, tmp_path / tenant, documents=1, previous=None)
    reader = LocalIndexes(store, tmp_path / "tmp", max_tenants=1, shared=shared)
    reader.get("acme")
    reader.get("globex")  # lets acme go
    assert reader.tenants() == ["globex"]
    assert [i.version for i in shared.installed("acme")] == [1]
    index, _ = LocalIndexes(store, tmp_path / "tmp2", shared=shared).get("acme")
    assert index is not None
    assert _titles(index, "acme") == ["acme only"]


def test_the_ports_open_indexes_on_the_shared_folder_when_the_function_mounts_it(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    from gui_search.ports import SHARED_MAX_OPEN, build_ports
    from gui_search.settings import SearchSettings

    base = {"POWERTOOLS_SERVICE_NAME": "gui_search", "GUI_REGION": "eu-west-1", "AUDIT_TABLE": "a",
            "TENANTS_TABLE": "t", "LIMITS_TABLE": "l", "DATA_BUCKET": objects.bucket,
            "SEARCH_CACHE_DIR": str(tmp_path / "tmp")}  # fmt: skip
    _index(tmp_path / "v", _record("a", "Acme only"))
    IndexStore(objects).publish("acme", tmp_path / "v", documents=1, previous=None)

    mounted = SearchSettings.model_validate({**base, "SEARCH_SHARED_DIR": str(tmp_path / "efs")})
    indexes = build_ports(mounted, objects=objects).indexes
    index, _ = indexes.get("acme")
    assert index is not None
    assert index.path.parent.parent == tmp_path / "efs"  # <root>/<slug>/<version folder>
    assert indexes._max == SHARED_MAX_OPEN

    plain = build_ports(SearchSettings.model_validate(base), objects=objects).indexes
    index, _ = plain.get("acme")
    assert index is not None
    assert (tmp_path / "tmp") in index.path.parents
    assert plain._max is None


def test_racing_writers_on_the_shared_folder_install_each_version_once_and_lose_nothing(
    objects: RecordingObjects, tmp_path: Path
) -> None:
    """Three indexers (or an indexer and the rebuild) apply batches to one tenant at once, each in
    its own container: every version the manifest names is installed once, whole, and each loser's
    batch is in the last one."""
    store = IndexStore(objects)
    TenantIndexes(store, tmp_path / "seed", shared=_shared(store, tmp_path / "efs")).apply(
        "acme", _corpus(200)
    )
    writers = [
        TenantIndexes(store, tmp_path / f"w{n}", shared=_shared(store, tmp_path / "efs")) for n in range(3)
    ]
    barrier = threading.Barrier(len(writers))
    results: dict[int, int | None] = {}

    def write(number: int) -> None:
        barrier.wait()
        results[number] = (
            writers[number].apply("acme", [_published(f"race{number}", 1, f"Race {number}")]).version
        )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(v for v in results.values() if v is not None) == [2, 3, 4]  # each won one switch
    current = store.manifest("acme")
    assert current is not None
    assert current.version == 4
    shared = _shared(store, tmp_path / "efs")
    assert [i.version for i in shared.installed("acme")] == [1, 2, 3, 4]
    assert [p.name for p in shared.tenant_folder("acme").iterdir() if p.name.startswith(".")] == []
    objects.reset()
    index, manifest = LocalIndexes(store, tmp_path / "tmp", shared=shared).get("acme")
    assert manifest == current
    assert index is not None
    assert objects.read == {}  # installed by its writer: no reader downloads it
    assert index.count() == 203
    assert {f"race{n}" for n in range(3)} <= set(index.versions())
    assert current.fingerprint == Fingerprint.of(index.versions())
