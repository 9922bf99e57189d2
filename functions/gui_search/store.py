"""Versions of a tenant's search index in the data bucket, and the copy a container keeps in /tmp.

In the bucket, per tenant (`<slug>` is the tenant id made safe for keys and folders, `t-` + its
percent-encoding, so `..` or `/` in an id can never reach another tenant's prefix):

  search/<slug>/manifest.json                      the current version: a small JSON document
  search/<slug>/files/<sha256>                     the index's files, each under its content's SHA-256
  search/<slug>/versions/<version>-<sum>.tar.gz    the layout before: one archive per version (read;
                                                   written only by `publish_archive`, for the bench)

A tantivy index is a set of segment files, written once and never changed, and `meta.json`, which
names the segments of the last commit (`gui_search.index.index_files`). The manifest lists a
version's files (name, SHA-256, size), its document count, the index's schema version, when it
was built and the fingerprint of its (id, version) pairs (`gui_core.registry_fingerprint`, which
the drift check compares with the registry's; absent in a manifest written before it).
Publishing uploads only the files the version before did not name (a change of a few documents: a
small segment, a deletes file per segment it touched and `meta.json`), then switches the manifest
with a conditional write (`If-Match` the ETag it read, `If-None-Match: *` for a first
version): two writers cannot both win, and a reader sees the old version or the new one, never a
mix. The loser reloads and applies its changes again. A reader downloads, in parallel, the files it
does not hold, verifies each one's SHA-256, and hard-links those it holds from the version before.

A manifest of the archive layout (`archive`, `checksum`) is still read: it stays current until the
indexer or the rebuild publishes the tenant's next version, in files.

Old files: each manifest lists the keys it `retired` (named by the version before it, not by it),
and the next publication deletes them, so a reader one version behind still finds its files and
one two versions behind that misses one reads the manifest again (`IndexGone`). In the versioned
bucket a deleted key's data stays a noncurrent version for a day (the lifecycle rule on `search/`).
Keys no manifest names (a publisher that lost the switch, or stopped before it) are removed by
`sweep`, which the drift check runs per tenant, once they are older than any publication can take.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from gui_core.date_times import iso
from gui_core.objects import NOT_MODIFIED, ObjectStore
from gui_core.registry_fingerprint import Fingerprint
from gui_search.index import META_FILE, SCHEMA_FILE, SCHEMA_VERSION, SearchIndex, index_files

if TYPE_CHECKING:
    from gui_search.shared import SharedVersions

logger = logging.getLogger("gui_search.store")

MANIFEST_FILE = "manifest.json"
ARCHIVE_TYPE = "application/gzip"
FILES_LAYOUT = 2  # the manifest lists files; 1 (no `files`): it names an archive
WORKERS = 8  # parallel uploads, downloads and deletes of one publication or fetch
SMALL_FILE_BYTES = 8 << 20  # up to this, a file goes up as one PutObject (above: a multipart upload)
# A key no manifest names is swept only when older than this: far above a publication's time
# between its uploads and its switch (a Lambda runs 15 minutes at most).
SWEEP_AFTER_S = 3600.0
SWEEP_MAX_KEYS = 10_000  # keys listed by one sweep (ten pages); the next sweep sees the rest
FETCH_TRIES = 3  # manifests read by `LocalIndexes.get` when files keep disappearing under it
_NAME = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_T = TypeVar("_T")
# Files every index has under the same name, whatever its content: never taken for the version
# before's by name and size (a rebuild's schema file may differ from it in a digit).
_REWRITTEN = frozenset({META_FILE, SCHEMA_FILE})


def tenant_slug(tenant: str) -> str:
    """The tenant's name in keys and folders: injective, and never `.`, `..` or containing `/`."""
    return "t-" + quote(tenant, safe="")


class IndexCorrupt(RuntimeError):
    """A manifest, archive or file whose contents do not match what the manifest says."""


