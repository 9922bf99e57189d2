"""The local backend's start (what `ddgui dev` waits for before it is ready): both regions' stores,
roles, demo data and the migrations' deploy step.

Three starts in one run, each a fresh backend (its own moto server): the baseline, a backend
without demo data or migrations (moto, the stores, the roles, the gateways and the containers'
cold starts); the same with the demo data; and the full start, the demo data and the migrations'
deploy step in each region, as `ddgui dev` starts (the migrations' share is the difference). Not a
CI gate.

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
    """Seconds of a bare start, a start with the demo data, and a full start."""
    figures = {}
    for name, options in (
        ("bare_s", {"seed": False, "migrate": False}),
        ("seeded_s", {"migrate": False}),
        ("full_s", {}),
    ):
        started = time.perf_counter()
        with LocalBackend(keys_dir=keys, **options) as backend:
            figures[name] = time.perf_counter() - started
            if name == "full_s":
                steps = [step for steps in backend.migration_steps.values() for step in steps]
                if not steps or any(step.get("action") != "done" for step in steps):
                    raise SystemExit(f"the migrations did not all finish: {steps}")
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
    rows = [
        ("bare start: moto, stores, roles, gateways, cold starts (baseline)", median["bare_s"]),
        ("start with the demo data", median["seeded_s"]),
        ("full start (`ddgui dev` ready): demo data and migrations", median["full_s"]),
        ("  of which the migrations' deploy step (full - demo data)", median["full_s"] - median["seeded_s"]),
    ]
    print(f"{'start (median of ' + str(len(runs)) + ')':66} {'s':>7} {'ratio':>6}")
    for name, seconds in rows:
        print(f"{name:66} {seconds:7.2f} {seconds / median['bare_s']:5.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs, "median": median}, indent=2) + "\n")


if __name__ == "__main__":
    main()
