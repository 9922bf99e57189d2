"""Which GraphQL library (issue 16): the import each candidate adds to a function that already imports
FastAPI, and what building our schema costs on top, each in a fresh interpreter (medians of
`--runs`). The baseline is graphql-core's import, measured in the same run.

Strawberry is not a dependency of the project: give `--strawberry PATH`, a folder it was installed
into (`.venv/bin/python -m pip install --target PATH strawberry-graphql==0.341.2`), to measure it;
without it its row is left out. Run: `.venv/bin/python bench/graphql_choice.py [--strawberry PATH]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = [str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions"), str(ROOT)]
TIMED = """
import sys, time
sys.path[:0] = {paths!r}
import fastapi, pydantic  # what every REST function imports first
started = time.perf_counter()
{code}
print(time.perf_counter() - started)
"""
ROWS = {
    "import graphql (graphql-core 3.3.2)": "import graphql",
    "import strawberry": "import strawberry",
    "our fields' modules (gui_graphql.operations: the groups' use cases)": "import gui_graphql.operations",
    "the same + building the schema (build_schema)": (
        "from gui_graphql.operations import build_schema\nbuild_schema()"
    ),
}


def measure(code: str, extra: list[str], runs: int) -> float:
    script = TIMED.format(paths=[*extra, *PATHS], code=code)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, env=env)  # file cache
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--strawberry", type=Path, help="a folder strawberry-graphql was installed into")
    args = parser.parse_args()
    results: dict[str, float] = {}
    for name, code in ROWS.items():
        if "strawberry" in code and args.strawberry is None:
            continue
        extra = [str(args.strawberry)] if "strawberry" in code else []
        results[name] = measure(code, extra, args.runs)
    baseline = results["import graphql (graphql-core 3.3.2)"]
    sys.stdout.write(f"{'row':<70} {'ms':>8} {'ratio':>7}\n")
    for name, seconds in results.items():
        sys.stdout.write(f"{name:<70} {seconds * 1000:>8.1f} {seconds / baseline:>6.2f}x\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