class IndexGone(RuntimeError):
    """A file the manifest names is no longer in the bucket: versions published meanwhile retired
    it. Read the manifest again."""


@dataclass(frozen=True)
class IndexFile:
    """One file of a version: its name in the index folder, its content's SHA-256 (hex: its key's
    last part) and size."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class IndexManifest:
    tenant: str
    version: int
    documents: int
    built_at: str
    schema: int = SCHEMA_VERSION
    files: tuple[IndexFile, ...] = ()  # the files layout: every file of the version, by name
    retired: tuple[str, ...] = ()  # keys the version before named and this one does not
    checksum: str = ""  # the archive layout: sha256:<hex> of the archive
    archive: str = ""  # the archive layout: its key
    previous_archive: str | None = None  # the archive layout: deleted by the next publication
    fingerprint: Fingerprint | None = None  # of the documents' (id, version) pairs; None: unknown
    etag: str = ""  # of the manifest object as read (not stored)

    @property
    def layout(self) -> int:
        return FILES_LAYOUT if self.files else 1

    @property
    def total_bytes(self) -> int:
        """The files' total size (0 in the archive layout)."""
        return sum(f.size for f in self.files)

    def document(self) -> dict[str, Any]:
        head = {"tenant": self.tenant, "version": self.version, "documents": self.documents,
                "built_at": self.built_at, "schema": self.schema}  # fmt: skip
        if self.fingerprint is not None:
            head["fingerprint"] = self.fingerprint.document()
        if self.layout == FILES_LAYOUT:
            return {
                **head,
                "layout": FILES_LAYOUT,
                "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in self.files],
                "retired": list(self.retired),
            }
        return {**head, "checksum": self.checksum, "archive": self.archive,
                "previous_archive": self.previous_archive}  # fmt: skip

    @classmethod
    def parse(cls, body: bytes, etag: str) -> IndexManifest:
        data = json.loads(body)
        head = cls(
            tenant=str(data["tenant"]),
            version=int(data["version"]),
            documents=int(data["documents"]),
            built_at=str(data["built_at"]),
            schema=int(data.get("schema", 0)),
            fingerprint=Fingerprint.parse(data["fingerprint"]) if "fingerprint" in data else None,
            etag=etag,
        )
        if "files" not in data:
            return replace(
                head,
                checksum=str(data["checksum"]),
                archive=str(data["archive"]),
                previous_archive=data.get("previous_archive"),
            )
        files = tuple(
            IndexFile(name=str(f["name"]), sha256=str(f["sha256"]), size=int(f["size"]))
            for f in data["files"]
        )
        for file in files:
            if not _NAME.fullmatch(file.name) or ".." in file.name or not _SHA256.fullmatch(file.sha256):
                raise IndexCorrupt(f"the manifest of {head.tenant} names a file {file.name!r} it cannot hold")
        if not files or len({f.name for f in files}) != len(files):
            raise IndexCorrupt(f"the manifest of {head.tenant} lists no files, or one twice")
        return replace(head, files=files, retired=tuple(str(k) for k in data.get("retired", ())))


@dataclass(frozen=True)
class Fetched:
    """What a fetch cost: files (or an archive) downloaded and their bytes, files hard-linked."""

    downloaded: int = 0
    downloaded_bytes: int = 0
    linked: int = 0


