"""Fact files in the data bucket, and their local copies for the aggregation.

Keys: `telemetry/<tenant>/facts/day=<YYYY-MM-DD>/<batch id>.parquet`, one Parquet file per tenant,
UTC day (of the facts' `occurred_at`) and Kinesis batch. The batch id is the shard and the first
sequence number of the tenant-day's records in the batch, so a redelivered batch writes the same
key again instead of a second file; where a retry starts the batch elsewhere, the facts it repeats
are de-duplicated by the aggregation on (event_id, metric). The tenant is percent-encoded down to
`[A-Za-z0-9_-]` (a tenant id may hold any character, `/` and `..` included).

Closed days (ended more than `CLOSED_AFTER` ago) are compacted by the aggregation: the day's files
are merged into `compact.parquet` (a conditional put: only if that object is still the one the run
read, or still absent), then the merged small files are deleted. A late fact for a closed day lands
in a new small file and is merged by the next compaction.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gui_core.objects import ObjectInfo, StoredObject, Superseded
from gui_telemetry.aggregate import connect, create_facts_table
from gui_telemetry.facts import COLUMNS, FACT_SCHEMA, Fact

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

logger = logging.getLogger("gui_telemetry")

PREFIX = "telemetry"
COMPACT_NAME = "compact.parquet"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
CLOSED_AFTER = timedelta(days=1)  # facts of a day arrive this long after it, mostly
_DAY = re.compile(r"/day=(\d{4}-\d{2}-\d{2})/[^/]+$")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class Objects(Protocol):
    """What the fact files need of `gui_core.objects.ObjectStore`."""

    def put_bytes(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = ...,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str: ...

    def get_bytes(self, key: str, *, if_none_match: str | None = None) -> StoredObject | None: ...

    def download(self, key: str, path: str) -> None: ...

    def list_keys(self, prefix: str, *, start_after: str | None = None) -> list[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...


# -- keys --------------------------------------------------------------------------------------------


def segment(value: str) -> str:
    """`value` as one key segment and folder name: [A-Za-z0-9_-] kept, every other byte as %XX."""
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in value)


def facts_prefix(tenant: str) -> str:
    return f"{PREFIX}/{segment(tenant)}/facts/"


def day_prefix(tenant: str, day: date) -> str:
    return f"{facts_prefix(tenant)}day={day.isoformat()}/"


def fact_key(tenant: str, day: date, batch_id: str) -> str:
    return f"{day_prefix(tenant, day)}{segment(batch_id)}.parquet"


def batch_id(shard_id: str, first_sequence_number: str) -> str:
    return f"{shard_id}-{first_sequence_number}"


def day_of_key(key: str) -> date | None:
    found = _DAY.search(key)
    return date.fromisoformat(found.group(1)) if found else None


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


# -- writing -----------------------------------------------------------------------------------------


def insert_facts(connection: DuckDBPyConnection, facts: Sequence[Fact], table: str = "facts") -> None:
    """Rows into `table`, one statement (column lists unnested: far faster than a row at a time)."""
    if not facts:
        return
    rows = [fact.row() for fact in facts]
    columns = [list(column) for column in zip(*rows, strict=True)]
    select = ", ".join(f"unnest(${i + 1}::{kind}[])" for i, (_, kind) in enumerate(COLUMNS))
    connection.execute(f"INSERT INTO {table} SELECT {select}", columns)


def parquet_bytes(
    facts: Sequence[Fact], *, work_dir: Path, connection: DuckDBPyConnection | None = None
) -> bytes:
    """The facts as one Parquet file (zstd, sorted by time), made with DuckDB. A caller writing many
    files passes its own `connection` (opening one is dear); the table is replaced each time."""
    with tempfile.TemporaryDirectory(dir=_ensure(work_dir), prefix="write-") as scratch:
        own = connection is None
        duck = connect(Path(scratch), threads=1) if connection is None else connection
        try:
            duck.execute("DROP TABLE IF EXISTS facts")
            create_facts_table(duck)
            insert_facts(duck, facts)
            path = Path(scratch) / "facts.parquet"
            _copy(duck, "SELECT * FROM facts ORDER BY occurred_at, event_id, metric", path)
            return path.read_bytes()
        finally:
            if own:
                duck.close()


def _copy(connection: DuckDBPyConnection, query: str, path: Path, params: object = None) -> None:
    # The path is ours (a temporary folder); DuckDB takes no parameter for COPY's target.
    target = str(path).replace("'", "''")
    connection.execute(
        f"COPY ({query}) TO '{target}' "
        f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{fact_schema: '{FACT_SCHEMA}'}})",
        params,
    )


class FactWriter:
    """Writes one tenant-day's facts of a batch as one object."""

    def __init__(self, objects: Objects, *, work_dir: Path) -> None:
        self._objects = objects
        self._work_dir = work_dir
        self._connection: DuckDBPyConnection | None = None  # one per writer (and container)

    def write(self, tenant: str, day: date, batch: str, facts: Sequence[Fact]) -> str:
        key = fact_key(tenant, day, batch)
        if self._connection is None:
            self._connection = connect(_ensure(self._work_dir / "connection"), threads=1)
        body = parquet_bytes(facts, work_dir=self._work_dir, connection=self._connection)
        self._objects.put_bytes(key, body, content_type=PARQUET_CONTENT_TYPE)
        return key

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# -- reading: the local copies of a tenant's files ------------------------------------------------------


@dataclass(frozen=True)
class LocalFacts:
    """A tenant's fact files of a span of days, downloaded; counts for logs and metrics."""

    paths: dict[str, Path]  # by key
    downloaded: int
    reused: int
    evicted: int


