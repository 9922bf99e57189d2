"""The local backend's start (what `ddgui dev` waits for before it is ready): both regions' stores,
roles, demo data and the migrations' deploy step.

Three starts in one run, each in a fresh backend (its own moto server): the baseline, a backend
without demo data or migrations (moto, the stores, the roles, the gateways and the containers'
cold starts); the same with the demo data; and then, in that backend, the migrations' deploy step
of each region invoked as the start invokes it (`LocalBackend.deploy_migrations`), timed alone.
The full start is the second plus the third. Not a CI gate.

Usage: `python bench/local_start.py [--repeat 1]`; about a minute a repeat. The result goes to
bench/results/local_start.json, the functions' logs to bench/results/local_start.log.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from _common import load, stdout_to  # noqa: E402

from local.runtime import LocalBackend  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "local_start.json"
LOG = ROOT / "bench" / "results" / "local_start.log"


def one_start(keys: Path) -> dict[str, float]:
    """Seconds of a bare start, a start with the demo data, and each region's migrations after it."""
    started = time.perf_counter()
    with LocalBackend(keys_dir=keys, seed=False, migrate=False):
        bare = time.perf_counter() - started
    started = time.perf_counter()
    with LocalBackend(keys_dir=keys, migrate=False) as backend:
        seeded = time.perf_counter() - started
        figures = {"bare_s": bare, "seeded_s": seeded}
        for region in backend.regions:
            began = time.perf_counter()
            answer = backend.deploy_migrations(region)
            figures[f"migrations_{region}_s"] = time.perf_counter() - began
            steps = answer.get("steps") or []
            if not steps or any(step.get("action") != "done" for step in steps):
                raise SystemExit(f"the migrations of {region} did not all finish: {steps}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"load before: {load()}")
    runs = []
    with stdout_to(LOG), tempfile.TemporaryDirectory() as keys:
        for _ in range(args.repeat):
            runs.append(one_start(Path(keys)))
    print(f"load after:  {load()}")
    median = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    migrations = sum(value for name, value in median.items() if name.startswith("migrations_"))
    full = median["seeded_s"] + migrations
    rows = [
        ("bare start: moto, stores, roles, gateways, cold starts (baseline)", median["bare_s"]),
        ("start with the demo data", median["seeded_s"]),
        *((f"the migrations' deploy step, {name[11:-2]}", v) for name, v in median.items() if "migr" in name),
        ("full start (`ddgui dev` ready): demo data and migrations", full),
    ]
    print(f"{'step (median of ' + str(len(runs)) + ')':66} {'s':>7} {'ratio':>6}")
    for name, seconds in rows:
        print(f"{name:66} {seconds:7.2f} {seconds / median['bare_s']:5.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs, "median": median, "full_s": full}, indent=2) + "\n")


if __name__ == "__main__":
    main()