class IndexStore:
    """The index versions of every tenant in one bucket (one `ObjectStore`)."""

    def __init__(self, objects: ObjectStore, *, prefix: str = "search/", workers: int = WORKERS) -> None:
        self._objects = objects
        self._prefix = prefix
        self._workers = workers

    def _base(self, tenant: str) -> str:
        return f"{self._prefix}{tenant_slug(tenant)}/"

    def manifest_key(self, tenant: str) -> str:
        return self._base(tenant) + MANIFEST_FILE

    def file_key(self, tenant: str, sha256: str) -> str:
        return f"{self._base(tenant)}files/{sha256}"

    def keys(self, manifest: IndexManifest) -> set[str]:
        """The keys of the objects `manifest`'s version is made of."""
        if manifest.layout == FILES_LAYOUT:
            return {self.file_key(manifest.tenant, f.sha256) for f in manifest.files}
        return {manifest.archive}

    def manifest(self, tenant: str, *, if_none_match: str | None = None) -> IndexManifest | None:
        """The tenant's current manifest; None without one; `UNCHANGED` when its ETag is still
        `if_none_match` (a cheap conditional GET: no body)."""
        stored = self._objects.get_bytes(self.manifest_key(tenant), if_none_match=if_none_match)
        if stored is None:
            return None
        if stored is NOT_MODIFIED:
            return UNCHANGED
        manifest = IndexManifest.parse(stored.body, stored.etag)
        if manifest.tenant != tenant:  # a manifest under another tenant's prefix is never served
            raise IndexCorrupt(f"the manifest under {self.manifest_key(tenant)} names another tenant")
        return manifest

    # -- publishing --------------------------------------------------------------------------------

    def publish(
        self,
        tenant: str,
        folder: Path,
        *,
        documents: int,
        previous: IndexManifest | None,
        fingerprint: Fingerprint | None = None,
    ) -> IndexManifest:
        """Publish the committed index in `folder` as the version after `previous`: upload the files
        `previous` does not name, switch the manifest to the new version, then delete what
        `previous` retired. Raises `gui_core.objects.Superseded` when another writer switched it
        first (the files uploaded stay for `sweep`).

        `folder` holds `previous`'s files under their names, or none of its names: a segment file
        named as in `previous` and of its size is taken for `previous`'s, unread, as tantivy never
        writes a segment file twice; `meta.json` and the schema file, whose names every index uses,
        are always hashed. No merge may run in `folder` (`SearchIndex.close`)."""
        known = {f.name: f for f in previous.files} if previous is not None else {}
        before = self.keys(previous) if previous is not None else set()
        files: list[IndexFile] = []
        uploads: dict[str, Path] = {}
        for name in index_files(folder):
            path = folder / name
            size = path.stat().st_size
            same = known.get(name)
            if same is not None and name not in _REWRITTEN and same.size == size:
                files.append(same)
                continue
            file = IndexFile(name=name, sha256=_sha256(path), size=size)
            files.append(file)
            key = self.file_key(tenant, file.sha256)
            if key not in before:
                uploads[key] = path
        self._each(self._upload, uploads.items())
        manifest = IndexManifest(
            tenant=tenant,
            version=(previous.version if previous else 0) + 1,
            documents=documents,
            built_at=_now(),
            files=tuple(files),
            fingerprint=fingerprint,
        )
        retired = tuple(sorted(before - self.keys(manifest)))
        manifest = replace(manifest, retired=retired)
        etag = self._switch(tenant, manifest, previous)
        if previous is not None:
            doomed = {*previous.retired, *([previous.previous_archive] if previous.previous_archive else [])}
            self._delete(doomed - self.keys(manifest))
        return replace(manifest, etag=etag)

    def stamp(self, manifest: IndexManifest, fingerprint: Fingerprint) -> IndexManifest:
        """`manifest` again with `fingerprint` (read from its documents): the same version and
        files, so nothing is uploaded nor deleted (a reader's next fetch links the files it holds).
        `Superseded` when another writer switched the manifest first."""
        stamped = replace(manifest, fingerprint=fingerprint, etag="")
        return replace(stamped, etag=self._switch(manifest.tenant, stamped, manifest))

    def publish_archive(
        self, tenant: str, folder: Path, *, documents: int, previous: IndexManifest | None
    ) -> IndexManifest:
        """The layout before: the whole folder as one archive, the manifest naming it, the archive two
        versions back deleted. Kept for the bench's comparison and the tests of reading it; no
        function writes it any more."""
        body = archive(folder)
        checksum = "sha256:" + hashlib.sha256(body).hexdigest()
        version = (previous.version if previous else 0) + 1
        key = f"{self._base(tenant)}versions/{version:010d}-{checksum[7:19]}.tar.gz"
        self._objects.put_bytes(key, body, content_type=ARCHIVE_TYPE)
        manifest = IndexManifest(
            tenant=tenant,
            version=version,
            documents=documents,
            built_at=_now(),
            checksum=checksum,
            archive=key,
            previous_archive=previous.archive if previous and previous.archive else None,
        )
        etag = self._switch(tenant, manifest, previous)
        if previous is not None and previous.previous_archive:
            self._objects.delete(previous.previous_archive)
        return replace(manifest, etag=etag)

    def _switch(self, tenant: str, manifest: IndexManifest, previous: IndexManifest | None) -> str:
        return self._objects.put_bytes(
            self.manifest_key(tenant),
            json.dumps(manifest.document(), sort_keys=True).encode(),
            content_type="application/json",
            if_match=previous.etag if previous else None,
            if_none_match=None if previous else "*",
        )

    def _upload(self, item: tuple[str, Path]) -> None:
        key, path = item
        if path.stat().st_size <= SMALL_FILE_BYTES:
            self._objects.put_bytes(key, path.read_bytes())
        else:
            self._objects.upload(key, str(path))

    def _delete(self, keys: Iterable[str]) -> None:
        """Best effort after a switch: the publication stands, and `sweep` takes what is left."""

        def delete(key: str) -> None:
            try:
                self._objects.delete(key)
            except Exception:
                logger.warning("a retired index file could not be deleted", extra={"key": key}, exc_info=True)

        self._each(delete, sorted(keys))

    def _each(self, work: Callable[[_T], object], items: Iterable[_T]) -> None:
        todo = list(items)
        if len(todo) <= 1:
            for item in todo:
                work(item)
            return
        with ThreadPoolExecutor(max_workers=min(self._workers, len(todo))) as pool:
            for _ in pool.map(work, todo):  # raises the first failure
                pass

    # -- fetching ----------------------------------------------------------------------------------

    def fetch(
        self, manifest: IndexManifest, folder: Path, *, held: Mapping[tuple[str, str], Path] | None = None
    ) -> Fetched:
        """The version of `manifest` in `folder` (made): the files `held` has ((name, SHA-256) -> a
        path holding it) hard-linked, `meta.json` and the others downloaded in parallel, each
        checked against its SHA-256. The archive layout: its archive downloaded and unpacked.
        `IndexGone` when a file is no longer in the bucket; `IndexCorrupt` when one does not match."""
        folder.mkdir(parents=True, exist_ok=True)
        if manifest.layout != FILES_LAYOUT:
            return self._fetch_archive(manifest, folder)
        todo: list[IndexFile] = []
        linked = 0
        for file in manifest.files:
            source = (held or {}).get((file.name, file.sha256))
            if source is not None and file.name != META_FILE:
                try:
                    os.link(source, folder / file.name)
                except OSError:  # gone meanwhile (a merge), or another filesystem: downloaded
                    pass
                else:
                    linked += 1
                    continue
            todo.append(file)

        def download(file: IndexFile) -> None:
            key = self.file_key(manifest.tenant, file.sha256)
            got = self._objects.download_hashed(key, str(folder / file.name))
            if got is None:
                raise IndexGone(f"{key} ({file.name} of version {manifest.version}) is gone")
            if got != (file.size, file.sha256):
                raise IndexCorrupt(f"{key} does not match the manifest's {file.name}")

        self._each(download, todo)
        return Fetched(downloaded=len(todo), downloaded_bytes=sum(f.size for f in todo), linked=linked)

    def _fetch_archive(self, manifest: IndexManifest, folder: Path) -> Fetched:
        with tempfile.NamedTemporaryFile(dir=folder.parent, suffix=".tar.gz") as download:
            self._objects.download(manifest.archive, download.name)
            digest = hashlib.sha256()
            size = 0
            with open(download.name, "rb") as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
            if "sha256:" + digest.hexdigest() != manifest.checksum:
                raise IndexCorrupt(f"{manifest.archive} does not match its manifest's checksum")
            with tarfile.open(download.name, "r:gz") as tar:
                tar.extractall(folder, filter="data")
        return Fetched(downloaded=1, downloaded_bytes=size)

    # -- sweeping ----------------------------------------------------------------------------------

    def sweep(
        self,
        tenant: str,
        manifest: IndexManifest,
        *,
        older_than_s: float = SWEEP_AFTER_S,
        now: datetime | None = None,
        max_keys: int = SWEEP_MAX_KEYS,
    ) -> int:
        """Delete the tenant's files and archives that neither `manifest` (its current one) nor the
        version before it names and that are older than `older_than_s` (so never a file a racing
        publisher has just uploaded for its switch), nor any the manifest names when the listing
        ends; how many. At most `max_keys` listed."""
        keep = self.keys(manifest) | set(manifest.retired)
        if manifest.previous_archive:
            keep.add(manifest.previous_archive)
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=older_than_s)
        doomed: list[str] = []
        for prefix in (f"{self._base(tenant)}files/", f"{self._base(tenant)}versions/"):
            after: str | None = None
            listed = 0
            while listed < max_keys:
                page = self._objects.list_page(prefix, start_after=after, limit=min(1000, max_keys - listed))
                listed += len(page.objects)
                doomed += [
                    o.key
                    for o in page.objects
                    if o.key not in keep and o.last_modified is not None and o.last_modified < cutoff
                ]
                if not page.more or not page.objects:
                    break
                after = page.objects[-1].key
        # A version published while listing may name a stray key again (the same content uploaded
        # anew): what the manifest names now stays too.
        latest = self.manifest(tenant)
        if latest is not None and latest.etag != manifest.etag:
            named = self.keys(latest) | set(latest.retired) | {latest.previous_archive or ""}
            doomed = [key for key in doomed if key not in named]
        self._delete(doomed)
        return len(doomed)


