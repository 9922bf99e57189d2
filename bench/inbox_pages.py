"""GET /notifications and POST /notifications/read-all at two inbox sizes, through the local runtime:
the latency (median) and the DynamoDB items the notifications function read per call.

For each size a backend of its own starts (one region, no demo data) on bench/scale.py's moto server
(`_scale_moto`: a Query reads its own partition or index partition, where moto 5 sorts the whole
table for every Query, which made the local latency grow with the table whatever the request read);
one tenant's inbox is loaded straight into the store in its final shape (items made by the
repository's own `append` over the in-memory table, with their counters), and each call goes over
HTTP through the gateway, the real authorizer and handler to moto. Items read are counted by a
botocore hook on the functions' clients (tests/contract/items_read.py). A quick check of issue 14's
goal, not the full bench (bench/scale.py). Usage: `python bench/inbox_pages.py [--sizes 1000,20000]
[--calls 15] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import load, stdout_to  # noqa: E402
from _scale_moto import ScaleMoto  # noqa: E402

from gui_core.date_times import iso  # noqa: E402
from gui_core.dynamo import to_dynamo  # noqa: E402
from gui_notifications.logic import notification_id  # noqa: E402
from gui_notifications.models import CATEGORIES, SEVERITIES  # noqa: E402
from gui_notifications.repository import InboxRepository  # noqa: E402
from local.memory_table import MemoryTable  # noqa: E402
from local.runtime import LocalBackend  # noqa: E402
from tests.contract.items_read import ItemsRead  # noqa: E402
from tests.integration.support import add_tenant, table  # noqa: E402

REGION = "eu-west-1"
TENANT = "inbox-bench"
USER = f"vic@{TENANT}"
PATH = "/service/gui/notifications"
QUERIES = {
    "list": "limit=20",
    "unread": "status=unread&limit=20",
    "assigned to me (1%)": "assignee=me&limit=20",  # the copies of the items assigned
    "assigned to me, unread": "assignee=me&status=unread&limit=20",
    "no match": "severity=critical&category=cost&limit=20",  # the counters say none: no index read
}


def inbox(size: int) -> list[dict[str, Any]]:
    """`size` notifications of the tenant as the repository stores them, counters included: a third
    personal (to the caller or a colleague), 60% read, 20% unread, the rest acknowledged or archived;
    1% assigned to the caller; no item both critical and about cost."""
    memory = MemoryTable()
    repository = InboxRepository(memory, retention_days=90)  # type: ignore[arg-type]  # the Table contract
    statuses = ("read",) * 6 + ("unread",) * 2 + ("acknowledged", "archived")
    now = datetime.now(UTC)
    for n in range(size):
        created = now - timedelta(days=60) + timedelta(seconds=n * 60 * 86400 / size)
        repository.append(
            TENANT,
            {
                "id": notification_id(created, f"bench:{n}"),
                "category": CATEGORIES[n % len(CATEGORIES)],
                "severity": SEVERITIES[(n // 2) % len(SEVERITIES)],
                "title": f"Bench notification {n}",
                "body": "A notification of the inbox bench, about as long as a real one's body.",
                "audience": (USER if n % 2 else f"ada@{TENANT}") if n % 3 == 2 else "*",
                # 101, prime to the statuses' 10: every status has assigned items (with 100, all read).
                "assignee": USER if n % 101 == 1 else None,
                "status": statuses[n % len(statuses)],
                "created_at": iso(created),
            },
        )
    return list(memory.items.values())


def measure(size: int, calls: int, work: Path) -> dict[str, Any]:
    meter = ItemsRead().install()  # before the backend's clients are made
    try:
        with ScaleMoto() as moto:
            backend = LocalBackend(
                aws_endpoint_url=moto.endpoint_url,
                regions=(REGION,),
                port=0,
                keys_dir=work / "keys",
                seed=False,
                ttl_sweep_s=None,
                bus_poll_s=None,
            )
            with backend:
                add_tenant(backend, TENANT, REGION)
                began = time.perf_counter()
                moto.load(REGION, table("inbox"), [to_dynamo(item) for item in inbox(size)])
                seeded_s = time.perf_counter() - began
                return _calls(backend, size, calls, meter, seeded_s)
    finally:
        meter.uninstall()


def _calls(backend: LocalBackend, size: int, calls: int, meter: ItemsRead, seeded_s: float) -> dict[str, Any]:
    assert backend.keys is not None
    token = backend.keys.mint(tenant=TENANT, subject=USER, roles=["admin"], ttl_s=3600)
    inbox_table = table("inbox")
    answers: dict[str, Any] = {"size": size, "seeded_s": round(seeded_s, 1)}
    with httpx.Client(
        base_url=backend.base_urls[REGION],
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ) as http:
        http.get(PATH, params={"limit": 1})  # the containers warm
        for name, query in QUERIES.items():
            times, reads = [], []
            for _ in range(calls):
                meter.reset()
                began = time.perf_counter()
                answer = http.get(f"{PATH}?{query}")
                times.append((time.perf_counter() - began) * 1000)
                assert answer.status_code == 200, answer.text
                reads.append(meter.items[inbox_table])
            page = answer.json()
            answers[name] = {
                "ms": round(statistics.median(times), 1),
                "items_read": max(reads),
                "counts": page["counts"],
                "complete": page["counts_complete"],
            }
        meter.reset()
        began = time.perf_counter()
        answer = http.post(f"{PATH}/read-all")
        answers["read-all"] = {
            "ms": round((time.perf_counter() - began) * 1000, 1),
            "items_read": meter.items[inbox_table],
            "marked": answer.json()["marked"],
        }
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000")
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "inbox_pages.json")
    args = parser.parse_args()
    results = {"load_before": load(), "sizes": []}
    with tempfile.TemporaryDirectory(prefix="ddgui-inbox-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            sys.stderr.write(f"size {size:,}...\n")
            with stdout_to(args.json.with_suffix(".log")):
                answer = measure(size, args.calls, Path(tmp) / str(size))
            results["sizes"].append(answer)
            sys.stderr.write(json.dumps(answer) + "\n")
    results["load_after"] = load()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    for row in results["sizes"]:
        cells = [
            f"{name}: {row[name]['ms']} ms, {row[name]['items_read']} items"
            for name in (*QUERIES, "read-all")
        ]
        sys.stderr.write(f"{row['size']:>7,} items | " + " | ".join(cells) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