class FactCache:
    """Copies of the fact files under `root`, by tenant, day, ETag and name. An object at a key
    with an ETag never changes, so a copy is reused by every later invocation of the container;
    copies no longer listed (days out of range, files compacted away) are deleted."""

    def __init__(self, objects: Objects, root: Path) -> None:
        self._objects = objects
        self.root = root

    def sync(self, tenant: str, *, first_day: date, last_day: date) -> tuple[list[ObjectInfo], LocalFacts]:
        """The tenant's files of [first_day, last_day], listed and downloaded when not held yet."""
        prefix = facts_prefix(tenant)
        listed = [
            info
            for info in self._objects.list_keys(prefix, start_after=f"{prefix}day={first_day.isoformat()}")
            if (day := day_of_key(info.key)) is not None and first_day <= day <= last_day
        ]
        tenant_dir = self.root / segment(tenant)
        wanted = {self._path(tenant_dir, info): info for info in listed}
        downloaded = reused = 0
        for path, info in wanted.items():
            if path.exists():
                reused += 1
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            self._objects.download(info.key, str(partial))
            os.replace(partial, path)  # a copy is whole or absent, even after a timeout
            downloaded += 1
        evicted = _evict(tenant_dir, keep=set(wanted))
        if tenant_dir.is_dir():
            os.utime(tenant_dir)  # the tenant's copies were used now: the last to go (`trim`)
        paths = {info.key: path for path, info in wanted.items()}
        return listed, LocalFacts(paths, downloaded, reused, evicted)

    def trim(self, max_bytes: int, *, keep: str) -> int:
        """Delete the copies of the least recently synced tenants but `keep` until the copies take at
        most `max_bytes`; the number of tenants whose copies went."""
        if not self.root.is_dir():
            return 0
        folders = [
            child for child in self.root.iterdir() if child.is_dir() and not child.name.startswith(".")
        ]
        sizes = {
            folder: sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) for folder in folders
        }
        total = sum(sizes.values())
        gone = 0
        for folder in sorted(folders, key=lambda f: f.stat().st_mtime):
            if total <= max_bytes:
                break
            if folder.name == segment(keep):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= sizes[folder]
            gone += 1
        return gone

    def hold(self, tenant: str, info: ObjectInfo, body: bytes) -> Path:
        """Keep `body`, just written at `info.key`, as that object's copy."""
        path = self._path(self.root / segment(tenant), info)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return path

    def forget_tenants(self, keep: Iterable[str]) -> int:
        """Delete the copies of tenants not in `keep` (no longer homed here)."""
        kept = {segment(t) for t in keep}
        gone = 0
        if self.root.is_dir():
            for child in self.root.iterdir():
                if child.is_dir() and child.name not in kept and not child.name.startswith("."):
                    shutil.rmtree(child, ignore_errors=True)
                    gone += 1
        return gone

    @staticmethod
    def _path(tenant_dir: Path, info: ObjectInfo) -> Path:
        day = day_of_key(info.key)
        name = info.key.rsplit("/", 1)[-1]
        return tenant_dir / f"day={day}" / f"{segment(info.etag.strip(chr(34)))}-{name}"


def _evict(tenant_dir: Path, *, keep: set[Path]) -> int:
    if not tenant_dir.is_dir():
        return 0
    evicted = 0
    for path in sorted(tenant_dir.rglob("*"), reverse=True):  # files before their folders
        if path.is_file() and path not in keep:
            path.unlink(missing_ok=True)
            evicted += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return evicted


def _day_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- compaction --------------------------------------------------------------------------------------


class Compactor:
    """Merges the files of a closed day into `compact.parquet` (see the module's docstring)."""

    def __init__(self, objects: Objects, cache: FactCache, *, work_dir: Path) -> None:
        self._objects = objects
        self._cache = cache
        self._work_dir = work_dir

    def closed_days(self, listed: Sequence[ObjectInfo], *, now: datetime) -> dict[date, list[ObjectInfo]]:
        """Closed days with more than their one compact file."""
        days: dict[date, list[ObjectInfo]] = {}
        for info in listed:
            day = day_of_key(info.key)
            if day is not None and _day_end(day) + CLOSED_AFTER <= now:
                days.setdefault(day, []).append(info)
        return {
            day: infos
            for day, infos in days.items()
            if len(infos) > 1 or not infos[0].key.endswith("/" + COMPACT_NAME)
        }

    def compact(self, tenant: str, day: date, infos: Sequence[ObjectInfo], paths: Mapping[str, Path]) -> bool:
        """Merge `infos` (held at `paths` by key); False when another run changed the day first."""
        key = day_prefix(tenant, day) + COMPACT_NAME
        current = next((info for info in infos if info.key == key), None)
        with tempfile.TemporaryDirectory(dir=_ensure(self._work_dir), prefix="compact-") as scratch:
            connection = connect(Path(scratch), threads=1)
            try:
                target = Path(scratch) / COMPACT_NAME
                _copy(
                    connection,
                    "SELECT * FROM read_parquet($files, union_by_name = true) "
                    "QUALIFY row_number() OVER (PARTITION BY event_id, metric ORDER BY occurred_at, kind) = 1"
                    " "
                    "ORDER BY occurred_at, event_id, metric",
                    target,
                    {"files": [str(paths[info.key]) for info in infos]},
                )
                body = target.read_bytes()
            finally:
                connection.close()
        try:
            etag = self._objects.put_bytes(
                key,
                body,
                content_type=PARQUET_CONTENT_TYPE,
                if_match=current.etag if current else None,
                if_none_match=None if current else "*",
            )
        except Superseded:
            logger.info("compaction of %s lost to another run", key)
            return False
        self._cache.hold(tenant, ObjectInfo(key=key, etag=etag, size=len(body)), body)
        for info in infos:
            if info.key != key:
                self._objects.delete(info.key)
        return True
