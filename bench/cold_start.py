"""Cold import time of each function's handler module against `import boto3`, in the same run.

Each sample is a fresh interpreter that times its own `import <module>` (what a Lambda cold start
pays in its init phase; interpreter teardown, which Lambda never waits for, is left out). The figure
is the median of N runs, and the ratio is against `import boto3` measured alternately in the same
loop, so machine noise hits both. Usage: `python bench/cold_import.py [--runs 15] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")]

from local.keys import DevKeys  # noqa: E402
from stacks.manifest import MANIFEST  # noqa: E402


def _environment(function_name: str, jwks_json: str) -> dict[str, str]:
    fn = MANIFEST.function(function_name)
    env = MANIFEST.environment_for(
        fn,
        table_names={s.name: s.local_table_name() for s in MANIFEST.stores},
        bucket_name="bench-bucket",
        bus_name="bench-bus",
        region="eu-west-1",
        stage="bench",
        extra={
            "GUI_JWT_ISSUER": "urn:bench",
            "GUI_JWT_AUDIENCE": "bench",
            "GUI_JWKS": jwks_json,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "POWERTOOLS_TRACE_DISABLED": "true",
        },
    )
    path = os.pathsep.join([str(ROOT / "layers" / "core" / "python"), str(ROOT / "functions")])
    return {**os.environ, **env, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def _time_import(module: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    keys = DevKeys.load_or_create(ROOT / ".local" / "keys")
    targets = {fn.name: fn.handler.rsplit(".", 1)[0] for fn in MANIFEST.all_functions()}
    envs = {name: _environment(name, keys.jwks_json) for name in targets}
    baseline_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    samples: dict[str, list[float]] = {"boto3 (baseline)": [], **{name: [] for name in targets}}
    for name, module in targets.items():  # warm the file cache once
        _time_import(module, envs[name])
    for _ in range(args.runs):
        samples["boto3 (baseline)"].append(_time_import("boto3", baseline_env))
        for name, module in targets.items():
            samples[name].append(_time_import(module, envs[name]))
    baseline = statistics.median(samples["boto3 (baseline)"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append(
            {"target": name, "median_s": round(median, 4), "ratio_to_boto3": round(median / baseline, 2)}
        )
    width = max(len(r["target"]) for r in rows)
    print(f"{'target':<{width}}  median s  x boto3   ({args.runs} runs, python {sys.version.split()[0]})")
    for r in rows:
        print(f"{r['target']:<{width}}  {r['median_s']:8.3f}  {r['ratio_to_boto3']:6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
