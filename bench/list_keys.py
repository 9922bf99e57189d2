"""Items one filtered page of `GET /jobs` and `GET /preferences/views` reads, served from the filters'
key items (gui_core.key_pages) and, for comparison, the path before them (the partition in order,
filtered in Python: what a tenant reads until its migration 0010 or 0011 is done), at two tenant sizes.

Each tenant has `size` jobs (verbs alternating, a third failed) and `size` saved views (50 owners,
30 % shared, three modules); `rare` owns 5 jobs and 5 views among the oldest, a filter that finds few.
The items are written by the repositories themselves into a table in memory (local.memory_table);
each list runs its own code (the jobs' use case, the views' route) with a page of 20. Counted: the
items its queries and batch gets return (what DynamoDB bills by, with the key items a few bytes each).

Usage: `python bench/list_keys.py [--sizes 1000 10000]` (about a minute at these sizes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from gui_core.context import RequestContext  # noqa: E402
from gui_core.cursors import CursorPlace, Cursors, Pages, StaticCursorKeys  # noqa: E402
from gui_core.migrations.gate import Always  # noqa: E402
from gui_jobs.logic import new_job  # noqa: E402
from gui_jobs.models import JobQuery  # noqa: E402
from gui_jobs.repository import JobsRepository  # noqa: E402
from gui_jobs.use_cases import JobsPorts, list_jobs  # noqa: E402
from gui_preferences.repository import PreferencesRepository  # noqa: E402
from gui_preferences.use_cases import PreferencesPorts, list_views  # noqa: E402
from tests.fakes import ItemsReadTable  # noqa: E402

TENANT = "acme"
AT = "2026-12-01T00:00:00.000+00:00"
MODULES = ("coverage", "mapping", "jobs")
JOB_QUERIES = {
    "actor=rare": {"actor": "rare"},
    "status=failed": {"status": "failed"},
    "verb=coverage&status=queued": {"verb": "coverage", "status": "queued"},
}
VIEW_QUERIES = {"(none)": {}, "module=mapping": {"module": "mapping"}, "owner=me": {"owner": "me"}}


def _pages(route: str, subject: str) -> Pages:
    return Pages(Cursors(StaticCursorKeys(b"k" * 32)), CursorPlace(route, TENANT, ()))


def _caller(subject: str, scope: str) -> RequestContext:
    return RequestContext(TENANT, subject, frozenset({scope}), (), "eu-west-1", "r", None, None, 0)


def jobs_table(size: int) -> ItemsReadTable:
    table = ItemsReadTable()
    repository = JobsRepository(table)
    for n in range(size + 5):
        job = new_job(
            job_id=f"{n + 1:012x}0000000000",
            verb=("reindex", "coverage")[n % 2],
            parameters={},
            actor="rare" if n < 5 else f"user{n % 20}",
            at=AT,
        )
        repository.create(TENANT, {**job, "status": "failed" if n % 3 == 0 else "queued"})
    return table


def views_table(size: int) -> ItemsReadTable:
    table = ItemsReadTable()
    repository = PreferencesRepository(table, history_days=1)  # type: ignore[arg-type]
    for n in range(size + 5):
        owner = "rare" if n < 5 else f"user{n % 50}"
        repository.create_view(
            TENANT,
            {
                "name": f"view {n}",
                "module": "mapping" if n < 5 else MODULES[n % 3],
                "filters": {},
                "sort": [],
                "columns": [],
                "visibility": "tenant" if n % 10 < 3 else "private",
                "id": f"{n + 1:012x}{n:010x}",
                "owner": owner,
                "version": 1,
                "created_at": AT,
                "updated_at": AT,
            },
        )
    return table


def jobs_read(table: ItemsReadTable, query: dict[str, Any], *, keys: bool) -> int:
    table.read = 0
    list_jobs(
        JobsPorts(repository=JobsRepository(table), publisher=None, gate=Always(keys)),  # type: ignore[arg-type]
        _caller("otto", "gui:jobs"),
        JobQuery(limit=20, **query),
        _pages("GET /service/gui/jobs", "otto"),
    )
    return table.read


def views_read(table: ItemsReadTable, query: dict[str, Any], *, keys: bool) -> int:
    table.read = 0
    list_views(
        PreferencesPorts(PreferencesRepository(table, history_days=1), Always(keys)),  # type: ignore[arg-type]
        _caller("rare", "gui:preferences"),
        _pages("GET /service/gui/preferences/views", "rare"),
        module=query.get("module"),
        owner=query.get("owner"),
        limit=20,
        cursor=None,
    )
    return table.read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(1000, 10000))
    sizes = parser.parse_args().sizes
    rows: dict[str, list[int]] = {}
    for size in sizes:
        jobs, views = jobs_table(size), views_table(size)
        for name, query in JOB_QUERIES.items():
            for keys in (False, True):
                rows.setdefault(f"GET /jobs?{name}&limit=20 | {'keys' if keys else 'before'}", []).append(
                    jobs_read(jobs, query, keys=keys)
                )
        for name, query in VIEW_QUERIES.items():
            for keys in (False, True):
                label = f"GET /preferences/views?{name}&limit=20 (as rare) | {'keys' if keys else 'before'}"
                rows.setdefault(label, []).append(views_read(views, query, keys=keys))
    print(f"| list | path | items read at {sizes[0]:,} | at {sizes[1]:,} |")
    print("|---|---|---|---|")
    for label, counts in rows.items():
        print(f"| {label} | {counts[0]:,} | {counts[1]:,} |")


if __name__ == "__main__":
    main()
