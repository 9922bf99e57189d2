"""What a first request needs before any of the project's code runs: the floor under issue 17's
import-path goals (REST at most 2.5x a bare boto3 handler, fan-out and realtime 1.6x).

Each part is timed in a fresh interpreter (CPU, `time.process_time`, after what the part builds on
is imported, so a part counts only itself), `--runs` times, medians: `import boto3` (the bare
handler's whole cold start), one DynamoDB client, Powertools' Logger and Metrics, pydantic and the
OpenTelemetry SDK, FastAPI and Mangum (REST), Powertools' batch processor (the fan-out). The sums
per kind of function, against `import boto3`, are the floor. Not a CI gate.

Usage: `python bench/import_floor.py [--runs 3]`; about 15 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

# (name, what it builds on, the part itself)
PARTS = (
    ("import boto3", "", "import boto3"),
    ("one DynamoDB client", "import boto3", "boto3.client('dynamodb', region_name='eu-west-1')"),
    (
        "Powertools Logger and Metrics",
        "",
        "from aws_lambda_powertools import Logger, Metrics; Logger(service='x'); Metrics(namespace='x')",
    ),
    ("pydantic and the OpenTelemetry SDK", "", "import pydantic; import opentelemetry.sdk.trace"),
    ("FastAPI and Mangum", "import pydantic", "import fastapi; import mangum"),
    (
        "Powertools' batch processor",
        "import aws_lambda_powertools",
        "from aws_lambda_powertools.utilities.batch import BatchProcessor",
    ),
)
KINDS = {
    "REST": ("import boto3", "one DynamoDB client", "Powertools Logger and Metrics",
             "pydantic and the OpenTelemetry SDK", "FastAPI and Mangum"),
    "fan-out": ("import boto3", "one DynamoDB client", "Powertools Logger and Metrics",
                "pydantic and the OpenTelemetry SDK", "Powertools' batch processor"),
    "realtime": ("import boto3", "one DynamoDB client", "Powertools Logger and Metrics",
                 "pydantic and the OpenTelemetry SDK"),
}  # fmt: skip


def _time(before: str, part: str) -> float:
    code = (
        f"import time\n{before}\nstarted = time.process_time()\n{part}\n"
        "print((time.process_time() - started) * 1000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures = {
        name: statistics.median(_time(before, part) for _ in range(args.runs)) for name, before, part in PARTS
    }
    for name, ms in figures.items():
        print(f"{name:<40} {ms:7.1f} ms CPU")
    baseline = figures["import boto3"]
    for kind, parts in KINDS.items():
        total = sum(figures[p] for p in parts)
        print(f"floor, {kind:<33} {total:7.1f} ms CPU = {total / baseline:4.2f}x `import boto3`")
    print(f"(medians of {args.runs} fresh interpreters per part)")


if __name__ == "__main__":
    main()