# Returned by `IndexStore.manifest` when the manifest still has the ETag the caller holds.
UNCHANGED = IndexManifest(tenant="", version=0, documents=0, built_at="")


def _now() -> str:
    return iso(datetime.now(UTC))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def archive(folder: Path) -> bytes:
    """The index folder's files as a gzip'd tar (level 1: tantivy's segments compress little)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith(".tantivy-"):  # lock files stay behind
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


@dataclass
class _Open:
    manifest: IndexManifest
    index: SearchIndex | None  # None: the tenant has no index yet
    folder: Path | None
    checked_at: float
    size: int = 0  # bytes of its folder in /tmp
    owned: bool = True  # the folder is this container's (False: a version on the shared file system)

    def held(self) -> dict[tuple[str, str], Path]:
        """The files of this version a fetch of the next one can link rather than download."""
        if self.index is None or self.folder is None:
            return {}
        return {(f.name, f.sha256): self.folder / f.name for f in self.manifest.files}


@dataclass
class FetchCounts:
    """What a container's fetches cost, added up (the bench and tests read it)."""

    versions: int = 0
    files: int = 0
    bytes: int = 0
    linked: int = 0
    by_tenant: dict[str, Fetched] = field(default_factory=dict)  # the last fetch of each tenant

    def add(self, tenant: str, fetched: Fetched) -> None:
        self.versions += 1
        self.files += fetched.downloaded
        self.bytes += fetched.downloaded_bytes
        self.linked += fetched.linked
        self.by_tenant[tenant] = fetched


