"""Versions of a tenant's search index in the data bucket, and the copy a container keeps in /tmp.

In the bucket, per tenant (`<slug>` is the tenant id made safe for keys and folders, `t-` + its
percent-encoding, so `..` or `/` in an id can never reach another tenant's prefix):

  search/<slug>/manifest.json                      the current version: a small JSON document
  search/<slug>/versions/<version>-<sum>.tar.gz    one archive per version: the index folder

The manifest names the version, its archive, the document count, the archive's SHA-256, the
engine's schema version and when it was built. Publishing uploads the archive first and then
switches the manifest with a conditional write (`If-Match` the ETag it read, `If-None-Match: *` for
a first version): two writers cannot both win, and a reader sees the old version or the new one,
never a mix. The loser reloads and applies its changes again. The archive two versions back is then
deleted: in the versioned bucket its data stays as a noncurrent version, which the bucket's
lifecycle expires (a day under `search/`), so a reader still fetching it does not fail.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gui_core.objects import NOT_MODIFIED, ObjectStore
from gui_search.engine import SCHEMA_VERSION, SearchIndex

MANIFEST_FILE = "manifest.json"
ARCHIVE_TYPE = "application/gzip"


def tenant_slug(tenant: str) -> str:
    """The tenant's name in keys and folders: injective, and never `.`, `..` or containing `/`."""
    return "t-" + quote(tenant, safe="")


class IndexCorrupt(RuntimeError):
    """An archive whose checksum or contents do not match its manifest."""


@dataclass(frozen=True)
class IndexManifest:
    tenant: str
    version: int
    documents: int
    checksum: str  # sha256:<hex> of the archive
    archive: str  # its key
    built_at: str
    schema: int = SCHEMA_VERSION
    previous_archive: str | None = None  # deleted by the next publication
    etag: str = ""  # of the manifest object as read (not stored)

    def document(self) -> dict[str, Any]:
        document = asdict(self)
        del document["etag"]
        return document

    @classmethod
    def parse(cls, body: bytes, etag: str) -> IndexManifest:
        data = json.loads(body)
        return cls(
            tenant=str(data["tenant"]),
            version=int(data["version"]),
            documents=int(data["documents"]),
            checksum=str(data["checksum"]),
            archive=str(data["archive"]),
            built_at=str(data["built_at"]),
            schema=int(data.get("schema", 0)),
            previous_archive=data.get("previous_archive"),
            etag=etag,
        )


class IndexStore:
    """The index versions of every tenant in one bucket (one `ObjectStore`)."""

    def __init__(self, objects: ObjectStore, *, prefix: str = "search/") -> None:
        self._objects = objects
        self._prefix = prefix

    def _base(self, tenant: str) -> str:
        return f"{self._prefix}{tenant_slug(tenant)}/"

    def manifest_key(self, tenant: str) -> str:
        return self._base(tenant) + MANIFEST_FILE

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

    def publish(
        self, tenant: str, folder: Path, *, documents: int, previous: IndexManifest | None
    ) -> IndexManifest:
        """Upload `folder` as the version after `previous` and switch the manifest to it; raises
        `gui_core.objects.Superseded` when another writer switched it first."""
        body = archive(folder)
        checksum = "sha256:" + hashlib.sha256(body).hexdigest()
        version = (previous.version if previous else 0) + 1
        key = f"{self._base(tenant)}versions/{version:010d}-{checksum[7:19]}.tar.gz"
        self._objects.put_bytes(key, body, content_type=ARCHIVE_TYPE)
        manifest = IndexManifest(
            tenant=tenant,
            version=version,
            documents=documents,
            checksum=checksum,
            archive=key,
            built_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            previous_archive=previous.archive if previous else None,
        )
        etag = self._objects.put_bytes(
            self.manifest_key(tenant),
            json.dumps(manifest.document(), sort_keys=True).encode(),
            content_type="application/json",
            if_match=previous.etag if previous else None,
            if_none_match=None if previous else "*",
        )
        if previous is not None and previous.previous_archive:
            self._objects.delete(previous.previous_archive)
        return replace(manifest, etag=etag)

    def fetch(self, manifest: IndexManifest, folder: Path) -> None:
        """The archive of `manifest` unpacked into `folder` (made), its checksum verified."""
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder.parent, suffix=".tar.gz") as download:
            self._objects.download(manifest.archive, download.name)
            digest = hashlib.sha256()
            with open(download.name, "rb") as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
            if "sha256:" + digest.hexdigest() != manifest.checksum:
                raise IndexCorrupt(f"{manifest.archive} does not match its manifest's checksum")
            with tarfile.open(download.name, "r:gz") as tar:
                tar.extractall(folder, filter="data")


# Returned by `IndexStore.manifest` when the manifest still has the ETag the caller holds.
UNCHANGED = IndexManifest(tenant="", version=0, documents=0, checksum="", archive="", built_at="")


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


class LocalIndexes:
    """The indexes a search container has open: per tenant, the current version unpacked under
    `root/<slug>/<version>` and opened once. The manifest is checked at most every `check_s`
    (a conditional GET); a new version is fetched and opened, and the old folder removed. At most
    `max_tenants` stay open; the least recently used leaves /tmp. Thread-safe."""

    def __init__(
        self,
        store: IndexStore,
        root: Path,
        *,
        check_s: float = 2.0,
        max_tenants: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._root = root
        self._check_s = check_s
        self._max = max_tenants
        self._clock = clock
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.Lock] = {}
        self.fetches = 0  # archives downloaded (the bench and tests read it)

    def get(self, tenant: str) -> tuple[SearchIndex | None, IndexManifest | None]:
        """The tenant's open index and its manifest; (None, None) when it has no index yet."""
        with self._lock:
            lock = self._tenant_locks.setdefault(tenant, threading.Lock())
        with lock:
            current = self._open.get(tenant)
            now = self._clock()
            if current is not None and now - current.checked_at < self._check_s:
                self._touch(tenant)
                return current.index, current.manifest if current.index else None
            held = current.manifest.etag if current is not None and current.index else None
            manifest = self._store.manifest(tenant, if_none_match=held)
            if manifest is UNCHANGED and current is not None:
                current.checked_at = now
                self._touch(tenant)
                return current.index, current.manifest
            if manifest is None:
                self._replace(tenant, _Open(UNCHANGED, None, None, now))
                return None, None
            folder = self._root / tenant_slug(tenant) / str(manifest.version)
            if folder.exists():
                shutil.rmtree(folder)
            self._store.fetch(manifest, folder)
            self.fetches += 1
            index = SearchIndex.open(folder)
            self._replace(tenant, _Open(manifest, index, folder, now))
            return index, manifest

    def _touch(self, tenant: str) -> None:
        with self._lock:
            self._open.move_to_end(tenant)

    def _replace(self, tenant: str, entry: _Open) -> None:
        with self._lock:
            old = self._open.pop(tenant, None)
            self._open[tenant] = entry
            evicted = [self._open.popitem(last=False)[1] for _ in range(max(0, len(self._open) - self._max))]
        for gone in ([old] if old else []) + evicted:
            _close(gone)


def _close(entry: _Open) -> None:
    if entry.index is not None:
        entry.index.close()
    if entry.folder is not None:
        shutil.rmtree(entry.folder, ignore_errors=True)
