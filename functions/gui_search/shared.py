"""Index versions on a file system the containers of a region share (Amazon EFS, mounted at
`SEARCH_SHARED_DIR`): a container opens a tenant's index where it lies, and reads only the pages
its queries touch, instead of downloading the whole index into its own /tmp.

S3 stays the source of truth (`gui_search.store`: the manifest names the current version, its
files are kept under their content hashes). The shared folder is a cache of versions, one folder
each, complete before anyone can see it:

  <root>/<slug>/<version>-<tag>/      a version: its files, and `.manifest.json` (the manifest that
                                      names it); never changed once installed
  <root>/<slug>/.fetch-<random>/      a version being fetched from S3 by a reader
  <root>/<slug>/.work-<random>/       an indexer's working copy of a batch

`<tag>` is made from the version's files (their names and SHA-256), so a manifest rewritten with
the same files (`IndexStore.stamp`) names the same folder. A folder appears under its final name by
one rename (atomic on a POSIX file system, NFS included): whoever renames first installs it, the
others drop their copy.

- **Readers** (`ensure`): the folder of the manifest's version if installed; else fetched into a
  `.fetch-` folder, the files the newest installed version shares with it hard-linked (a few links,
  not bytes), the others downloaded, then installed.
- **Writers** (`work_folder`, `install`): an indexer's batch works in a `.work-` folder holding
  hard links to the current version's files (tantivy writes new segment files and replaces
  `meta.json` by a rename: a link's other names never change), and installs it under the new
  version's name once the manifest names it. So the version a batch publishes is in the shared
  folder before any reader asks for it, and no reader downloads it.
- **Retirement** (`retire`): a version's folder is removed once a later version has been installed
  for `keep_s` (15 minutes): a reader checks the manifest at most `SEARCH_MANIFEST_CHECK_S`
  (2 s) before each search and a request lasts seconds, so none still reads it. A file removed on
  NFS while another client reads it fails that read (NFS has no last-close semantics across
  clients): the delay is what makes removal safe, not a lock. Staging folders older than
  `stray_s` (a writer that stopped) are removed too. The indexer retires after each publication and
  the drift check for each tenant it checks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gui_search.index import SCHEMA_FILE
from gui_search.store import FILES_LAYOUT, Fetched, IndexFile, IndexManifest, IndexStore, tenant_slug

logger = logging.getLogger("gui_search.shared")

VERSION_MANIFEST = ".manifest.json"  # in an installed version's folder: the manifest naming it
MANAGED_FILE = ".managed.json"  # tantivy's list of the files it manages (written in work folders)
KEEP_S = 900.0  # a version's folder outlives its successor's installation by this
STRAY_S = 3600.0  # a staging folder is a stopped writer's after this (a Lambda runs 15 minutes)
_VERSION_FOLDER = re.compile(r"(\d{10})-([0-9a-f]{16})")
_STAGING = (".fetch-", ".work-")


def version_tag(manifest: IndexManifest) -> str:
    """What names a version's folder besides its number: its files (or its archive's checksum)."""
    digest = hashlib.sha256()
    if manifest.layout == FILES_LAYOUT:
        for file in sorted(manifest.files, key=lambda f: f.name):
            digest.update(f"{file.name}\x00{file.sha256}\n".encode())
    else:
        digest.update(manifest.checksum.encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Installed:
    """A version's folder in the shared file system."""

    version: int
    folder: Path