class LocalIndexes:
    """The indexes a search container has open: per tenant, the current version in a folder
    `root/<slug>/<version>-<random>` and opened once. The manifest is checked at most every `check_s`
    (a conditional GET); a new version is fetched (the files the open version shares with it
    hard-linked, the others downloaded) and opened, and the old folder removed.

    What stays open is bounded by the bytes it holds in /tmp, not by a count of tenants: before a
    fetch, the least recently used tenants leave /tmp until the open folders, the fetches under way
    and the files this one downloads fit in `max_bytes` (a tenant larger than that alone is still
    fetched, the others let go). The archive layout's size is known only once unpacked: it is counted
    then. `max_tenants`, when given, bounds the count as well. Thread-safe.

    With `shared` (`gui_search.shared`: a file system the region's containers share), a version is
    opened where it lies in the shared folder, fetched there first only when no container installed
    it yet; nothing is held in /tmp, so only `max_tenants` bounds what stays open (open indexes cost
    mapped pages, which the kernel reclaims), and a tenant let go is only closed."""

    def __init__(
        self,
        store: IndexStore,
        root: Path,
        *,
        check_s: float = 2.0,
        max_bytes: int | None = None,
        max_tenants: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedVersions | None = None,
    ) -> None:
        self._store = store
        self._root = root
        self._shared = shared
        self._check_s = check_s
        self._max_bytes = max_bytes
        self._max = max_tenants
        self._clock = clock
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._reserved = 0  # bytes the fetches under way will add
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.Lock] = {}
        self.fetched = FetchCounts()
        self.evicted = 0  # tenants let go to make room (the bench and tests read it)
        # The root is this object's while it lives: `remove_stale_roots` leaves it alone.
        descriptor = _hold(root)
        weakref.finalize(self, os.close, descriptor)

    @property
    def fetches(self) -> int:
        """Versions fetched."""
        return self.fetched.versions

    @property
    def held_bytes(self) -> int:
        """Bytes of the open folders."""
        with self._lock:
            return sum(entry.size for entry in self._open.values())

    def tenants(self) -> list[str]:
        """The tenants open, least recently used first."""
        with self._lock:
            return [tenant for tenant, entry in self._open.items() if entry.index is not None]

    def get(self, tenant: str) -> tuple[SearchIndex | None, IndexManifest | None]:
        """The tenant's open index and its manifest; (None, None) when it has no index yet."""
        with self._lock:
            lock = self._tenant_locks.setdefault(tenant, threading.Lock())
        with lock:
            with self._lock:
                current = self._open.get(tenant)
            now = self._clock()
            if (
                current is not None
                and now - current.checked_at < self._check_s
                and self._touch(tenant, current)
            ):
                return current.index, current.manifest if current.index else None
            held = current.manifest.etag if current is not None and current.index else None
            manifest = self._store.manifest(tenant, if_none_match=held)
            if manifest is UNCHANGED and current is not None:
                if self._touch(tenant, current):
                    current.checked_at = now
                    return current.index, current.manifest
                current = None  # let go meanwhile, to make room for another tenant: fetched again
                manifest = self._store.manifest(tenant)
            for attempt in range(FETCH_TRIES):
                if manifest is None:
                    self._replace(tenant, _Open(UNCHANGED, None, None, now))
                    return None, None
                evicted = self.evicted
                try:
                    folder, fetched, owned = self._fetch(tenant, manifest, current)
                except IndexGone:
                    if attempt + 1 == FETCH_TRIES:
                        raise
                    manifest = self._store.manifest(tenant)  # versions were published meanwhile
                    continue
                self.fetched.add(tenant, fetched)
                index = SearchIndex.open(folder)
                size = _folder_size(folder) if owned else 0
                self._replace(tenant, _Open(manifest, index, folder, now, size, owned=owned))
                logger.info(
                    "search index fetched",
                    extra={
                        "tenant": tenant,
                        "version": manifest.version,
                        "files": fetched.downloaded,
                        "bytes": fetched.downloaded_bytes,
                        "linked": fetched.linked,
                        "evicted": self.evicted - evicted,  # tenants let go for it (or meanwhile)
                        "open_tenants": len(self.tenants()),
                        "held_bytes": self.held_bytes,
                    },
                )
                return index, manifest
            raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(
        self, tenant: str, manifest: IndexManifest, current: _Open | None
    ) -> tuple[Path, Fetched, bool]:
        """The folder holding `manifest`'s version, what getting it there cost, and whether it is this
        container's own (in its /tmp) or the region's (the shared file system's, never removed by
        this container)."""
        if self._shared is not None:
            folder, fetched = self._shared.ensure(manifest)
            return folder, fetched, False
        # A folder of its own: the open version's stays until the new one is open.
        folder = self._root / tenant_slug(tenant) / f"{manifest.version}-{uuid.uuid4().hex[:8]}"
        linkable = current.held() if current else {}
        need = sum(f.size for f in manifest.files if (f.name, f.sha256) not in linkable)
        self._make_room(tenant, need)
        try:
            return folder, self._store.fetch(manifest, folder, held=linkable), True
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._reserved -= need

    def _touch(self, tenant: str, entry: _Open) -> bool:
        """Mark the tenant's `entry` recently used; False when another thread let it go."""
        with self._lock:
            if self._open.get(tenant) is not entry:
                return False
            self._open.move_to_end(tenant)
            return True

    def _make_room(self, tenant: str, need: int) -> None:
        """Reserve `need` bytes for a fetch of `tenant`, letting the least recently used other
        tenants go until the open folders and the fetches under way fit in `max_bytes`. The
        tenant's own open version stays: its files are linked into the new one."""
        evicted: list[_Open] = []
        with self._lock:
            self._reserved += need
            if self._max_bytes is not None:
                used = sum(entry.size for entry in self._open.values()) + self._reserved
                for other in [t for t in self._open if t != tenant]:
                    if used <= self._max_bytes:
                        break
                    gone = self._open.pop(other)
                    used -= gone.size
                    evicted.append(gone)
        self._let_go(evicted)

    def _replace(self, tenant: str, entry: _Open) -> None:
        with self._lock:
            old = self._open.pop(tenant, None)
            self._open[tenant] = entry
            evicted: list[_Open] = []
            used = sum(e.size for e in self._open.values()) + self._reserved
            for other in [t for t in self._open if t != tenant]:  # least recently used first
                over_count = self._max is not None and len(self._open) > self._max
                over_bytes = self._max_bytes is not None and used > self._max_bytes
                if not (over_count or over_bytes):
                    break
                gone = self._open.pop(other)
                used -= gone.size
                evicted.append(gone)
        if old is not None:
            _close(old)
        self._let_go(evicted)

    def _let_go(self, evicted: list[_Open]) -> None:
        with self._lock:
            self.evicted += sum(1 for entry in evicted if entry.index is not None)
        for gone in evicted:
            _close(gone)


