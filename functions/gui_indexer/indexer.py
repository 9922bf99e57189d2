"""The indexer's rules: artifact events applied to a tenant's search index, the index published as
a new version, and the drift check of a full rebuild.

The index holds the registry's records (the fields `gui_search.documents.document_of` keeps), and an
event changes it by the registry's own rules (`gui_artifacts.logic.apply_published` and
`apply_deprecated`): an older version than the indexed one is stale, a redelivered event changes
nothing, a deprecation marks the record. So the index converges on the registry whatever the order
the two consumers see the events in, and a redelivered batch publishes no new version.

A working copy of each tenant's index stays in the container's /tmp between batches, reused while
the manifest still names its version. A batch is committed, its merges awaited, and only the files
the version before did not have are published (`gui_search.store`). A publication that loses the
manifest switch to another writer (the scheduled rebuild) discards the copy, reloads the winner's
version (the files the two share linked from the discarded copy, the others downloaded) and applies
the events again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gui_artifacts.logic import Publication, apply_deprecated, apply_published
from gui_core.domain_events import ArtifactDeprecated, ArtifactPublished
from gui_core.objects import Superseded
from gui_core.registry_fingerprint import Fingerprint
from gui_search.documents import document_of
from gui_search.index import META_FILE, SCHEMA_FILE, SearchIndex
from gui_search.shared import SharedVersions
from gui_search.store import FILES_LAYOUT, IndexGone, IndexManifest, IndexStore, tenant_slug

logger = logging.getLogger("gui_indexer")

MAX_RACES = 3
ArtifactEvent = ArtifactPublished | ArtifactDeprecated


class IndexRace(RuntimeError):
    """Another writer kept switching the manifest first."""


@dataclass
class Applied:
    tenant: str
    applied: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    version: int | None = None  # the version published; None when nothing changed
    documents: int = 0


@dataclass(frozen=True)
class Drift:
    tenant: str
    source_count: int
    index_count: int
    missing: tuple[str, ...]  # in the registry, not in the index
    extra: tuple[str, ...]  # in the index, not in the registry
    stale: tuple[str, ...]  # in both, another version
    swept: int = 0  # files of the tenant's index no version names any more, deleted by the check

    @property
    def drifted(self) -> bool:
        return bool(self.missing or self.extra or self.stale or self.source_count != self.index_count)

    def summary(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "source_count": self.source_count,
            "index_count": self.index_count,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "stale": len(self.stale),
            "examples": sorted((*self.missing, *self.extra, *self.stale))[:10],
            "swept": self.swept,
        }


def drift(tenant: str, source: Mapping[str, int], index: Mapping[str, int]) -> Drift:
    """Registry against index: document counts, id sets and versions."""
    return Drift(
        tenant=tenant,
        source_count=len(source),
        index_count=len(index),
        missing=tuple(sorted(source.keys() - index.keys())),
        extra=tuple(sorted(index.keys() - source.keys())),
        stale=tuple(sorted(i for i in source.keys() & index.keys() if source[i] != index[i])),
    )


@dataclass
class _Copy:
    manifest: IndexManifest | None
    index: SearchIndex
    folder: Path


class TenantIndexes:
    """Working copies of the tenants' indexes under `work_dir`, and their publication. With
    `max_bytes`, the copies of the least recently updated tenants are let go after a batch until
    the others fit (the tenant just updated stays, whatever its size): their next batch fetches
    their index again.

    With `shared` (`gui_search.shared`: the file system the region's containers share), a batch
    works in a folder of hard links to the current version's files in the shared folder (fetched
    there first only if no container installed it), and the version it publishes is installed there
    for the search containers to open in place; no copy outlives its batch, so a cold container
    pays a few links, not the index."""

    def __init__(
        self,
        store: IndexStore,
        work_dir: Path,
        *,
        max_bytes: int | None = None,
        shared: SharedVersions | None = None,
    ) -> None:
        self._store = store
        self._work_dir = work_dir
        self._max_bytes = max_bytes
        self._shared = shared
        self._copies: OrderedDict[str, _Copy] = OrderedDict()
        self.evicted = 0  # copies let go to stay within max_bytes (tests read it)

    # -- incremental -------------------------------------------------------------------------

    def apply(self, tenant: str, events: Sequence[ArtifactEvent]) -> Applied:
        """Apply `events` (in order) to the tenant's index and publish it if anything changed."""
        try:
            return self._apply(tenant, events)
        finally:
            if self._shared is not None:
                self._discard(tenant)  # installed when published; else a batch that changed nothing
            else:
                self._trim(keep=tenant)

    def let_go(self, tenant: str) -> None:
        """The tenant's working copy removed (the drift check's container meets a tenant once); on
        the shared file system, its versions superseded long enough retired too."""
        self._discard(tenant)
        if self._shared is not None:
            self._shared.retire(tenant)

    def _apply(self, tenant: str, events: Sequence[ArtifactEvent]) -> Applied:
        for _ in range(MAX_RACES):
            result = Applied(tenant)
            manifest = self._store.manifest(tenant)
            try:
                copy = self._working_copy(tenant, manifest)
            except IndexGone:  # versions published meanwhile retired a file: read the manifest again
                continue
            before: dict[str, int | None] = {}  # the committed version of each artifact touched
            written: dict[str, dict[str, Any]] = {}  # the documents this batch wrote, uncommitted
            for event in events:
                artifact_id = event.artifact_id
                stored = written[artifact_id] if artifact_id in written else copy.index.get(artifact_id)
                before.setdefault(artifact_id, _version(stored))
                outcome = self._apply_one(copy.index, event, stored)
                if isinstance(outcome, str):
                    result.skipped[outcome] += 1
                else:
                    written[artifact_id] = outcome
                    result.applied += 1
            if not result.applied:
                result.documents = copy.index.count()
                return result
            copy.index.commit()
            copy.index.close()  # its merges end: the folder holds exactly what meta.json names
            try:
                self._publish(tenant, copy, result, _moved(copy, before))
            except Superseded:
                # The copy stays until the winner's version is fetched: the files the two share
                # are linked from it, not downloaded again.
                logger.info("index of %s changed meanwhile; applying the batch to the new version", tenant)
                continue
            return result
        raise IndexRace(f"the index of {tenant} kept changing")

    @staticmethod
    def _apply_one(
        index: SearchIndex, event: ArtifactEvent, stored: dict[str, Any] | None
    ) -> dict[str, Any] | str:
        """The document `event` writes over `stored` (the index's, or what this batch wrote before:
        the index shows a write only once committed), or why it writes none."""
        if isinstance(event, ArtifactPublished):
            decision: Publication | dict[str, Any] | str = apply_published(stored, event)
        else:
            decision = apply_deprecated(stored, event)
        if isinstance(decision, str):
            return decision
        document = document_of(decision.record if isinstance(decision, Publication) else decision)
        index.upsert([document])
        return document

    # -- full rebuild ------------------------------------------------------------------------

    def unchanged(self, tenant: str, registry: Fingerprint) -> Drift | None:
        """The check without the index: its manifest's fingerprint against the registry's `registry`
        (no manifest: no documents). Equal: no drift (after the sweep of the tenant's files that no
        version a reader may hold names any more); None when they differ or the manifest has none,
        and only `check` can tell."""
        manifest = self._store.manifest(tenant)
        published = Fingerprint() if manifest is None else manifest.fingerprint
        if published != registry:
            return None
        swept = self._store.sweep(tenant, manifest) if manifest is not None else 0
        return Drift(tenant, registry.count, published.count, (), (), (), swept=swept)

    def check(self, tenant: str, source: Mapping[str, int]) -> Drift:
        """The tenant's published index against `source` ({id: version} of the registry); then the
        sweep. An index found equal gets the fingerprint of its documents when its manifest has
        another or none (written before fingerprints), so the next check compares those alone."""
        for _ in range(MAX_RACES):
            manifest = self._store.manifest(tenant)
            if manifest is None:
                return drift(tenant, source, {})
            try:
                versions = self._working_copy(tenant, manifest).index.versions()
            except IndexGone:
                continue
            found = drift(tenant, source, versions)
            if not found.drifted:
                manifest = self._stamp(manifest, Fingerprint.of(versions))
            return replace(found, swept=self._store.sweep(tenant, manifest))
        raise IndexRace(f"the index of {tenant} kept changing")

    def _stamp(self, manifest: IndexManifest, fingerprint: Fingerprint) -> IndexManifest:
        if manifest.fingerprint == fingerprint:
            return manifest
        try:
            return self._store.stamp(manifest, fingerprint)
        except Superseded:  # a publication meanwhile: the next check reads its fingerprint
            logger.info("index of %s changed while its fingerprint was written", manifest.tenant)
            return manifest

    def rebuild(self, tenant: str, records: Iterable[Mapping[str, Any]]) -> Applied:
        """A new index made from `records` alone, published over whatever version is current."""
        documents = [document_of(record) for record in records]
        for _ in range(MAX_RACES):
            manifest = self._store.manifest(tenant)
            self._discard(tenant)
            folder = self._fresh_folder(tenant)
            index = SearchIndex.create(folder)
            index.upsert(documents)
            index.commit()
            index.close()
            copy = _Copy(manifest, index, folder)
            self._copies[tenant] = copy
            result = Applied(tenant, applied=len(documents))
            try:
                self._publish(tenant, copy, result, Fingerprint.of(index.versions()))
            except Superseded:
                continue
            return result
        raise IndexRace(f"the index of {tenant} kept changing")

    # -- copies ------------------------------------------------------------------------------

    def _publish(self, tenant: str, copy: _Copy, result: Applied, fingerprint: Fingerprint | None) -> None:
        count = copy.index.count()
        copy.manifest = self._store.publish(
            tenant, copy.folder, documents=count, previous=copy.manifest, fingerprint=fingerprint
        )
        result.version, result.documents = copy.manifest.version, count
        if self._shared is not None:
            # The version is the manifest's now: installed for the readers, who open it in place.
            self._copies.pop(tenant, None)
            self._shared.install(copy.folder, copy.manifest)
            self._shared.retire(tenant)

    def _working_copy(self, tenant: str, manifest: IndexManifest | None) -> _Copy:
        if self._shared is not None:
            return self._shared_copy(tenant, manifest)
        copy = self._copies.get(tenant)
        held = copy.manifest.etag if copy and copy.manifest else None
        wanted = manifest.etag if manifest else None
        if copy is not None and held == wanted:  # the manifest's ETag: its version and who wrote it
            return copy
        folder = self._fresh_folder(tenant)
        try:
            if manifest is None:
                index = SearchIndex.create(folder)
            else:
                self._store.fetch(manifest, folder, held=_held(copy))
                if manifest.layout == FILES_LAYOUT:
                    # tantivy deletes only the files it lists there: those of segments merged away
                    # later then leave the folder as they would have in the index it was made in.
                    # Not the schema file, which is the engine's, not tantivy's.
                    names = [f.name for f in manifest.files if f.name != SCHEMA_FILE]
                    (folder / ".managed.json").write_text(json.dumps(names))
                index = SearchIndex.open(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            self._discard(tenant)
        copy = _Copy(manifest, index, folder)
        self._copies[tenant] = copy
        return copy

    def _shared_copy(self, tenant: str, manifest: IndexManifest | None) -> _Copy:
        """A working folder of links to `manifest`'s version in the shared folder (installed there
        first if need be): new for each batch, as installed versions never change."""
        assert self._shared is not None
        self._discard(tenant)
        source = self._shared.ensure(manifest)[0] if manifest is not None else None
        folder = self._shared.work_folder(tenant, source, manifest)
        try:
            index = SearchIndex.open(folder) if manifest is not None else SearchIndex.create(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        copy = _Copy(manifest, index, folder)
        self._copies[tenant] = copy
        return copy

    def _fresh_folder(self, tenant: str) -> Path:
        if self._shared is not None:
            return self._shared.work_folder(tenant, None, None)
        folder = self._work_dir / tenant_slug(tenant) / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        return folder

    def _discard(self, tenant: str) -> None:
        copy = self._copies.pop(tenant, None)
        if copy is not None:
            copy.index.close()
            shutil.rmtree(copy.folder, ignore_errors=True)

    def held_bytes(self) -> int:
        """Bytes of the working copies' folders."""
        return sum(_folder_size(copy.folder) for copy in self._copies.values())

    def _trim(self, *, keep: str) -> None:
        if keep in self._copies:
            self._copies.move_to_end(keep)
        if self._max_bytes is None:
            return
        sizes = {tenant: _folder_size(copy.folder) for tenant, copy in self._copies.items()}
        used = sum(sizes.values())
        for tenant in [t for t in self._copies if t != keep]:  # least recently updated first
            if used <= self._max_bytes:
                return
            used -= sizes[tenant]
            self._discard(tenant)
            self.evicted += 1


def _version(document: Mapping[str, Any] | None) -> int | None:
    """A document's version as the index's `id_version` terms hold it; None: no document."""
    return None if document is None else int(document.get("version") or 0)


def _moved(copy: _Copy, before: Mapping[str, int | None]) -> Fingerprint | None:
    """The fingerprint of the committed copy: its version's, moved by what the touched artifacts'
    documents were (`before`) and are now. None while its version has none (a manifest written
    before fingerprints: the drift check gives it one); a first version starts from no documents."""
    if copy.manifest is not None and copy.manifest.fingerprint is None:
        return None
    fingerprint = copy.manifest.fingerprint if copy.manifest is not None else Fingerprint()
    assert fingerprint is not None
    for artifact_id, was in before.items():
        fingerprint += Fingerprint.change(artifact_id, was, _version(copy.index.get(artifact_id)))
    return fingerprint


def _folder_size(folder: Path) -> int:
    """Bytes of the files in `folder` (a working copy: no subfolders); 0 when it is gone."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())
    except FileNotFoundError:
        return 0


def _held(copy: _Copy | None) -> dict[tuple[str, str], Path]:
    """The files of a working copy's version that a fetch of another version can link: all but
    `meta.json`, which commits rewrite (the store never links it either); a file merged away since
    is missing and downloaded."""
    if copy is None or copy.manifest is None:
        return {}
    return {(f.name, f.sha256): copy.folder / f.name for f in copy.manifest.files if f.name != META_FILE}
