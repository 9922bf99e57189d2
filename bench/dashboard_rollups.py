"""Items one dashboard call reads, from the records (gui_dashboard.repository.StoreSources, what a cache
miss reads) and from the rollups (gui_dashboard.rollup_store.RollupStore), at two tenant sizes.

Each tenant has `size` jobs, inbox items and artifacts over the 60 days before now (every hour holds
some), in memory (local.memory_table; the rollups written by their backfill). Counted: the items the
queries and gets of one call return, for `GET /dashboard` and `GET /metrics/mapping` of each preset.

Usage: `python bench/dashboard_rollups.py [--sizes 1000 20000]` (about a minute at these sizes).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from gui_dashboard import logic  # noqa: E402
from gui_dashboard.repository import StoreSources  # noqa: E402
from gui_dashboard.rollup_store import RollupStore  # noqa: E402
from gui_dashboard.rollups import align  # noqa: E402
from local.memory_table import MemoryTable  # noqa: E402
from tests.fakes import ItemsReadTable  # noqa: E402

TENANT = "acme"
NOW = datetime.now(UTC)


def _millis(at: datetime) -> str:
    return f"{int(at.timestamp() * 1000):012x}"


def seed(size: int) -> tuple[StoreSources, RollupStore]:
    jobs, inbox, artifacts = ItemsReadTable(), ItemsReadTable(), ItemsReadTable()
    rollups = RollupStore(MemoryTable())  # type: ignore[arg-type]
    for n in range(size):
        at = NOW - timedelta(hours=n % (60 * 24), minutes=n % 60)
        job = {
            "pk": TENANT,
            "sk": f"JOB#{_millis(at)}{n:06d}",
            "verb": logic.ALL_VERBS[n % 7],
            "status": ("succeeded", "failed", "running")[n % 3],
            "requested_at": at.isoformat(timespec="milliseconds"),
        }
        alert = {
            "pk": TENANT,
            "sk": f"NOTE#n{_millis(at)}{n:06d}",
            "category": "readiness",
            "severity": "critical",
            "status": "unread",
            "created_at": at.isoformat(),
        }
        artifact = {
            "pk": TENANT,
            "sk": f"ART#a{n}",
            "kind": "mapping",
            "governance_status": "approved",
            "created_at": (at - timedelta(days=30)).isoformat(),
        }
        for table, store, record in (
            (jobs, "jobs", job),
            (inbox, "inbox", alert),
            (artifacts, "artifacts", artifact),
        ):
            table.put(record)
            rollups.backfill(TENANT, store, record)
    return StoreSources(jobs=jobs, inbox=inbox, artifacts=artifacts), rollups  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    sizes = parser.parse_args().sizes
    rows: dict[str, dict[int, int]] = {}
    for size in sizes:
        started = time.monotonic()
        sources, rollups = seed(size)
        tables = [sources._jobs, sources._inbox, sources._artifacts]
        for preset in logic.PRESETS:
            period = logic.resolve_range(start=None, end=None, preset=preset, now=NOW)
            for table in tables:
                table.read = 0  # type: ignore[attr-defined]
            sources.records(TENANT, logic.TimeRange(period.previous().start, period.end))
            rows.setdefault(f"dashboard {preset}, records", {})[size] = sum(t.read for t in tables)  # type: ignore[attr-defined]
            aligned = align(period)
            before = rollups.items_read
            rollups.dashboard(TENANT, aligned, now=NOW)
            rows.setdefault(f"dashboard {preset}, rollups", {})[size] = rollups.items_read - before
            before = rollups.items_read
            rollups.series(TENANT, "mapping", aligned, logic.choose_bucket(aligned, None), now=NOW)
            rows.setdefault(f"metrics/mapping {preset}, rollups", {})[size] = rollups.items_read - before
        print(
            f"seeded and measured {size:,} records per store in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    print("| call | " + " | ".join(f"items read at {s:,}" for s in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for name, counts in rows.items():
        print(f"| {name} | " + " | ".join(f"{counts[s]:,}" for s in sizes) + " |")


if __name__ == "__main__":
    main()