ROOT_LOCK = ".owner.lock"  # in a LocalIndexes root, locked (flock) by the object that owns it


def _hold(root: Path) -> int:
    """Make `root` and lock its `ROOT_LOCK` for good: the descriptor, which releases it when closed
    (by the object's finalizer, or the process's end, however it ends)."""
    root.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(root / ROOT_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def remove_stale_roots(parent: Path) -> int:
    """Remove the folders under `parent` that were a `LocalIndexes` root of an owner gone (a process
    the runtime restarted after a crash, in the same /tmp): their lock file is there and no one
    holds it. Other folders, and the roots of live owners (other containers of a local runtime, in
    this process or another), stay. How many were removed."""
    removed = 0
    if not parent.is_dir():
        return 0
    for folder in parent.iterdir():
        lock = folder / ROOT_LOCK
        if not lock.is_file():
            continue
        try:
            descriptor = os.open(lock, os.O_RDWR)
        except OSError:  # removed meanwhile
            continue
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner lives
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        finally:
            os.close(descriptor)
    return removed


def _folder_size(folder: Path) -> int:
    """Bytes of the files in `folder` (an index folder: no subfolders)."""
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())


def _close(entry: _Open) -> None:
    if entry.index is not None:
        entry.index.close()
    if entry.folder is not None and entry.owned:
        shutil.rmtree(entry.folder, ignore_errors=True)
