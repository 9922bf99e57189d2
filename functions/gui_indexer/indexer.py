"""The indexer's rules: artifact events applied to a tenant's search index, the index published as
a new version, and the drift check of a full rebuild.

The index holds the registry's records (the fields `gui_search.engine.document_of` keeps), and an
event changes it by the registry's own rules (`gui_artifacts.logic.apply_published` and
`apply_deprecated`): an older version than the indexed one is stale, a redelivered event changes
nothing, a deprecation marks the record. So the index converges on the registry whatever the order
the two consumers see the events in, and a redelivered batch publishes no new version.

A working copy of each tenant's index stays in the container's /tmp between batches, reused while
the manifest still names its version. A publication that loses the manifest switch to another
writer (the scheduled rebuild) discards the copy, reloads the winner's version and applies the
events again.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gui_artifacts.logic import Publication, apply_deprecated, apply_published
from gui_core.domain_events import ArtifactDeprecated, ArtifactPublished
from gui_core.objects import Superseded
from gui_search.engine import SearchIndex, document_of
from gui_search.store import IndexManifest, IndexStore, tenant_slug

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
    """Working copies of the tenants' indexes under `work_dir`, and their publication."""

    def __init__(self, store: IndexStore, work_dir: Path) -> None:
        self._store = store
        self._work_dir = work_dir
        self._copies: dict[str, _Copy] = {}

    # -- incremental -------------------------------------------------------------------------

    def apply(self, tenant: str, events: Sequence[ArtifactEvent]) -> Applied:
        """Apply `events` (in order) to the tenant's index and publish it if anything changed."""
        for _ in range(MAX_RACES):
            result = Applied(tenant)
            manifest = self._store.manifest(tenant)
            copy = self._working_copy(tenant, manifest)
            for event in events:
                outcome = self._apply_one(copy.index, event)
                if outcome == "applied":
                    result.applied += 1
                else:
                    result.skipped[outcome] += 1
            if not result.applied:
                result.documents = copy.index.count()
                return result
            copy.index.commit()
            try:
                self._publish(tenant, copy, result)
            except Superseded:
                logger.info("index of %s changed meanwhile; applying the batch to the new version", tenant)
                self._discard(tenant)
                continue
            return result
        raise IndexRace(f"the index of {tenant} kept changing")

    @staticmethod
    def _apply_one(index: SearchIndex, event: ArtifactEvent) -> str:
        stored = index.get(event.artifact_id)
        if isinstance(event, ArtifactPublished):
            decision: Publication | dict[str, Any] | str = apply_published(stored, event, out_degree=0)
        else:
            decision = apply_deprecated(stored, event)
        if isinstance(decision, str):
            return decision
        record = decision.record if isinstance(decision, Publication) else decision
        index.upsert([document_of(record)])
        return "applied"

    # -- full rebuild ------------------------------------------------------------------------

    def check(self, tenant: str, source: Mapping[str, int]) -> Drift:
        """The tenant's published index against `source` ({id: version} of the registry)."""
        manifest = self._store.manifest(tenant)
        if manifest is None:
            return drift(tenant, source, {})
        return drift(tenant, source, self._working_copy(tenant, manifest).index.versions())

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
            copy = _Copy(manifest, index, folder)
            self._copies[tenant] = copy
            result = Applied(tenant, applied=len(documents))
            try:
                self._publish(tenant, copy, result)
            except Superseded:
                continue
            return result
        raise IndexRace(f"the index of {tenant} kept changing")

    # -- copies ------------------------------------------------------------------------------

    def _publish(self, tenant: str, copy: _Copy, result: Applied) -> None:
        count = copy.index.count()
        copy.manifest = self._store.publish(tenant, copy.folder, documents=count, previous=copy.manifest)
        result.version, result.documents = copy.manifest.version, count

    def _working_copy(self, tenant: str, manifest: IndexManifest | None) -> _Copy:
        copy = self._copies.get(tenant)
        held = copy.manifest.version if copy and copy.manifest else None
        wanted = manifest.version if manifest else None
        if copy is not None and held == wanted:
            return copy
        self._discard(tenant)
        folder = self._fresh_folder(tenant)
        if manifest is None:
            index = SearchIndex.create(folder)
        else:
            self._store.fetch(manifest, folder)
            index = SearchIndex.open(folder)
        copy = _Copy(manifest, index, folder)
        self._copies[tenant] = copy
        return copy

    def _fresh_folder(self, tenant: str) -> Path:
        folder = self._work_dir / tenant_slug(tenant) / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        return folder

    def _discard(self, tenant: str) -> None:
        copy = self._copies.pop(tenant, None)
        if copy is not None:
            copy.index.close()
            shutil.rmtree(copy.folder, ignore_errors=True)