class SharedVersions:
    """The tenants' index versions under `root`, a folder every container of the region mounts."""

    def __init__(
        self,
        store: IndexStore,
        root: Path,
        *,
        keep_s: float = KEEP_S,
        stray_s: float = STRAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._root = root
        self._keep_s = keep_s
        self._stray_s = stray_s
        self._clock = clock

    def tenant_folder(self, tenant: str) -> Path:
        return self._root / tenant_slug(tenant)

    def folder(self, manifest: IndexManifest) -> Path:
        """Where `manifest`'s version is installed."""
        return self.tenant_folder(manifest.tenant) / f"{manifest.version:010d}-{version_tag(manifest)}"

    def installed(self, tenant: str) -> list[Installed]:
        """The tenant's installed versions, oldest first."""
        try:
            entries = list(os.scandir(self.tenant_folder(tenant)))
        except FileNotFoundError:
            return []
        found = [
            Installed(int(match.group(1)), Path(entry.path))
            for entry in entries
            if (match := _VERSION_FOLDER.fullmatch(entry.name)) and entry.is_dir()
        ]
        return sorted(found, key=lambda i: (i.version, i.folder.name))

    # -- readers -----------------------------------------------------------------------------------

    def ensure(self, manifest: IndexManifest) -> tuple[Path, Fetched]:
        """The folder of `manifest`'s version, installed by whoever came first; what this call
        fetched to install it (nothing when it was there). `IndexGone`/`IndexCorrupt` as
        `IndexStore.fetch` raises them."""
        final = self.folder(manifest)
        if final.is_dir():
            return final, Fetched()
        staging = self._staging(manifest.tenant, ".fetch-")
        try:
            fetched = self._store.fetch(manifest, staging, held=self._held(manifest.tenant))
            self._write_manifest(staging, manifest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._rename(staging, final)
        return final, fetched

    def _held(self, tenant: str) -> dict[tuple[str, str], Path]:
        """The files of the newest installed version, by (name, SHA-256), to link from."""
        for installed in reversed(self.installed(tenant)):
            files = _listed_files(installed.folder)
            if files is not None:
                return {(f.name, f.sha256): installed.folder / f.name for f in files}
        return {}

    # -- writers -----------------------------------------------------------------------------------

    def work_folder(self, tenant: str, source: Path | None, manifest: IndexManifest | None) -> Path:
        """A new working folder for a batch: the files of `manifest`'s version, installed in
        `source`, hard-linked (none: an empty folder, for a first version or a rebuild)."""
        folder = self._staging(tenant, ".work-")
        if source is None or manifest is None:
            return folder
        try:
            names = (
                [f.name for f in manifest.files]
                if manifest.layout == FILES_LAYOUT
                else [p.name for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
            )
            for name in names:
                os.link(source / name, folder / name)
            # tantivy deletes only the files it lists as its own: those of segments merged away by
            # a later commit then leave the working folder (links only), as they would have in the
            # index the version was made in. Not the schema file, the engine's own.
            (folder / MANAGED_FILE).write_text(json.dumps([n for n in names if n != SCHEMA_FILE]))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder

    def install(self, folder: Path, manifest: IndexManifest) -> Path:
        """Install the committed working `folder` as `manifest`'s version (the manifest names it
        now); the folder is moved, or removed when another container installed the version first.
        Its files must be exactly the version's: no writer open in it, no merge running."""
        self._write_manifest(folder, manifest)
        final = self.folder(manifest)
        self._rename(folder, final)
        return final

    # -- retirement --------------------------------------------------------------------------------

    def retire(self, tenant: str) -> int:
        """Remove the tenant's version folders superseded by a version installed `keep_s` ago or
        more, and staging folders older than `stray_s`; how many folders were removed."""
        now = self._clock()
        removed = 0
        versions = self.installed(tenant)
        settled = [i for i in versions if now - _installed_at(i.folder) >= self._keep_s]
        if settled:
            newest_settled = max(i.version for i in settled)
            for installed in versions:
                if installed.version < newest_settled:
                    shutil.rmtree(installed.folder, ignore_errors=True)
                    removed += 1
        try:
            entries = list(os.scandir(self.tenant_folder(tenant)))
        except FileNotFoundError:
            return removed
        for entry in entries:
            if entry.name.startswith(_STAGING) and now - entry.stat().st_mtime >= self._stray_s:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        return removed

    # -- helpers -----------------------------------------------------------------------------------

    def _staging(self, tenant: str, prefix: str) -> Path:
        folder = self.tenant_folder(tenant) / f"{prefix}{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True)
        return folder

    @staticmethod
    def _write_manifest(folder: Path, manifest: IndexManifest) -> None:
        (folder / VERSION_MANIFEST).write_text(json.dumps(manifest.document(), sort_keys=True))

    @staticmethod
    def _rename(staging: Path, final: Path) -> None:
        try:
            os.rename(staging, final)
        except OSError:
            if not final.is_dir():
                shutil.rmtree(staging, ignore_errors=True)
                raise
            shutil.rmtree(staging, ignore_errors=True)  # installed by another container meanwhile


def _installed_at(folder: Path) -> float:
    """When a version's folder was installed: its manifest file is the last written before the
    rename."""
    try:
        return (folder / VERSION_MANIFEST).stat().st_mtime
    except FileNotFoundError:
        return folder.stat().st_mtime


def _listed_files(folder: Path) -> tuple[IndexFile, ...] | None:
    """The files an installed folder's manifest lists; None when it has none to read (the archive
    layout, or a folder being removed)."""
    try:
        manifest = IndexManifest.parse((folder / VERSION_MANIFEST).read_bytes(), "")
    except (OSError, ValueError, KeyError):
        return None
    return manifest.files or None


def shared_versions(store: IndexStore, root: Path | None) -> SharedVersions | None:
    """The versions on the shared file system at `root` (a function's `SEARCH_SHARED_DIR`); None
    without one: the caller keeps copies in its /tmp."""
    return SharedVersions(store, root) if root is not None else None
